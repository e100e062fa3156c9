//! Marketplace helpers shared by the listing, offer, wallet and order tests, and the
//! test that every marketplace change publishes its event.

use crate::harness::{TestApp, TestUser};
use crate::on_both_stores;
use serde_json::{Value, json};
use std::time::Duration;

/// The category of the original Postman requests (SERVICE).
pub const SERVICE_CATEGORY: &str = "49f72173-9c44-427c-80d6-9f7f8a65116f";

/// Checksummed addresses: Hardhat / Anvil test accounts #0 to #2, and the overview's.
pub const ADDRESSES: [&str; 4] = [
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x5cE074129204d97AF5E9565D6bd8c14A1E84CFaF",
];

/// The first ITEM category.
pub async fn item_category(app: &TestApp, user: &TestUser) -> String {
    let r = app
        .get("/categories?categoryType=ITEM", Some(&user.token))
        .await
        .expect(200);
    r.body["categories"][0]["uuid"]
        .as_str()
        .expect("an item category")
        .to_string()
}

/// A valid ITEM_SALE body; `extra` fields override.
pub async fn item_body(app: &TestApp, user: &TestUser, extra: Value) -> Value {
    let mut body = json!({
        "listingType": "ITEM_SALE",
        "title": "Old fridge",
        "description": "Still cold, collect from Ryde",
        "price": "0.115",
        "currencyType": "CRYPTO",
        "currency": "ETH",
        "categoryUuid": item_category(app, user).await,
        "additionalFields": {"condition": "Used"},
        "location": {"suburb": "Ryde", "state_region": "NSW", "country": "Australia"}
    });
    merge(&mut body, extra);
    body
}

pub fn merge(body: &mut Value, extra: Value) {
    if let (Value::Object(b), Value::Object(e)) = (body, extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

/// A DRAFT listing of `user` (ITEM_SALE unless `extra` says otherwise); its uuid.
pub async fn draft(app: &TestApp, user: &TestUser, extra: Value) -> String {
    let body = item_body(app, user, extra).await;
    let r = app
        .post("/listings", Some(&user.token), body)
        .await
        .expect(201);
    r.body["uuid"].as_str().unwrap().to_string()
}

/// A PUBLISHED listing of `user`; its uuid.
pub async fn published(app: &TestApp, user: &TestUser, extra: Value) -> String {
    let uuid = draft(app, user, extra).await;
    app.patch_empty(&format!("/listings/{uuid}/publish"), Some(&user.token))
        .await
        .expect(200);
    uuid
}

/// An offer of `user` on `listing`; its uuid.
pub async fn offer(app: &TestApp, user: &TestUser, listing: &str, price: &str) -> String {
    let r = app
        .post(
            "/offers",
            Some(&user.token),
            json!({"listingUuid": listing, "price": price, "comment": "Can pick up today"}),
        )
        .await
        .expect(201);
    r.body["uuid"].as_str().unwrap().to_string()
}

pub async fn accept(app: &TestApp, poster: &TestUser, offer: &str) {
    app.patch_empty(&format!("/offers/{offer}/accept"), Some(&poster.token))
        .await
        .expect(200);
}

/// Registers `address` as a wallet of `user`; its uuid.
pub async fn wallet(app: &TestApp, user: &TestUser, address: &str) -> String {
    let r = app
        .post(
            "/wallets",
            Some(&user.token),
            json!({"chain": "ETHEREUM", "walletType": "METAMASK", "network": "Sepolia", "balance": "0.1897", "currency": "ETH", "address": address}),
        )
        .await
        .expect(201);
    r.body["uuid"].as_str().unwrap().to_string()
}

/// A published ITEM_SALE listing of `poster` with `buyer`'s accepted offer, both with a
/// wallet: ready for `POST /orders` by the buyer. (listing, offer)
pub async fn accepted_trade(
    app: &TestApp,
    poster: &TestUser,
    buyer: &TestUser,
    price: &str,
) -> (String, String) {
    let listing = published(app, poster, json!({})).await;
    let offer = offer(app, buyer, &listing, price).await;
    accept(app, poster, &offer).await;
    wallet(app, poster, ADDRESSES[0]).await;
    wallet(app, buyer, ADDRESSES[1]).await;
    (listing, offer)
}

on_both_stores! {
    async fn every_marketplace_change_publishes_its_event(app) {
        let mut sub = app.engine.bus.subscribe("test-market-events", "#").await.unwrap();
        let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
        let listing = draft(&app, &poster, json!({})).await;
        app.patch(&format!("/listings/{listing}"), Some(&poster.token), json!({"title": "Big fridge"})).await.expect(200);
        app.patch_empty(&format!("/listings/{listing}/publish"), Some(&poster.token)).await.expect(200);
        let o = offer(&app, &buyer, &listing, "0.1").await;
        app.patch(&format!("/offers/{o}"), Some(&buyer.token), json!({"price": "0.11"})).await.expect(200);
        accept(&app, &poster, &o).await;
        wallet(&app, &poster, ADDRESSES[0]).await;
        let w = wallet(&app, &buyer, ADDRESSES[1]).await;
        app.post("/orders", Some(&buyer.token), json!({"offerUuid": o})).await.expect(201);
        app.delete(&format!("/wallets/{w}"), Some(&buyer.token)).await.expect(204);
        let second = published(&app, &poster, json!({})).await;
        let o2 = offer(&app, &buyer, &second, "0.2").await;
        app.patch_empty(&format!("/offers/{o2}/cancel"), Some(&buyer.token)).await.expect(200);
        app.patch_empty(&format!("/listings/{second}/unpublish"), Some(&poster.token)).await.expect(200);
        app.patch_empty(&format!("/listings/{second}/cancel"), Some(&poster.token)).await.expect(200);
        app.delete(&format!("/listings/{second}"), Some(&poster.token)).await.expect(204);

        let expected = [
            "listing.created", "listing.updated", "listing.published", "offer.received", "offer.updated",
            "offer.accepted", "wallet.added", "wallet.added", "order.created", "wallet.removed",
            "listing.created", "listing.published", "offer.received", "offer.cancelled",
            "listing.unpublished", "listing.cancelled", "listing.deleted",
        ];
        let mut seen = Vec::new();
        while seen.len() < expected.len() {
            let d = tokio::time::timeout(Duration::from_secs(5), sub.deliveries.recv())
                .await
                .unwrap_or_else(|_| panic!("events so far: {seen:?}"))
                .expect("subscription open");
            let t = d.envelope.event_type();
            if !t.starts_with("account.") && !t.starts_with("person.") {
                let data = d.envelope.to_json()["data"].clone();
                if t == "order.created" {
                    assert_eq!(data["orderTotal"], "0.1155", "{data}");
                    assert_eq!(data["offerUuid"], o.as_str());
                }
                seen.push(t);
            }
            d.ack().await.unwrap();
        }
        assert_eq!(seen, expected);
    }
}
