//! Wallets: register (EIP-55), unregister, mine.

use crate::market::{ADDRESSES, wallet};
use crate::on_both_stores;
use serde_json::{Value, json};

fn body(address: &str) -> Value {
    json!({"chain": "ETHEREUM", "walletType": "METAMASK", "network": "Sepolia", "balance": "0.1897", "currency": "ETH", "address": address})
}

on_both_stores! {
    async fn register_a_wallet(app) {
        let alice = app.user("alice").await;
        let r = app.post("/wallets", Some(&alice.token), body("0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421")).await.expect(201);
        let w = &r.body;
        assert_eq!(w["personUuid"], alice.person_uuid.as_str());
        assert_eq!((w["chain"].clone(), w["walletType"].clone(), w["network"].clone()), (json!("ETHEREUM"), json!("METAMASK"), json!("Sepolia")));
        assert_eq!((w["balance"].clone(), w["currency"].clone()), (json!("0.1897"), json!("ETH")));
        assert_eq!(w["address"], "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421");
        // All lowercase carries no checksum: accepted, and shown checksummed.
        let r = app.post("/wallets", Some(&alice.token), body(&ADDRESSES[1].to_lowercase())).await.expect(201);
        assert_eq!(r.body["address"], ADDRESSES[1]);
        let mine = app.get("/wallets/mine", Some(&alice.token)).await.expect(200);
        let addresses: Vec<_> = mine.body["wallets"].as_array().unwrap().iter().map(|w| w["address"].clone()).collect();
        assert_eq!(addresses, [ADDRESSES[1], "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421"], "most recently added first");
        assert_eq!(mine.body["after"], Value::Null);
        let page = app.get("/wallets/mine?limit=1", Some(&alice.token)).await.expect(200);
        assert_eq!(page.body["wallets"].as_array().unwrap().len(), 1);
        assert!(page.body["after"].is_i64());
        app.get("/wallets/mine", None).await.expect_error(401);
    }

    async fn addresses_are_checked_and_unique(app) {
        let (alice, bob) = (app.user("alice").await, app.user("bob").await);
        // One letter's case flipped: a broken checksum, a mistyped address.
        let r = app.post("/wallets", Some(&alice.token), body("0x2e2F5B35a9e305bAF5fc5431b55797Ef20721421")).await.expect_error(400);
        assert_eq!(r.message(), "address has an invalid EIP-55 checksum");
        let r = app.post("/wallets", Some(&alice.token), body("0x123")).await.expect_error(400);
        assert_eq!(r.message(), "address must be an Ethereum address (0x and 40 hex digits)");
        wallet(&app, &alice, ADDRESSES[0]).await;
        for taken in [ADDRESSES[0].to_string(), ADDRESSES[0].to_lowercase()] {
            let r = app.post("/wallets", Some(&alice.token), body(&taken)).await.expect_error(409);
            assert_eq!(r.message(), "You already registered this wallet address");
        }
        // Finding 7: someone else registering alice's address does not lock her (or
        // them) out: uniqueness is per person.
        wallet(&app, &bob, ADDRESSES[0]).await;
        // The zero address and the precompiles 0x…01–0x…09 can hold no one's funds.
        for reserved in ["0x0000000000000000000000000000000000000000", "0x0000000000000000000000000000000000000001", "0x0000000000000000000000000000000000000009"] {
            let r = app.post("/wallets", Some(&bob.token), body(reserved)).await.expect_error(400);
            assert_eq!(r.message(), "address must not be the zero address or a precompile (0x…01 to 0x…09)");
        }
        let r = app.post("/wallets", Some(&bob.token), json!({})).await.expect_error(400);
        assert_eq!(r.message(), [
            "chain should not be empty", "walletType should not be empty", "network should not be empty",
            "balance should not be empty", "currency should not be empty", "address should not be empty",
        ].join("; "));
        let r = app
            .post("/wallets", Some(&bob.token), json!({"chain": "BITCOIN", "walletType": "LEDGER", "network": "x", "balance": "-1", "currency": "ETH", "address": ADDRESSES[3]}))
            .await
            .expect_error(400);
        assert_eq!(r.message(), [
            "chain must be one of the following values: ETHEREUM",
            "walletType must be one of the following values: METAMASK",
            "balance must be a decimal string with at most 18 decimals",
        ].join("; "));
        // A zero balance is a balance.
        let mut zero = body(ADDRESSES[2]);
        zero["balance"] = json!("0");
        assert_eq!(app.post("/wallets", Some(&bob.token), zero).await.expect(201).body["balance"], "0");
    }

    async fn only_the_owner_unregisters(app) {
        let (alice, bob) = (app.user("alice").await, app.user("bob").await);
        let w = wallet(&app, &alice, ADDRESSES[0]).await;
        let r = app.delete(&format!("/wallets/{w}"), Some(&bob.token)).await.expect_error(404);
        assert_eq!(r.message(), "Wallet not found");
        app.delete(&format!("/wallets/{w}"), Some(&alice.token)).await.expect(204);
        app.delete(&format!("/wallets/{w}"), Some(&alice.token)).await.expect_error(404);
        assert_eq!(app.get("/wallets/mine", Some(&alice.token)).await.body["wallets"], json!([]));
        app.delete("/wallets/nope", Some(&alice.token)).await.expect_error(400);
        // Unregistered, the address may be registered again (by anyone).
        wallet(&app, &bob, ADDRESSES[0]).await;
    }
}
