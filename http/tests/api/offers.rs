//! Offers: make, edit, accept, cancel, who sees what, and the trade notifications.

use crate::market::{accept, draft, offer, published};
use crate::on_both_stores;
use metmos_engine::domain::notifications::Notification;
use metmos_engine::ports::NotificationSink;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::Mutex;

/// Records what the engine hands to the realtime front.
#[derive(Default)]
struct Recorder(Mutex<Vec<Notification>>);

impl NotificationSink for Recorder {
    fn deliver(&self, n: &Notification) {
        self.0.lock().unwrap().push(n.clone());
    }
}

fn uuids(body: &Value) -> Vec<String> {
    body["offers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["uuid"].as_str().unwrap().to_string())
        .collect()
}

on_both_stores! {
    async fn make_an_offer_and_the_poster_is_notified(app) {
        let recorder = Arc::new(Recorder::default());
        app.engine.deliverer.attach(recorder.clone());
        let alice = app.user("alice").await;
        let bob = app.user_with(json!({"username": "bob", "email": "bob@example.com", "firstName": "Bob"})).await;
        let l = published(&app, &alice, json!({"title": "Old fridge"})).await;
        let r = app
            .post("/offers", Some(&bob.token), json!({"listingUuid": l, "price": "0.1150", "comment": ""}))
            .await
            .expect(201);
        let o = &r.body;
        assert_eq!(o["status"], "OFFERED");
        assert_eq!(o["price"], "0.115");
        assert_eq!(o["comment"], Value::Null, "an empty comment is none");
        assert_eq!(o["personUuid"], bob.person_uuid.as_str());
        assert_eq!(o["listingUuid"], l.as_str());
        let offer_uuid = o["uuid"].as_str().unwrap();

        let notes = app.get("/notifications", Some(&alice.token)).await.expect(200);
        let n = &notes.body["notifications"][0];
        assert_eq!(n["notificationType"], "OFFER_RECEIVED");
        assert_eq!(n["notificationCategory"], "TRADE");
        assert_eq!(n["personUuid"], alice.person_uuid.as_str());
        assert_eq!(n["title"], "New offer");
        assert_eq!(n["body"], "Bob offered 0.115 ETH for Old fridge");
        assert_eq!(n["data"], json!({"listingUuid": l, "offerUuid": offer_uuid}));
        let trade = app.get("/notifications?notificationCategory=TRADE", Some(&alice.token)).await.expect(200);
        assert_eq!(trade.body["notifications"].as_array().unwrap().len(), 1);
        assert_eq!(app.get("/notifications", Some(&bob.token)).await.body["notifications"], json!([]));
        // Delivered (frame or push) after it was stored, to the poster only.
        let delivered = recorder.0.lock().unwrap().clone();
        assert_eq!(delivered.len(), 1);
        assert_eq!(delivered[0].uuid.to_string(), n["uuid"].as_str().unwrap());
        assert_eq!(delivered[0].person_uuid.to_string(), alice.person_uuid);
    }

    // Finding 6: accept binds the price the poster saw; a price change notifies the
    // poster again (OFFER_RECEIVED); once ACCEPTED the price is fixed.
    async fn accept_binds_the_price_the_poster_saw(app) {
        let (alice, bob) = (app.user("alice").await, app.user("bob").await);
        let l = published(&app, &alice, json!({"title": "Lamp"})).await;
        let o = offer(&app, &bob, &l, "1.0").await;
        app.patch(&format!("/offers/{o}"), Some(&bob.token), json!({"price": "1.5"})).await.expect(200);
        let notes = app.get("/notifications", Some(&alice.token)).await.expect(200);
        let n = &notes.body["notifications"][0];
        assert_eq!((n["notificationType"].clone(), n["title"].clone()), (json!("OFFER_RECEIVED"), json!("Offer updated")));
        assert_eq!(n["body"], "bob now offers 1.5 ETH for Lamp");
        // A comment alone is no new offer: no notification.
        app.patch(&format!("/offers/{o}"), Some(&bob.token), json!({"comment": "still keen"})).await.expect(200);
        assert_eq!(app.get("/notifications", Some(&alice.token)).await.body["notifications"].as_array().unwrap().len(), 2);
        // Alice accepts the price she saw before the change: refused, naming the current one.
        let r = app.patch(&format!("/offers/{o}/accept"), Some(&alice.token), json!({"price": "1"})).await.expect_error(409);
        assert_eq!(r.message(), "The offer's price changed: it is now 1.5 ETH");
        assert_eq!(app.get(&format!("/offers?listingUuid={l}"), Some(&alice.token)).await.body["offers"][0]["status"], "OFFERED");
        app.patch(&format!("/offers/{o}/accept"), Some(&alice.token), json!({"price": "abc"})).await.expect_error(400);
        app.patch(&format!("/offers/{o}/accept"), Some(&alice.token), json!({"prize": "1.5"})).await.expect_error(400);
        let r = app.patch(&format!("/offers/{o}/accept"), Some(&alice.token), json!({"price": "1.50"})).await.expect(200);
        assert_eq!((r.body["status"].clone(), r.body["price"].clone()), (json!("ACCEPTED"), json!("1.5")));
        // Fixed once ACCEPTED.
        let r = app.patch(&format!("/offers/{o}"), Some(&bob.token), json!({"price": "0.5"})).await.expect_error(409);
        assert_eq!(r.message(), "Cannot update an offer that is ACCEPTED");
    }

    async fn offers_are_refused_where_the_rules_say(app) {
        let (alice, bob) = (app.user("alice").await, app.user("bob").await);
        let l = published(&app, &alice, json!({})).await;
        let r = app.post("/offers", Some(&alice.token), json!({"listingUuid": l, "price": "1"})).await.expect_error(403);
        assert_eq!(r.message(), "You cannot make an offer on your own listing");
        offer(&app, &bob, &l, "1").await;
        let r = app.post("/offers", Some(&bob.token), json!({"listingUuid": l, "price": "2"})).await.expect_error(409);
        assert_eq!(r.message(), "You already have an open offer on this listing");
        let paused = published(&app, &alice, json!({})).await;
        app.patch_empty(&format!("/listings/{paused}/unpublish"), Some(&alice.token)).await.expect(200);
        let r = app.post("/offers", Some(&bob.token), json!({"listingUuid": paused, "price": "1"})).await.expect_error(409);
        assert_eq!(r.message(), "Cannot make an offer on a listing that is PAUSED");
        let d = draft(&app, &alice, json!({})).await;
        let r = app.post("/offers", Some(&bob.token), json!({"listingUuid": d, "price": "1"})).await.expect_error(404);
        assert_eq!(r.message(), "Listing not found", "someone else's draft does not exist");
        app.post("/offers", Some(&bob.token), json!({"listingUuid": uuid::Uuid::new_v4(), "price": "1"})).await.expect_error(404);
        let r = app.post("/offers", Some(&bob.token), json!({"listingUuid": "x", "price": "0"})).await.expect_error(400);
        assert_eq!(r.message(), "listingUuid must be a UUID; price must be greater than 0");
        let r = app.post("/offers", Some(&bob.token), json!({})).await.expect_error(400);
        assert_eq!(r.message(), "listingUuid should not be empty; price should not be empty");
        let r = app.post("/offers", Some(&bob.token), json!({"listingUuid": l, "price": "1.0000000000000000001"})).await.expect_error(400);
        assert_eq!(r.message(), "price must be a decimal string with at most 18 decimals");
        app.post("/offers", None, json!({"listingUuid": l, "price": "1"})).await.expect_error(401);
    }

    async fn only_the_offeror_edits_and_only_while_offered(app) {
        let (alice, bob, carol) = (app.user("alice").await, app.user("bob").await, app.user("carol").await);
        let l = published(&app, &alice, json!({})).await;
        let o = offer(&app, &bob, &l, "1.2").await;
        let r = app.patch(&format!("/offers/{o}"), Some(&bob.token), json!({"price": "1.15", "comment": "My final offer"})).await.expect(200);
        assert_eq!((r.body["price"].clone(), r.body["comment"].clone()), (json!("1.15"), json!("My final offer")));
        let r = app.patch(&format!("/offers/{o}"), Some(&bob.token), json!({"comment": null})).await.expect(200);
        assert_eq!((r.body["price"].clone(), r.body["comment"].clone()), (json!("1.15"), Value::Null));
        let r = app.patch(&format!("/offers/{o}"), Some(&alice.token), json!({"price": "9"})).await.expect_error(403);
        assert_eq!(r.message(), "Only the offeror can update an offer");
        let r = app.patch(&format!("/offers/{o}"), Some(&carol.token), json!({"price": "9"})).await.expect_error(404);
        assert_eq!(r.message(), "Offer not found");
        app.patch(&format!("/offers/{o}"), Some(&bob.token), json!({"price": "-9"})).await.expect_error(400);
        app.patch(&format!("/offers/{o}"), Some(&bob.token), json!({"status": "ACCEPTED"})).await.expect_error(400);
        accept(&app, &alice, &o).await;
        let r = app.patch(&format!("/offers/{o}"), Some(&bob.token), json!({"price": "2"})).await.expect_error(409);
        assert_eq!(r.message(), "Cannot update an offer that is ACCEPTED");
    }

    async fn the_poster_accepts_one_offer_and_the_offeror_is_notified(app) {
        let recorder = Arc::new(Recorder::default());
        app.engine.deliverer.attach(recorder.clone());
        let (alice, bob, carol) = (app.user("alice").await, app.user("bob").await, app.user("carol").await);
        let l = published(&app, &alice, json!({"title": "Old fridge"})).await;
        let b = offer(&app, &bob, &l, "1.15").await;
        let c = offer(&app, &carol, &l, "1.2").await;
        let r = app.patch_empty(&format!("/offers/{b}/accept"), Some(&bob.token)).await.expect_error(403);
        assert_eq!(r.message(), "Only the poster can accept an offer");
        let dave = app.user("dave").await;
        app.patch_empty(&format!("/offers/{b}/accept"), Some(&dave.token)).await.expect_error(404);
        let r = app.patch_empty(&format!("/offers/{b}/accept"), Some(&alice.token)).await.expect(200);
        assert_eq!(r.body["status"], "ACCEPTED");
        let r = app.patch_empty(&format!("/offers/{c}/accept"), Some(&alice.token)).await.expect_error(409);
        assert_eq!(r.message(), "Listing already has an accepted offer");
        let r = app.patch_empty(&format!("/offers/{b}/accept"), Some(&alice.token)).await.expect_error(409);
        assert_eq!(r.message(), "Cannot accept an offer that is ACCEPTED");

        let notes = app.get("/notifications", Some(&bob.token)).await.expect(200);
        let n = &notes.body["notifications"][0];
        assert_eq!(n["notificationType"], "OFFER_ACCEPTED");
        assert_eq!(n["title"], "Offer accepted");
        assert_eq!(n["body"], "alice accepted your offer of 1.15 ETH for Old fridge");
        assert_eq!(n["data"], json!({"listingUuid": l, "offerUuid": b}));
        assert_eq!(app.get("/notifications", Some(&carol.token)).await.body["notifications"], json!([]), "only the offeror");
        let kinds: Vec<String> = recorder.0.lock().unwrap().iter().map(|n| n.notification_type.as_str().to_string()).collect();
        assert_eq!(kinds, ["OFFER_RECEIVED", "OFFER_RECEIVED", "OFFER_ACCEPTED"]);

        // Declining the accepted one frees the listing for another.
        app.patch_empty(&format!("/offers/{b}/cancel"), Some(&alice.token)).await.expect(200);
        app.patch_empty(&format!("/offers/{c}/accept"), Some(&alice.token)).await.expect(200);
        // A paused listing accepts nothing.
        let m = published(&app, &alice, json!({})).await;
        let d = offer(&app, &dave, &m, "1").await;
        app.patch_empty(&format!("/listings/{m}/unpublish"), Some(&alice.token)).await.expect(200);
        let r = app.patch_empty(&format!("/offers/{d}/accept"), Some(&alice.token)).await.expect_error(409);
        assert_eq!(r.message(), "Cannot accept an offer on a listing that is PAUSED");
    }

    async fn offeror_withdraws_or_poster_declines(app) {
        let (alice, bob, carol) = (app.user("alice").await, app.user("bob").await, app.user("carol").await);
        let l = published(&app, &alice, json!({})).await;
        let o = offer(&app, &bob, &l, "1").await;
        app.patch_empty(&format!("/offers/{o}/cancel"), Some(&carol.token)).await.expect_error(404);
        let r = app.patch_empty(&format!("/offers/{o}/cancel"), Some(&bob.token)).await.expect(200);
        assert_eq!(r.body["status"], "CANCELLED");
        let r = app.patch_empty(&format!("/offers/{o}/cancel"), Some(&bob.token)).await.expect_error(409);
        assert_eq!(r.message(), "Cannot cancel an offer that is CANCELLED");
        let r = app.patch_empty(&format!("/offers/{o}/accept"), Some(&alice.token)).await.expect_error(409);
        assert_eq!(r.message(), "Cannot accept an offer that is CANCELLED");
        // A new offer is allowed once the old one is closed; the poster declines it, even accepted.
        let again = offer(&app, &bob, &l, "2").await;
        accept(&app, &alice, &again).await;
        let r = app.patch_empty(&format!("/offers/{again}/cancel"), Some(&alice.token)).await.expect(200);
        assert_eq!(r.body["status"], "CANCELLED");
        app.patch_empty("/offers/nope/cancel", Some(&alice.token)).await.expect_error(400);
        app.patch_empty(&format!("/offers/{}/cancel", uuid::Uuid::new_v4()), Some(&alice.token)).await.expect_error(404);
    }

    async fn offer_lists_show_what_each_may_see(app) {
        let (alice, bob, carol) = (app.user("alice").await, app.user("bob").await, app.user("carol").await);
        let l = published(&app, &alice, json!({})).await;
        let carols = published(&app, &carol, json!({})).await;
        let b = offer(&app, &bob, &l, "1").await;
        let c = offer(&app, &carol, &l, "2").await;
        let bc = offer(&app, &bob, &carols, "3").await;
        let list = |path: String, token: String| {
            let app = &app;
            async move { uuids(&app.get(&path, Some(&token)).await.expect(200).body) }
        };
        assert_eq!(list(format!("/offers?listingUuid={l}"), alice.token.clone()).await, [c.as_str(), b.as_str()], "the poster sees all");
        assert_eq!(list(format!("/offers?listingUuid={l}"), bob.token.clone()).await, [b.as_str()], "others only their own");
        assert_eq!(list("/offers".into(), carol.token.clone()).await, [bc.as_str(), c.as_str()], "own offers and offers on own listings");
        assert_eq!(list(format!("/offers?personUuid={}", bob.person_uuid), alice.token.clone()).await, [b.as_str()]);
        assert_eq!(list(format!("/offers?personUuid={}&listingUuid={carols}", bob.person_uuid), alice.token.clone()).await, Vec::<String>::new());
        assert_eq!(list("/offers/mine".into(), bob.token.clone()).await, [bc.as_str(), b.as_str()]);
        assert_eq!(list("/offers/mine".into(), alice.token.clone()).await, Vec::<String>::new());
        let page = app.get("/offers/mine?limit=1", Some(&bob.token)).await.expect(200);
        assert_eq!(uuids(&page.body), [bc.as_str()]);
        let after = page.body["after"].as_i64().unwrap();
        let rest = app.get(&format!("/offers/mine?limit=1&after={after}"), Some(&bob.token)).await.expect(200);
        assert_eq!((uuids(&rest.body), rest.body["after"].clone()), (vec![b.clone()], Value::Null));
        let d = draft(&app, &alice, json!({})).await;
        app.get(&format!("/offers?listingUuid={d}"), Some(&bob.token)).await.expect_error(404);
        let r = app.get("/offers?listingUuid=x&personUuid=y", Some(&bob.token)).await.expect_error(400);
        assert_eq!(r.message(), "listingUuid must be a UUID; personUuid must be a UUID");
        app.get("/offers?limit=0", Some(&bob.token)).await.expect_error(400);
        app.get("/offers/mine", None).await.expect_error(401);
    }
}
