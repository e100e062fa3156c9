//! `POST /ethereum/alchemy-webhook`: signature, size cap, dedupe by event id, and the
//! notification taken as a hint (it wakes the chain watcher, which reads the node).

use crate::harness::{Backend, TestApp};
use alloy_primitives::U256;
use metmos_engine::adapters::chain::ethereum::pay_calldata;
use metmos_engine::domain::money::Wei;
use metmos_engine::domain::order::{EscrowQuote, escrow_order_id};
use metmos_engine::services::chain_webhook::signature_of;
use metmos_engine::testing::local_chain::{CHAIN_ID, LocalChain, TEST_KEYS, key};
use serde_json::{Value, json};
use std::time::Duration;

const KEY: &str = "whsec_metmos_test_signing_key";

/// The original system's example notification (reference postman collection), raw.
fn collection_example() -> (String, String) {
    // `shared/` sits beside the checkout at some depth (as in openapi.rs).
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/reference/api/listing-api.postman_collection.json"))
        .find(|p| p.is_file())
        .expect("shared/reference/api beside the checkout");
    let collection: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("postman collection"))
            .expect("collection parses");
    let item = collection["item"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "ethereum/alchemy-webhook")
        .expect("webhook example");
    let raw = item["request"]["body"]["raw"].as_str().unwrap().to_string();
    let signature = item["request"]["header"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["key"] == "x-alchemy-signature")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    (raw, signature)
}

async fn post_raw(
    app: &TestApp,
    body: impl Into<String>,
    signature: Option<&str>,
) -> crate::harness::Resp {
    let mut req = app
        .client
        .post(app.url("/ethereum/alchemy-webhook"))
        .header("content-type", "application/json")
        .body(body.into());
    if let Some(s) = signature {
        req = req.header("x-alchemy-signature", s);
    }
    app.send(req).await
}

/// How many wake-ups the watcher was given (the running watcher may already have taken
/// them, so count them rather than wait on the signal).
fn wakes(app: &TestApp) -> u64 {
    app.engine.chain_watch.wakes()
}

async fn webhook_checks(backend: Backend) {
    let app = TestApp::spawn_with(backend, &[("chain.alchemy_signing_key", KEY)]).await;
    let (raw, original_signature) = collection_example();

    // No signature, or the original system's (made with a key we do not have): 401.
    let r = post_raw(&app, raw.clone(), None).await.expect_error(401);
    assert_eq!(r.message(), "missing x-alchemy-signature");
    let r = post_raw(&app, raw.clone(), Some(&original_signature))
        .await
        .expect_error(401);
    assert_eq!(r.message(), "invalid x-alchemy-signature");
    let r = post_raw(&app, raw.clone(), Some("not hex"))
        .await
        .expect_error(401);
    assert_eq!(r.message(), "invalid x-alchemy-signature");
    assert_eq!(wakes(&app), 0, "nothing unverified wakes the watcher");

    // The same body signed with our key: accepted, the watcher woken.
    let signature = signature_of(KEY, raw.as_bytes());
    let r = post_raw(&app, raw.clone(), Some(&signature))
        .await
        .expect(200);
    assert_eq!(r.body, json!({"received": true, "duplicate": false}));
    assert_eq!(wakes(&app), 1);

    // Replayed: acknowledged, nothing done.
    let r = post_raw(&app, raw.clone(), Some(&signature))
        .await
        .expect(200);
    assert_eq!(r.body, json!({"received": true, "duplicate": true}));
    assert_eq!(wakes(&app), 1, "a replay wakes nothing");

    // A body changed after signing does not verify.
    let tampered = raw.replace("whevt_mc4epdgdb3vzxbwj", "whevt_other");
    post_raw(&app, tampered, Some(&signature))
        .await
        .expect_error(401);

    // Signed but not a notification: 400.
    let junk = "[1,2,3]";
    post_raw(&app, junk, Some(&signature_of(KEY, junk.as_bytes())))
        .await
        .expect_error(400);

    // Over the cap: 413, before anything is verified.
    let big = format!("{{\"id\":\"x\",\"pad\":\"{}\"}}", "a".repeat(300 * 1024));
    post_raw(&app, big.clone(), Some(&signature_of(KEY, big.as_bytes())))
        .await
        .expect_error(413);
}

#[actix_web::test]
async fn alchemy_webhook_is_verified_deduplicated_and_wakes_the_watcher_memory() {
    webhook_checks(Backend::Memory).await;
}

#[actix_web::test]
async fn alchemy_webhook_is_verified_deduplicated_and_wakes_the_watcher_postgres() {
    webhook_checks(Backend::Postgres).await;
}

#[actix_web::test]
async fn without_a_signing_key_the_webhook_refuses_everything() {
    let app = TestApp::spawn(Backend::Memory).await;
    let (raw, signature) = collection_example();
    let r = post_raw(&app, raw, Some(&signature))
        .await
        .expect_error(401);
    assert!(
        r.message().contains("chain.alchemy_signing_key"),
        "{}",
        r.message()
    );
}

/// The engine on a local node: a payment is delivered because the webhook woke the
/// watcher (its poll is an hour), read from the node, not from the notification.
#[actix_web::test]
async fn a_webhook_hint_makes_the_watcher_deliver_the_payment_from_the_node() {
    let node = LocalChain::start().await.expect("local node");
    let operator = key(1);
    let platform = key(4).address();
    let contract = node
        .deploy_escrow(operator.address(), key(0).address(), platform, 86_400)
        .await
        .expect("deployed");
    let contract_text = contract.to_checksum(None);
    let app = TestApp::spawn_with(
        Backend::Postgres,
        &[
            ("chain.alchemy_signing_key", KEY),
            ("chain.rpc_url", node.url.as_str()),
            ("chain.contract_address", contract_text.as_str()),
            ("chain.operator_key", TEST_KEYS[1]),
            ("chain.poll_ms", "3600000"),
        ],
    )
    .await;
    assert_eq!(app.engine.chain.adapter_name(), "ethereum");
    // The app's own watcher feeds the OrderSupervisor; a log naming no order of ours is
    // recorded (rejected) in `chain_event`, which is how it shows it was delivered.

    // Pay an order with the engine's quote signature.
    let payer = key(2);
    let quote = EscrowQuote {
        chain_id: CHAIN_ID,
        contract,
        order_id: escrow_order_id(uuid::Uuid::new_v4()),
        payer: payer.address(),
        payee: key(3).address(),
        amount: Wei(1_050_000_000_000_000_000),
        fee: Wei(50_000_000_000_000_000),
        deadline: node.now().await + 3600,
    };
    let signature = app.engine.chain.sign_quote(&quote).await.unwrap();
    let tx = node
        .sender(&payer)
        .send(
            Some(contract),
            U256::from(quote.amount.0),
            pay_calldata(&quote, &signature).unwrap(),
        )
        .await
        .expect("paid");

    // The watcher's first round may or may not have seen it; either way, after the hint
    // it must arrive (and the hint's own logs, from another chain, are never delivered).
    let (raw, _) = collection_example();
    post_raw(&app, raw.clone(), Some(&signature_of(KEY, raw.as_bytes())))
        .await
        .expect(200);
    let mut delivered = None;
    for _ in 0..500 {
        delivered = app.engine.store.chain_event(tx, 0).await.unwrap();
        if delivered.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = delivered.expect("the payment was delivered");
    assert_eq!(delivered.event_type, "OrderPaid");
    assert_eq!(delivered.payload["orderId"], quote.order_id.to_string());
    assert_eq!(
        delivered.payload["amount"],
        U256::from(quote.amount.0).to_string()
    );
    assert_eq!(
        delivered.order_id, None,
        "no order of ours: recorded, not applied"
    );
    app.stop().await;
}
