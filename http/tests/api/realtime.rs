//! The WebSocket channel with real clients: delivery and its exact frames, acks,
//! idempotent resends, refused uuids, order under concurrent senders, authorization,
//! bad input, offline pushes, resync through history, slow readers, rate limits,
//! heartbeat settings, the ws_connection rows, and the gateway-compat endpoints.

use crate::harness::{Backend, TestApp, TestUser};
use crate::on_both_stores;
use crate::ws_client::{WsClient, contact_chat, new_uuid, wait_for_ws_statuses};
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(300);

/// Registers a device for `user` with this push token; answers the device uuid.
async fn device(app: &TestApp, user: &TestUser, token: &str) -> String {
    let r = app
        .post(
            "/devices",
            Some(&user.token),
            json!({"deviceType": "PHONE", "platformType": "IOS", "platformVersion": "iOS 17",
                   "modelName": "iPhone 15", "pushToken": token}),
        )
        .await
        .expect(201);
    r.body["uuid"].as_str().unwrap().to_string()
}

async fn pushes(app: &TestApp, viewer: &TestUser, person: &TestUser) -> Vec<Value> {
    let r = app
        .get(
            &format!("/dev/pushes?personUuid={}", person.person_uuid),
            Some(&viewer.token),
        )
        .await
        .expect(200);
    r.body["pushes"].as_array().unwrap().clone()
}

/// `person`'s pushes of chat messages: a push resolves its person's devices when it goes
/// out, so one queued before a device was registered (the connection request that made
/// the chat, on a busy machine) may reach that device too.
async fn message_pushes(app: &TestApp, viewer: &TestUser, person: &TestUser) -> Vec<Value> {
    let mut list = pushes(app, viewer, person).await;
    list.retain(|p| p["notificationType"] == "NEW_CHAT_MESSAGE");
    list
}

/// Waits until `person` has `n` pushes recorded (pushes go out after delivery).
async fn wait_pushes(app: &TestApp, viewer: &TestUser, person: &TestUser, n: usize) -> Vec<Value> {
    wait_for(n, async || pushes(app, viewer, person).await).await
}

/// [`wait_pushes`], of chat messages only (see [`message_pushes`]).
async fn wait_message_pushes(
    app: &TestApp,
    viewer: &TestUser,
    person: &TestUser,
    n: usize,
) -> Vec<Value> {
    wait_for(n, async || message_pushes(app, viewer, person).await).await
}

/// Waits until `list` returns `n` pushes, and fails unless exactly `n`.
async fn wait_for(n: usize, mut list: impl AsyncFnMut() -> Vec<Value>) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + crate::ws_client::WAIT;
    loop {
        let list = list().await;
        if list.len() >= n || tokio::time::Instant::now() > deadline {
            assert_eq!(list.len(), n, "pushes: {list:?}");
            return list;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `n` messages on `c`, then reads until all `n` are acked (the other
/// participant's messages arriving meanwhile are skipped).
async fn send_many(c: &mut WsClient, chat: &str, who: &str, n: usize) {
    for i in 0..n {
        c.send_message(chat, &new_uuid(), &format!("{who} {i}"))
            .await;
    }
    let mut acks = 0;
    while acks < n {
        if c.next_json().await["type"] == "ack" {
            acks += 1;
        }
    }
}

async fn cognito_id(app: &TestApp, user: &TestUser) -> String {
    app.get("/accounts/me", Some(&user.token))
        .await
        .expect(200)
        .body["cognitoUserId"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An INTERNAL call as API Gateway makes it.
async fn internal(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    user: Option<&str>,
    key: Option<&str>,
    body: Value,
) -> crate::harness::Resp {
    let mut req = app.client.request(method, app.url(path)).json(&body);
    if let Some(k) = key {
        req = req.header("x-internal-api-key", k);
    }
    if let Some(u) = user {
        req = req.header("x-cognito-user-id", u);
    }
    app.send(req).await
}

async fn history(app: &TestApp, user: &TestUser, chat: &str, query: &str) -> Value {
    app.get(&format!("/chats/{chat}/messages{query}"), Some(&user.token))
        .await
        .expect(200)
        .body
}

on_both_stores! {
    async fn delivery_with_the_exact_frame_fields_ack_and_history(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        let uuid = new_uuid();
        a.send_message(&chat, &uuid, "Hello").await;

        let ack = a.next_json().await;
        assert_eq!(ack, json!({"type": "ack", "messageUuid": uuid, "chatUuid": chat, "seq": 1}));
        let frame = b.next_json().await;
        let created_at = frame["createdAt"].as_str().expect("createdAt").to_string();
        assert_eq!(
            frame,
            json!({"type": "chatMessage", "chatUuid": chat, "senderPersonUuId": alice.person_uuid,
                   "messageUuid": uuid, "messageContent": "Hello", "assetUuids": [], "seq": 1,
                   "createdAt": created_at})
        );
        assert!(created_at.ends_with('Z') && created_at.len() == 24, "{created_at}");
        a.expect_silence(QUIET).await;

        let h = history(&app, &bob, &chat, "").await;
        assert_eq!(
            h,
            json!({"messages": [{"uuid": uuid, "chatUuid": chat, "senderPersonUuid": alice.person_uuid,
                   "messageContent": "Hello", "assetUuids": [], "seq": 1,
                   "createdAt": created_at, "updatedAt": created_at}], "after": null})
        );
        // Assets ride along: ones the sender uploaded to this chat (POST /assets).
        let asset = app
            .post("/assets", Some(&bob.token), json!({"parentType": "CHAT", "parentUuid": chat, "mimeType": "image/png"}))
            .await
            .expect(201)
            .body["uuid"]
            .as_str()
            .unwrap()
            .to_string();
        let uuid2 = new_uuid();
        b.send_json(json!({"action": "sendMessage", "data": {"chatUuid": chat, "uuid": uuid2,
                           "messageContent": "", "assetUuids": [asset]}})).await;
        assert_eq!(b.next_json().await["type"], "ack");
        let f = a.next_json().await;
        assert_eq!(f["assetUuids"], json!([asset]));
        assert_eq!(f["seq"], 2);
        assert_eq!(f["senderPersonUuId"], bob.person_uuid.as_str());
    }

    async fn every_connection_of_the_receiver_and_the_senders_other_connections_get_it(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut phone = WsClient::connect(&app, &alice.token).await;
        let mut tablet = WsClient::connect(&app, &alice.token).await;
        let mut b1 = WsClient::connect(&app, &bob.token).await;
        let mut b2 = WsClient::connect(&app, &bob.token).await;
        let uuid = new_uuid();
        phone.send_message(&chat, &uuid, "from my phone").await;
        assert_eq!(phone.next_json().await["type"], "ack");
        for c in [&mut tablet, &mut b1, &mut b2] {
            let f = c.next_json().await;
            assert_eq!(f["type"], "chatMessage");
            assert_eq!(f["messageUuid"], uuid.as_str());
        }
        phone.expect_silence(QUIET).await;
        // Bob is online (two connections): nobody is pushed.
        device(&app, &bob, "bob-token-1").await;
        let uuid = new_uuid();
        tablet.send_message(&chat, &uuid, "and my tablet").await;
        assert_eq!(tablet.next_json().await["type"], "ack");
        assert_eq!(phone.next_json().await["messageUuid"], uuid.as_str());
        assert_eq!(b1.next_json().await["messageUuid"], uuid.as_str());
        assert_eq!(b2.next_json().await["messageUuid"], uuid.as_str());
        tokio::time::sleep(QUIET).await;
        assert!(message_pushes(&app, &alice, &bob).await.is_empty());
    }

    async fn a_resend_is_stored_once_and_acked_again_and_a_used_uuid_is_refused(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let carol = app.user("carol").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let other_chat = contact_chat(&app, &alice, &carol).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        let uuid = new_uuid();
        a.send_message(&chat, &uuid, "once").await;
        assert_eq!(a.next_json().await["seq"], 1);
        assert_eq!(b.next_json().await["messageUuid"], uuid.as_str());
        a.send_message(&chat, &uuid, "once").await;
        let again = a.next_json().await;
        assert_eq!(again, json!({"type": "ack", "messageUuid": uuid, "chatUuid": chat, "seq": 1}));
        b.expect_silence(QUIET).await;

        // The same uuid from the other sender, or in another chat: 409, never acked.
        b.send_message(&chat, &uuid, "mine now").await;
        assert_eq!(
            b.next_json().await,
            json!({"type": "error", "statusCode": 409, "message": "uuid is already used by another message", "ref": uuid})
        );
        a.send_message(&other_chat, &uuid, "elsewhere").await;
        assert_eq!(a.next_json().await["statusCode"], 409);
        a.expect_silence(QUIET).await;
        let h = history(&app, &alice, &chat, "").await;
        assert_eq!(h["messages"].as_array().unwrap().len(), 1);
        assert_eq!(h["messages"][0]["messageContent"], "once");
        assert!(history(&app, &alice, &other_chat, "").await["messages"].as_array().unwrap().is_empty());
        // The refused attempts took no seq.
        let next = new_uuid();
        b.send_message(&chat, &next, "two").await;
        assert_eq!(b.next_json().await["seq"], 2);
    }

    async fn per_chat_order_holds_for_every_receiver_under_concurrent_senders(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a_send = WsClient::connect(&app, &alice.token).await;
        let mut b_send = WsClient::connect(&app, &bob.token).await;
        let mut a_watch = WsClient::connect(&app, &alice.token).await;
        let mut b_watch = WsClient::connect(&app, &bob.token).await;
        const EACH: usize = 20;
        tokio::join!(send_many(&mut a_send, &chat, "alice", EACH), send_many(&mut b_send, &chat, "bob", EACH));
        for watcher in [&mut a_watch, &mut b_watch] {
            let mut seqs = Vec::new();
            let mut from_alice = Vec::new();
            while seqs.len() < 2 * EACH {
                let f = watcher.next_json().await;
                assert_eq!(f["type"], "chatMessage");
                seqs.push(f["seq"].as_i64().unwrap());
                if f["senderPersonUuId"] == alice.person_uuid.as_str() {
                    from_alice.push(f["messageContent"].as_str().unwrap().to_string());
                }
            }
            let expected: Vec<i64> = (1..=(2 * EACH) as i64).collect();
            assert_eq!(seqs, expected, "every receiver sees seq 1..n in order, no gaps");
            let sent: Vec<String> = (0..EACH).map(|i| format!("alice {i}")).collect();
            assert_eq!(from_alice, sent, "one sender's messages keep their order");
        }
        let h = history(&app, &alice, &chat, "?limit=100").await;
        let seqs: Vec<i64> = h["messages"].as_array().unwrap().iter().map(|m| m["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=(2 * EACH) as i64).collect::<Vec<_>>());
    }

    async fn a_non_participant_is_refused_and_learns_nothing(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let mallory = app.user("mallory").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        let mut m = WsClient::connect(&app, &mallory.token).await;
        let uuid = new_uuid();
        m.send_message(&chat, &uuid, "let me in").await;
        assert_eq!(
            m.next_json().await,
            json!({"type": "error", "statusCode": 404, "message": "Chat not found", "ref": uuid})
        );
        // An unknown chat answers the same.
        let ghost = new_uuid();
        m.send_message(&new_uuid(), &ghost, "anyone?").await;
        assert_eq!(m.next_json().await["message"], "Chat not found");
        a.expect_silence(QUIET).await;
        b.expect_silence(QUIET).await;
        app.get(&format!("/chats/{chat}/messages"), Some(&mallory.token)).await.expect_error(404);
        assert!(history(&app, &alice, &chat, "").await["messages"].as_array().unwrap().is_empty());
        // The members still talk, and the uuid mallory tried was never stored.
        a.send_message(&chat, &uuid, "hi bob").await;
        assert_eq!(a.next_json().await["seq"], 1);
        assert_eq!(b.next_json().await["messageUuid"], uuid.as_str());
    }

    // Finding 5: removing a contact ends the CONTACT chat's new traffic for both sides
    // (404 as for a stranger, while the room is warm with both as members); history
    // stays readable; reconnecting opens the chat again.
    async fn removing_a_contact_ends_the_contact_chats_new_traffic(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        let first = new_uuid();
        a.send_message(&chat, &first, "hi bob").await;
        assert_eq!(a.next_json().await["seq"], 1);
        assert_eq!(b.next_json().await["messageUuid"], first.as_str());
        app.delete(&format!("/connections/contacts/{}", bob.person_uuid), Some(&alice.token)).await.expect(204);
        for turn in 0..2 {
            let (client, other) = if turn == 0 { (&mut a, &mut b) } else { (&mut b, &mut a) };
            let uuid = new_uuid();
            client.send_message(&chat, &uuid, "still there?").await;
            assert_eq!(
                client.next_json().await,
                json!({"type": "error", "statusCode": 404, "message": "Chat not found", "ref": uuid})
            );
            other.expect_silence(QUIET).await;
        }
        for who in [&alice, &bob] {
            let h = history(&app, who, &chat, "").await;
            assert_eq!(h["messages"].as_array().unwrap().len(), 1, "history stays readable");
        }
        // Connected again, the same chat carries messages again.
        crate::connections::connect(&app, &bob, &alice).await;
        let again = new_uuid();
        b.send_message(&chat, &again, "welcome back").await;
        // (The request and the accept reach them as notification frames first.)
        let ack = loop {
            let f = b.next_json().await;
            if f["type"] == "ack" || f["type"] == "error" { break f; }
        };
        assert_eq!((ack["type"].clone(), ack["seq"].clone()), (json!("ack"), json!(2)));
        let delivered = loop {
            let f = a.next_json().await;
            if f["type"] == "chatMessage" { break f; }
        };
        assert_eq!(delivered["messageUuid"], again.as_str());
    }

    async fn bad_input_is_answered_with_error_frames_and_the_connection_stays_open(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        a.send_text("this is not json").await;
        let e = a.next_json().await;
        assert_eq!(e["type"], "error");
        assert_eq!(e["statusCode"], 400);
        assert!(e["message"].as_str().unwrap().starts_with("Malformed JSON"), "{e}");
        assert_eq!(e["ref"], Value::Null);

        a.send_json(json!({"action": "shout"})).await;
        assert_eq!(a.next_json().await["message"], "Unknown action shout; expected sendMessage, markRead, typing or ping");
        a.send_json(json!({"data": {}})).await;
        assert_eq!(a.next_json().await["message"], "action is required (sendMessage, markRead, typing or ping)");

        let uuid = new_uuid();
        let too_long = "x".repeat(app.engine.settings.ws.max_message_chars + 1);
        a.send_message(&chat, &uuid, &too_long).await;
        let e = a.next_json().await;
        assert_eq!(e["statusCode"], 400);
        assert_eq!(e["ref"], uuid.as_str());
        assert_eq!(e["message"], format!("messageContent must be at most {} characters", app.engine.settings.ws.max_message_chars));

        a.send_json(json!({"action": "sendMessage", "data": {"chatUuid": "nope", "uuid": "also-nope", "messageContent": " ", "assetUuids": ["x"]}})).await;
        let e = a.next_json().await;
        assert_eq!(e["statusCode"], 400);
        assert_eq!(e["ref"], Value::Null);
        let m = e["message"].as_str().unwrap();
        for part in ["chatUuid must be a UUID", "uuid must be a UUID", "each value in assetUuids must be a UUID"] {
            assert!(m.contains(part), "{m}");
        }
        a.send_json(json!({"action": "sendMessage", "data": {"chatUuid": chat, "messageContent": 5}})).await;
        assert!(a.next_json().await["message"].as_str().unwrap().starts_with("Invalid data"));
        a.stream.send(tokio_tungstenite::tungstenite::Message::binary(vec![1u8, 2, 3])).await.unwrap();
        assert_eq!(a.next_json().await["message"], "Binary frames are not supported; send JSON text");

        // Still open: ping answers, and a good message goes through.
        a.send_json(json!({"action": "ping"})).await;
        assert_eq!(a.next_json().await, json!({"type": "pong"}));
        let ok = new_uuid();
        a.send_message(&chat, &ok, "fine now").await;
        assert_eq!(a.next_json().await["messageUuid"], ok.as_str());
    }

    // Ingress backpressure (`ws.max_in_flight`): with one message in flight allowed, the
    // server reads no further frame until that message's outcome is written, so a ping
    // sent right behind ten messages is answered after all ten outcomes (read at once,
    // it would be answered before the acks, which take the actors' round trip). A refused
    // message frees its slot as an ack does, and nobody is closed for sending fast.
    async fn a_sender_past_max_in_flight_is_read_no_further_until_answered(app) {
        let backend = app.backend;
        drop(app);
        let app = TestApp::spawn_with(backend, &[("ws.max_in_flight", "1")]).await;
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        let refused = 4;
        let uuids: Vec<String> = (0..10).map(|_| new_uuid()).collect();
        for (i, uuid) in uuids.iter().enumerate() {
            if i == refused {
                a.send_message(&new_uuid(), uuid, "to no chat of mine").await;
            } else {
                a.send_message(&chat, uuid, &format!("m{i}")).await;
            }
        }
        a.send_json(json!({"action": "ping"})).await;
        for (i, uuid) in uuids.iter().enumerate() {
            let f = a.next_json().await;
            if i == refused {
                assert_eq!(f["type"], "error", "{f}");
                assert_eq!(f["ref"], uuid.as_str(), "{f}");
            } else {
                assert_eq!(f["type"], "ack", "{f}");
                assert_eq!(f["messageUuid"], uuid.as_str(), "{f}");
            }
        }
        assert_eq!(a.next_json().await, json!({"type": "pong"}));
        for i in (0..10).filter(|i| *i != refused) {
            assert_eq!(b.next_json().await["messageContent"], format!("m{i}"));
        }
        a.send_json(json!({"action": "ping"})).await;
        assert_eq!(a.next_json().await, json!({"type": "pong"}));
    }

    async fn an_offline_participant_is_pushed_on_every_device(app) {
        let alice = app.user_with(json!({"username": "alice", "email": "alice@example.com",
                                         "firstName": "Alice", "lastName": "Liddell"})).await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let phone = device(&app, &bob, "bob-phone-token").await;
        let tablet = device(&app, &bob, "bob-tablet-token").await;
        device(&app, &alice, "alice-phone-token").await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let uuid = new_uuid();
        a.send_message(&chat, &uuid, "Are you there?").await;
        assert_eq!(a.next_json().await["type"], "ack", "stored although bob is offline");
        let list = wait_message_pushes(&app, &alice, &bob, 2).await;
        let mut devices: Vec<&str> = list.iter().map(|p| p["deviceUuid"].as_str().unwrap()).collect();
        devices.sort();
        let mut expected = vec![phone.as_str(), tablet.as_str()];
        expected.sort();
        assert_eq!(devices, expected);
        for p in &list {
            assert_eq!(p["notificationType"], "NEW_CHAT_MESSAGE");
            assert_eq!(p["personUuid"], bob.person_uuid.as_str());
            assert_eq!(p["title"], "Alice Liddell");
            assert_eq!(p["body"], "Are you there?");
            // The badge: Bob's total unread (issue 15).
            assert_eq!(p["data"], json!({"notificationType": "NEW_CHAT_MESSAGE", "chatUuid": chat, "messageUuid": uuid, "badge": 1}));
            assert!(p["sentAt"].as_str().unwrap().ends_with('Z'));
        }
        // The sender, online on one connection, is never pushed their own message.
        assert!(message_pushes(&app, &bob, &alice).await.is_empty());

        // A long message is previewed, cut on a character boundary.
        let long = "é".repeat(150);
        a.send_message(&chat, &new_uuid(), &long).await;
        a.next_json().await;
        let list = wait_message_pushes(&app, &alice, &bob, 4).await;
        let body = list[3]["body"].as_str().unwrap();
        assert_eq!(body.chars().count(), 100);
        assert!(body.ends_with('…'));

        // A dead token disables that device only; the person and other devices go on.
        let dead = device(&app, &bob, "dead:revoked-token").await;
        a.send_message(&chat, &new_uuid(), "third").await;
        a.next_json().await;
        wait_message_pushes(&app, &alice, &bob, 6).await;
        let bob_uuid = bob.person_uuid.parse().unwrap();
        let deadline = tokio::time::Instant::now() + crate::ws_client::WAIT;
        loop {
            let live = app.engine.store.push_devices(bob_uuid, 20).await.unwrap();
            if live.len() == 2 {
                assert!(live.iter().all(|d| d.uuid.to_string() != dead));
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "dead device not disabled: {live:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        app.get("/people/me", Some(&bob.token)).await.expect(200);
        // Registering the token again enables it again (a reinstall gets a fresh token,
        // but the same one coming back is alive by definition).
        assert_eq!(device(&app, &bob, "dead:revoked-token").await, dead);
    }

    async fn a_reconnecting_client_resyncs_through_history(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        a.send_message(&chat, &new_uuid(), "one").await;
        a.next_json().await;
        assert_eq!(b.next_json().await["seq"], 1);
        b.close().await;
        for text in ["two", "three", "four"] {
            a.send_message(&chat, &new_uuid(), text).await;
            a.next_json().await;
        }
        let mut b = WsClient::connect(&app, &bob.token).await;
        b.expect_silence(QUIET).await;
        // Bob's app holds seq 1: it asks for what follows, a page at a time.
        let page = history(&app, &bob, &chat, "?after=1&limit=2").await;
        let texts: Vec<&str> = page["messages"].as_array().unwrap().iter().map(|m| m["messageContent"].as_str().unwrap()).collect();
        assert_eq!(texts, ["two", "three"]);
        assert_eq!(page["after"], 3);
        let rest = history(&app, &bob, &chat, "?after=3&limit=2").await;
        assert_eq!(rest["messages"][0]["messageContent"], "four");
        assert_eq!(rest["after"], Value::Null);
        // And live again from here.
        a.send_message(&chat, &new_uuid(), "five").await;
        assert_eq!(b.next_json().await["seq"], 5);
    }

    async fn upgrade_needs_a_valid_token(app) {
        let alice = app.user("alice").await;
        let r = WsClient::try_connect(&app, "/ws", &[]).await.err().expect("refused");
        assert_eq!(r.status, 401);
        assert_eq!(r.body["statusCode"], 401);
        assert_eq!(r.body["error"], "Unauthorized");
        let r = WsClient::try_connect(&app, "/", &[("authorization", "not-a-token")]).await.err().expect("refused");
        assert_eq!(r.status, 401);
        let bad = format!("{}x", alice.token);
        assert_eq!(WsClient::try_connect(&app, &format!("/ws?token={bad}"), &[]).await.err().expect("refused").status, 401);
        // Raw, Bearer and ?token= all open it, at / and at /ws.
        let bearer = format!("Bearer {}", alice.token);
        let mut c = WsClient::try_connect(&app, "/", &[("authorization", &bearer)]).await.expect("bearer at /");
        c.send_json(json!({"action": "ping"})).await;
        assert_eq!(c.next_json().await["type"], "pong");
        let mut c = WsClient::try_connect(&app, &format!("/ws?token={}", alice.token), &[]).await.expect("query token");
        c.send_json(json!({"action": "ping"})).await;
        assert_eq!(c.next_json().await["type"], "pong");
        // A plain GET without the upgrade is a clear 400, not a 500.
        app.get("/ws", Some(&alice.token)).await.expect_error(400);
    }

    async fn ws_connection_rows_follow_the_socket(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let c = WsClient::connect(&app, &alice.token).await;
        let body = wait_for_ws_statuses(&app, &alice, &["CONNECTED"]).await;
        let row = &body["wsConnections"][0];
        assert_eq!(row["personUuid"], alice.person_uuid.as_str());
        assert_eq!(row["disconnectedAt"], Value::Null);
        assert!(row["wsConnId"].as_str().unwrap().len() == 36);
        assert!(row.get("nodeId").is_none());
        // Own rows only.
        wait_for_ws_statuses(&app, &bob, &[]).await;
        c.close().await;
        let body = wait_for_ws_statuses(&app, &alice, &["DISCONNECTED"]).await;
        assert!(body["wsConnections"][0]["disconnectedAt"].as_str().unwrap().ends_with('Z'));
        let _c2 = WsClient::connect(&app, &alice.token).await;
        wait_for_ws_statuses(&app, &alice, &["CONNECTED", "DISCONNECTED"]).await;
        let only = app.get("/ws_connections?status=DISCONNECTED", Some(&alice.token)).await.expect(200);
        assert_eq!(only.body["wsConnections"].as_array().unwrap().len(), 1);
        app.get("/ws_connections?status=OPEN", Some(&alice.token)).await.expect_error(400);
        let page = app.get("/ws_connections?limit=1", Some(&alice.token)).await.expect(200);
        assert_eq!(page.body["wsConnections"][0]["status"], "CONNECTED");
        let after = page.body["after"].as_i64().expect("a next page");
        let next = app.get(&format!("/ws_connections?limit=1&after={after}"), Some(&alice.token)).await.expect(200);
        assert_eq!(next.body["wsConnections"][0]["status"], "DISCONNECTED");
        assert_eq!(next.body["after"], Value::Null);
        app.get("/ws_connections", None).await.expect_error(401);
    }

    async fn notifications_are_framed_when_online_and_pushed_when_offline(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let carol = app.user("carol").await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        let r = crate::connections::request(&app, &alice, &bob).await.expect(201);
        let f = b.next_json().await;
        assert_eq!(f["type"], "notification");
        assert_eq!(f["notificationType"], "CONNECTION_REQUEST");
        assert_eq!(f["notificationCategory"], "SOCIAL");
        assert_eq!(f["personUuid"], bob.person_uuid.as_str());
        assert_eq!(f["data"]["connectionUuid"], r.body["uuid"]);
        let listed = app.get("/notifications", Some(&bob.token)).await.expect(200);
        assert_eq!(f["uuid"], listed.body["notifications"][0]["uuid"], "the frame is the stored notification");
        // Carol is offline: the same kind of notification becomes a push.
        let phone = device(&app, &carol, "carol-token").await;
        crate::connections::request(&app, &alice, &carol).await.expect(201);
        let list = wait_pushes(&app, &alice, &carol, 1).await;
        assert_eq!(list[0]["notificationType"], "CONNECTION_REQUEST");
        assert_eq!(list[0]["deviceUuid"], phone.as_str());
        assert_eq!(list[0]["data"]["notificationType"], "CONNECTION_REQUEST");
        assert!(list[0]["data"]["connectionUuid"].is_string());
    }

    async fn trade_notifications_are_framed_or_pushed_too(app) {
        let poster = app.user("poster").await;
        let buyer = app.user("buyer").await;
        let listing = crate::market::published(&app, &poster, json!({})).await;
        // The poster is online: OFFER_RECEIVED arrives as a frame, the stored notification.
        let mut p = WsClient::connect(&app, &poster.token).await;
        let offer = crate::market::offer(&app, &buyer, &listing, "0.115").await;
        let f = p.next_json().await;
        assert_eq!(f["type"], "notification");
        assert_eq!(f["notificationType"], "OFFER_RECEIVED");
        assert_eq!(f["notificationCategory"], "TRADE");
        assert_eq!(f["data"], json!({"listingUuid": listing, "offerUuid": offer}));
        let listed = app.get("/notifications?notificationCategory=TRADE", Some(&poster.token)).await.expect(200);
        assert_eq!(listed.body["notifications"][0]["uuid"], f["uuid"]);
        // The buyer is offline: OFFER_ACCEPTED goes to their phone, with what opens the offer.
        let phone = device(&app, &buyer, "buyer-token").await;
        crate::market::accept(&app, &poster, &offer).await;
        let pushes = wait_pushes(&app, &poster, &buyer, 1).await;
        assert_eq!(pushes[0]["notificationType"], "OFFER_ACCEPTED");
        assert_eq!(pushes[0]["deviceUuid"], phone.as_str());
        assert_eq!(pushes[0]["data"]["offerUuid"], offer.as_str());
        assert_eq!(pushes[0]["data"]["listingUuid"], listing.as_str());
        let stored = app.get("/notifications", Some(&buyer.token)).await.expect(200);
        assert_eq!(stored.body["notifications"][0]["notificationType"], "OFFER_ACCEPTED");
    }

    async fn gateway_compat_endpoints_record_connections_and_accept_messages(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let key = app.internal_key();
        let alice_sub = cognito_id(&app, &alice).await;
        let bob_sub = cognito_id(&app, &bob).await;
        let conn_id = "L0SM9cOFvHcCIhw=";
        internal(&app, reqwest::Method::POST, "/ws_connections", Some(&alice_sub), None, json!({"wsConnId": conn_id})).await.expect_error(401);
        internal(&app, reqwest::Method::POST, "/ws_connections", None, Some(&key), json!({"wsConnId": conn_id})).await.expect_error(401);
        let created = internal(&app, reqwest::Method::POST, "/ws_connections", Some(&alice_sub), Some(&key), json!({"wsConnId": conn_id})).await.expect(201);
        assert_eq!(created.body["wsConnId"], conn_id);
        assert_eq!(created.body["status"], "CONNECTED");
        assert_eq!(created.body["personUuid"], alice.person_uuid.as_str());
        let dup = internal(&app, reqwest::Method::POST, "/ws_connections", Some(&bob_sub), Some(&key), json!({"wsConnId": conn_id})).await.expect_error(409);
        assert_eq!(dup.message(), "wsConnId already exists");
        internal(&app, reqwest::Method::POST, "/ws_connections", Some(&alice_sub), Some(&key), json!({"wsConnId": "has space"})).await.expect_error(400);

        // A message "sent on" that connection reaches bob's engine-held socket.
        let mut b = WsClient::connect(&app, &bob.token).await;
        let uuid = new_uuid();
        let msg = json!({"chatUuid": chat, "uuid": uuid, "messageContent": "via the gateway", "assetUuids": []});
        let path = format!("/messages/{conn_id}");
        let stored = internal(&app, reqwest::Method::POST, &path, Some(&alice_sub), Some(&key), msg.clone()).await.expect(201);
        assert_eq!(stored.body["uuid"], uuid.as_str());
        assert_eq!(stored.body["seq"], 1);
        let f = b.next_json().await;
        assert_eq!(f["messageUuid"], uuid.as_str());
        assert_eq!(f["senderPersonUuId"], alice.person_uuid.as_str());
        let again = internal(&app, reqwest::Method::POST, &path, Some(&alice_sub), Some(&key), msg.clone()).await.expect(200);
        assert_eq!(again.body["seq"], 1);
        b.expect_silence(QUIET).await;
        // Not bob's connection; not a chat of his either way.
        internal(&app, reqwest::Method::POST, &path, Some(&bob_sub), Some(&key), msg.clone()).await.expect_error(404);
        internal(&app, reqwest::Method::POST, "/messages/unknown", Some(&alice_sub), Some(&key), msg.clone()).await.expect_error(404);

        let patch_path = format!("/ws_connections/{conn_id}");
        internal(&app, reqwest::Method::PATCH, &patch_path, Some(&bob_sub), Some(&key), json!({"status": "DISCONNECTED"})).await.expect_error(404);
        internal(&app, reqwest::Method::PATCH, &patch_path, Some(&alice_sub), Some(&key), json!({"status": "GONE"})).await.expect_error(400);
        let closed = internal(&app, reqwest::Method::PATCH, &patch_path, Some(&alice_sub), Some(&key), json!({"status": "DISCONNECTED"})).await.expect(200);
        assert_eq!(closed.body["status"], "DISCONNECTED");
        let at = closed.body["disconnectedAt"].as_str().unwrap().to_string();
        let repeat = internal(&app, reqwest::Method::PATCH, &patch_path, Some(&alice_sub), Some(&key), json!({"status": "DISCONNECTED"})).await.expect(200);
        assert_eq!(repeat.body["disconnectedAt"], at.as_str(), "a repeat keeps the first time");
        let reopen = internal(&app, reqwest::Method::PATCH, &patch_path, Some(&alice_sub), Some(&key), json!({"status": "CONNECTED"})).await.expect_error(409);
        assert_eq!(reopen.message(), "A closed connection cannot reconnect; open a new one");
        let refused = internal(&app, reqwest::Method::POST, &path, Some(&alice_sub), Some(&key), json!({"chatUuid": chat, "uuid": new_uuid(), "messageContent": "late"})).await.expect_error(409);
        assert_eq!(refused.message(), "WsConnection is DISCONNECTED");
        let mine = app.get("/ws_connections", Some(&alice.token)).await.expect(200);
        assert_eq!(mine.body["wsConnections"][0]["wsConnId"], conn_id);
    }
}

on_both_stores! {
    async fn account_deletion_closes_sockets_and_removes_devices_and_chat_participation(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        device(&app, &alice, "alice-phone").await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let mut b = WsClient::connect(&app, &bob.token).await;
        let uuid = new_uuid();
        a.send_message(&chat, &uuid, "goodbye").await;
        a.next_json().await;
        b.next_json().await;
        app.delete_json(&format!("/accounts/{}", alice.account_uuid), Some(&alice.token),
                        json!({"confirm": "Permanently delete my account"})).await.expect(204);
        // Her open socket is closed (account.deleted reaches the realtime bridge).
        let (close, _) = a.until_closed().await;
        let close = close.expect("a close frame");
        assert_eq!(u16::from(close.code), 1008);
        assert_eq!(close.reason.as_str(), "account deleted");
        // Her devices and connection rows are gone; she left the chat; her message stays.
        let alice_uuid = alice.person_uuid.parse().unwrap();
        assert!(app.engine.store.push_devices(alice_uuid, 20).await.unwrap().is_empty());
        let chats = app.get("/chats", Some(&bob.token)).await.expect(200);
        let people: Vec<&str> = chats.body["chats"][0]["participants"].as_array().unwrap().iter().map(|p| p["username"].as_str().unwrap()).collect();
        assert_eq!(people, ["bob"]);
        let h = history(&app, &bob, &chat, "").await;
        assert_eq!(h["messages"][0]["uuid"], uuid.as_str());
        assert_eq!(h["messages"][0]["senderPersonUuid"], alice.person_uuid.as_str());
        // Bob goes on talking; nobody is pushed for the person who left.
        b.send_message(&chat, &new_uuid(), "still here").await;
        assert_eq!(b.next_json().await["seq"], 2);
        tokio::time::sleep(QUIET).await;
        assert!(pushes(&app, &bob, &alice).await.is_empty());
    }
}

/// A client that stops reading is closed; the others get every frame, in order.
#[actix_web::test]
async fn a_slow_reader_is_closed_without_harming_others_memory() {
    slow_reader(Backend::Memory).await;
}

#[actix_web::test]
async fn a_slow_reader_is_closed_without_harming_others_postgres() {
    slow_reader(Backend::Postgres).await;
}

async fn slow_reader(backend: Backend) {
    let (app, alice, bob, chat) = big_frame_chat(backend, &[("ws.send_queue", "4")]).await;
    let mut a = WsClient::connect(&app, &alice.token).await;
    let mut fast = WsClient::connect(&app, &bob.token).await;
    let mut slow = WsClient::connect_small_buffer(&app, &bob.token).await;
    wait_for_ws_statuses(&app, &bob, &["CONNECTED", "CONNECTED"]).await;
    let sent = send_until_closed(&app, &mut a, Some(&mut fast), &chat, &bob, 20, "slow").await;
    // What the slow one finally reads: some frames, then the end, never all of them.
    assert_closed_short(&mut slow, sent).await;
    // The others are unharmed.
    a.send_message(&chat, &new_uuid(), "still here").await;
    assert_eq!(a.next_json().await["type"], "ack");
    assert_eq!(fast.next_json().await["messageContent"], "still here");
    let metrics = app.get("/metrics", None).await.expect(200);
    assert!(
        metrics.text.contains("metmos_ws_connections_open 2"),
        "{}",
        metrics
            .text
            .lines()
            .filter(|l| l.contains("ws_"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Alice, Bob and their contact chat, on an app with `overrides` where frames of 29 KB
/// pass and the rate limit is out of the way (what the slow-reader tests send).
async fn big_frame_chat(
    backend: Backend,
    overrides: &[(&str, &str)],
) -> (TestApp, TestUser, TestUser, String) {
    let mut settings = overrides.to_vec();
    settings.extend([
        ("ws.max_message_chars", "30000"),
        ("ws.messages_per_second", "10000"),
        ("ws.burst", "10000"),
    ]);
    let app = TestApp::spawn_with(backend, &settings).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let chat = contact_chat(&app, &alice, &bob).await;
    (app, alice, bob, chat)
}

/// Sends 29 KB messages from `a` in bursts of `burst` (each acked, and read in order by
/// `fast` when given) until one of `reader`'s connections is DISCONNECTED; returns how
/// many were sent. A deadline, not a message count: how many frames fit before the close
/// depends on the machine's speed.
async fn send_until_closed(
    app: &TestApp,
    a: &mut WsClient,
    mut fast: Option<&mut WsClient>,
    chat: &str,
    reader: &TestUser,
    burst: usize,
    which: &str,
) -> usize {
    let text = "m".repeat(29_000);
    let mut sent = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        for _ in 0..burst {
            sent += 1;
            a.send_message(chat, &new_uuid(), &format!("{sent} {text}"))
                .await;
            assert_eq!(a.next_json().await["type"], "ack");
            if let Some(fast) = fast.as_deref_mut() {
                let f = fast.next_json().await;
                assert_eq!(f["seq"], sent, "the fast reader is not held back");
            }
        }
        let r = app
            .get("/ws_connections", Some(&reader.token))
            .await
            .expect(200);
        let closed = r.body["wsConnections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "DISCONNECTED");
        if closed {
            return sent;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the {which} reader was never closed ({sent} sent)"
        );
    }
}

/// The reader that never read gets some frames, then the end (1013 when a close frame
/// gets through), never all `sent`.
async fn assert_closed_short(slow: &mut WsClient, sent: usize) {
    let (close, read) = slow.until_closed().await;
    assert!(read < sent, "read {read} of {sent}");
    if let Some(close) = close {
        assert_eq!(u16::from(close.code), 1013, "{close:?}");
    }
}

/// A client that stops reading is closed once a write to it has been stuck for
/// `ws.slow_reader_secs`, long before its queue could fill (here it never could: 100,000
/// frames of 29 KB), and the heartbeat is out of the way: only the stuck write can close.
#[actix_web::test]
async fn a_reader_stuck_for_slow_reader_secs_is_closed_memory() {
    stuck_reader(Backend::Memory).await;
}

#[actix_web::test]
async fn a_reader_stuck_for_slow_reader_secs_is_closed_postgres() {
    stuck_reader(Backend::Postgres).await;
}

async fn stuck_reader(backend: Backend) {
    let overrides = [
        ("ws.send_queue", "100000"),
        ("ws.slow_reader_secs", "1"),
        ("ws.send_buffer_bytes", "16384"),
        ("ws.client_timeout_secs", "600"),
    ];
    let (app, alice, bob, chat) = big_frame_chat(backend, &overrides).await;
    let mut a = WsClient::connect(&app, &alice.token).await;
    let mut slow = WsClient::connect_small_buffer(&app, &bob.token).await;
    wait_for_ws_statuses(&app, &bob, &["CONNECTED"]).await;
    let sent = send_until_closed(&app, &mut a, None, &chat, &bob, 10, "stuck").await;
    assert_closed_short(&mut slow, sent).await;
    a.send_json(json!({"action": "ping"})).await;
    assert_eq!(a.next_json().await, json!({"type": "pong"}));
}

/// Refused frames get an error frame; a client that keeps going is closed (1008).
#[actix_web::test]
async fn the_rate_limit_answers_then_closes() {
    let app = TestApp::spawn_with(
        Backend::Memory,
        &[
            ("ws.messages_per_second", "1"),
            ("ws.burst", "3"),
            ("ws.rate_limit_strikes", "5"),
        ],
    )
    .await;
    let alice = app.user("alice").await;
    let mut c = WsClient::connect(&app, &alice.token).await;
    for _ in 0..3 {
        c.send_json(json!({"action": "ping"})).await;
    }
    for _ in 0..3 {
        assert_eq!(c.next_json().await, json!({"type": "pong"}));
    }
    for _ in 0..4 {
        c.send_json(json!({"action": "ping"})).await;
        assert_eq!(
            c.next_json().await,
            json!({"type": "error", "statusCode": 429, "message": "Too many messages; slow down", "ref": null})
        );
    }
    c.send_json(json!({"action": "ping"})).await;
    let (close, _) = c.until_closed().await;
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "rate limit exceeded");
    // A well-behaved client is not affected: after a pause the bucket refills.
    let mut d = WsClient::connect(&app, &alice.token).await;
    d.send_json(json!({"action": "ping"})).await;
    assert_eq!(d.next_json().await["type"], "pong");
}

/// With an allowlist, browsers from other origins are refused; apps (no Origin) pass.
#[actix_web::test]
async fn the_origin_allowlist_applies_to_browsers() {
    let app = TestApp::spawn_with(
        Backend::Memory,
        &[("ws.allowed_origins", "https://app.metmos.io")],
    )
    .await;
    let alice = app.user("alice").await;
    let r = WsClient::try_connect(
        &app,
        "/ws",
        &[
            ("authorization", &alice.token),
            ("origin", "https://evil.example"),
        ],
    )
    .await
    .err()
    .expect("refused");
    assert_eq!(r.status, 403);
    assert_eq!(r.body["message"], "Origin not allowed");
    WsClient::try_connect(
        &app,
        "/ws",
        &[
            ("authorization", &alice.token),
            ("origin", "https://app.metmos.io"),
        ],
    )
    .await
    .expect("allowed origin");
    WsClient::try_connect(&app, "/ws", &[("authorization", &alice.token)])
        .await
        .expect("no origin: a native app");
}

/// Heartbeat: a client that answers nothing is closed after the timeout.
#[actix_web::test]
async fn a_silent_client_is_closed_by_the_heartbeat() {
    let app = TestApp::spawn_with(
        Backend::Memory,
        &[("ws.heartbeat_secs", "1"), ("ws.client_timeout_secs", "2")],
    )
    .await;
    let alice = app.user("alice").await;
    // A raw TCP client that completes the upgrade and then never reads or answers.
    let mut c = WsClient::connect(&app, &alice.token).await;
    // Reading would auto-answer pings; instead wait without reading.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (close, _) = c.until_closed().await;
    // The client's queued pongs may hit the closed socket first, ending the read with
    // an error before the close frame is seen; when it is seen, it says why.
    if let Some(close) = close {
        assert_eq!(u16::from(close.code), 1001);
        assert_eq!(close.reason.as_str(), "heartbeat timeout");
    }
    wait_for_ws_statuses(&app, &alice, &["DISCONNECTED"]).await;
}

/// A node that died left CONNECTED rows: its next start (same node id) closes its own;
/// another node closes them once the dead node's lease expired.
#[actix_web::test]
async fn stale_rows_of_a_crashed_node_are_closed() {
    use metmos_engine::domain::time;
    use metmos_engine::domain::ws_connections::NewWsConnection;
    let node = uuid::Uuid::new_v4().to_string();
    let app = TestApp::spawn_with(
        Backend::Postgres,
        &[("node.id", &node), ("node.lease_secs", "3")],
    )
    .await;
    let alice = app.user("alice").await;
    let person = app
        .engine
        .store
        .person_by_uuid(alice.person_uuid.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    let other_node = uuid::Uuid::new_v4();
    let long_ago = time::now() - chrono::TimeDelta::minutes(5);
    for (id, node_id) in [
        ("left-by-me", app.engine.node_id),
        ("left-by-other", other_node),
    ] {
        app.engine
            .store
            .insert_ws_connection(&NewWsConnection {
                uuid: uuid::Uuid::new_v4(),
                ws_conn_id: id.into(),
                person_id: person.id,
                node_id: Some(node_id),
                at: long_ago,
            })
            .await
            .unwrap();
    }
    // The other node's lease ran out a minute ago.
    app.engine
        .store
        .renew_node_lease(
            other_node,
            time::now() - chrono::TimeDelta::minutes(1),
            long_ago,
        )
        .await
        .unwrap();
    // Restart "after a crash" on the same database with the same node id.
    let db = app.stop().await;
    let url = db.as_ref().unwrap().url.clone();
    let app = TestApp::spawn_on(
        Backend::Postgres,
        db,
        &[
            ("database.url", &url),
            ("node.id", &node),
            ("node.lease_secs", "3"),
        ],
    )
    .await;
    let body = wait_for_ws_statuses(&app, &alice, &["DISCONNECTED", "DISCONNECTED"]).await;
    for row in body["wsConnections"].as_array().unwrap() {
        assert!(row["disconnectedAt"].is_string());
    }
    // A live socket of this node stays CONNECTED through lease renewals.
    let _c = WsClient::connect(&app, &alice.token).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    wait_for_ws_statuses(&app, &alice, &["CONNECTED", "DISCONNECTED", "DISCONNECTED"]).await;
}

/// A frame over `ws.max_frame_bytes` closes the connection (1009); it is never buffered.
#[actix_web::test]
async fn an_oversized_frame_closes_the_connection() {
    let app = TestApp::spawn_with(Backend::Memory, &[("ws.max_frame_bytes", "2048")]).await;
    let alice = app.user("alice").await;
    let mut c = WsClient::connect(&app, &alice.token).await;
    c.send_json(json!({"action": "ping", "padding": "x".repeat(1000)}))
        .await;
    assert_eq!(
        c.next_json().await["type"],
        "pong",
        "under the limit is fine"
    );
    c.send_json(json!({"action": "ping", "padding": "x".repeat(3000)}))
        .await;
    let (close, texts) = c.until_closed().await;
    assert_eq!(texts, 0);
    assert_eq!(u16::from(close.expect("a close frame").code), 1009);
    wait_for_ws_statuses(&app, &alice, &["DISCONNECTED"]).await;
}

/// The next ack on `c` (other frames are skipped): its message uuid and seq.
async fn next_ack(c: &mut WsClient) -> (String, i64) {
    loop {
        let frame = c.next_json().await;
        if frame["type"] == "ack" {
            return (
                frame["messageUuid"].as_str().unwrap().to_string(),
                frame["seq"].as_i64().unwrap(),
            );
        }
    }
}

/// PostgreSQL, one message writer: a chat room queues its next batch to the writer while
/// its previous one is still being stored (issue 14). Alice's first message waits in the
/// writer behind an operator's lock on her chat's row; her second, sent then, is queued
/// at once, so when the lock goes it is inserted before Carol's message to another chat,
/// sent after it. A room that waited for its first batch's outcome would queue the second
/// only after Carol's was queued.
#[actix_web::test]
async fn on_postgres_a_room_queues_its_next_batch_while_the_previous_one_is_stored() {
    let app = TestApp::spawn_with(Backend::Postgres, &[("database.message_writers", "1")]).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let carol = app.user("carol").await;
    let dave = app.user("dave").await;
    let alices = contact_chat(&app, &alice, &bob).await;
    let carols = contact_chat(&app, &carol, &dave).await;
    let mut a = WsClient::connect(&app, &alice.token).await;
    let mut c = WsClient::connect(&app, &carol.token).await;
    let (mut db, conn) =
        tokio_postgres::connect(&app.db.as_ref().unwrap().url, tokio_postgres::NoTls)
            .await
            .unwrap();
    actix_web::rt::spawn(conn);
    let lock = db.transaction().await.unwrap();
    let chat_uuid = uuid::Uuid::parse_str(&alices).unwrap();
    lock.execute(
        "SELECT 1 FROM chat WHERE uuid = $1 FOR UPDATE",
        &[&chat_uuid],
    )
    .await
    .unwrap();
    let (first, second, third) = (new_uuid(), new_uuid(), new_uuid());
    a.send_message(&alices, &first, "held up").await;
    tokio::time::sleep(QUIET).await;
    a.send_message(&alices, &second, "queued behind it").await;
    tokio::time::sleep(QUIET).await;
    c.send_message(&carols, &third, "sent after both").await;
    a.expect_silence(QUIET).await;
    lock.commit().await.unwrap();

    assert_eq!(next_ack(&mut a).await, (first.clone(), 1));
    assert_eq!(next_ack(&mut a).await, (second.clone(), 2));
    assert_eq!(next_ack(&mut c).await, (third.clone(), 1));
    let uuids: Vec<uuid::Uuid> = [&first, &second, &third]
        .iter()
        .map(|u| uuid::Uuid::parse_str(u).unwrap())
        .collect();
    let inserted: Vec<String> = db
        .query(
            "SELECT uuid FROM message WHERE uuid = ANY($1) ORDER BY id",
            &[&uuids],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, uuid::Uuid>(0).to_string())
        .collect();
    assert_eq!(inserted, [first, second, third]);
}
