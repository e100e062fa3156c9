//! The Ethereum adapter and the chain watcher against a real local node (ganache, one per
//! test) running the committed MEscrow artifact: real transactions, balances exact to
//! the wei, and reorgs made with `evm_snapshot` / `evm_revert`.

mod watcher;

use alloy_primitives::{Address, B256, U256};
use metmos_engine::adapters::chain::ethereum::{EthereumChain, pay_calldata};
use metmos_engine::adapters::chain::from_settings;
use metmos_engine::domain::escrow::{EscrowLog, EscrowRecord, Settlement};
use metmos_engine::domain::money::Wei;
use metmos_engine::domain::order::{EscrowQuote, escrow_order_id};
use metmos_engine::ports::{Chain, ChainError};
use metmos_engine::testing::local_chain::{CHAIN_ID, LocalChain, TEST_KEYS, key};
use std::sync::Arc;
use uuid::Uuid;

const ETH: u128 = 1_000_000_000_000_000_000;
/// Index of the operator and payer among the test keys (#0 signs quotes and deploys).
const OPERATOR: usize = 1;
const PAYER: usize = 2;

/// A node with MEscrow deployed, and the engine's Ethereum adapter pointed at it.
pub struct Fixture {
    pub node: LocalChain,
    pub chain: Arc<dyn Chain>,
    pub contract: Address,
    /// Fresh addresses that only ever receive: their balances move by exactly what the
    /// escrow sends them.
    pub payee: Address,
    pub platform: Address,
}

impl Fixture {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(
        configure: impl FnOnce(&mut metmos_engine::config::ChainSettings),
    ) -> Self {
        let node = LocalChain::start().await.expect("local node");
        let platform = fresh_address();
        let contract = node
            .deploy_escrow(
                key(OPERATOR).address(),
                key(0).address(),
                platform,
                30 * 86_400,
            )
            .await
            .expect("deployed");
        let mut settings = node.settings(contract, TEST_KEYS[OPERATOR]);
        configure(&mut settings);
        let chain = from_settings(&settings).expect("ethereum adapter");
        assert_eq!(chain.adapter_name(), "ethereum");
        Self {
            node,
            chain,
            contract,
            payee: fresh_address(),
            platform,
        }
    }

    /// A quote for a new order: price 1.2 ETH plus a 0.06 ETH fee, an hour to pay.
    pub async fn quote(&self) -> EscrowQuote {
        EscrowQuote {
            chain_id: CHAIN_ID,
            contract: self.contract,
            order_id: escrow_order_id(Uuid::new_v4()),
            payer: key(PAYER).address(),
            payee: self.payee,
            amount: Wei(ETH + ETH / 5 + 6 * ETH / 100),
            fee: Wei(6 * ETH / 100),
            deadline: self.node.now().await + 3600,
        }
    }

    /// Pays `quote` from the payer's wallet with the engine's signature over it; returns
    /// the transaction hash.
    pub async fn pay(&self, quote: &EscrowQuote) -> B256 {
        let signature = self.chain.sign_quote(quote).await.expect("signed");
        let payer = key(PAYER);
        self.node
            .sender(&payer)
            .send(
                Some(self.contract),
                U256::from(quote.amount.0),
                pay_calldata(quote, &signature).expect("calldata"),
            )
            .await
            .expect("the contract accepts the engine's quote")
    }
}

/// An address nobody has used (random bytes; no rand feature of alloy needed).
fn fresh_address() -> Address {
    let id = Uuid::new_v4();
    let mut bytes = [0u8; 20];
    bytes[4..].copy_from_slice(id.as_bytes());
    bytes[0] = 0x42;
    Address::from(bytes)
}

fn u(w: Wei) -> U256 {
    U256::from(w.0)
}

#[tokio::test]
async fn the_contract_accepts_what_the_engine_signs_and_release_pays_exactly_once() {
    let f = Fixture::start().await;
    let q = f.quote().await;
    assert_eq!(
        f.chain.escrow_record(q.order_id).await.unwrap(),
        EscrowRecord::Unknown
    );
    let paid_tx = f.pay(&q).await;
    assert_eq!(
        f.chain.escrow_record(q.order_id).await.unwrap(),
        EscrowRecord::Held {
            payer: q.payer,
            payee: q.payee,
            amount: u(q.amount),
            fee: u(q.fee),
        }
    );

    // The same signature used by anyone but the payer, or for another amount, reverts.
    let signature = f.chain.sign_quote(&q).await.unwrap();
    let stranger = key(3);
    let other = EscrowQuote {
        order_id: escrow_order_id(Uuid::new_v4()),
        ..q.clone()
    };
    let signed_for_payer = f.chain.sign_quote(&other).await.unwrap();
    let refused = f
        .node
        .sender(&stranger)
        .send(
            Some(f.contract),
            u(other.amount),
            pay_calldata(&other, &signed_for_payer).unwrap(),
        )
        .await;
    assert!(
        format!("{refused:?}").contains("BadSignature"),
        "{refused:?}"
    );
    let twice = f
        .node
        .sender(&key(PAYER))
        .send(
            Some(f.contract),
            u(q.amount),
            pay_calldata(&q, &signature).unwrap(),
        )
        .await;
    assert!(format!("{twice:?}").contains("AlreadyPaid"), "{twice:?}");

    // Release: the payee gets the price, the platform the fee, to the wei.
    let operator = key(OPERATOR).address();
    let (payee0, platform0) = (
        f.node.balance(f.payee).await,
        f.node.balance(f.platform).await,
    );
    let released = f.chain.release(q.order_id).await.unwrap();
    let Settlement::Sent {
        tx_hash: release_tx,
    } = released
    else {
        panic!("sent: {released:?}")
    };
    assert_eq!(
        f.node.balance(f.payee).await - payee0,
        u(q.amount) - u(q.fee)
    );
    assert_eq!(f.node.balance(f.platform).await - platform0, u(q.fee));
    assert_eq!(f.node.balance(f.contract).await, U256::ZERO);
    assert_eq!(
        f.chain.escrow_record(q.order_id).await.unwrap(),
        EscrowRecord::Released
    );

    // A second release is read from the contract: no transaction at all.
    let nonce = f.node.nonce(operator).await;
    assert_eq!(
        f.chain.release(q.order_id).await.unwrap(),
        Settlement::AlreadyDone
    );
    assert_eq!(f.node.nonce(operator).await, nonce, "nothing was sent");
    assert!(matches!(
        f.chain.refund(q.order_id).await,
        Err(ChainError::Reverted(_))
    ));
    assert_eq!(f.node.nonce(operator).await, nonce, "nothing was sent");

    // The logs, decoded, in chain order.
    let logs = f
        .chain
        .escrow_logs(0, f.chain.latest_block().await.unwrap())
        .await
        .unwrap();
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(
        (logs[0].tx_hash, logs[0].contract, logs[0].removed),
        (paid_tx, f.contract, false)
    );
    assert_eq!(
        logs[0].log,
        EscrowLog::Paid {
            order_id: q.order_id,
            payer: q.payer,
            payee: q.payee,
            amount: u(q.amount),
            fee: u(q.fee),
        }
    );
    assert_eq!(logs[1].tx_hash, release_tx);
    assert_eq!(
        logs[1].log,
        EscrowLog::Released {
            order_id: q.order_id,
            payee: q.payee,
            payee_amount: u(q.amount) - u(q.fee),
            fee: u(q.fee),
        }
    );
    assert!(logs[0].block_number < logs[1].block_number);
    assert_eq!(
        Some(logs[1].block_hash),
        f.chain.block_hash(logs[1].block_number).await.unwrap()
    );
}

#[tokio::test]
async fn refund_returns_the_whole_amount_and_is_never_sent_twice() {
    let f = Fixture::start().await;
    let q = f.quote().await;
    let unknown = escrow_order_id(Uuid::new_v4());
    assert!(matches!(
        f.chain.release(unknown).await,
        Err(ChainError::Reverted(_))
    ));
    assert!(matches!(
        f.chain.refund(unknown).await,
        Err(ChainError::Reverted(_))
    ));

    f.pay(&q).await;
    let payer0 = f.node.balance(q.payer).await;
    let Settlement::Sent { .. } = f.chain.refund(q.order_id).await.unwrap() else {
        panic!("refund sent")
    };
    assert_eq!(
        f.node.balance(q.payer).await - payer0,
        u(q.amount),
        "refunded in full"
    );
    assert_eq!(f.node.balance(f.contract).await, U256::ZERO);
    assert_eq!(
        f.chain.escrow_record(q.order_id).await.unwrap(),
        EscrowRecord::Refunded
    );

    let operator = key(OPERATOR).address();
    let nonce = f.node.nonce(operator).await;
    assert_eq!(
        f.chain.refund(q.order_id).await.unwrap(),
        Settlement::AlreadyDone
    );
    assert!(matches!(
        f.chain.release(q.order_id).await,
        Err(ChainError::Reverted(_))
    ));
    assert_eq!(f.node.nonce(operator).await, nonce, "nothing was sent");

    let logs = f
        .chain
        .escrow_logs(0, f.node.block_number().await)
        .await
        .unwrap();
    assert_eq!(
        logs.last().map(|e| e.log.clone()),
        Some(EscrowLog::Refunded {
            order_id: q.order_id,
            payer: q.payer,
            amount: u(q.amount),
        })
    );
}

#[tokio::test]
async fn an_operator_key_the_contract_does_not_trust_is_refused_by_the_contract() {
    // Account #3 signs the operator calls, but the contract's operator is #1.
    let f = Fixture::start_with(|s| s.operator_key = Some(TEST_KEYS[3].into())).await;
    let q = f.quote().await;
    f.pay(&q).await;
    let err = f.chain.release(q.order_id).await.unwrap_err();
    assert_eq!(err, ChainError::Reverted("NotOperator".into()));
    assert!(matches!(
        f.chain.escrow_record(q.order_id).await.unwrap(),
        EscrowRecord::Held { .. }
    ));
    // The key never shows in the adapter's Debug output.
    let settings = f.node.settings(f.contract, TEST_KEYS[3]);
    let adapter = EthereumChain::from_settings(&settings).unwrap();
    let shown = format!("{adapter:?}");
    assert!(!shown.contains(&TEST_KEYS[3][2..]), "{shown}");
    assert!(shown.contains(&key(3).address().to_string()), "{shown}");
}

#[tokio::test]
async fn concurrent_operator_calls_each_get_their_own_nonce() {
    let f = Fixture::start().await;
    let (a, b) = (f.quote().await, f.quote().await);
    f.pay(&a).await;
    f.pay(&b).await;
    let operator = key(OPERATOR).address();
    let nonce = f.node.nonce(operator).await;
    let (released, refunded) =
        tokio::join!(f.chain.release(a.order_id), f.chain.refund(b.order_id));
    let (Ok(Settlement::Sent { tx_hash: ta }), Ok(Settlement::Sent { tx_hash: tb })) =
        (released, refunded)
    else {
        panic!("both sent")
    };
    assert_ne!(ta, tb);
    assert_eq!(f.node.nonce(operator).await, nonce + 2);
    assert_eq!(
        f.chain.escrow_record(a.order_id).await.unwrap(),
        EscrowRecord::Released
    );
    assert_eq!(
        f.chain.escrow_record(b.order_id).await.unwrap(),
        EscrowRecord::Refunded
    );
    assert_eq!(f.node.balance(f.contract).await, U256::ZERO);
}

#[tokio::test]
async fn a_node_of_another_chain_is_refused_before_anything_is_sent_or_read() {
    let f = Fixture::start_with(|s| s.chain_id = 1).await;
    let expected = ChainError::Config(
        "chain.chain_id is 1 but the node at chain.rpc_url serves chain 31337".into(),
    );
    let nonce = f.node.nonce(key(OPERATOR).address()).await;
    assert_eq!(f.chain.release(B256::ZERO).await, Err(expected.clone()));
    assert_eq!(f.chain.escrow_logs(0, 1).await, Err(expected));
    assert_eq!(f.node.nonce(key(OPERATOR).address()).await, nonce);
}
