//! `POST /orders`: payer only, exact fees, the signed escrow quote, one open order per
//! offer, and what an open order blocks.

use crate::harness::{Backend, Resp, TestApp};
use crate::market::{ADDRESSES, accept, accepted_trade, offer, published, wallet};
use crate::on_both_stores;
use metmos_engine::adapters::chain::{QuoteSigner, recover_quote_signer};
use metmos_engine::domain::money::Wei;
use metmos_engine::domain::order::{EscrowQuote, escrow_order_id};
use metmos_engine::domain::wallet::parse_address;
use serde_json::json;
use uuid::Uuid;

/// The quote the order carries, rebuilt from the wire, and who signed it.
fn quote_signer_of(app: &TestApp, order: &Resp) -> String {
    let o = &order.body;
    let e = &o["escrow"];
    let address = |v: &serde_json::Value| parse_address("address", v.as_str().unwrap()).unwrap();
    let uuid = Uuid::parse_str(o["uuid"].as_str().unwrap()).unwrap();
    assert_eq!(
        e["orderId"],
        escrow_order_id(uuid).to_string(),
        "the uuid right-aligned in 32 bytes"
    );
    let quote = EscrowQuote {
        chain_id: e["chainId"].as_u64().unwrap(),
        contract: address(&e["contract"]),
        order_id: escrow_order_id(uuid),
        payer: address(&o["payerAddress"]),
        payee: address(&e["payee"]),
        amount: Wei::parse_wei(e["amount"].as_str().unwrap()).unwrap(),
        fee: Wei::parse_wei(e["fee"].as_str().unwrap()).unwrap(),
        deadline: e["deadline"].as_u64().unwrap(),
    };
    let signer = recover_quote_signer(&quote, e["signature"].as_str().unwrap()).unwrap();
    let key = secrecy::ExposeSecret::expose_secret(
        app.engine.settings.chain.quote_signer_key.as_ref().unwrap(),
    )
    .to_string();
    assert_eq!(
        signer,
        QuoteSigner::from_hex(&key).unwrap().address(),
        "signed by the platform's quote key"
    );
    signer.to_checksum(None)
}

on_both_stores! {
    async fn the_payer_creates_the_order_with_exact_fees_and_a_signed_quote(app) {
        let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
        let (listing, offer) = accepted_trade(&app, &poster, &buyer, "0.115").await;
        let before = chrono::Utc::now().timestamp() as u64;
        let r = app.post("/orders", Some(&buyer.token), json!({"offerUuid": offer})).await.expect(201);
        let o = &r.body;
        assert_eq!(o["status"], "AWAITING_PAYMENT");
        assert_eq!(o["offerUuid"], offer.as_str());
        assert_eq!(o["listingUuid"], listing.as_str());
        assert_eq!(o["listingTitle"], "Old fridge");
        assert_eq!(o["currency"], "ETH");
        // ITEM_SALE: the offeror pays the poster.
        assert_eq!((o["payerUuid"].as_str().unwrap(), o["payeeUuid"].as_str().unwrap()), (buyer.person_uuid.as_str(), poster.person_uuid.as_str()));
        assert_eq!((o["payerAddress"].as_str().unwrap(), o["payeeAddress"].as_str().unwrap()), (ADDRESSES[1], ADDRESSES[0]));
        // API.md's example: 0.115 ETH, 5% fee, no tax.
        assert_eq!(o["listingPrice"], "0.115");
        assert_eq!(o["totalPlatformFee"], "0.00575");
        assert_eq!(o["platformFeeTax"], "0");
        assert_eq!(o["orderTotal"], "0.12075");
        let e = &o["escrow"];
        assert_eq!(e["chainId"], 31337);
        assert_eq!(e["contract"], "0x5FbDB2315678afecb367f032d93F642f64180aa3");
        assert_eq!(e["payee"], ADDRESSES[0]);
        assert_eq!(e["amount"], "120750000000000000");
        assert_eq!(e["fee"], "5750000000000000");
        let deadline = e["deadline"].as_u64().unwrap();
        assert!((before + 3600..=before + 3602).contains(&deadline), "now + orders.payment_timeout_secs: {deadline}");
        assert_eq!(quote_signer_of(&app, &r), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert!(o["createdAt"].is_string() && o["updatedAt"].is_string());

        // Asking again answers the open order, unchanged.
        let again = app.post("/orders", Some(&buyer.token), json!({"offerUuid": offer})).await.expect(200);
        assert_eq!(again.body, r.body);
    }

    async fn only_the_payer_and_only_for_an_accepted_offer(app) {
        let (poster, buyer, stranger) = (app.user("poster").await, app.user("buyer").await, app.user("stranger").await);
        let listing = published(&app, &poster, json!({})).await;
        let o = offer(&app, &buyer, &listing, "1").await;
        wallet(&app, &poster, ADDRESSES[0]).await;
        wallet(&app, &buyer, ADDRESSES[1]).await;
        let r = app.post("/orders", Some(&buyer.token), json!({"offerUuid": o})).await.expect_error(409);
        assert_eq!(r.message(), "Cannot create an order for an offer that is OFFERED");
        accept(&app, &poster, &o).await;
        let r = app.post("/orders", Some(&poster.token), json!({"offerUuid": o})).await.expect_error(403);
        assert_eq!(r.message(), "Only the payer can create the order");
        let r = app.post("/orders", Some(&stranger.token), json!({"offerUuid": o})).await.expect_error(404);
        assert_eq!(r.message(), "Offer not found");
        app.post("/orders", Some(&buyer.token), json!({"offerUuid": Uuid::new_v4()})).await.expect_error(404);
        let r = app.post("/orders", Some(&buyer.token), json!({"offerUuid": "x", "payerWalletUuid": "y"})).await.expect_error(400);
        assert_eq!(r.message(), "offerUuid must be a UUID; payerWalletUuid must be a UUID");
        let r = app.post("/orders", Some(&buyer.token), json!({})).await.expect_error(400);
        assert_eq!(r.message(), "offerUuid should not be empty");
        app.post("/orders", None, json!({"offerUuid": o})).await.expect_error(401);
        // A paused listing takes no order.
        app.patch_empty(&format!("/listings/{listing}/unpublish"), Some(&poster.token)).await.expect(200);
        let r = app.post("/orders", Some(&buyer.token), json!({"offerUuid": o})).await.expect_error(409);
        assert_eq!(r.message(), "Cannot create an order on a listing that is PAUSED");
        app.patch_empty(&format!("/listings/{listing}/publish"), Some(&poster.token)).await.expect(200);
        app.post("/orders", Some(&buyer.token), json!({"offerUuid": o})).await.expect(201);
    }

    async fn on_a_purchase_listing_the_poster_pays(app) {
        let (poster, seller) = (app.user("poster").await, app.user("seller").await);
        let listing = published(&app, &poster, json!({"listingType": "ITEM_PURCHASE", "title": "Wanted: a cot"})).await;
        let o = offer(&app, &seller, &listing, "2").await;
        accept(&app, &poster, &o).await;
        wallet(&app, &poster, ADDRESSES[0]).await;
        wallet(&app, &seller, ADDRESSES[1]).await;
        let r = app.post("/orders", Some(&seller.token), json!({"offerUuid": o})).await.expect_error(403);
        assert_eq!(r.message(), "Only the payer can create the order");
        let r = app.post("/orders", Some(&poster.token), json!({"offerUuid": o})).await.expect(201);
        assert_eq!(r.body["payerUuid"], poster.person_uuid.as_str());
        assert_eq!(r.body["payeeUuid"], seller.person_uuid.as_str());
        assert_eq!((r.body["payerAddress"].as_str().unwrap(), r.body["escrow"]["payee"].as_str().unwrap()), (ADDRESSES[0], ADDRESSES[1]));
        assert_eq!((r.body["listingPrice"].as_str().unwrap(), r.body["orderTotal"].as_str().unwrap()), ("2", "2.1"));
    }

    async fn both_parties_need_a_wallet_and_the_payer_may_choose(app) {
        let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
        let listing = published(&app, &poster, json!({})).await;
        let o = offer(&app, &buyer, &listing, "1").await;
        accept(&app, &poster, &o).await;
        let r = app.post("/orders", Some(&buyer.token), json!({"offerUuid": o})).await.expect_error(400);
        assert_eq!(r.message(), "The payer has no wallet: register one with POST /wallets; The payee has no wallet: they must register one with POST /wallets");
        wallet(&app, &buyer, ADDRESSES[1]).await;
        let r = app.post("/orders", Some(&buyer.token), json!({"offerUuid": o})).await.expect_error(400);
        assert_eq!(r.message(), "The payee has no wallet: they must register one with POST /wallets");
        wallet(&app, &poster, ADDRESSES[0]).await;
        let newest = wallet(&app, &poster, ADDRESSES[3]).await;
        let buyers_newest = wallet(&app, &buyer, ADDRESSES[2]).await;
        // The payer may not pay from someone else's wallet.
        let r = app.post("/orders", Some(&buyer.token), json!({"offerUuid": o, "payerWalletUuid": newest})).await.expect_error(400);
        assert_eq!(r.message(), "payerWalletUuid must be one of your wallets");
        let mine = app.get("/wallets/mine", Some(&buyer.token)).await.body;
        let first = mine["wallets"][1]["uuid"].as_str().unwrap().to_string();
        assert_ne!(first, buyers_newest);
        let r = app.post("/orders", Some(&buyer.token), json!({"offerUuid": o, "payerWalletUuid": first})).await.expect(201);
        assert_eq!(r.body["payerAddress"], ADDRESSES[1], "the wallet named");
        assert_eq!(r.body["payeeAddress"], ADDRESSES[3], "the payee's most recently added wallet");
        quote_signer_of(&app, &r);
    }

    async fn an_open_order_freezes_listing_and_offer(app) {
        let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
        let (listing, o) = accepted_trade(&app, &poster, &buyer, "1").await;
        app.post("/orders", Some(&buyer.token), json!({"offerUuid": o})).await.expect(201);
        for (action, verb) in [("unpublish", "unpublish"), ("cancel", "cancel")] {
            let r = app.patch_empty(&format!("/listings/{listing}/{action}"), Some(&poster.token)).await.expect_error(409);
            assert_eq!(r.message(), format!("Cannot {verb} a listing with an open order"));
        }
        let r = app.patch(&format!("/listings/{listing}"), Some(&poster.token), json!({"price": "0.5"})).await.expect_error(409);
        assert_eq!(r.message(), "Cannot edit a listing with an open order");
        let r = app.delete(&format!("/listings/{listing}"), Some(&poster.token)).await.expect_error(409);
        assert_eq!(r.message(), "Cannot delete a listing with an open order");
        for who in [&buyer, &poster] {
            let r = app.patch_empty(&format!("/offers/{o}/cancel"), Some(&who.token)).await.expect_error(409);
            assert_eq!(r.message(), "Cannot cancel an offer with an open order");
        }
        let l = app.get(&format!("/listings/{listing}"), Some(&buyer.token)).await.expect(200);
        assert_eq!((l.body["status"].as_str().unwrap(), l.body["price"].as_str().unwrap()), ("PUBLISHED", "0.115"));
        // Other offers on the listing can still be made, and withdrawn.
        let other = app.user("other").await;
        let second = offer(&app, &other, &listing, "2").await;
        app.patch_empty(&format!("/offers/{second}/cancel"), Some(&other.token)).await.expect(200);
    }
}

/// Fee and tax come from configuration, each rounded down to a whole wei.
#[actix_web::test]
async fn configured_fee_and_tax_round_down_exactly() {
    for backend in [Backend::Memory, Backend::Postgres] {
        let app = TestApp::spawn_with(
            backend,
            &[("market.fee_bps", "250"), ("market.fee_tax_bps", "1000")],
        )
        .await;
        let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
        let (_, o) = accepted_trade(&app, &poster, &buyer, "0.000000000000039999").await;
        let r = app
            .post("/orders", Some(&buyer.token), json!({"offerUuid": o}))
            .await
            .expect(201);
        // 39999 wei × 2.5% = 999.975 → 999; × 10% = 99.9 → 99.
        assert_eq!(
            r.body["totalPlatformFee"], "0.000000000000000999",
            "{backend:?}"
        );
        assert_eq!(r.body["platformFeeTax"], "0.000000000000000099");
        assert_eq!(r.body["orderTotal"], "0.000000000000041097");
        assert_eq!(r.body["escrow"]["amount"], "41097");
        assert_eq!(
            r.body["escrow"]["fee"], "1098",
            "fee and tax both go to the platform"
        );
        quote_signer_of(&app, &r);
    }
}
