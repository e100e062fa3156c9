//! Connections and contacts: the request lifecycle, who may answer, duplicates, the
//! notifications it causes, contacts and their privacy, removal and starting over.

use crate::harness::{Resp, TestApp, TestUser};
use crate::on_both_stores;
use metmos_engine::domain::notifications::Notification;
use metmos_engine::ports::NotificationSink;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Sends a connection request from `from` to `to`.
pub async fn request(app: &TestApp, from: &TestUser, to: &TestUser) -> Resp {
    app.post(
        "/connections",
        Some(&from.token),
        json!({"personUuid": to.person_uuid}),
    )
    .await
}

/// Makes `a` and `b` contacts (a asks, b accepts); answers the connection uuid.
pub async fn connect(app: &TestApp, a: &TestUser, b: &TestUser) -> String {
    let r = request(app, a, b).await.expect(201);
    let uuid = r.body["uuid"].as_str().expect("uuid").to_string();
    app.patch_empty(&format!("/connections/{uuid}/accept"), Some(&b.token))
        .await
        .expect(200);
    uuid
}

fn usernames(list: &Value, key: &str, field: &str) -> Vec<String> {
    list[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is a list: {list}"))
        .iter()
        .map(|c| {
            c[field]["username"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn contact_names(list: &Value) -> Vec<String> {
    list["contacts"]
        .as_array()
        .unwrap_or_else(|| panic!("contacts is a list: {list}"))
        .iter()
        .map(|p| p["username"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Records what the engine hands to the realtime front.
#[derive(Default)]
struct Recorder(Mutex<Vec<Notification>>);

impl NotificationSink for Recorder {
    fn deliver(&self, notification: &Notification) {
        self.0
            .lock()
            .expect("recorder lock")
            .push(notification.clone());
    }
}

on_both_stores! {
    async fn request_then_accept_makes_contacts(app) {
        let alice = app.user("alice").await;
        let bob = app.user_with(json!({"username": "bob", "email": "bob@example.com", "contactNumber": "+61 400 000 002"})).await;
        let r = request(&app, &alice, &bob).await.expect(201);
        let uuid = r.body["uuid"].as_str().unwrap().to_string();
        assert_eq!(r.body["status"], "PENDING");
        assert_eq!(r.body["personUuid"], alice.person_uuid.as_str());
        assert_eq!(r.body["connectionPersonUuid"], bob.person_uuid.as_str());
        assert_eq!(r.body["otherPerson"]["uuid"], bob.person_uuid.as_str());
        assert_eq!(r.body["otherPerson"]["username"], "bob");
        assert!(r.body["otherPerson"].get("email").is_none(), "public summary only: {}", r.text);
        assert!(r.body["otherPerson"].get("contactNumber").is_none());
        for field in ["requestedAt", "createdAt", "updatedAt"] {
            let t = r.body[field].as_str().unwrap_or_else(|| panic!("{field}: {}", r.text));
            assert!(t.ends_with('Z') && t.len() == 24, "{field}: {t}");
        }
        // Not yet contacts: bob's private fields stay hidden from alice.
        let seen = app.get(&format!("/people/{}", bob.person_uuid), Some(&alice.token)).await.expect(200);
        assert!(seen.body.get("email").is_none());

        // The requester cannot answer their own request, whatever the state.
        let r = app.patch_empty(&format!("/connections/{uuid}/accept"), Some(&alice.token)).await.expect_error(403);
        assert_eq!(r.message(), "Only the person who received a connection request can answer it");
        app.patch_empty(&format!("/connections/{uuid}/reject"), Some(&alice.token)).await.expect_error(403);

        let r = app.patch_empty(&format!("/connections/{uuid}/accept"), Some(&bob.token)).await.expect(200);
        assert_eq!(r.body["status"], "ACCEPTED");
        assert_eq!(r.body["uuid"], uuid.as_str());
        assert_eq!(r.body["otherPerson"]["uuid"], alice.person_uuid.as_str(), "bob sees alice on the other side");
        assert!(r.body["updatedAt"].as_str() >= r.body["createdAt"].as_str());

        // Only a PENDING request can be answered.
        let r = app.patch_empty(&format!("/connections/{uuid}/accept"), Some(&bob.token)).await.expect_error(409);
        assert_eq!(r.message(), "Connection request is not pending");
        app.patch_empty(&format!("/connections/{uuid}/reject"), Some(&bob.token)).await.expect_error(409);

        // Contacts see each other's private fields.
        let seen = app.get(&format!("/people/{}", bob.person_uuid), Some(&alice.token)).await.expect(200);
        assert_eq!(seen.body["email"], "bob@example.com");
        assert_eq!(seen.body["contactNumber"], "+61 400 000 002");
        let contacts = app.get("/connections/contacts", Some(&alice.token)).await.expect(200);
        assert_eq!(contact_names(&contacts.body), ["bob"]);
        assert_eq!(contacts.body["contacts"][0]["email"], "bob@example.com");
        assert_eq!(contacts.body["contacts"][0]["contactNumber"], "+61 400 000 002");
        assert!(contacts.body["contacts"][0].get("accountUuid").is_none(), "account uuid is for oneself only");
        assert!(contacts.body["after"].is_null());
        let contacts = app.get("/connections/contacts", Some(&bob.token)).await.expect(200);
        assert_eq!(contact_names(&contacts.body), ["alice"]);
        assert_eq!(contacts.body["contacts"][0]["email"], "alice@example.com");
    }

    async fn reject_ends_the_request_and_holds_the_requester_off(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let r = request(&app, &alice, &bob).await.expect(201);
        let uuid = r.body["uuid"].as_str().unwrap().to_string();
        let r = app.patch_empty(&format!("/connections/{uuid}/reject"), Some(&bob.token)).await.expect(200);
        assert_eq!(r.body["status"], "REJECTED");
        app.patch_empty(&format!("/connections/{uuid}/accept"), Some(&bob.token)).await.expect_error(409);
        let contacts = app.get("/connections/contacts", Some(&bob.token)).await.expect(200);
        assert!(contact_names(&contacts.body).is_empty());
        // Finding 8: the rejected requester may not ask again for
        // social.rerequest_cooldown_days (7), and the refused request notifies no one.
        let before = app.get("/notifications", Some(&bob.token)).await.expect(200).body["notifications"].as_array().unwrap().len();
        let r = request(&app, &alice, &bob).await.expect_error(409);
        assert_eq!(r.message(), "Connection request was rejected recently; try again after 7 days");
        let after = app.get("/notifications", Some(&bob.token)).await.expect(200).body["notifications"].as_array().unwrap().len();
        assert_eq!(after, before, "no notification for a refused request");
        // The one who rejected may ask the other way.
        let again = request(&app, &bob, &alice).await.expect(201);
        assert_ne!(again.body["uuid"], uuid.as_str());
        assert_eq!(again.body["status"], "PENDING");
        let list = app.get("/connections", Some(&alice.token)).await.expect(200);
        let statuses: Vec<&str> = list.body["connections"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["PENDING", "REJECTED"], "newest first, history kept");
    }

    async fn duplicates_self_and_unknown_people_are_refused(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        request(&app, &alice, &bob).await.expect(201);
        let r = request(&app, &alice, &bob).await.expect_error(409);
        assert_eq!(r.message(), "A connection between these people already exists");
        let r = request(&app, &bob, &alice).await.expect_error(409);
        assert_eq!(r.message(), "A connection between these people already exists", "either direction");

        let carol = app.user("carol").await;
        let dave = app.user("dave").await;
        connect(&app, &carol, &dave).await;
        request(&app, &carol, &dave).await.expect_error(409);
        request(&app, &dave, &carol).await.expect_error(409);

        let r = request(&app, &alice, &alice).await.expect_error(400);
        assert_eq!(r.message(), "You cannot connect with yourself");
        let r = app.post("/connections", Some(&alice.token), json!({"personUuid": uuid::Uuid::new_v4()})).await.expect_error(404);
        assert_eq!(r.message(), "Person not found");
        let r = app.post("/connections", Some(&alice.token), json!({"personUuid": "bob"})).await.expect_error(400);
        assert_eq!(r.message(), "personUuid must be a UUID");
        let r = app.post("/connections", Some(&alice.token), json!({})).await.expect_error(400);
        assert!(r.message().contains("personUuid"), "{}", r.text);
        app.post("/connections", None, json!({"personUuid": bob.person_uuid})).await.expect_error(401);
        // Nothing of the refused ones was stored.
        let list = app.get("/connections", Some(&alice.token)).await.expect(200);
        assert_eq!(list.body["connections"].as_array().unwrap().len(), 1);
    }

    async fn strangers_cannot_see_or_answer_a_request(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let carol = app.user("carol").await;
        let r = request(&app, &alice, &bob).await.expect(201);
        let uuid = r.body["uuid"].as_str().unwrap().to_string();
        let r = app.patch_empty(&format!("/connections/{uuid}/accept"), Some(&carol.token)).await.expect_error(404);
        assert_eq!(r.message(), "Connection not found");
        app.patch_empty(&format!("/connections/{uuid}/reject"), Some(&carol.token)).await.expect_error(404);
        let list = app.get("/connections", Some(&carol.token)).await.expect(200);
        assert!(list.body["connections"].as_array().unwrap().is_empty());
        app.patch_empty(&format!("/connections/{}/accept", uuid::Uuid::new_v4()), Some(&bob.token)).await.expect_error(404);
        let r = app.patch_empty("/connections/nope/accept", Some(&bob.token)).await.expect_error(400);
        assert_eq!(r.message(), "uuid must be a UUID");
        app.patch_empty(&format!("/connections/{uuid}/accept"), None).await.expect_error(401);
        // Still pending: the stranger changed nothing.
        let list = app.get("/connections", Some(&bob.token)).await.expect(200);
        assert_eq!(list.body["connections"][0]["status"], "PENDING");
    }

    async fn list_shows_both_directions_with_status_filter(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let carol = app.user("carol").await;
        let dave = app.user("dave").await;
        request(&app, &alice, &bob).await.expect(201);
        let from_carol = request(&app, &carol, &alice).await.expect(201);
        request(&app, &alice, &dave).await.expect(201);
        request(&app, &bob, &carol).await.expect(201); // not alice's
        let cu = from_carol.body["uuid"].as_str().unwrap();
        app.patch_empty(&format!("/connections/{cu}/accept"), Some(&alice.token)).await.expect(200);

        let all = app.get("/connections", Some(&alice.token)).await.expect(200);
        assert_eq!(usernames(&all.body, "connections", "otherPerson"), ["dave", "carol", "bob"], "newest first, the other side shown");
        let received = &all.body["connections"][1];
        assert_eq!(received["personUuid"], carol.person_uuid.as_str());
        assert_eq!(received["connectionPersonUuid"], alice.person_uuid.as_str());
        assert_eq!(received["status"], "ACCEPTED");
        assert!(received["otherPerson"].get("email").is_none(), "public summary even for a contact");

        let pending = app.get("/connections?status=PENDING", Some(&alice.token)).await.expect(200);
        assert_eq!(usernames(&pending.body, "connections", "otherPerson"), ["dave", "bob"]);
        let accepted = app.get("/connections?status=ACCEPTED", Some(&alice.token)).await.expect(200);
        assert_eq!(usernames(&accepted.body, "connections", "otherPerson"), ["carol"]);
        let r = app.get("/connections?status=FRIENDS", Some(&alice.token)).await.expect_error(400);
        assert_eq!(r.message(), "status must be one of the following values: PENDING, ACCEPTED, REJECTED");

        let p1 = app.get("/connections?limit=2&after=-1", Some(&alice.token)).await.expect(200);
        assert_eq!(usernames(&p1.body, "connections", "otherPerson"), ["dave", "carol"]);
        let after = p1.body["after"].as_i64().expect("a next page");
        let p2 = app.get(&format!("/connections?limit=2&after={after}"), Some(&alice.token)).await.expect(200);
        assert_eq!(usernames(&p2.body, "connections", "otherPerson"), ["bob"]);
        assert!(p2.body["after"].is_null());
    }

    async fn contacts_search_and_page_within_contacts_only(app) {
        let me = app.user("myself").await;
        let mary = app.user_with(json!({"username": "mary", "email": "mary@example.com", "contactNumber": "+61 400 000 009", "firstName": "Mary"})).await;
        let maryanne = app.user("maryanne").await;
        let zed = app.user_with(json!({"username": "zed", "email": "zed@example.com", "lastName": "Marymount"})).await;
        let stranger = app.user("marystranger").await;
        let pending = app.user("marypending").await;
        connect(&app, &me, &mary).await;
        connect(&app, &maryanne, &me).await; // either direction
        connect(&app, &me, &zed).await;
        request(&app, &me, &pending).await.expect(201);
        let _ = stranger;

        let all = app.get("/connections/contacts?limit=20&after=-1", Some(&me.token)).await.expect(200);
        assert_eq!(contact_names(&all.body), ["zed", "maryanne", "mary"]);
        let r = app.get("/connections/contacts?q=mary", Some(&me.token)).await.expect(200);
        assert_eq!(contact_names(&r.body), ["zed", "maryanne", "mary"], "last name Marymount matches too; strangers and pending never");
        let r = app.get("/connections/contacts?q=MARYANNE", Some(&me.token)).await.expect(200);
        assert_eq!(contact_names(&r.body), ["maryanne"]);
        let r = app.get("/connections/contacts?q=mary@example.com", Some(&me.token)).await.expect(200);
        assert_eq!(contact_names(&r.body), ["mary"], "email matches exactly");
        let r = app.get("/connections/contacts?q=example.com", Some(&me.token)).await.expect(200);
        assert!(contact_names(&r.body).is_empty(), "no substring match on email");
        let r = app.get("/connections/contacts?q=%2B61400000009", Some(&me.token)).await.expect(200);
        assert_eq!(contact_names(&r.body), ["mary"], "phone matches exactly");
        let r = app.get(&format!("/connections/contacts?q={}", "x".repeat(101)), Some(&me.token)).await.expect_error(400);
        assert_eq!(r.message(), "q must be at most 100 characters");

        let p1 = app.get("/connections/contacts?limit=2", Some(&me.token)).await.expect(200);
        assert_eq!(contact_names(&p1.body), ["zed", "maryanne"]);
        let after = p1.body["after"].as_i64().expect("next page");
        let p2 = app.get(&format!("/connections/contacts?limit=2&after={after}"), Some(&me.token)).await.expect(200);
        assert_eq!(contact_names(&p2.body), ["mary"]);
        assert!(p2.body["after"].is_null());
    }

    async fn either_side_removes_a_contact_and_may_start_over(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let carol = app.user("carol").await;
        connect(&app, &alice, &bob).await;
        // Bob (the target) removes alice.
        let r = app.delete(&format!("/connections/contacts/{}", alice.person_uuid), Some(&bob.token)).await.expect(204);
        assert!(r.text.is_empty());
        let contacts = app.get("/connections/contacts", Some(&alice.token)).await.expect(200);
        assert!(contact_names(&contacts.body).is_empty(), "gone for both sides");
        let seen = app.get(&format!("/people/{}", bob.person_uuid), Some(&alice.token)).await.expect(200);
        assert!(seen.body.get("email").is_none(), "privacy back to stranger");
        let r = app.delete(&format!("/connections/contacts/{}", alice.person_uuid), Some(&bob.token)).await.expect_error(404);
        assert_eq!(r.message(), "Contact not found");
        // A new request afterwards works, and the requester (alice) may remove this time.
        connect(&app, &alice, &bob).await;
        app.delete(&format!("/connections/contacts/{}", bob.person_uuid), Some(&alice.token)).await.expect(204);

        // Not a contact, pending only, unknown, oneself, bad uuid.
        let r = request(&app, &alice, &carol).await.expect(201);
        app.delete(&format!("/connections/contacts/{}", carol.person_uuid), Some(&alice.token)).await.expect_error(404);
        let list = app.get("/connections?status=PENDING", Some(&carol.token)).await.expect(200);
        assert_eq!(list.body["connections"][0]["uuid"], r.body["uuid"], "a pending request is not removed as a contact");
        app.delete(&format!("/connections/contacts/{}", uuid::Uuid::new_v4()), Some(&alice.token)).await.expect_error(404);
        app.delete(&format!("/connections/contacts/{}", alice.person_uuid), Some(&alice.token)).await.expect_error(404);
        let r = app.delete("/connections/contacts/x", Some(&alice.token)).await.expect_error(400);
        assert_eq!(r.message(), "personUuid must be a UUID");
        app.delete(&format!("/connections/contacts/{}", carol.person_uuid), None).await.expect_error(401);
    }

    async fn request_and_accept_notify_the_other_side(app) {
        let recorder = Arc::new(Recorder::default());
        app.engine.deliverer.attach(recorder.clone());
        let alice = app.user_with(json!({"username": "alice", "email": "alice@example.com", "firstName": "Alice", "lastName": "Liddell"})).await;
        let bob = app.user("bob").await;
        let r = request(&app, &alice, &bob).await.expect(201);
        let uuid = r.body["uuid"].as_str().unwrap().to_string();

        let n = app.get("/notifications", Some(&bob.token)).await.expect(200);
        let list = n.body["notifications"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{}", n.text);
        assert_eq!(list[0]["notificationType"], "CONNECTION_REQUEST");
        assert_eq!(list[0]["notificationCategory"], "SOCIAL");
        assert_eq!(list[0]["personUuid"], bob.person_uuid.as_str());
        assert_eq!(list[0]["title"], "New connection request");
        assert_eq!(list[0]["body"], "Alice Liddell wants to connect");
        assert_eq!(list[0]["data"], json!({"connectionUuid": uuid, "personUuid": alice.person_uuid}));
        let none = app.get("/notifications", Some(&alice.token)).await.expect(200);
        assert!(none.body["notifications"].as_array().unwrap().is_empty(), "the requester is not notified of their own request");
        {
            let delivered = recorder.0.lock().unwrap();
            assert_eq!(delivered.len(), 1, "handed to the realtime front after commit");
            assert_eq!(delivered[0].uuid.to_string(), list[0]["uuid"].as_str().unwrap());
        }

        app.patch_empty(&format!("/connections/{uuid}/accept"), Some(&bob.token)).await.expect(200);
        let n = app.get("/notifications?notificationCategory=SOCIAL", Some(&alice.token)).await.expect(200);
        let list = n.body["notifications"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{}", n.text);
        assert_eq!(list[0]["notificationType"], "CONNECTION_ACCEPTED");
        assert_eq!(list[0]["title"], "Connection accepted");
        assert_eq!(list[0]["body"], "bob accepted your connection request");
        assert_eq!(list[0]["data"], json!({"connectionUuid": uuid, "personUuid": bob.person_uuid}));
        assert_eq!(recorder.0.lock().unwrap().len(), 2);

        // A refused answer notifies nobody; a rejection is not pushed either.
        app.patch_empty(&format!("/connections/{uuid}/accept"), Some(&bob.token)).await.expect_error(409);
        let carol = app.user("carol").await;
        let r = request(&app, &carol, &bob).await.expect(201);
        let cu = r.body["uuid"].as_str().unwrap();
        app.patch_empty(&format!("/connections/{cu}/reject"), Some(&bob.token)).await.expect(200);
        let n = app.get("/notifications", Some(&carol.token)).await.expect(200);
        assert!(n.body["notifications"].as_array().unwrap().is_empty());
        assert_eq!(recorder.0.lock().unwrap().len(), 3, "only carol's request to bob was added");
    }
}
