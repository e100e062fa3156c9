//! The simulated escrow: the embedded Chain adapter, an in-memory chain that behaves as
//! `MEscrow` does. It signs quotes with the real quote key and encoding (so a quote made
//! here verifies on the real contract, given the same chain id, contract and key), checks
//! every `pay` exactly as the contract does and reverts otherwise (signature over the
//! quote by the quote key with `msg.sender` as payer and `msg.value` as amount, deadline,
//! order id unused), lets only the operator settle, settles each order once, and mines
//! one block per transaction with the contract's events as logs. So the same watcher and
//! the same order handler serve it and a real node.
//!
//! Wallets start with [`SimulatedChain::STARTING_BALANCE`] each, so balances can be
//! checked to the wei. A reorg ([`SimulatedChain::reorg`]) drops the newest blocks and
//! the state they made, as a real chain does.

use super::{QuoteSigner, address_setting, recover_quote_signer};
use crate::config::ChainSettings;
use crate::domain::escrow::{ChainEvent, EscrowLog, EscrowRecord, Settlement};
use crate::domain::money::Wei;
use crate::domain::order::EscrowQuote;
use crate::ports::{Chain, ChainError};
use alloy_primitives::{Address, B256, U256, keccak256};
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::HashMap;

/// What the contract keeps per order id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Held {
    Holding,
    Released,
    Refunded,
}

#[derive(Debug, Clone)]
struct Escrow {
    payer: Address,
    payee: Address,
    amount: U256,
    fee: U256,
    state: Held,
}

/// Everything a block can change; blocks keep the state before them, so a reorg is a
/// restore.
#[derive(Debug, Clone, Default)]
struct State {
    balances: HashMap<Address, U256>,
    escrows: HashMap<B256, Escrow>,
}

impl State {
    fn balance(&self, a: Address) -> U256 {
        self.balances
            .get(&a)
            .copied()
            .unwrap_or(SimulatedChain::STARTING_BALANCE)
    }
    fn add(&mut self, a: Address, v: U256) {
        let b = self.balance(a);
        self.balances.insert(a, b.saturating_add(v));
    }
    fn take(&mut self, a: Address, v: U256) -> Result<(), ChainError> {
        let b = self.balance(a);
        if b < v {
            return Err(ChainError::Reverted("insufficient funds".into()));
        }
        self.balances.insert(a, b - v);
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Block {
    hash: B256,
    timestamp: u64,
    /// (tx hash, log)
    logs: Vec<(B256, EscrowLog)>,
    before: State,
}

struct Ledger {
    /// `blocks[n]` is block n; block 0 is genesis.
    blocks: Vec<Block>,
    state: State,
    /// Makes every mined block and transaction hash unique, across reorgs too.
    nonce: u64,
}

/// A `pay` the contract refused: kept for `/dev` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revert {
    pub from: Address,
    pub order_id: B256,
    pub value: U256,
    pub reason: String,
}
use secrecy::ExposeSecret;

pub struct SimulatedChain {
    chain_id: u64,
    contract: Address,
    signer: QuoteSigner,
    operator: Address,
    platform: Address,
    ledger: Mutex<Ledger>,
    reverts: Mutex<Vec<Revert>>,
}

fn unix_now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

impl SimulatedChain {
    /// What every wallet holds before its first transaction: 1000 ETH.
    pub const STARTING_BALANCE: U256 = U256::from_limbs([0x35c9_adc5_dea0_0000, 0x36, 0, 0]);

    pub fn from_settings(settings: &ChainSettings) -> Result<Self, ChainError> {
        let key = settings
            .quote_signer_key
            .as_ref()
            .map(|k| k.expose_secret())
            .ok_or_else(|| ChainError::Config("chain.quote_signer_key must be set".into()))?;
        let signer = QuoteSigner::from_hex(key)?;
        // The operator settles; with no operator key configured, the quote key's address
        // plays it (the simulated chain has no gas to pay).
        let operator = match settings.operator_key.as_ref().map(|k| k.expose_secret()) {
            Some(k) => QuoteSigner::from_hex(k)
                .map_err(|_| {
                    ChainError::Config(
                        "chain.operator_key must be a 32-byte hex private key".into(),
                    )
                })?
                .address(),
            None => signer.address(),
        };
        // Each ledger is a chain of its own (it lives in memory: an engine restarted on
        // PostgreSQL starts a new one). A random genesis makes its block and transaction
        // hashes its own too, so the store's dedupe of (tx hash, log index) never takes a
        // new ledger's payment for a replay of an old ledger's.
        let genesis = Block {
            hash: keccak256(
                [
                    b"metmos simulated genesis".as_slice(),
                    uuid::Uuid::new_v4().as_bytes(),
                ]
                .concat(),
            ),
            timestamp: unix_now(),
            logs: Vec::new(),
            before: State::default(),
        };
        Ok(Self {
            chain_id: settings.chain_id,
            contract: address_setting(
                "chain.contract_address",
                settings.contract_address.as_deref(),
            )?,
            operator,
            platform: Address::from_slice(&keccak256(b"metmos simulated platform")[12..]),
            signer,
            ledger: Mutex::new(Ledger {
                blocks: vec![genesis],
                state: State::default(),
                nonce: 0,
            }),
            reverts: Mutex::new(Vec::new()),
        })
    }

    /// The address the quotes are signed by.
    pub fn quote_signer(&self) -> Address {
        self.signer.address()
    }

    /// Who may release and refund.
    pub fn operator(&self) -> Address {
        self.operator
    }

    /// Where the contract sends the platform's fee on release.
    pub fn platform(&self) -> Address {
        self.platform
    }

    pub fn balance(&self, address: Address) -> U256 {
        self.ledger.lock().state.balance(address)
    }

    /// The `pay` attempts the contract refused, oldest first.
    pub fn reverts(&self) -> Vec<Revert> {
        self.reverts.lock().clone()
    }

    /// Mines one block holding one transaction's logs; answers the tx hash.
    fn mine(ledger: &mut Ledger, before: State, logs: Vec<EscrowLog>) -> B256 {
        ledger.nonce += 1;
        let number = ledger.blocks.len() as u64;
        let genesis = ledger.blocks.first().map(|b| b.hash).unwrap_or_default();
        let tx_hash = keccak256(
            [
                b"tx".as_slice(),
                genesis.as_slice(),
                &ledger.nonce.to_be_bytes(),
            ]
            .concat(),
        );
        let parent = ledger.blocks.last().map(|b| b.hash).unwrap_or_default();
        let hash = keccak256(
            [
                parent.as_slice(),
                &number.to_be_bytes(),
                &ledger.nonce.to_be_bytes(),
            ]
            .concat(),
        );
        ledger.blocks.push(Block {
            hash,
            timestamp: unix_now(),
            logs: logs.into_iter().map(|l| (tx_hash, l)).collect(),
            before,
        });
        tx_hash
    }

    /// `pay(orderId, payee, fee, deadline, signature)` sent by `from` with `value`, as the
    /// payer's wallet sends it. Reverts (nothing mined, the attempt kept) where the
    /// contract would.
    pub fn pay(
        &self,
        from: Address,
        quote: &EscrowQuote,
        signature: &str,
        value: U256,
    ) -> Result<B256, ChainError> {
        let result = self.try_pay(from, quote, signature, value);
        if let Err(ChainError::Reverted(reason)) = &result {
            tracing::warn!(order_id = %quote.order_id, %from, %value, %reason, "simulated escrow: pay reverted");
            self.reverts.lock().push(Revert {
                from,
                order_id: quote.order_id,
                value,
                reason: reason.clone(),
            });
        }
        result
    }

    /// The order's payer wallet pays with the order's quote and signature: `amount`
    /// (default: the order total) as `msg.value`.
    pub fn pay_order(
        &self,
        order: &crate::domain::order::Order,
        amount: Option<Wei>,
    ) -> Result<B256, ChainError> {
        let value = amount.unwrap_or(order.quote.amount);
        self.pay(
            order.quote.payer,
            &order.quote,
            &order.quote_signature,
            U256::from(value.0),
        )
    }

    fn try_pay(
        &self,
        from: Address,
        quote: &EscrowQuote,
        signature: &str,
        value: U256,
    ) -> Result<B256, ChainError> {
        let revert = |m: &str| Err(ChainError::Reverted(m.into()));
        // What the contract hashes: its own chain id and address, msg.sender, msg.value.
        let Ok(amount) = u128::try_from(value) else {
            return revert("invalid quote signature");
        };
        let as_checked = EscrowQuote {
            chain_id: self.chain_id,
            contract: self.contract,
            payer: from,
            amount: Wei(amount),
            ..quote.clone()
        };
        let mut ledger = self.ledger.lock();
        let now = unix_now().max(ledger.blocks.last().map_or(0, |b| b.timestamp));
        if now > quote.deadline {
            return revert("quote expired");
        }
        match recover_quote_signer(&as_checked, signature) {
            Ok(signer) if signer == self.signer.address() => {}
            _ => return revert("invalid quote signature"),
        }
        if ledger.state.escrows.contains_key(&quote.order_id) {
            return revert("order already paid");
        }
        let fee = U256::from(quote.fee.0);
        if fee > value {
            return revert("fee exceeds amount");
        }
        let before = ledger.state.clone();
        ledger.state.take(from, value)?;
        ledger.state.escrows.insert(
            quote.order_id,
            Escrow {
                payer: from,
                payee: quote.payee,
                amount: value,
                fee,
                state: Held::Holding,
            },
        );
        let log = EscrowLog::Paid {
            order_id: quote.order_id,
            payer: from,
            payee: quote.payee,
            amount: value,
            fee,
        };
        Ok(Self::mine(&mut ledger, before, vec![log]))
    }

    /// `release` / `refund` sent by `from`: only the operator, only a held order, once.
    pub fn settle_as(
        &self,
        from: Address,
        order_id: B256,
        release: bool,
    ) -> Result<Settlement, ChainError> {
        let mut ledger = self.ledger.lock();
        if from != self.operator {
            return Err(ChainError::Reverted("caller is not the operator".into()));
        }
        let Some(escrow) = ledger.state.escrows.get(&order_id).cloned() else {
            return Err(ChainError::Reverted("unknown order".into()));
        };
        match (escrow.state, release) {
            (Held::Released, true) | (Held::Refunded, false) => {
                // What the Ethereum adapter does: read the contract first, send nothing.
                return Ok(Settlement::AlreadyDone);
            }
            (Held::Released | Held::Refunded, _) => {
                return Err(ChainError::Reverted("order already settled".into()));
            }
            (Held::Holding, _) => {}
        }
        let before = ledger.state.clone();
        let log = if release {
            let payee_amount = escrow.amount - escrow.fee;
            ledger.state.add(escrow.payee, payee_amount);
            ledger.state.add(self.platform, escrow.fee);
            EscrowLog::Released {
                order_id,
                payee: escrow.payee,
                payee_amount,
                fee: escrow.fee,
            }
        } else {
            ledger.state.add(escrow.payer, escrow.amount);
            EscrowLog::Refunded {
                order_id,
                payer: escrow.payer,
                amount: escrow.amount,
            }
        };
        if let Some(e) = ledger.state.escrows.get_mut(&order_id) {
            e.state = if release {
                Held::Released
            } else {
                Held::Refunded
            };
        }
        let tx_hash = Self::mine(&mut ledger, before, vec![log]);
        Ok(Settlement::Sent { tx_hash })
    }

    /// Drops the newest `depth` blocks and what they did (a reorg); the chain then goes
    /// on from the block before them, with new hashes.
    pub fn reorg(&self, depth: usize) {
        let mut ledger = self.ledger.lock();
        let keep = ledger.blocks.len().saturating_sub(depth).max(1);
        if keep < ledger.blocks.len() {
            ledger.state = ledger.blocks[keep].before.clone();
            ledger.blocks.truncate(keep);
        }
    }

    /// Mines an empty block (time passes; a re-org'd chain grows back).
    pub fn mine_empty(&self) {
        let mut ledger = self.ledger.lock();
        let before = ledger.state.clone();
        Self::mine(&mut ledger, before, Vec::new());
    }
}

#[async_trait]
impl Chain for SimulatedChain {
    fn adapter_name(&self) -> &'static str {
        "simulated"
    }

    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn escrow_contract(&self) -> Address {
        self.contract
    }

    async fn sign_quote(&self, quote: &EscrowQuote) -> Result<String, ChainError> {
        self.signer.sign(quote)
    }

    async fn release(&self, order_id: B256) -> Result<Settlement, ChainError> {
        self.settle_as(self.operator, order_id, true)
    }

    async fn refund(&self, order_id: B256) -> Result<Settlement, ChainError> {
        self.settle_as(self.operator, order_id, false)
    }

    async fn escrow_record(&self, order_id: B256) -> Result<EscrowRecord, ChainError> {
        let ledger = self.ledger.lock();
        Ok(match ledger.state.escrows.get(&order_id) {
            None => EscrowRecord::Unknown,
            Some(e) => match e.state {
                Held::Holding => EscrowRecord::Held {
                    payer: e.payer,
                    payee: e.payee,
                    amount: e.amount,
                    fee: e.fee,
                },
                Held::Released => EscrowRecord::Released,
                Held::Refunded => EscrowRecord::Refunded,
            },
        })
    }

    async fn latest_block(&self) -> Result<u64, ChainError> {
        Ok(self.ledger.lock().blocks.len() as u64 - 1)
    }

    /// Blocks here are final only by convention; a test's reorg can take any back.
    async fn finalized_block(&self) -> Result<Option<u64>, ChainError> {
        Ok(None)
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        let ledger = self.ledger.lock();
        Ok(usize::try_from(number)
            .ok()
            .and_then(|n| ledger.blocks.get(n))
            .map(|b| b.hash))
    }

    async fn escrow_logs(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>, ChainError> {
        let ledger = self.ledger.lock();
        let mut out = Vec::new();
        for (number, block) in ledger.blocks.iter().enumerate() {
            let number = number as u64;
            if number < from || number > to {
                continue;
            }
            for (i, (tx_hash, log)) in block.logs.iter().enumerate() {
                out.push(ChainEvent {
                    contract: self.contract,
                    tx_hash: *tx_hash,
                    log_index: i as u64,
                    block_number: number,
                    block_hash: block.hash,
                    removed: false,
                    log: log.clone(),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::escrow_order_id;
    use uuid::Uuid;

    fn chain() -> SimulatedChain {
        let settings = crate::config::Settings::load_with(None, &[]).unwrap();
        SimulatedChain::from_settings(&settings.chain).unwrap()
    }

    fn quote(c: &SimulatedChain, payer: Address, deadline: u64) -> (EscrowQuote, String) {
        let q = EscrowQuote {
            chain_id: c.chain_id,
            contract: c.contract,
            order_id: escrow_order_id(Uuid::new_v4()),
            payer,
            payee: Address::repeat_byte(0xbb),
            amount: Wei(1_050),
            fee: Wei(50),
            deadline,
        };
        let sig = c.signer.sign(&q).unwrap();
        (q, sig)
    }

    fn reverted(r: Result<B256, ChainError>) -> String {
        match r {
            Err(ChainError::Reverted(m)) => m,
            other => panic!("expected a revert, got {other:?}"),
        }
    }

    #[test]
    fn starting_balance_is_1000_eth() {
        assert_eq!(
            SimulatedChain::STARTING_BALANCE.to_string(),
            "1000000000000000000000"
        );
    }

    #[tokio::test]
    async fn pays_releases_and_moves_every_wei() {
        let c = chain();
        let payer = Address::repeat_byte(0xaa);
        let (q, sig) = quote(&c, payer, unix_now() + 60);
        let payee_before = c.balance(q.payee);
        let tx = c.pay(payer, &q, &sig, U256::from(1_050)).unwrap();
        assert_eq!(
            c.balance(payer),
            SimulatedChain::STARTING_BALANCE - U256::from(1_050)
        );
        let logs = c
            .escrow_logs(0, c.latest_block().await.unwrap())
            .await
            .unwrap();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].tx_hash, tx);
        assert!(
            matches!(logs[0].log, EscrowLog::Paid { amount, .. } if amount == U256::from(1_050))
        );
        assert!(matches!(
            c.escrow_record(q.order_id).await.unwrap(),
            EscrowRecord::Held { .. }
        ));
        assert_eq!(
            reverted(c.pay(payer, &q, &sig, U256::from(1_050))),
            "order already paid"
        );
        // Only the operator settles.
        assert_eq!(
            c.settle_as(payer, q.order_id, true),
            Err(ChainError::Reverted("caller is not the operator".into()))
        );
        assert!(matches!(
            c.release(q.order_id).await.unwrap(),
            Settlement::Sent { .. }
        ));
        assert_eq!(c.balance(q.payee), payee_before + U256::from(1_000));
        assert_eq!(
            c.balance(c.platform()),
            SimulatedChain::STARTING_BALANCE + U256::from(50)
        );
        // Settled once: again is AlreadyDone (nothing sent), the other way reverts.
        assert_eq!(
            c.release(q.order_id).await.unwrap(),
            Settlement::AlreadyDone
        );
        assert_eq!(
            c.refund(q.order_id).await,
            Err(ChainError::Reverted("order already settled".into()))
        );
        assert_eq!(
            c.escrow_record(q.order_id).await.unwrap(),
            EscrowRecord::Released
        );
        assert_eq!(
            c.balance(q.payee),
            payee_before + U256::from(1_000),
            "not twice"
        );
    }

    #[tokio::test]
    async fn refuses_what_the_contract_refuses() {
        let c = chain();
        let payer = Address::repeat_byte(0xaa);
        let (q, sig) = quote(&c, payer, unix_now() + 60);
        assert_eq!(
            reverted(c.pay(payer, &q, &sig, U256::from(1_049))),
            "invalid quote signature"
        );
        assert_eq!(
            reverted(c.pay(payer, &q, &sig, U256::from(1_051))),
            "invalid quote signature"
        );
        let stranger = Address::repeat_byte(0x99);
        assert_eq!(
            reverted(c.pay(stranger, &q, &sig, U256::from(1_050))),
            "invalid quote signature"
        );
        let (old, old_sig) = quote(&c, payer, unix_now() - 1);
        assert_eq!(
            reverted(c.pay(payer, &old, &old_sig, U256::from(1_050))),
            "quote expired"
        );
        assert_eq!(c.reverts().len(), 4);
        assert_eq!(c.latest_block().await.unwrap(), 0, "nothing mined");
        assert_eq!(c.balance(payer), SimulatedChain::STARTING_BALANCE);
        assert_eq!(
            c.escrow_record(q.order_id).await.unwrap(),
            EscrowRecord::Unknown
        );
        // Still payable correctly afterwards.
        c.pay(payer, &q, &sig, U256::from(1_050)).unwrap();
        assert_eq!(
            c.refund(escrow_order_id(Uuid::new_v4())).await,
            Err(ChainError::Reverted("unknown order".into()))
        );
        c.refund(q.order_id).await.unwrap();
        assert_eq!(
            c.balance(payer),
            SimulatedChain::STARTING_BALANCE,
            "refunded in full"
        );
    }

    #[tokio::test]
    async fn a_reorg_drops_blocks_and_their_state() {
        let c = chain();
        let payer = Address::repeat_byte(0xaa);
        let (q, sig) = quote(&c, payer, unix_now() + 60);
        c.pay(payer, &q, &sig, U256::from(1_050)).unwrap();
        let old_hash = c.block_hash(1).await.unwrap().unwrap();
        c.reorg(1);
        assert_eq!(c.latest_block().await.unwrap(), 0);
        assert_eq!(
            c.escrow_record(q.order_id).await.unwrap(),
            EscrowRecord::Unknown
        );
        assert_eq!(c.balance(payer), SimulatedChain::STARTING_BALANCE);
        c.mine_empty();
        assert_ne!(c.block_hash(1).await.unwrap().unwrap(), old_hash);
        // The payment can be sent again (re-mined).
        c.pay(payer, &q, &sig, U256::from(1_050)).unwrap();
        assert_eq!(c.escrow_logs(0, 10).await.unwrap().len(), 1);
    }
}
