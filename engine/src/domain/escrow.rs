//! What the escrow contract says, as the engine reads it: its three events and the state it
//! keeps per order. The Chain port reports these (Ethereum or simulated alike); the order
//! handler decides what they mean for an order. Amounts stay `U256` here because a log can
//! carry any uint256: one that does not fit an order's `Wei` simply does not match it.

use alloy_primitives::{Address, B256, U256};

/// One log of the escrow contract, decoded, with where it was mined. Chain events are
/// deduplicated by `(tx_hash, log_index)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainEvent {
    /// The contract that emitted the log; the handler checks it is ours.
    pub contract: Address,
    pub tx_hash: B256,
    pub log_index: u64,
    pub block_number: u64,
    pub block_hash: B256,
    /// A reorg took the log out of the canonical chain: its effect is undone if the order
    /// is not final yet, and its dedupe row dropped so the re-mined log applies again.
    pub removed: bool,
    pub log: EscrowLog,
}

impl ChainEvent {
    pub fn order_id(&self) -> B256 {
        self.log.order_id()
    }
}

/// The contract's events, with the signatures of ARCHITECTURE.md "Commerce path".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscrowLog {
    /// `OrderPaid(bytes32 indexed orderId, address indexed payer, address indexed payee,
    /// uint256 amount, uint256 fee)`
    Paid {
        order_id: B256,
        payer: Address,
        payee: Address,
        amount: U256,
        fee: U256,
    },
    /// `FundReleased(bytes32 indexed orderId, address indexed payee, uint256 payeeAmount,
    /// uint256 fee)`
    Released {
        order_id: B256,
        payee: Address,
        payee_amount: U256,
        fee: U256,
    },
    /// `Refunded(bytes32 indexed orderId, address indexed payer, uint256 amount)`
    Refunded {
        order_id: B256,
        payer: Address,
        amount: U256,
    },
}

impl EscrowLog {
    pub fn order_id(&self) -> B256 {
        match self {
            EscrowLog::Paid { order_id, .. }
            | EscrowLog::Released { order_id, .. }
            | EscrowLog::Refunded { order_id, .. } => *order_id,
        }
    }

    /// The event's name in the contract (`OrderPaid`, `FundReleased`, `Refunded`).
    pub fn name(&self) -> &'static str {
        match self {
            EscrowLog::Paid { .. } => "OrderPaid",
            EscrowLog::Released { .. } => "FundReleased",
            EscrowLog::Refunded { .. } => "Refunded",
        }
    }
}

/// What the contract's storage holds for one order id (read from state, not from logs):
/// the truth an operator transaction is checked against before it is sent again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscrowRecord {
    /// Never paid.
    Unknown,
    /// Paid and held, not settled yet.
    Held {
        payer: Address,
        payee: Address,
        amount: U256,
        fee: U256,
    },
    Released,
    Refunded,
}

/// The outcome of an operator call (`release`, `refund`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// The transaction was mined and succeeded.
    Sent { tx_hash: B256 },
    /// The contract already shows this outcome: nothing was sent.
    AlreadyDone,
}
