//! Read state (issue 15): unread counts, read receipts and typing, on every device and
//! across nodes. The "done when" scenario runs on one engine (both stores), on
//! two embedded engines sharing a memory store, and on two engines sharing PostgreSQL
//! and RabbitMQ; the edges (validation, 404s, clamping, throttling) on both stores.

use crate::harness::{Backend, TestApp, TestUser};
use crate::on_both_stores;
use crate::ws_client::{WsClient, contact_chat, new_uuid, wait_for_ws_statuses};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const QUIET: Duration = Duration::from_millis(300);

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "not reached in 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// The next frame of `kind` (others skipped).
async fn next_of(c: &mut WsClient, kind: &str) -> Value {
    loop {
        let f = c.next_json().await;
        if f["type"] == kind {
            return f;
        }
    }
}

/// No frame of `kind` within `QUIET` (others skipped).
async fn none_of(c: &mut WsClient, kind: &str) {
    let deadline = tokio::time::Instant::now() + QUIET;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match c.next_within(left).await {
            None => return,
            Some(f) => assert_ne!(f["type"], kind, "unexpected {f}"),
        }
    }
}

async fn unread_total(app: &TestApp, user: &TestUser) -> Value {
    app.get("/chats/unread", Some(&user.token))
        .await
        .expect(200)
        .body
}

async fn unread_in_list(app: &TestApp, user: &TestUser, chat: &str) -> i64 {
    let body = app.get("/chats", Some(&user.token)).await.expect(200).body;
    body["chats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["uuid"] == chat)
        .expect("chat listed")["unreadCount"]
        .as_i64()
        .unwrap()
}

async fn wait_unread(app: &TestApp, user: &TestUser, chat: &str, want: i64) {
    until(
        &format!("{} has {want} unread", user.username),
        async || {
            unread_in_list(app, user, chat).await == want
                && unread_total(app, user).await["total"] == want
        },
    )
    .await;
}

fn mark_read(chat: &str, seq: i64) -> Value {
    json!({"action": "markRead", "data": {"chatUuid": chat, "seq": seq}})
}

fn typing(chat: &str) -> Value {
    json!({"action": "typing", "data": {"chatUuid": chat}})
}

/// The "done when": Alice and Bob with two devices each; Alice's on `one`, Bob's
/// on `two` (the same engine, or another node). (One person's devices split over two
/// nodes is not covered: the Notifier frames a person online on its own node there
/// only, a limitation of the delivery path itself, not of read state.)
async fn two_people_on_two_devices(one: &TestApp, two: &TestApp) {
    let alice = one.user("alice").await;
    let bob = one.user("bob").await;
    one.post(
        "/devices",
        Some(&bob.token),
        json!({"deviceType": "PHONE", "platformType": "IOS", "platformVersion": "iOS 17",
               "modelName": "iPhone 15", "pushToken": format!("tok-{}", new_uuid())}),
    )
    .await
    .expect(201);
    let chat = contact_chat(one, &alice, &bob).await;
    let mut a1 = WsClient::connect(one, &alice.token).await;
    let mut a2 = WsClient::connect(one, &alice.token).await;
    let mut b1 = WsClient::connect(two, &bob.token).await;
    let mut b2 = WsClient::connect(two, &bob.token).await;

    // A sends three messages; B's chat list shows 3 unread on either node.
    for i in 1..=3 {
        a1.send_message(&chat, &new_uuid(), &format!("m{i}")).await;
        assert_eq!(next_of(&mut a1, "ack").await["seq"], i);
    }
    for c in [&mut b1, &mut b2] {
        for i in 1..=3 {
            assert_eq!(next_of(c, "chatMessage").await["seq"], i);
        }
    }
    wait_unread(one, &bob, &chat, 3).await;
    wait_unread(two, &bob, &chat, 3).await;
    let body = unread_total(one, &bob).await;
    assert_eq!(
        body,
        json!({"total": 3, "chats": [{"chatUuid": chat, "unreadCount": 3}]})
    );
    // Her own messages are read by sending them.
    wait_unread(one, &alice, &chat, 0).await;
    assert_eq!(
        unread_total(one, &alice).await,
        json!({"total": 0, "chats": []})
    );

    // B reads up to the second on one device: A sees it on both of hers, B's other
    // device clears to 1 unread; the device that read gets nothing back.
    b1.send_json(mark_read(&chat, 2)).await;
    let want = json!({"type": "read", "chatUuid": chat, "personUuid": bob.person_uuid, "seq": 2});
    assert_eq!(next_of(&mut a1, "read").await, want);
    assert_eq!(next_of(&mut a2, "read").await, want);
    assert_eq!(next_of(&mut b2, "read").await, want);
    none_of(&mut b1, "read").await;
    wait_unread(two, &bob, &chat, 1).await;
    wait_unread(one, &bob, &chat, 1).await;
    // Not ahead of the position: nobody hears of it.
    b2.send_json(mark_read(&chat, 1)).await;
    none_of(&mut a1, "read").await;

    // B types: A sees it on both devices; B's own devices do not; a second one within
    // 2 s is dropped.
    b2.send_json(typing(&chat)).await;
    let want = json!({"type": "typing", "chatUuid": chat, "personUuid": bob.person_uuid});
    assert_eq!(next_of(&mut a1, "typing").await, want);
    assert_eq!(next_of(&mut a2, "typing").await, want);
    b2.send_json(typing(&chat)).await;
    none_of(&mut a1, "typing").await;
    none_of(&mut b1, "typing").await;

    // With receipts off (B), neither sees the other's read frames; own devices still do.
    let me = one
        .patch(
            "/people/me",
            Some(&bob.token),
            json!({"readReceipts": false}),
        )
        .await
        .expect(200);
    assert_eq!(me.body["readReceipts"], false);
    assert_eq!(
        two.get("/people/me", Some(&bob.token))
            .await
            .expect(200)
            .body["readReceipts"],
        false
    );
    b1.send_json(mark_read(&chat, 3)).await;
    assert_eq!(next_of(&mut b2, "read").await["seq"], 3);
    none_of(&mut a1, "read").await;
    none_of(&mut a2, "read").await;
    b1.send_message(&chat, &new_uuid(), "from bob").await;
    assert_eq!(next_of(&mut b1, "ack").await["seq"], 4);
    a1.send_json(mark_read(&chat, 4)).await;
    assert_eq!(next_of(&mut a2, "read").await["seq"], 4);
    none_of(&mut b1, "read").await;
    none_of(&mut b2, "read").await;

    // One more message while B is online (unread 1), then B goes offline: the next
    // message is pushed with B's total unread (2) as its badge.
    a1.send_message(&chat, &new_uuid(), "five").await;
    next_of(&mut b1, "chatMessage").await;
    b1.close().await;
    b2.close().await;
    wait_for_ws_statuses(two, &bob, &["DISCONNECTED", "DISCONNECTED"]).await;
    a1.send_message(&chat, &new_uuid(), "six").await;
    let mut pushed = Vec::new();
    until("bob is pushed", async || {
        let r = one
            .get(
                &format!("/dev/pushes?personUuid={}", bob.person_uuid),
                Some(&bob.token),
            )
            .await
            .expect(200);
        // (The connection request before the chat was pushed too.)
        pushed = r.body["pushes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["notificationType"] == "NEW_CHAT_MESSAGE")
            .cloned()
            .collect();
        !pushed.is_empty()
    })
    .await;
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0]["notificationType"], "NEW_CHAT_MESSAGE");
    assert_eq!(pushed[0]["data"]["badge"], 2);
    wait_unread(one, &bob, &chat, 2).await;
}

on_both_stores! {
    async fn two_people_on_two_devices_read_type_and_get_badges(app) {
        two_people_on_two_devices(&app, &app).await;
    }

    async fn read_positions_are_forward_only_clamped_and_only_for_participants(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let eve = app.user("eve").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        for _ in 0..3 {
            a.send_message(&chat, &new_uuid(), "hi").await;
            next_of(&mut a, "ack").await;
        }
        let path = format!("/chats/{chat}/read");
        let r = app.patch(&path, Some(&bob.token), json!({"seq": 2})).await.expect(200);
        assert_eq!(r.body, json!({"chatUuid": chat, "seq": 2}));
        // REST marks send the frame too (Alice shares receipts with Bob).
        assert_eq!(next_of(&mut a, "read").await["seq"], 2);
        let r = app.patch(&path, Some(&bob.token), json!({"seq": 1})).await.expect(200);
        assert_eq!(r.body["seq"], 2, "never backwards");
        let r = app.patch(&path, Some(&bob.token), json!({"seq": 99})).await.expect(200);
        assert_eq!(r.body["seq"], 3, "clamped to the chat's last seq");
        assert_eq!(unread_total(&app, &bob).await["total"], 0);

        // Not yours, or no such chat: 404 as for any chat.
        app.patch(&path, Some(&eve.token), json!({"seq": 1})).await.expect_error(404);
        app.patch(&format!("/chats/{}/read", new_uuid()), Some(&bob.token), json!({"seq": 1}))
            .await
            .expect_error(404);
        // Bad input: 400.
        app.patch(&path, Some(&bob.token), json!({"seq": 0})).await.expect_error(400);
        app.patch(&path, Some(&bob.token), json!({})).await.expect_error(400);
        app.patch(&path, Some(&bob.token), json!({"seq": "two"})).await.expect_error(400);
        app.patch(&path, Some(&bob.token), json!({"seq": 1, "x": 1})).await.expect_error(400);
        app.patch("/chats/nope/read", Some(&bob.token), json!({"seq": 1})).await.expect_error(400);
        app.patch(&path, None, json!({"seq": 1})).await.expect_error(401);
        app.get("/chats/unread", None).await.expect_error(401);
        assert_eq!(unread_total(&app, &eve).await, json!({"total": 0, "chats": []}));

        // The same over the socket: error frames, and the socket stays open.
        let mut e = WsClient::connect(&app, &eve.token).await;
        e.send_json(mark_read(&chat, 1)).await;
        let f = e.next_json().await;
        assert_eq!((f["type"].as_str(), f["statusCode"].as_i64()), (Some("error"), Some(404)));
        e.send_json(typing(&chat)).await;
        assert_eq!(e.next_json().await["statusCode"], 404);
        e.send_json(json!({"action": "markRead", "data": {"chatUuid": "nope", "seq": 1}})).await;
        let f = e.next_json().await;
        assert_eq!(f["statusCode"], 400);
        assert_eq!(f["message"], "chatUuid must be a UUID");
        e.send_json(json!({"action": "markRead", "data": {"chatUuid": chat}})).await;
        assert_eq!(e.next_json().await["message"], "seq is required");
        e.send_json(json!({"action": "markRead", "data": {"chatUuid": chat, "seq": -1}})).await;
        assert_eq!(e.next_json().await["message"], "seq must be a positive integer");
        e.send_json(json!({"action": "typing"})).await;
        assert_eq!(e.next_json().await["statusCode"], 400);
        e.send_json(json!({"action": "ping"})).await;
        assert_eq!(e.next_json().await["type"], "pong");
    }

    async fn receipts_setting_is_shown_and_validated(app) {
        let bob = app.user("bob").await;
        assert_eq!(app.get("/people/me", Some(&bob.token)).await.expect(200).body["readReceipts"], true);
        app.patch("/people/me", Some(&bob.token), json!({"readReceipts": "no"})).await.expect_error(400);
        let r = app.patch("/people/me", Some(&bob.token), json!({"readReceipts": false, "bio": "hi"}))
            .await
            .expect(200);
        assert_eq!((r.body["readReceipts"].as_bool(), r.body["bio"].as_str()), (Some(false), Some("hi")));
        let r = app.patch("/people/me", Some(&bob.token), json!({"readReceipts": true})).await.expect(200);
        assert_eq!(r.body["readReceipts"], true);
        // Others never see the setting.
        let alice = app.user("alice").await;
        let other = app.get(&format!("/people/{}", bob.person_uuid), Some(&alice.token)).await.expect(200);
        assert!(other.body.get("readReceipts").is_none());
    }
}

/// Two engines in one process sharing a memory store and an in-process bus.
#[actix_web::test]
async fn two_embedded_engines_share_read_state() {
    use metmos_engine::adapters::bus::inprocess::InProcessBus;
    use metmos_engine::adapters::store::memory::MemoryStore;
    use std::sync::Arc;
    let store: Arc<dyn metmos_engine::ports::Store> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn metmos_engine::ports::Bus> = Arc::new(InProcessBus::new());
    let fast = [("chat.read_flush_ms", "20")];
    let a = TestApp::spawn_sharing(store.clone(), bus.clone(), &fast).await;
    let b = TestApp::spawn_sharing(store, bus, &fast).await;
    two_people_on_two_devices(&a, &b).await;
}

/// Two engines sharing PostgreSQL and RabbitMQ (a database and a virtual host of their
/// own): frames cross through the node queues, positions through the database.
#[actix_web::test]
async fn two_engines_on_postgres_and_rabbitmq_share_read_state() {
    use metmos_engine::testing::{ScratchDatabase, ScratchVhost};
    let vhost = ScratchVhost::create().expect("vhost");
    let db = ScratchDatabase::create().await.expect("database");
    let url = db.url.clone();
    let settings = [
        ("database.url", url.as_str()),
        ("amqp.url", vhost.url.as_str()),
        ("chat.read_flush_ms", "20"),
    ];
    let a = TestApp::spawn_on(Backend::Postgres, Some(db), &settings).await;
    let b = TestApp::spawn_on(Backend::Postgres, None, &settings).await;
    assert_ne!(a.engine.node_id, b.engine.node_id);
    two_people_on_two_devices(&a, &b).await;
}
