//! The escrow lifecycle end to end on the simulated chain, on both stores: pay through
//! `POST /dev/chain/pay`, the chain follower confirms, the OrderActor applies; complete
//! and cancel through the operator's release and refund; expiry; mismatched, replayed and
//! reorged events; an engine restart in the middle of a flow.
//!
//! Chain-specific steps (paying, balances, reorgs) go through [`SimChain`], so the same
//! flows can be pointed at a real node's adapter.

use crate::harness::{Backend, Resp, TestApp, TestUser};
use crate::market::{
    ADDRESSES, SERVICE_CATEGORY, accept, accepted_trade, offer, published, wallet,
};
use crate::on_both_stores;
use alloy_primitives::{Address, U256};
use metmos_actors::order_supervisor::ActiveOrderActors;
use metmos_engine::adapters::chain::simulated::SimulatedChain;
use metmos_engine::domain::escrow::{ChainEvent, EscrowLog};
use metmos_engine::domain::order::PaymentKind;
use metmos_engine::domain::wallet::parse_address;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

fn sim(app: &TestApp) -> Arc<SimulatedChain> {
    app.engine
        .simulated_chain
        .clone()
        .expect("the simulated chain runs")
}

fn addr(s: &str) -> Address {
    parse_address("address", s).unwrap()
}

fn wei(eth: &str) -> U256 {
    U256::from(
        metmos_engine::domain::money::Wei::parse_eth("x", eth)
            .unwrap()
            .0,
    )
}

async fn order_of(app: &TestApp, user: &TestUser, order: &str) -> Value {
    app.get(&format!("/orders/{order}"), Some(&user.token))
        .await
        .expect(200)
        .body
}

/// Polls the order until it has `status` (the follower confirms within about a second).
async fn wait_status(app: &TestApp, user: &TestUser, order: &str, status: &str) -> Value {
    for _ in 0..100 {
        let o = order_of(app, user, order).await;
        if o["status"] == status {
            return o;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "order {order} never became {status}: {}",
        order_of(app, user, order).await
    );
}

async fn pay(app: &TestApp, payer: &TestUser, order: &str, amount: Option<&str>) -> Resp {
    let mut body = json!({"orderUuid": order});
    if let Some(a) = amount {
        body["amount"] = json!(a);
    }
    app.post("/dev/chain/pay", Some(&payer.token), body)
        .await
        .expect(202)
}

async fn create_order(app: &TestApp, payer: &TestUser, offer: &str) -> String {
    let r = app
        .post("/orders", Some(&payer.token), json!({"offerUuid": offer}))
        .await
        .expect(201);
    r.body["uuid"].as_str().unwrap().to_string()
}

async fn status_of(app: &TestApp, user: &TestUser, path: &str) -> String {
    app.get(path, Some(&user.token)).await.expect(200).body["status"]
        .as_str()
        .unwrap()
        .to_string()
}

/// An offer's status (there is no GET /offers/{uuid}: read the store).
async fn offer_status(app: &TestApp, offer: &str) -> String {
    app.engine
        .store
        .offer_by_uuid(offer.parse().unwrap())
        .await
        .unwrap()
        .unwrap()
        .status
        .as_str()
        .to_string()
}

async fn delete_account(app: &TestApp, who: &TestUser) -> Resp {
    app.delete_json(
        &format!("/accounts/{}", who.account_uuid),
        Some(&who.token),
        json!({"confirm": "Permanently delete my account"}),
    )
    .await
}

async fn trade_notes(app: &TestApp, user: &TestUser, kind: &str) -> Vec<Value> {
    let r = app
        .get("/notifications?limit=100", Some(&user.token))
        .await
        .expect(200);
    r.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["notificationType"] == kind)
        .cloned()
        .collect()
}

async fn paid_trade(app: &TestApp) -> (TestUser, TestUser, String, String, String) {
    let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
    let (listing, offer) = accepted_trade(app, &poster, &buyer, "0.115").await;
    let order = create_order(app, &buyer, &offer).await;
    let r = pay(app, &buyer, &order, None).await;
    assert!(r.body["txHash"].is_string(), "{}", r.text);
    wait_status(app, &buyer, &order, "PAID").await;
    (poster, buyer, listing, offer, order)
}

on_both_stores! {
    async fn item_sale_paid_completed_and_every_wei_accounted(app) {
        let chain = sim(&app);
        let (poster, buyer, rival) = (app.user("poster").await, app.user("buyer").await, app.user("rival").await);
        let (listing, offer_uuid) = accepted_trade(&app, &poster, &buyer, "0.115").await;
        let rival_offer = offer(&app, &rival, &listing, "0.2").await;
        let order = create_order(&app, &buyer, &offer_uuid).await;
        let (payer, payee, platform) = (addr(ADDRESSES[1]), addr(ADDRESSES[0]), chain.platform());
        let before = (chain.balance(payer), chain.balance(payee), chain.balance(platform));

        pay(&app, &buyer, &order, None).await;
        let o = wait_status(&app, &buyer, &order, "PAID").await;
        assert_eq!(o["orderTotal"], "0.12075");
        assert_eq!(offer_status(&app, &offer_uuid).await, "PAID");
        assert_eq!(status_of(&app, &poster, &format!("/listings/{listing}")).await, "ORDERED");
        assert_eq!(offer_status(&app, &rival_offer).await, "CANCELLED", "the listing's other offers end");
        for who in [&poster, &buyer] {
            let notes = trade_notes(&app, who, "PAYMENT_CONFIRMED").await;
            assert_eq!(notes.len(), 1, "{}", who.username);
            assert_eq!(notes[0]["data"]["orderUuid"], order.as_str());
            assert_eq!(notes[0]["data"]["listingUuid"], listing.as_str());
            assert_eq!(notes[0]["data"]["offerUuid"], offer_uuid.as_str());
        }

        // Only the payer completes; the payee sees the order but may not.
        let r = app.patch_empty(&format!("/orders/{order}/complete"), Some(&poster.token)).await.expect_error(403);
        assert_eq!(r.message(), "Only the payer can complete an order");
        app.patch_empty(&format!("/orders/{order}/complete"), Some(&rival.token)).await.expect_error(404);
        let r = app.patch_empty(&format!("/orders/{order}/complete"), Some(&buyer.token)).await.expect(200);
        assert!(["RELEASING", "COMPLETED"].contains(&r.body["status"].as_str().unwrap()), "{}", r.text);
        wait_status(&app, &poster, &order, "COMPLETED").await;
        assert_eq!(offer_status(&app, &offer_uuid).await, "COMPLETED");
        assert_eq!(status_of(&app, &poster, &format!("/listings/{listing}")).await, "COMPLETED");
        for who in [&poster, &buyer] {
            assert_eq!(trade_notes(&app, who, "LISTING_COMPLETED").await.len(), 1);
        }
        // Payer −total; payee +price; platform +fee, exactly.
        assert_eq!(chain.balance(payer), before.0 - wei("0.12075"));
        assert_eq!(chain.balance(payee), before.1 + wei("0.115"));
        assert_eq!(chain.balance(platform), before.2 + wei("0.00575"));
        // The payments: into the escrow, then out to the payee.
        let stored = app.engine.store.order_by_uuid(order.parse().unwrap()).await.unwrap().unwrap();
        let payments = app.engine.store.payments_of(stored.id).await.unwrap();
        let kinds: Vec<_> = payments.iter().map(|p| (p.kind, p.from, p.to, p.value)).collect();
        let contract = app.engine.chain.escrow_contract();
        assert_eq!(kinds, [
            (PaymentKind::Payment, payer, contract, wei("0.12075")),
            (PaymentKind::Release, contract, payee, wei("0.115")),
        ]);
        let r = app.patch_empty(&format!("/orders/{order}/complete"), Some(&buyer.token)).await.expect_error(409);
        assert_eq!(r.message(), "Cannot complete an order that is COMPLETED");
        let r = app.patch_empty(&format!("/orders/{order}/cancel"), Some(&buyer.token)).await.expect_error(409);
        assert_eq!(r.message(), "Cannot cancel an order that is COMPLETED");
    }

    async fn service_purchase_cancelled_after_payment_refunds_the_payer_in_full(app) {
        let chain = sim(&app);
        let (poster, provider) = (app.user("poster").await, app.user("provider").await);
        let listing = published(&app, &poster, json!({
            "listingType": "SERVICE_PURCHASE", "title": "Clean my house", "categoryUuid": SERVICE_CATEGORY,
            "additionalFields": {"serviceDate": "2023-12-14"}, "location": null})).await;
        let o = offer(&app, &provider, &listing, "0.5").await;
        accept(&app, &poster, &o).await;
        wallet(&app, &poster, ADDRESSES[2]).await;
        wallet(&app, &provider, ADDRESSES[3]).await;
        // SERVICE_PURCHASE: the poster pays.
        let order = create_order(&app, &poster, &o).await;
        let payer = addr(ADDRESSES[2]);
        let before = chain.balance(payer);
        pay(&app, &poster, &order, None).await;
        wait_status(&app, &poster, &order, "PAID").await;
        assert_eq!(chain.balance(payer), before - wei("0.525"));
        let r = app.patch_empty(&format!("/orders/{order}/cancel"), Some(&provider.token)).await.expect_error(403);
        assert_eq!(r.message(), "Only the payer can cancel an order");
        let r = app.patch_empty(&format!("/orders/{order}/cancel"), Some(&poster.token)).await.expect(200);
        assert!(["REFUNDING", "CANCELLED"].contains(&r.body["status"].as_str().unwrap()));
        wait_status(&app, &provider, &order, "CANCELLED").await;
        assert_eq!(chain.balance(payer), before, "refunded in full");
        assert_eq!(offer_status(&app, &o).await, "CANCELLED");
        assert_eq!(status_of(&app, &poster, &format!("/listings/{listing}")).await, "PUBLISHED");
        for who in [&poster, &provider] {
            assert_eq!(trade_notes(&app, who, "ORDER_CANCELLED").await.len(), 1);
        }
    }

    async fn a_crashed_order_actor_is_restarted_and_its_order_carries_on(app) {
        use metmos_actors::order_supervisor::{CrashOrderActor, OrderActorRestarts};
        let chain = sim(&app);
        let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
        let (listing, offer_uuid) = accepted_trade(&app, &poster, &buyer, "0.115").await;
        let order = create_order(&app, &buyer, &offer_uuid).await;
        let offer_id = Uuid::parse_str(&offer_uuid).unwrap();
        assert_eq!(app.orders.send(OrderActorRestarts).await.unwrap(), 0);
        assert!(app.orders.send(CrashOrderActor(offer_id)).await.unwrap(), "the order's actor runs");
        // The supervisor restarts it on its own (no command or chain event asks it to).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while app.orders.send(OrderActorRestarts).await.unwrap() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the crashed actor was never restarted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(app.orders.send(ActiveOrderActors).await.unwrap(), 1, "one actor again, for the offer");
        // The restarted actor reloaded the order: payment and completion go through it.
        let (payee, platform) = (addr(ADDRESSES[0]), chain.platform());
        let before = (chain.balance(payee), chain.balance(platform));
        pay(&app, &buyer, &order, None).await;
        wait_status(&app, &buyer, &order, "PAID").await;
        app.patch_empty(&format!("/orders/{order}/complete"), Some(&buyer.token)).await.expect(200);
        wait_status(&app, &buyer, &order, "COMPLETED").await;
        assert_eq!(status_of(&app, &poster, &format!("/listings/{listing}")).await, "COMPLETED");
        assert_eq!(chain.balance(payee), before.0 + wei("0.115"), "released once");
        assert_eq!(chain.balance(platform), before.1 + wei("0.00575"));
    }

    async fn an_unpaid_order_is_cancelled_without_the_chain(app) {
        let chain = sim(&app);
        let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
        let (listing, offer_uuid) = accepted_trade(&app, &poster, &buyer, "0.115").await;
        let order = create_order(&app, &buyer, &offer_uuid).await;
        let head = app.engine.chain.latest_block().await.unwrap();
        let r = app.patch_empty(&format!("/orders/{order}/cancel"), Some(&buyer.token)).await.expect(200);
        assert_eq!(r.body["status"], "CANCELLED");
        assert_eq!(app.engine.chain.latest_block().await.unwrap(), head, "no transaction");
        assert_eq!(offer_status(&app, &offer_uuid).await, "ACCEPTED");
        // The listing is free again, and the quote can no longer be used... by the
        // engine: the chain would still take it until its deadline, and the payment is
        // then raised, not applied.
        app.patch_empty(&format!("/listings/{listing}/unpublish"), Some(&poster.token)).await.expect(200);
        drop(chain);
    }

    async fn a_wrong_amount_reverts_and_the_order_stays_payable(app) {
        let chain = sim(&app);
        let (_poster, buyer) = (app.user("poster").await, app.user("buyer").await);
        let (_listing, offer_uuid) = accepted_trade(&app, &_poster, &buyer, "0.115").await;
        let order = create_order(&app, &buyer, &offer_uuid).await;
        let r = pay(&app, &buyer, &order, Some("0.1")).await;
        assert_eq!(r.body["reverted"], "invalid quote signature", "{}", r.text);
        assert_eq!(r.body["txHash"], Value::Null);
        assert_eq!(chain.reverts().len(), 1, "the attempt is logged");
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(order_of(&app, &buyer, &order).await["status"], "AWAITING_PAYMENT");
        let r = app.post("/dev/chain/pay", Some(&buyer.token), json!({"orderUuid": order, "amount": "lots"})).await.expect_error(400);
        assert!(r.message().contains("amount"), "{}", r.text);
        app.post("/dev/chain/pay", Some(&_poster.token), json!({"orderUuid": order})).await.expect_error(403);
        pay(&app, &buyer, &order, None).await;
        wait_status(&app, &buyer, &order, "PAID").await;
        let r = pay(&app, &buyer, &order, None).await;
        assert_eq!(r.body["reverted"], "order already paid");
    }

    async fn a_mismatched_payment_event_is_recorded_and_raised_never_applied(app) {
        let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
        let (_listing, offer_uuid) = accepted_trade(&app, &poster, &buyer, "0.115").await;
        let order = create_order(&app, &buyer, &offer_uuid).await;
        let stored = app.engine.store.order_by_uuid(order.parse().unwrap()).await.unwrap().unwrap();
        let mut sub = app.engine.bus.subscribe("test-escrow-mismatch", "payment.*").await.unwrap();
        let sink = app.engine.chain_sink().expect("the supervisor is attached");
        let event = ChainEvent {
            contract: app.engine.chain.escrow_contract(),
            tx_hash: alloy_primitives::B256::repeat_byte(0x11),
            log_index: 3,
            block_number: 7,
            block_hash: alloy_primitives::B256::repeat_byte(0x22),
            removed: false,
            log: EscrowLog::Paid {
                order_id: stored.quote.order_id,
                payer: stored.quote.payer,
                payee: stored.quote.payee,
                amount: U256::from(stored.quote.amount.0 - 1),
                fee: U256::from(stored.quote.fee.0),
            },
        };
        sink.on_chain_event(event.clone()).await.unwrap();
        sink.on_chain_event(event.clone()).await.unwrap();
        let o = order_of(&app, &buyer, &order).await;
        assert_eq!(o["status"], "AWAITING_PAYMENT");
        let rec = app.engine.store.chain_event(event.tx_hash, 3).await.unwrap().expect("recorded");
        assert!(!rec.applied);
        assert_eq!(rec.order_id, Some(stored.id));
        assert_eq!(rec.rejected_reason.as_deref(), Some("the amount is 120749999999999999 wei, the order total is 120750000000000000 wei"));
        let d = tokio::time::timeout(Duration::from_secs(5), sub.deliveries.recv()).await.unwrap().unwrap();
        assert_eq!(d.envelope.event_type(), "payment.mismatched");
        d.ack().await.unwrap();
        assert!(tokio::time::timeout(Duration::from_millis(500), sub.deliveries.recv()).await.is_err(), "raised once");
        // A log naming no order of ours is recorded too.
        let mut stray = event.clone();
        stray.log_index = 4;
        if let EscrowLog::Paid { order_id, .. } = &mut stray.log {
            *order_id = metmos_engine::domain::order::escrow_order_id(Uuid::new_v4());
        }
        sink.on_chain_event(stray).await.unwrap();
        let rec = app.engine.store.chain_event(event.tx_hash, 4).await.unwrap().expect("recorded");
        assert_eq!(rec.order_id, None);
    }

    async fn a_replayed_event_changes_nothing(app) {
        let (poster, buyer, _listing, _offer, order) = paid_trade(&app).await;
        let before = app.engine.store.order_by_uuid(order.parse().unwrap()).await.unwrap().unwrap();
        let sink = app.engine.chain_sink().unwrap();
        let head = app.engine.chain.latest_block().await.unwrap();
        let logs = app.engine.chain.escrow_logs(0, head).await.unwrap();
        assert_eq!(logs.len(), 1);
        for _ in 0..3 {
            sink.on_chain_event(logs[0].clone()).await.unwrap();
        }
        let after = app.engine.store.order_by_uuid(order.parse().unwrap()).await.unwrap().unwrap();
        assert_eq!((after.status, after.version), (before.status, before.version));
        assert_eq!(app.engine.store.payments_of(after.id).await.unwrap().len(), 1);
        for who in [&poster, &buyer] {
            assert_eq!(trade_notes(&app, who, "PAYMENT_CONFIRMED").await.len(), 1);
        }
    }

    async fn a_reorged_payment_is_undone_and_applies_again_when_mined_again(app) {
        let chain = sim(&app);
        let (poster, buyer, listing, offer_uuid, order) = paid_trade(&app).await;
        chain.reorg(1);
        chain.mine_empty();
        chain.mine_empty();
        wait_status(&app, &buyer, &order, "AWAITING_PAYMENT").await;
        assert_eq!(offer_status(&app, &offer_uuid).await, "ACCEPTED");
        assert_eq!(status_of(&app, &poster, &format!("/listings/{listing}")).await, "PUBLISHED");
        let stored = app.engine.store.order_by_uuid(order.parse().unwrap()).await.unwrap().unwrap();
        assert!(app.engine.store.payments_of(stored.id).await.unwrap().is_empty(), "its payment row dropped");
        // The wallet sends it again (re-mined): it applies again.
        pay(&app, &buyer, &order, None).await;
        wait_status(&app, &buyer, &order, "PAID").await;
        assert_eq!(status_of(&app, &poster, &format!("/listings/{listing}")).await, "ORDERED");
    }

    async fn the_parties_list_and_read_their_orders(app) {
        let (poster, buyer, stranger) = (app.user("poster").await, app.user("buyer").await, app.user("stranger").await);
        let (_listing, offer_uuid) = accepted_trade(&app, &poster, &buyer, "0.115").await;
        let order = create_order(&app, &buyer, &offer_uuid).await;
        order_of(&app, &poster, &order).await;
        let r = app.get(&format!("/orders/{order}"), Some(&stranger.token)).await.expect_error(404);
        assert_eq!(r.message(), "Order not found");
        app.get("/orders/nope", Some(&buyer.token)).await.expect_error(400);
        app.get(&format!("/orders/{order}"), None).await.expect_error(401);
        let uuids = |r: &Resp| r.body["orders"].as_array().unwrap().iter().map(|o| o["uuid"].as_str().unwrap().to_string()).collect::<Vec<_>>();
        let r = app.get("/orders?role=payer", Some(&buyer.token)).await.expect(200);
        assert_eq!(uuids(&r), std::slice::from_ref(&order));
        assert_eq!(r.body["after"], Value::Null);
        assert!(uuids(&app.get("/orders?role=payee", Some(&buyer.token)).await.expect(200)).is_empty());
        assert_eq!(uuids(&app.get("/orders?role=payee&status=AWAITING_PAYMENT", Some(&poster.token)).await.expect(200)), std::slice::from_ref(&order));
        assert!(uuids(&app.get("/orders?status=PAID", Some(&poster.token)).await.expect(200)).is_empty());
        assert!(uuids(&app.get("/orders", Some(&stranger.token)).await.expect(200)).is_empty());
        let r = app.get("/orders?role=boss&status=LOST&limit=0", Some(&buyer.token)).await.expect_error(400);
        assert_eq!(r.body["message"].as_array().unwrap().len(), 3, "{}", r.text);
        // Cursor paging: a second order after the first is cancelled.
        app.patch_empty(&format!("/orders/{order}/cancel"), Some(&buyer.token)).await.expect(200);
        let second = create_order(&app, &buyer, &offer_uuid).await;
        let p1 = app.get("/orders?limit=1", Some(&buyer.token)).await.expect(200);
        assert_eq!(uuids(&p1), [second]);
        let after = p1.body["after"].as_i64().expect("a cursor");
        let p2 = app.get(&format!("/orders?limit=1&after={after}"), Some(&buyer.token)).await.expect(200);
        assert_eq!(uuids(&p2), [order]);
    }

    async fn account_deletion_waits_for_escrow_and_cancels_unpaid_orders(app) {
        let (poster, buyer, _listing, _offer, _order) = paid_trade(&app).await;
        let r = delete_account(&app, &buyer).await.expect_error(409);
        assert!(r.message().contains("escrow"), "{}", r.text);
        // Another buyer with an unpaid order on another listing deletes their account.
        let other = app.user("other").await;
        let listing2 = published(&app, &poster, json!({"title": "Second fridge"})).await;
        let o2 = offer(&app, &other, &listing2, "0.1").await;
        accept(&app, &poster, &o2).await;
        wallet(&app, &other, ADDRESSES[2]).await;
        let order2 = create_order(&app, &other, &o2).await;
        delete_account(&app, &other).await.expect(204);
        assert_eq!(order_of(&app, &poster, &order2).await["status"], "CANCELLED");
        // The listing is no longer blocked.
        app.patch_empty(&format!("/listings/{listing2}/unpublish"), Some(&poster.token)).await.expect(200);
    }
}

/// An unpaid order expires at its deadline (timer and sweep), stops blocking its listing,
/// cannot be paid any more, and the payer may order again.
async fn expiry(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        &[
            ("orders.payment_timeout_secs", "1"),
            ("orders.expiry_sweep_secs", "1"),
        ],
    )
    .await;
    let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
    let (listing, offer_uuid) = accepted_trade(&app, &poster, &buyer, "0.115").await;
    let order = create_order(&app, &buyer, &offer_uuid).await;
    let r = app
        .patch_empty(
            &format!("/listings/{listing}/unpublish"),
            Some(&poster.token),
        )
        .await
        .expect_error(409);
    assert_eq!(r.message(), "Cannot unpublish a listing with an open order");
    wait_status(&app, &buyer, &order, "EXPIRED").await;
    assert_eq!(offer_status(&app, &offer_uuid).await, "ACCEPTED");
    let r = pay(&app, &buyer, &order, None).await;
    assert_eq!(r.body["reverted"], "quote expired");
    let again = create_order(&app, &buyer, &offer_uuid).await;
    assert_ne!(again, order, "a new order for the same offer");
    wait_status(&app, &buyer, &again, "EXPIRED").await;
    app.patch_empty(
        &format!("/listings/{listing}/unpublish"),
        Some(&poster.token),
    )
    .await
    .expect(200);
}

#[actix_web::test]
async fn an_unpaid_order_expires_and_unblocks_its_listing_memory() {
    expiry(Backend::Memory).await;
}

#[actix_web::test]
async fn an_unpaid_order_expires_and_unblocks_its_listing_postgres() {
    expiry(Backend::Postgres).await;
}

/// The engine stops after RELEASING was recorded and the release sent, before its log
/// was applied (the worst moment): the next engine finds the order in flight, reads the
/// contract (released), sends nothing again, and completes it from the log.
#[actix_web::test]
async fn an_engine_restart_mid_release_completes_without_releasing_twice() {
    let db = metmos_engine::testing::ScratchDatabase::create()
        .await
        .expect("scratch database");
    let url = db.url.clone();
    let chain =
        Arc::new(SimulatedChain::from_settings(&crate::harness::test_settings(&[]).chain).unwrap());
    let overrides = [("database.url", url.as_str())];
    let app =
        TestApp::spawn_on_chain(Backend::Postgres, Some(db), &overrides, Some(chain.clone())).await;
    let (poster, buyer, listing, _offer, order) = paid_trade(&app).await;
    let order_uuid: Uuid = order.parse().unwrap();
    let payee = addr(ADDRESSES[0]);
    // Stop the app, then do by hand what its actor did before "crashing": RELEASING is
    // recorded, the release is sent; the log is not applied yet.
    let db = app.stop().await;
    let stored = {
        let pg = metmos_engine::adapters::store::postgres::PgStore::connect(
            &url,
            &crate::harness::test_settings(&[]).database,
        )
        .await
        .unwrap();
        use metmos_engine::ports::OrderLifecycleStore;
        let o = pg.order_by_uuid(order_uuid).await.unwrap().unwrap();
        let change = metmos_engine::domain::order::OrderChange {
            order_id: o.id,
            expected_version: o.version,
            action: metmos_engine::domain::order::OrderAction::Complete,
            chain: metmos_engine::domain::order::ChainTouch::None,
            notifications: vec![],
            events: vec![],
            at: chrono::Utc::now(),
        };
        pg.apply_order_change(&change).await.unwrap();
        o
    };
    let payee_before = chain.balance(payee);
    use metmos_engine::ports::Chain;
    chain.release(stored.quote.order_id).await.unwrap();
    assert_eq!(chain.balance(payee), payee_before + wei("0.115"));

    let app = TestApp::spawn_on_chain(Backend::Postgres, db, &overrides, Some(chain.clone())).await;
    wait_status(&app, &buyer, &order, "COMPLETED").await;
    assert_eq!(
        status_of(&app, &poster, &format!("/listings/{listing}")).await,
        "COMPLETED"
    );
    assert_eq!(
        chain.balance(payee),
        payee_before + wei("0.115"),
        "released once"
    );
    // Every log was read again from block 0 by the new engine: replays changed nothing.
    for who in [&poster, &buyer] {
        assert_eq!(trade_notes(&app, who, "PAYMENT_CONFIRMED").await.len(), 1);
        assert_eq!(trade_notes(&app, who, "LISTING_COMPLETED").await.len(), 1);
    }
}
