//! The escrow on Ethereum: the MEscrow contract (`contracts/MEscrow.sol`) through a
//! JSON-RPC node.
//!
//! Dependencies, on purpose: a small JSON-RPC client over the `reqwest` the engine already
//! has, `alloy-sol-types` for the contract's ABI, and `alloy-consensus` to build and sign
//! transactions. All of them are already compiled for the quote signer (alloy-signer-local
//! pulls them in); `alloy-provider` would add its transport stack (tower, a second HTTP
//! layer, pubsub) for the dozen calls made here.
//!
//! Operator calls (release, refund) are sent one at a time per engine (a mutex keeps the
//! nonces in order), each after reading the contract's record: an order already settled
//! answers `AlreadyDone` without a transaction, so a retry after a crash or a timeout
//! never settles twice (and the contract itself refuses a second settlement).

use super::{QuoteSigner, address_setting};
use crate::config::ChainSettings;
use crate::domain::escrow::{ChainEvent, EscrowLog, EscrowRecord, Settlement};
use crate::domain::order::EscrowQuote;
use crate::domain::settlement::{OperatorCall, SettleDecision, decide_settlement};
use crate::ports::{Chain, ChainError};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U64, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_sol_types::{SolCall, SolError, SolEvent, sol};
use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

sol! {
    /// The part of MEscrow's ABI the engine uses (contracts/artifacts/MEscrow.json).
    contract MEscrow {
        event OrderPaid(bytes32 indexed orderId, address indexed payer, address indexed payee, uint256 amount, uint256 fee);
        event FundReleased(bytes32 indexed orderId, address indexed payee, uint256 payeeAmount, uint256 fee);
        event Refunded(bytes32 indexed orderId, address indexed payer, uint256 amount);

        function pay(bytes32 orderId, address payee, uint256 fee, uint256 deadline, bytes signature) external payable;
        function release(bytes32 orderId) external;
        function refund(bytes32 orderId) external;
        function escrowOf(bytes32 orderId) external view returns (uint8 state, address payer, address payee, uint256 amount, uint256 fee, uint64 paidAt);

        error NotOperator();
        error NotPayer();
        error QuoteExpired();
        error AlreadyPaid();
        error BadSignature();
        error BadQuote();
        error NotHeld();
        error TooEarly();
        error NothingToWithdraw();
        error TransferFailed();
        error Reentrancy();
    }
}

/// Priority fee when the node does not suggest one (`eth_maxPriorityFeePerGas` is not
/// standard): 1 gwei.
const DEFAULT_TIP: u128 = 1_000_000_000;
/// Attempts of one operator call when the send itself fails (nonce taken by another
/// engine with the same key): each attempt reads the contract first.
const SEND_ATTEMPTS: usize = 3;

// ---------------------------------------------------------------------------------------
// JSON-RPC
// ---------------------------------------------------------------------------------------

/// A minimal Ethereum JSON-RPC client (HTTP). Public so that tests and tools drive a local
/// node with the same code (`evm_snapshot`, `eth_getBalance`, ...).
pub struct JsonRpc {
    http: reqwest::Client,
    url: String,
    id: AtomicU64,
}

/// A JSON-RPC error answer: the node refused (e.g. a revert), as opposed to a transport
/// failure, which is `ChainError::Unavailable`.
#[derive(Debug, Clone)]
pub struct NodeError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl JsonRpc {
    pub fn new(url: &str) -> Result<Self, ChainError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ChainError::Config(format!("chain.rpc_url client: {e}")))?;
        Ok(Self {
            http,
            url: url.to_string(),
            id: AtomicU64::new(1),
        })
    }

    /// Calls `method`; the outer error is the transport's, the inner the node's answer.
    pub async fn try_call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<Result<T, NodeError>, ChainError> {
        let id = self.id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let response = self
            .http
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| ChainError::Unavailable(format!("{method}: {}", without_url(&e))))?;
        let value: Value = response
            .json()
            .await
            .map_err(|e| ChainError::Unavailable(format!("{method}: {}", without_url(&e))))?;
        if let Some(err) = value.get("error") {
            return Ok(Err(NodeError {
                code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: err
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                data: err.get("data").cloned(),
            }));
        }
        let result = value.get("result").cloned().unwrap_or(Value::Null);
        serde_json::from_value(result)
            .map(Ok)
            .map_err(|e| ChainError::Other(format!("{method}: unexpected answer: {e}")))
    }

    /// Calls `method`; a node error is `ChainError::Other` with its message.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: Value,
    ) -> Result<T, ChainError> {
        self.try_call(method, params)
            .await?
            .map_err(|e| ChainError::Other(format!("{method}: {} ({})", e.message, e.code)))
    }
}

/// reqwest's errors name the URL, which for hosted nodes carries the API key.
fn without_url(e: &reqwest::Error) -> String {
    let mut e = format!("{}", ErrWithoutUrl(e));
    e.truncate(300);
    e
}

struct ErrWithoutUrl<'a>(&'a reqwest::Error);

impl std::fmt::Display for ErrWithoutUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let e = self.0;
        if e.is_timeout() {
            write!(f, "timed out")
        } else if e.is_connect() {
            write!(f, "cannot connect to the node")
        } else if e.is_decode() {
            write!(f, "the node's answer is not JSON")
        } else if let Some(status) = e.status() {
            write!(f, "HTTP {status}")
        } else {
            write!(f, "request failed")
        }
    }
}

fn hex_u64(n: u64) -> String {
    format!("{n:#x}")
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcBlock {
    number: U64,
    hash: B256,
    base_fee_per_gas: Option<U256>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcReceipt {
    status: Option<U64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcLog {
    address: Address,
    topics: Vec<B256>,
    data: Bytes,
    block_number: Option<U64>,
    block_hash: Option<B256>,
    transaction_hash: Option<B256>,
    log_index: Option<U64>,
}

// ---------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------

/// The operator's key. `Debug` shows the address only, so no log or panic prints the key.
pub struct OperatorKey(PrivateKeySigner);

impl OperatorKey {
    pub fn from_hex(setting: &str, key: &str) -> Result<Self, ChainError> {
        let bytes = B256::from_str(key.trim()).map_err(|_| {
            ChainError::Config(format!("{setting} must be a 32-byte hex private key"))
        })?;
        PrivateKeySigner::from_bytes(&bytes).map(Self).map_err(|_| {
            ChainError::Config(format!("{setting} is not a valid secp256k1 private key"))
        })
    }

    pub fn address(&self) -> Address {
        self.0.address()
    }
}

impl std::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OperatorKey({})", self.address())
    }
}

/// Why a transaction did not succeed.
#[derive(Debug)]
pub enum TxFailure {
    /// The node or the contract refused it before it was mined (estimate or send), with
    /// the contract's error name when it gave one.
    Refused(String),
    /// Mined, and reverted.
    Reverted(B256),
    Chain(ChainError),
}

impl From<ChainError> for TxFailure {
    fn from(e: ChainError) -> Self {
        TxFailure::Chain(e)
    }
}

/// Builds, signs, sends and waits for transactions from one key: the operator's in the
/// adapter, any test account in tests.
pub struct TxSender<'a> {
    pub rpc: &'a JsonRpc,
    pub key: &'a OperatorKey,
    pub chain_id: u64,
    pub poll: Duration,
    pub receipt_timeout: Duration,
}

impl TxSender<'_> {
    /// A signed raw transaction and its hash (sent with [`TxSender::send_raw`]).
    pub async fn sign(
        &self,
        to: Option<Address>,
        value: U256,
        input: Vec<u8>,
    ) -> Result<(Bytes, B256), TxFailure> {
        let from = self.key.address();
        let kind = to.map_or(TxKind::Create, TxKind::Call);
        let mut estimate =
            json!({"from": from, "value": value, "data": Bytes::from(input.clone())});
        if let Some(to) = to {
            estimate["to"] = json!(to);
        }
        let gas: U64 = self
            .rpc
            .try_call("eth_estimateGas", json!([estimate]))
            .await?
            .map_err(|e| TxFailure::Refused(revert_reason(&e)))?;
        // A margin: state may change between estimate and inclusion.
        let gas_limit = gas.to::<u64>().saturating_mul(12) / 10 + 10_000;
        let nonce: U64 = self
            .rpc
            .call("eth_getTransactionCount", json!([from, "pending"]))
            .await?;
        let nonce = nonce.to::<u64>();
        let latest: RpcBlock = self
            .rpc
            .call("eth_getBlockByNumber", json!(["latest", false]))
            .await?;
        let (raw, hash) = match latest.base_fee_per_gas {
            Some(base_fee) => {
                let tip = match self
                    .rpc
                    .try_call::<U256>("eth_maxPriorityFeePerGas", json!([]))
                    .await?
                {
                    Ok(tip) => tip.saturating_to::<u128>(),
                    Err(_) => DEFAULT_TIP,
                };
                // Twice the base fee rides out six full blocks of base-fee increases.
                let max_fee = base_fee.saturating_to::<u128>().saturating_mul(2) + tip;
                let tx = TxEip1559 {
                    chain_id: self.chain_id,
                    nonce,
                    gas_limit,
                    max_fee_per_gas: max_fee,
                    max_priority_fee_per_gas: tip,
                    to: kind,
                    value,
                    input: input.into(),
                    ..Default::default()
                };
                let sig = self.sign_hash(tx.signature_hash())?;
                let envelope = TxEnvelope::from(tx.into_signed(sig));
                (envelope.encoded_2718(), *envelope.tx_hash())
            }
            None => {
                let gas_price: U256 = self.rpc.call("eth_gasPrice", json!([])).await?;
                let tx = TxLegacy {
                    chain_id: Some(self.chain_id),
                    nonce,
                    gas_price: gas_price.saturating_to::<u128>(),
                    gas_limit,
                    to: kind,
                    value,
                    input: input.into(),
                };
                let sig = self.sign_hash(tx.signature_hash())?;
                let envelope = TxEnvelope::from(tx.into_signed(sig));
                (envelope.encoded_2718(), *envelope.tx_hash())
            }
        };
        Ok((raw.into(), hash))
    }

    fn sign_hash(&self, hash: B256) -> Result<alloy_primitives::Signature, TxFailure> {
        self.key
            .0
            .sign_hash_sync(&hash)
            .map_err(|e| TxFailure::Chain(ChainError::Other(format!("signing failed: {e}"))))
    }

    /// Sends a signed transaction (again, after a reorg dropped it, in tests).
    pub async fn send_raw(&self, raw: &Bytes) -> Result<B256, TxFailure> {
        self.rpc
            .try_call::<B256>("eth_sendRawTransaction", json!([raw]))
            .await?
            .map_err(|e| TxFailure::Refused(revert_reason(&e)))
    }

    /// Polls for the receipt until `receipt_timeout`.
    pub async fn wait(&self, hash: B256) -> Result<B256, TxFailure> {
        let deadline = tokio::time::Instant::now() + self.receipt_timeout;
        loop {
            let receipt: Option<RpcReceipt> = self
                .rpc
                .call("eth_getTransactionReceipt", json!([hash]))
                .await?;
            if let Some(r) = receipt {
                return match r.status.map(|s| s.to::<u64>()) {
                    Some(1) | None => Ok(hash),
                    Some(_) => Err(TxFailure::Reverted(hash)),
                };
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TxFailure::Chain(ChainError::Unavailable(format!(
                    "no receipt for {hash} after {}s",
                    self.receipt_timeout.as_secs()
                ))));
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Signs, sends and waits for a transaction.
    pub async fn send(
        &self,
        to: Option<Address>,
        value: U256,
        input: Vec<u8>,
    ) -> Result<B256, TxFailure> {
        let (raw, hash) = self.sign(to, value, input).await?;
        self.send_raw(&raw).await?;
        self.wait(hash).await
    }
}

/// The contract's error name from a refused call (`NotHeld`, ...), else the node's words.
fn revert_reason(e: &NodeError) -> String {
    let data = match &e.data {
        Some(Value::String(s)) => Some(s.clone()),
        // ganache puts the revert data in `data.result`, geth and anvil in `data`.
        Some(Value::Object(o)) => o.get("result").and_then(Value::as_str).map(str::to_string),
        _ => None,
    };
    let bytes = data.and_then(|d| alloy_primitives::hex::decode(d).ok());
    if let Some(b) = bytes.filter(|b| b.len() >= 4) {
        let selector: [u8; 4] = [b[0], b[1], b[2], b[3]];
        macro_rules! names {
            ($($err:ident),*) => {
                $(if selector == MEscrow::$err::SELECTOR { return stringify!($err).to_string(); })*
            };
        }
        names!(
            NotOperator,
            NotPayer,
            QuoteExpired,
            AlreadyPaid,
            BadSignature,
            BadQuote,
            NotHeld,
            TooEarly,
            NothingToWithdraw,
            TransferFailed,
            Reentrancy
        );
    }
    e.message.clone()
}

// ---------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------

pub struct EthereumChain {
    rpc: JsonRpc,
    chain_id: u64,
    contract: Address,
    operator: OperatorKey,
    quotes: QuoteSigner,
    poll: Duration,
    receipt_timeout: Duration,
    /// One operator transaction at a time: nonces stay in order and a retry always sees
    /// the previous attempt's outcome.
    sending: tokio::sync::Mutex<()>,
    /// Set once the node was seen to serve `chain_id` (quotes and transactions for another
    /// chain would all revert or be refused, so nothing is sent or read before that).
    node_checked: tokio::sync::OnceCell<()>,
}

impl std::fmt::Debug for EthereumChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EthereumChain")
            .field("chain_id", &self.chain_id)
            .field("contract", &self.contract)
            .field("operator", &self.operator)
            .finish_non_exhaustive()
    }
}

impl EthereumChain {
    pub fn from_settings(s: &ChainSettings) -> Result<Self, ChainError> {
        let url = s
            .rpc_url
            .as_deref()
            .ok_or_else(|| ChainError::Config("chain.rpc_url must be set".into()))?;
        let operator = s
            .operator_key
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret)
            .ok_or_else(|| ChainError::Config("chain.operator_key must be set".into()))?;
        let quotes = s
            .quote_signer_key
            .as_ref()
            .map(secrecy::ExposeSecret::expose_secret)
            .ok_or_else(|| ChainError::Config("chain.quote_signer_key must be set".into()))?;
        Ok(Self {
            rpc: JsonRpc::new(url)?,
            chain_id: s.chain_id,
            contract: address_setting("chain.contract_address", s.contract_address.as_deref())?,
            operator: OperatorKey::from_hex("chain.operator_key", operator)?,
            quotes: QuoteSigner::from_hex(quotes)?,
            poll: Duration::from_millis(s.poll_ms.max(1)),
            receipt_timeout: Duration::from_secs(s.receipt_timeout_secs.max(1)),
            sending: tokio::sync::Mutex::new(()),
            node_checked: tokio::sync::OnceCell::new(),
        })
    }

    /// Checks (once) that the node serves the configured chain.
    async fn check_node(&self) -> Result<(), ChainError> {
        self.node_checked
            .get_or_try_init(|| async {
                let id: U64 = self.rpc.call("eth_chainId", json!([])).await?;
                if id.to::<u64>() == self.chain_id {
                    Ok(())
                } else {
                    Err(ChainError::Config(format!(
                        "chain.chain_id is {} but the node at chain.rpc_url serves chain {id}",
                        self.chain_id
                    )))
                }
            })
            .await
            .map(|_| ())
    }

    pub fn operator_address(&self) -> Address {
        self.operator.address()
    }

    fn sender(&self) -> TxSender<'_> {
        TxSender {
            rpc: &self.rpc,
            key: &self.operator,
            chain_id: self.chain_id,
            poll: self.poll,
            receipt_timeout: self.receipt_timeout,
        }
    }

    #[tracing::instrument(name = "chain.settle", skip(self), fields(order_id = %order_id))]
    async fn settle(&self, order_id: B256, call: OperatorCall) -> Result<Settlement, ChainError> {
        self.check_node().await?;
        let _one_at_a_time = self.sending.lock().await;
        let input = match call {
            OperatorCall::Release => MEscrow::releaseCall { orderId: order_id }.abi_encode(),
            OperatorCall::Refund => MEscrow::refundCall { orderId: order_id }.abi_encode(),
        };
        let mut last = None;
        for _ in 0..SEND_ATTEMPTS {
            // Read before every attempt: what a previous attempt (or another engine, or a
            // run before a crash) did is on chain, and is answered, not repeated.
            let record = self.escrow_record(order_id).await?;
            match decide_settlement(&record, call) {
                Ok(SettleDecision::AlreadyDone) => return Ok(Settlement::AlreadyDone),
                Ok(SettleDecision::Send) => {}
                Err(refusal) => return Err(ChainError::Reverted(refusal.to_string())),
            }
            match self
                .sender()
                .send(Some(self.contract), U256::ZERO, input.clone())
                .await
            {
                Ok(tx_hash) => {
                    tracing::info!(?call, tx = %tx_hash, "operator transaction mined");
                    return Ok(Settlement::Sent { tx_hash });
                }
                // Mined and reverted, or refused at estimate or send: the contract's
                // record says whether someone settled it meanwhile (next loop answers).
                Err(TxFailure::Reverted(tx)) => {
                    last = Some(ChainError::Reverted(format!("transaction {tx} reverted")))
                }
                Err(TxFailure::Refused(reason)) => last = Some(ChainError::Reverted(reason)),
                Err(TxFailure::Chain(e)) => return Err(e),
            }
        }
        // Still held after every attempt: the contract keeps refusing.
        Err(last.unwrap_or_else(|| ChainError::Other("operator call not sent".into())))
    }
}

#[async_trait]
impl Chain for EthereumChain {
    fn adapter_name(&self) -> &'static str {
        "ethereum"
    }

    fn chain_id(&self) -> u64 {
        self.chain_id
    }

    fn escrow_contract(&self) -> Address {
        self.contract
    }

    async fn sign_quote(&self, quote: &EscrowQuote) -> Result<String, ChainError> {
        self.quotes.sign(quote)
    }

    async fn release(&self, order_id: B256) -> Result<Settlement, ChainError> {
        self.settle(order_id, OperatorCall::Release).await
    }

    async fn refund(&self, order_id: B256) -> Result<Settlement, ChainError> {
        self.settle(order_id, OperatorCall::Refund).await
    }

    async fn escrow_record(&self, order_id: B256) -> Result<EscrowRecord, ChainError> {
        let input = MEscrow::escrowOfCall { orderId: order_id }.abi_encode();
        let out: Bytes = self
            .rpc
            .call(
                "eth_call",
                json!([{"to": self.contract, "data": Bytes::from(input)}, "latest"]),
            )
            .await?;
        let r = MEscrow::escrowOfCall::abi_decode_returns(&out)
            .map_err(|e| ChainError::Other(format!("escrowOf answer does not decode: {e}")))?;
        match r.state {
            0 => Ok(EscrowRecord::Unknown),
            1 => Ok(EscrowRecord::Held {
                payer: r.payer,
                payee: r.payee,
                amount: r.amount,
                fee: r.fee,
            }),
            2 => Ok(EscrowRecord::Released),
            3 => Ok(EscrowRecord::Refunded),
            n => Err(ChainError::Other(format!("escrowOf: unknown state {n}"))),
        }
    }

    async fn latest_block(&self) -> Result<u64, ChainError> {
        let n: U64 = self.rpc.call("eth_blockNumber", json!([])).await?;
        Ok(n.to())
    }

    async fn finalized_block(&self) -> Result<Option<u64>, ChainError> {
        // A node without the tag answers an error: it has no notion of finality.
        match self
            .rpc
            .try_call::<Option<RpcBlock>>("eth_getBlockByNumber", json!(["finalized", false]))
            .await?
        {
            Ok(block) => Ok(block.map(|b| b.number.to())),
            Err(e) => {
                tracing::warn!(error = %e.message, "the node has no finalized block");
                Ok(None)
            }
        }
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError> {
        let block: Option<RpcBlock> = self
            .rpc
            .call("eth_getBlockByNumber", json!([hex_u64(number), false]))
            .await?;
        Ok(block.map(|b| b.hash))
    }

    async fn escrow_logs(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>, ChainError> {
        self.check_node().await?;
        let filter = json!({
            "address": self.contract,
            "fromBlock": hex_u64(from),
            "toBlock": hex_u64(to),
            "topics": [[
                MEscrow::OrderPaid::SIGNATURE_HASH,
                MEscrow::FundReleased::SIGNATURE_HASH,
                MEscrow::Refunded::SIGNATURE_HASH,
            ]],
        });
        let logs: Vec<RpcLog> = self.rpc.call("eth_getLogs", json!([filter])).await?;
        let mut events: Vec<ChainEvent> = logs
            .into_iter()
            .filter_map(|l| match decode_log(&l) {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, tx = ?l.transaction_hash, "escrow log does not decode; skipped");
                    None
                }
            })
            .collect();
        events.sort_by_key(|e| (e.block_number, e.log_index));
        Ok(events)
    }
}

/// A log of the contract as a [`ChainEvent`]; `None` for a pending log (no block yet).
fn decode_log(l: &RpcLog) -> Result<Option<ChainEvent>, ChainError> {
    let (Some(block_number), Some(block_hash), Some(tx_hash), Some(log_index)) = (
        l.block_number,
        l.block_hash,
        l.transaction_hash,
        l.log_index,
    ) else {
        return Ok(None);
    };
    let bad = |e: alloy_sol_types::Error| ChainError::Other(format!("log does not decode: {e}"));
    let topics = l.topics.iter().copied();
    let log = match l.topics.first() {
        Some(t) if *t == MEscrow::OrderPaid::SIGNATURE_HASH => {
            let e = MEscrow::OrderPaid::decode_raw_log(topics, &l.data).map_err(bad)?;
            EscrowLog::Paid {
                order_id: e.orderId,
                payer: e.payer,
                payee: e.payee,
                amount: e.amount,
                fee: e.fee,
            }
        }
        Some(t) if *t == MEscrow::FundReleased::SIGNATURE_HASH => {
            let e = MEscrow::FundReleased::decode_raw_log(topics, &l.data).map_err(bad)?;
            EscrowLog::Released {
                order_id: e.orderId,
                payee: e.payee,
                payee_amount: e.payeeAmount,
                fee: e.fee,
            }
        }
        Some(t) if *t == MEscrow::Refunded::SIGNATURE_HASH => {
            let e = MEscrow::Refunded::decode_raw_log(topics, &l.data).map_err(bad)?;
            EscrowLog::Refunded {
                order_id: e.orderId,
                payer: e.payer,
                amount: e.amount,
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(ChainEvent {
        contract: l.address,
        tx_hash,
        log_index: log_index.to(),
        block_number: block_number.to(),
        block_hash,
        removed: false,
        log,
    }))
}

/// `pay(orderId, payee, fee, deadline, signature)` calldata for `quote` (the app builds
/// the same from the order's `escrow` object; tests and tools pay with it).
pub fn pay_calldata(quote: &EscrowQuote, signature: &str) -> Result<Vec<u8>, ChainError> {
    let signature = Bytes::from_str(signature)
        .map_err(|e| ChainError::Other(format!("signature is not hex: {e}")))?;
    Ok(MEscrow::payCall {
        orderId: quote.order_id,
        payee: quote.payee,
        fee: U256::from(quote.fee.0),
        deadline: U256::from(quote.deadline),
        signature,
    }
    .abi_encode())
}
