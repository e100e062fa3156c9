//! Chats over REST: starting one (contacts only, one per pair), listing one's chats
//! with participants and last message, and history (participants only, oldest first).

use crate::harness::TestApp;
use crate::on_both_stores;
use crate::ws_client::{WsClient, contact_chat, new_uuid};
use serde_json::{Value, json};

async fn start(app: &TestApp, token: &str, body: Value) -> crate::harness::Resp {
    app.post("/chats", Some(token), body).await
}

on_both_stores! {
    async fn a_listing_chat_joins_poster_and_one_interested_person(app) {
        let poster = app.user("poster").await;
        let buyer = app.user("buyer").await;
        let other = app.user("other").await;
        let listing = crate::market::published(&app, &poster, json!({})).await;
        let body = |extra: Value| {
            let mut b = json!({"chatType": "LISTING", "listingUuid": listing});
            crate::market::merge(&mut b, extra);
            b
        };
        // Anyone who can see the listing opens a chat with its poster; no contact needed.
        let first = start(&app, &buyer.token, body(json!({}))).await.expect(201);
        assert_eq!(first.body["chatType"], "LISTING");
        assert_eq!(first.body["listingUuid"], listing.as_str());
        let mut people: Vec<&str> = first.body["participants"].as_array().unwrap().iter().map(|p| p["uuid"].as_str().unwrap()).collect();
        people.sort();
        let mut expected = vec![poster.person_uuid.as_str(), buyer.person_uuid.as_str()];
        expected.sort();
        assert_eq!(people, expected);
        // Asking again (naming the poster or not) answers the same chat with 200.
        let again = start(&app, &buyer.token, body(json!({"receiverPersonUuid": poster.person_uuid}))).await.expect(200);
        assert_eq!(again.body["uuid"], first.body["uuid"]);
        let r = start(&app, &buyer.token, body(json!({"receiverPersonUuid": other.person_uuid}))).await.expect_error(400);
        assert_eq!(r.message(), "receiverPersonUuid must be the listing's poster");
        // Another interested person gets a chat of their own.
        let second = start(&app, &other.token, body(json!({}))).await.expect(201);
        assert_ne!(second.body["uuid"], first.body["uuid"]);
        // The poster may open one only with someone who offered on the listing.
        let r = start(&app, &poster.token, body(json!({}))).await.expect_error(400);
        assert_eq!(r.message(), "receiverPersonUuid is required when the poster opens a LISTING chat");
        let stranger = app.user("stranger").await;
        let r = start(&app, &poster.token, body(json!({"receiverPersonUuid": stranger.person_uuid}))).await.expect_error(403);
        assert_eq!(r.message(), "The poster can only open a listing chat with someone who made an offer on it");
        crate::market::offer(&app, &stranger, &listing, "0.5").await;
        let from_poster = start(&app, &poster.token, body(json!({"receiverPersonUuid": stranger.person_uuid}))).await.expect(201);
        let reverse = start(&app, &stranger.token, body(json!({}))).await.expect(200);
        assert_eq!(reverse.body["uuid"], from_poster.body["uuid"], "one chat per listing and interested person");
        // Someone else's draft is invisible.
        let hidden = crate::market::draft(&app, &poster, json!({})).await;
        let r = start(&app, &buyer.token, json!({"chatType": "LISTING", "listingUuid": hidden})).await.expect_error(404);
        assert_eq!(r.message(), "Listing not found");
        // And the filter finds it.
        let mine = app.get(&format!("/chats?chatType=LISTING&listingUuid={listing}"), Some(&buyer.token)).await.expect(200);
        assert_eq!(mine.body["chats"].as_array().unwrap().len(), 1);
        assert_eq!(mine.body["chats"][0]["uuid"], first.body["uuid"]);
    }

    async fn a_contact_chat_needs_a_contact_and_is_one_per_pair(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let stranger = app.user("stranger").await;
        let contact = |who: &str| json!({"chatType": "CONTACT", "receiverPersonUuid": who});

        let r = start(&app, &alice.token, contact(&stranger.person_uuid)).await.expect_error(403);
        assert_eq!(r.message(), "You can only start a chat with a contact");
        start(&app, &alice.token, contact(&new_uuid())).await.expect_error(404);
        let r = start(&app, &alice.token, contact(&alice.person_uuid)).await.expect_error(400);
        assert_eq!(r.message(), "receiverPersonUuid must be another person");
        let r = start(&app, &alice.token, json!({"chatType": "CONTACT", "receiverPersonUuid": "nope", "listingUuid": new_uuid()})).await.expect_error(400);
        assert_eq!(r.body["message"], json!(["receiverPersonUuid must be a UUID", "listingUuid is only for chatType LISTING"]));
        start(&app, &alice.token, json!({"chatType": "CONTACT"})).await.expect_error(400);
        let r = start(&app, &alice.token, json!({"chatType": "GROUP"})).await.expect_error(400);
        assert_eq!(r.message(), "chatType must be one of the following values: CONTACT, LISTING");
        let r = start(&app, &alice.token, json!({"chatType": "LISTING", "listingUuid": new_uuid()})).await.expect_error(404);
        assert_eq!(r.message(), "Listing not found");
        let r = start(&app, &alice.token, json!({"chatType": "LISTING"})).await.expect_error(400);
        assert_eq!(r.message(), "listingUuid is required for chatType LISTING");
        start(&app, &alice.token, json!({})).await.expect_error(400);
        app.post("/chats", None, contact(&bob.person_uuid)).await.expect_error(401);

        crate::connections::connect(&app, &alice, &bob).await;
        let created = start(&app, &alice.token, contact(&bob.person_uuid)).await.expect(201);
        let chat = created.body["uuid"].as_str().unwrap().to_string();
        assert_eq!(created.body["chatType"], "CONTACT");
        assert_eq!(created.body["listingUuid"], Value::Null);
        assert_eq!(created.body["lastMessage"], Value::Null);
        let names: Vec<&str> = created.body["participants"].as_array().unwrap().iter().map(|p| p["username"].as_str().unwrap()).collect();
        assert_eq!(names, ["alice", "bob"]);
        assert!(created.body["participants"][1].get("email").is_none(), "public summaries only");
        // Either side asking again gets the same chat, with 200.
        let again = start(&app, &bob.token, contact(&alice.person_uuid)).await.expect(200);
        assert_eq!(again.body["uuid"], chat.as_str());
        let mut a = WsClient::connect(&app, &alice.token).await;
        let uuid = new_uuid();
        a.send_message(&chat, &uuid, "hi").await;
        a.next_json().await;
        let again = start(&app, &alice.token, contact(&bob.person_uuid)).await.expect(200);
        assert_eq!(again.body["lastMessage"]["uuid"], uuid.as_str());
    }

    async fn racing_creates_make_one_chat(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        crate::connections::connect(&app, &alice, &bob).await;
        let ab = json!({"chatType": "CONTACT", "receiverPersonUuid": bob.person_uuid});
        let ba = json!({"chatType": "CONTACT", "receiverPersonUuid": alice.person_uuid});
        let (r1, r2, r3, r4) = tokio::join!(
            start(&app, &alice.token, ab.clone()),
            start(&app, &bob.token, ba.clone()),
            start(&app, &alice.token, ab),
            start(&app, &bob.token, ba)
        );
        let all = [r1, r2, r3, r4];
        let mut statuses: Vec<u16> = all.iter().map(|r| r.status).collect();
        statuses.sort();
        assert_eq!(statuses, [200, 200, 200, 201]);
        assert!(all.iter().all(|r| r.body["uuid"] == all[0].body["uuid"]));
        let list = app.get("/chats", Some(&alice.token)).await.expect(200);
        assert_eq!(list.body["chats"].as_array().unwrap().len(), 1);
    }

    async fn my_chats_newest_first_with_participants_last_message_and_filters(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let carol = app.user("carol").await;
        let dave = app.user("dave").await;
        let with_bob = contact_chat(&app, &alice, &bob).await;
        let with_carol = contact_chat(&app, &alice, &carol).await;
        let not_mine = contact_chat(&app, &bob, &dave).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        a.send_message(&with_bob, &new_uuid(), "first").await;
        a.next_json().await;
        let last = new_uuid();
        a.send_message(&with_bob, &last, "second").await;
        a.next_json().await;

        let list = app.get("/chats", Some(&alice.token)).await.expect(200);
        let uuids: Vec<&str> = list.body["chats"].as_array().unwrap().iter().map(|c| c["uuid"].as_str().unwrap()).collect();
        assert_eq!(uuids, [with_carol.as_str(), with_bob.as_str()]);
        assert!(!uuids.contains(&not_mine.as_str()));
        let bob_chat = &list.body["chats"][1];
        assert_eq!(bob_chat["lastMessage"]["uuid"], last.as_str());
        assert_eq!(bob_chat["lastMessage"]["messageContent"], "second");
        assert_eq!(bob_chat["lastMessage"]["seq"], 2);
        assert_eq!(bob_chat["participants"].as_array().unwrap().len(), 2);
        assert_eq!(list.body["chats"][0]["lastMessage"], Value::Null);
        assert_eq!(list.body["after"], Value::Null);

        let page = app.get("/chats?limit=1&after=-1", Some(&alice.token)).await.expect(200);
        assert_eq!(page.body["chats"][0]["uuid"], with_carol.as_str());
        let after = page.body["after"].as_i64().unwrap();
        let page = app.get(&format!("/chats?limit=1&after={after}"), Some(&alice.token)).await.expect(200);
        assert_eq!(page.body["chats"][0]["uuid"], with_bob.as_str());
        assert_eq!(page.body["after"], Value::Null);

        let contact_only = app.get("/chats?chatType=CONTACT", Some(&alice.token)).await.expect(200);
        assert_eq!(contact_only.body["chats"].as_array().unwrap().len(), 2);
        let listing = app.get("/chats?chatType=LISTING", Some(&alice.token)).await.expect(200);
        assert!(listing.body["chats"].as_array().unwrap().is_empty());
        let on_listing = app.get(&format!("/chats?listingUuid={}", new_uuid()), Some(&alice.token)).await.expect(200);
        assert!(on_listing.body["chats"].as_array().unwrap().is_empty());
        let bad = app.get("/chats?chatType=nope&listingUuid=nope&limit=0", Some(&alice.token)).await.expect_error(400);
        assert!(bad.message().contains("limit"), "{}", bad.text);
        let bad = app.get("/chats?chatType=nope&listingUuid=nope", Some(&alice.token)).await.expect_error(400);
        assert_eq!(bad.body["message"].as_array().unwrap().len(), 2, "{}", bad.text);
    }

    async fn history_is_for_participants_oldest_first_with_filters(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let eve = app.user("eve").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        for text in ["m1", "m2", "m3"] {
            a.send_message(&chat, &new_uuid(), text).await;
            a.next_json().await;
            // Distinct milliseconds, so the time filters below can tell them apart.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let all = app.get(&format!("/chats/{chat}/messages"), Some(&bob.token)).await.expect(200);
        let texts: Vec<&str> = all.body["messages"].as_array().unwrap().iter().map(|m| m["messageContent"].as_str().unwrap()).collect();
        assert_eq!(texts, ["m1", "m2", "m3"], "oldest first");
        let second_at = all.body["messages"][1]["updatedAt"].as_str().unwrap().to_string();
        let from = app.get(&format!("/chats/{chat}/messages?updatedAtStart={second_at}"), Some(&bob.token)).await.expect(200);
        assert_eq!(from.body["messages"][0]["messageContent"], "m2");
        let until = app.get(&format!("/chats/{chat}/messages?updatedAtEnd={second_at}"), Some(&bob.token)).await.expect(200);
        assert_eq!(until.body["messages"].as_array().unwrap().last().unwrap()["messageContent"], "m2");
        let future = app.get(&format!("/chats/{chat}/messages?updatedAtStart=2999-01-01"), Some(&bob.token)).await.expect(200);
        assert!(future.body["messages"].as_array().unwrap().is_empty());

        let page = app.get(&format!("/chats/{chat}/messages?limit=2"), Some(&bob.token)).await.expect(200);
        assert_eq!(page.body["after"], 2, "the cursor is the last seq");
        let page = app.get(&format!("/chats/{chat}/messages?limit=2&after=2"), Some(&bob.token)).await.expect(200);
        assert_eq!(page.body["messages"][0]["messageContent"], "m3");
        assert_eq!(page.body["after"], Value::Null);

        let r = app.get(&format!("/chats/{chat}/messages"), Some(&eve.token)).await.expect_error(404);
        assert_eq!(r.message(), "Chat not found");
        app.get(&format!("/chats/{}/messages", new_uuid()), Some(&bob.token)).await.expect_error(404);
        let r = app.get("/chats/nope/messages", Some(&bob.token)).await.expect_error(400);
        assert_eq!(r.message(), "chatUuid must be a UUID");
        let r = app.get(&format!("/chats/{chat}/messages?updatedAtStart=yesterday&after=x"), Some(&bob.token)).await.expect_error(400);
        assert_eq!(r.body["message"].as_array().unwrap().len(), 1, "paging is checked first: {}", r.text);
        let r = app.get(&format!("/chats/{chat}/messages?updatedAtStart=yesterday"), Some(&bob.token)).await.expect_error(400);
        assert_eq!(r.message(), "updatedAtStart must be an ISO 8601 date or date-time");
        app.get(&format!("/chats/{chat}/messages"), None).await.expect_error(401);
    }

    async fn devices_register_and_a_push_token_is_one_device(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let body = json!({"deviceType": "PHONE", "platformType": "IOS", "platformVersion": "iOS 17",
                          "modelName": "iPhone 15", "pushToken": "token-1"});
        let r = app.post("/devices", Some(&alice.token), body.clone()).await.expect(201);
        let uuid = r.body["uuid"].as_str().unwrap().to_string();
        assert_eq!(r.body["personUuid"], alice.person_uuid.as_str());
        assert_eq!(r.body["deviceType"], "PHONE");
        assert_eq!(r.body["platformType"], "IOS");
        assert_eq!(r.body["platformVersion"], "iOS 17");
        assert_eq!(r.body["modelName"], "iPhone 15");
        assert_eq!(r.body["pushToken"], "token-1");
        assert_eq!(r.body["disabledAt"], Value::Null);
        // Registering again (an app update) keeps the device; another person signing
        // in on it takes it over.
        let mut updated = body.clone();
        updated["platformVersion"] = json!("iOS 18");
        let r = app.post("/devices", Some(&alice.token), updated.clone()).await.expect(201);
        assert_eq!(r.body["uuid"], uuid.as_str());
        assert_eq!(r.body["platformVersion"], "iOS 18");
        let r = app.post("/devices", Some(&bob.token), updated).await.expect(201);
        assert_eq!(r.body["uuid"], uuid.as_str());
        assert_eq!(r.body["personUuid"], bob.person_uuid.as_str());
        let alice_devices = app.engine.store.push_devices(alice.person_uuid.parse().unwrap(), 20).await.unwrap();
        assert!(alice_devices.is_empty(), "the token moved to bob");

        let r = app.post("/devices", Some(&alice.token), json!({"deviceType": "TOASTER", "platformType": "ios",
                         "platformVersion": "", "pushToken": "has space"})).await.expect_error(400);
        assert_eq!(
            r.body["message"],
            json!([
                "deviceType must be one of the following values: PHONE, TABLET, WEARABLE, BROWSER, DESKTOP, OTHER",
                "platformType must be one of the following values: IOS, ANDROID, WEB, WINDOWS, MACOS, LINUX, OTHER",
                "platformVersion must be 1 to 100 characters",
                "modelName is required",
                "pushToken must be 1 to 4096 characters without spaces"
            ])
        );
        app.post("/devices", None, body).await.expect_error(401);
    }
}
