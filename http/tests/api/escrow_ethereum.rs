//! The escrow flows end to end on a local Ethereum node (ganache, the committed MEscrow
//! artifact): the engine runs with the Ethereum adapter, the payer's account sends the
//! real `pay` transaction with the quote from `POST /orders`, the app's own watcher and
//! OrderSupervisor apply it, and the operator's real `release` / `refund` settle it.
//! Balances are read from the node, so every wei (and the payer's gas) is accounted for.
//!
//! Accounts (public test keys): #0 deploys and signs quotes, #1 is the operator (it pays
//! the settlement gas, so it is nobody's wallet), #2 and #3 are the parties' wallets, #4
//! the platform (fee recipient), which sends nothing.

use crate::harness::{Backend, TestApp, TestUser};
use crate::market::{SERVICE_CATEGORY, accept, offer, published, wallet};
use alloy_primitives::{Address, B256, U256};
use metmos_engine::adapters::chain::ethereum::pay_calldata;
use metmos_engine::domain::money::Wei;
use metmos_engine::domain::order::EscrowQuote;
use metmos_engine::testing::local_chain::{CHAIN_ID, LocalChain, TEST_KEYS, key};
use serde_json::{Value, json};
use std::str::FromStr;
use std::time::Duration;

/// The node, the engine configured on it, and the platform (fee recipient) address.
async fn app_on_node(backend: Backend) -> (LocalChain, TestApp, Address) {
    let node = LocalChain::start().await.expect("local node");
    let platform = key(4).address();
    let contract = node
        .deploy_escrow(key(1).address(), key(0).address(), platform, 86_400)
        .await
        .expect("deployed");
    let contract_text = contract.to_checksum(None);
    let chain_id = CHAIN_ID.to_string();
    let app = TestApp::spawn_with(
        backend,
        &[
            ("chain.rpc_url", node.url.as_str()),
            ("chain.chain_id", chain_id.as_str()),
            ("chain.contract_address", contract_text.as_str()),
            ("chain.operator_key", TEST_KEYS[1]),
            ("chain.quote_signer_key", TEST_KEYS[0]),
            // One block on top: the test mines it, so nothing is applied before it exists.
            ("chain.confirmations", "1"),
            ("chain.poll_ms", "50"),
        ],
    )
    .await;
    assert_eq!(app.engine.chain.adapter_name(), "ethereum");
    (node, app, platform)
}

fn wei(eth: &str) -> U256 {
    U256::from(Wei::parse_eth("x", eth).unwrap().0)
}

/// The quote of `POST /orders`' answer, as the app's wallet would read it.
fn quote_of(order: &Value, payer: Address) -> (EscrowQuote, String) {
    let e = &order["escrow"];
    let text = |k: &str| e[k].as_str().unwrap_or_else(|| panic!("escrow.{k}: {e}"));
    let quote = EscrowQuote {
        chain_id: e["chainId"].as_u64().unwrap(),
        contract: Address::from_str(text("contract")).unwrap(),
        order_id: B256::from_str(text("orderId")).unwrap(),
        payer,
        payee: Address::from_str(text("payee")).unwrap(),
        amount: Wei(text("amount").parse().unwrap()),
        fee: Wei(text("fee").parse().unwrap()),
        deadline: e["deadline"].as_u64().unwrap(),
    };
    (quote, text("signature").to_string())
}

/// The payer's account sends the real `pay(orderId, payee, fee, deadline, signature)`
/// with value = amount; returns what it spent on gas.
async fn pay_on_node(node: &LocalChain, payer_index: usize, order: &Value) -> U256 {
    let payer = key(payer_index);
    let (quote, signature) = quote_of(order, payer.address());
    assert_eq!(quote.chain_id, CHAIN_ID);
    let tx = node
        .sender(&payer)
        .send(
            Some(quote.contract),
            U256::from(quote.amount.0),
            pay_calldata(&quote, &signature).unwrap(),
        )
        .await
        .expect("the pay transaction is mined");
    let receipt: Value = node
        .rpc
        .call("eth_getTransactionReceipt", json!([tx]))
        .await
        .unwrap();
    assert_eq!(receipt["status"], "0x1", "pay succeeded: {receipt}");
    let hex = |k: &str| U256::from_str(receipt[k].as_str().unwrap()).unwrap();
    hex("gasUsed") * hex("effectiveGasPrice")
}

async fn create_order(app: &TestApp, payer: &TestUser, offer: &str) -> Value {
    app.post("/orders", Some(&payer.token), json!({"offerUuid": offer}))
        .await
        .expect(201)
        .body
}

/// Polls the order until it has `status`, mining a block each round so the latest
/// transaction gets its confirmation.
async fn wait_status(
    app: &TestApp,
    node: &LocalChain,
    user: &TestUser,
    order: &str,
    status: &str,
) -> Value {
    let mut last = Value::Null;
    for _ in 0..200 {
        last = app
            .get(&format!("/orders/{order}"), Some(&user.token))
            .await
            .expect(200)
            .body;
        if last["status"] == status {
            return last;
        }
        node.mine(1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("order {order} never became {status}: {last}");
}

fn checksum(index: usize) -> String {
    key(index).address().to_checksum(None)
}

async fn item_sale_on_node(backend: Backend) {
    let (node, app, platform) = app_on_node(backend).await;
    let (poster, buyer) = (app.user("poster").await, app.user("buyer").await);
    let listing = published(&app, &poster, json!({})).await;
    let offer_uuid = offer(&app, &buyer, &listing, "0.115").await;
    accept(&app, &poster, &offer_uuid).await;
    wallet(&app, &poster, &checksum(3)).await;
    wallet(&app, &buyer, &checksum(2)).await;
    let (payer, payee) = (key(2).address(), key(3).address());

    let order = create_order(&app, &buyer, &offer_uuid).await;
    let uuid = order["uuid"].as_str().unwrap().to_string();
    assert_eq!(quote_of(&order, key(2).address()).0.payee, key(3).address());
    assert_eq!(order["escrow"]["amount"], wei("0.12075").to_string());
    assert_eq!(order["escrow"]["fee"], wei("0.00575").to_string());
    let before = (
        node.balance(payer).await,
        node.balance(payee).await,
        node.balance(platform).await,
    );

    let gas = pay_on_node(&node, 2, &order).await;
    let o = wait_status(&app, &node, &buyer, &uuid, "PAID").await;
    assert_eq!(o["orderTotal"], "0.12075");
    assert_eq!(node.balance(payer).await, before.0 - wei("0.12075") - gas);

    let r = app
        .patch_empty(&format!("/orders/{uuid}/complete"), Some(&buyer.token))
        .await
        .expect(200);
    assert!(
        ["RELEASING", "COMPLETED"].contains(&r.body["status"].as_str().unwrap()),
        "{}",
        r.text
    );
    wait_status(&app, &node, &poster, &uuid, "COMPLETED").await;
    // Payer −total − its gas; payee +price; platform +fee, exactly (the operator paid
    // the release's gas).
    assert_eq!(node.balance(payer).await, before.0 - wei("0.12075") - gas);
    assert_eq!(node.balance(payee).await, before.1 + wei("0.115"));
    assert_eq!(node.balance(platform).await, before.2 + wei("0.00575"));
    let contract = app.engine.chain.escrow_contract();
    assert_eq!(
        node.balance(contract).await,
        U256::ZERO,
        "nothing left in escrow"
    );
    app.stop().await;
}

async fn service_cancel_on_node(backend: Backend) {
    let (node, app, platform) = app_on_node(backend).await;
    let (poster, provider) = (app.user("poster").await, app.user("provider").await);
    let listing = published(
        &app,
        &poster,
        json!({"listingType": "SERVICE_PURCHASE", "title": "Clean my house",
               "categoryUuid": SERVICE_CATEGORY,
               "additionalFields": {"serviceDate": "2023-12-14"}, "location": null}),
    )
    .await;
    let o = offer(&app, &provider, &listing, "0.5").await;
    accept(&app, &poster, &o).await;
    wallet(&app, &poster, &checksum(2)).await;
    wallet(&app, &provider, &checksum(3)).await;
    let (payer, payee) = (key(2).address(), key(3).address());

    // SERVICE_PURCHASE: the poster pays.
    let order = create_order(&app, &poster, &o).await;
    let uuid = order["uuid"].as_str().unwrap().to_string();
    let before = (
        node.balance(payer).await,
        node.balance(payee).await,
        node.balance(platform).await,
    );
    let gas = pay_on_node(&node, 2, &order).await;
    wait_status(&app, &node, &poster, &uuid, "PAID").await;
    assert_eq!(node.balance(payer).await, before.0 - wei("0.525") - gas);

    let r = app
        .patch_empty(&format!("/orders/{uuid}/cancel"), Some(&poster.token))
        .await
        .expect(200);
    assert!(
        ["REFUNDING", "CANCELLED"].contains(&r.body["status"].as_str().unwrap()),
        "{}",
        r.text
    );
    wait_status(&app, &node, &provider, &uuid, "CANCELLED").await;
    // Refunded in full: only the payer's own gas is gone; nobody else got anything.
    assert_eq!(node.balance(payer).await, before.0 - gas);
    assert_eq!(node.balance(payee).await, before.1);
    assert_eq!(node.balance(platform).await, before.2);
    app.stop().await;
}

#[actix_web::test]
async fn item_sale_paid_and_completed_on_the_node_memory() {
    item_sale_on_node(Backend::Memory).await;
}

#[actix_web::test]
async fn item_sale_paid_and_completed_on_the_node_postgres() {
    item_sale_on_node(Backend::Postgres).await;
}

#[actix_web::test]
async fn service_purchase_cancelled_after_payment_is_refunded_on_the_node_memory() {
    service_cancel_on_node(Backend::Memory).await;
}

#[actix_web::test]
async fn service_purchase_cancelled_after_payment_is_refunded_on_the_node_postgres() {
    service_cancel_on_node(Backend::Postgres).await;
}
