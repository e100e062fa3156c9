//! What the escrow contract says, as the engine reads it: its three events and the state it
//! keeps per order. The Chain port reports these (Ethereum or simulated alike); the order
//! handler decides what they mean for an order. Amounts stay `U256` here because a log can
//! carry any uint256: one that does not fit an order's `Wei` simply does not match it.

use super::refusal::Refusal;
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

/// Why a confirmed escrow log is not applied to its order. Recorded with the event
/// (`chain_event.rejected_reason`) and raised (`payment.mismatched` event, error log);
/// never applied. The `Display` is the recorded reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainRejection {
    #[error("emitted by {0}, not by our escrow contract")]
    WrongContract(Address),
    #[error("the payer is {got}, the quote names {want}")]
    WrongPayer { got: Address, want: Address },
    #[error("the payee is {got}, the quote names {want}")]
    WrongPayee { got: Address, want: Address },
    #[error("the amount is {got} wei, the order total is {want} wei")]
    WrongAmount { got: U256, want: U256 },
    #[error("the fee is {got} wei, the quote says {want} wei")]
    WrongFee { got: U256, want: U256 },
    #[error("no order has escrow id {0}")]
    UnknownOrder(B256),
    /// The log is well formed but the order's lifecycle has no such step now (a payment
    /// for an order already EXPIRED or CANCELLED: the funds are held and need an operator).
    #[error("{0}")]
    Lifecycle(Refusal),
}

/// What to do with one confirmed (or removed) escrow log, given the order it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainDecision {
    /// Apply this step to the order (with its effects), recording the event as applied.
    Apply(super::order::OrderAction),
    /// Nothing to change: the order already shows what the log says (a settlement we
    /// recorded before its log came, or a removal of something already final). The
    /// event is recorded (or its row dropped) and nothing else happens.
    Nothing(&'static str),
    /// Record and raise; never apply.
    Reject(ChainRejection),
}

fn u256_of(wei: super::money::Wei) -> U256 {
    U256::from(wei.0)
}

/// The one rule for escrow logs. `order` is the order the log's id names (read under its
/// lock), `ours` the escrow contract the engine quotes for. A payment is applied only when
/// everything the quote fixed matches: contract, payer, payee, amount (= order total) and
/// fee; the deadline and the order id being unused are enforced by the contract, which
/// reverts otherwise, so such a log cannot exist.
pub fn decide_chain_event(
    order: &super::order::Order,
    ours: Address,
    event: &ChainEvent,
) -> ChainDecision {
    use super::order::{OrderAction as A, OrderStatus as S};
    if event.contract != ours {
        return ChainDecision::Reject(ChainRejection::WrongContract(event.contract));
    }
    let q = &order.quote;
    let status = order.status;
    let lifecycle = |action: A| match status.transition(action) {
        Ok(_) => ChainDecision::Apply(action),
        Err(refused) => ChainDecision::Reject(ChainRejection::Lifecycle(refused)),
    };
    if event.removed {
        return match event.log {
            // Undone unless the order is final (a reorg that deep is the operator's).
            EscrowLog::Paid { .. } if status.transition(A::UndoPay).is_ok() => {
                ChainDecision::Apply(A::UndoPay)
            }
            EscrowLog::Paid { .. } => {
                ChainDecision::Nothing("removed payment of a final or unpaid order")
            }
            // A settlement is re-mined by its operator transaction (same nonce); the
            // order keeps its final status.
            EscrowLog::Released { .. } | EscrowLog::Refunded { .. } => {
                ChainDecision::Nothing("removed settlement; the order stays as recorded")
            }
        };
    }
    match &event.log {
        EscrowLog::Paid {
            payer,
            payee,
            amount,
            fee,
            ..
        } => {
            if *payer != q.payer {
                return ChainDecision::Reject(ChainRejection::WrongPayer {
                    got: *payer,
                    want: q.payer,
                });
            }
            if *payee != q.payee {
                return ChainDecision::Reject(ChainRejection::WrongPayee {
                    got: *payee,
                    want: q.payee,
                });
            }
            if *amount != u256_of(q.amount) {
                return ChainDecision::Reject(ChainRejection::WrongAmount {
                    got: *amount,
                    want: u256_of(q.amount),
                });
            }
            if *fee != u256_of(q.fee) {
                return ChainDecision::Reject(ChainRejection::WrongFee {
                    got: *fee,
                    want: u256_of(q.fee),
                });
            }
            lifecycle(A::Pay)
        }
        EscrowLog::Released { payee, .. } => {
            if *payee != q.payee {
                return ChainDecision::Reject(ChainRejection::WrongPayee {
                    got: *payee,
                    want: q.payee,
                });
            }
            if status == S::Completed {
                return ChainDecision::Nothing("already completed");
            }
            lifecycle(A::Released)
        }
        EscrowLog::Refunded { payer, .. } => {
            if *payer != q.payer {
                return ChainDecision::Reject(ChainRejection::WrongPayer {
                    got: *payer,
                    want: q.payer,
                });
            }
            if status == S::Cancelled {
                return ChainDecision::Nothing("already cancelled");
            }
            lifecycle(A::Refunded)
        }
    }
}

/// What an operator call must do for an order in flight, given what the contract holds
/// (read before every attempt, so a retry after a crash never settles twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettlementStep {
    /// Send `release` / `refund`.
    Send,
    /// The contract already shows this outcome: wait for (or replay) its log.
    AlreadyDone,
    /// The contract shows the other outcome or nothing held: stop and raise.
    Impossible(&'static str),
}

/// `releasing`: the order is RELEASING (else REFUNDING).
pub fn decide_settlement(releasing: bool, record: &EscrowRecord) -> SettlementStep {
    match (releasing, record) {
        (_, EscrowRecord::Held { .. }) => SettlementStep::Send,
        (true, EscrowRecord::Released) | (false, EscrowRecord::Refunded) => {
            SettlementStep::AlreadyDone
        }
        (true, EscrowRecord::Refunded) => {
            SettlementStep::Impossible("the escrow already refunded this order")
        }
        (false, EscrowRecord::Released) => {
            SettlementStep::Impossible("the escrow already released this order")
        }
        (_, EscrowRecord::Unknown) => {
            SettlementStep::Impossible("the escrow holds nothing for this order")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::order::tests::order;
    use super::super::order::{OrderAction as A, OrderStatus as S};
    use super::*;

    const OURS: Address = Address::repeat_byte(0xcc);

    fn event(log: EscrowLog, removed: bool) -> ChainEvent {
        ChainEvent {
            contract: OURS,
            tx_hash: B256::repeat_byte(7),
            log_index: 0,
            block_number: 1,
            block_hash: B256::repeat_byte(8),
            removed,
            log,
        }
    }

    fn paid(o: &super::super::order::Order) -> EscrowLog {
        EscrowLog::Paid {
            order_id: o.quote.order_id,
            payer: o.quote.payer,
            payee: o.quote.payee,
            amount: U256::from(o.quote.amount.0),
            fee: U256::from(o.quote.fee.0),
        }
    }

    #[test]
    fn a_payment_applies_only_when_everything_the_quote_fixed_matches() {
        let o = order(S::AwaitingPayment, u64::MAX);
        assert_eq!(
            decide_chain_event(&o, OURS, &event(paid(&o), false)),
            ChainDecision::Apply(A::Pay)
        );
        let with = |f: &dyn Fn(&mut EscrowLog)| {
            let mut log = paid(&o);
            f(&mut log);
            decide_chain_event(&o, OURS, &event(log, false))
        };
        let stranger = Address::repeat_byte(0x99);
        let total = U256::from(o.quote.amount.0);
        let fee = U256::from(o.quote.fee.0);
        type Case<'a> = (Box<dyn Fn(&mut EscrowLog) + 'a>, ChainRejection);
        let cases: Vec<Case> = vec![
            (
                Box::new(|l| {
                    if let EscrowLog::Paid { payer, .. } = l {
                        *payer = stranger
                    }
                }),
                ChainRejection::WrongPayer {
                    got: stranger,
                    want: o.quote.payer,
                },
            ),
            (
                Box::new(|l| {
                    if let EscrowLog::Paid { payee, .. } = l {
                        *payee = stranger
                    }
                }),
                ChainRejection::WrongPayee {
                    got: stranger,
                    want: o.quote.payee,
                },
            ),
            (
                Box::new(|l| {
                    if let EscrowLog::Paid { amount, .. } = l {
                        *amount -= U256::from(1)
                    }
                }),
                ChainRejection::WrongAmount {
                    got: total - U256::from(1),
                    want: total,
                },
            ),
            (
                Box::new(|l| {
                    if let EscrowLog::Paid { amount, .. } = l {
                        *amount += U256::from(1)
                    }
                }),
                ChainRejection::WrongAmount {
                    got: total + U256::from(1),
                    want: total,
                },
            ),
            (
                Box::new(|l| {
                    if let EscrowLog::Paid { fee, .. } = l {
                        *fee = U256::ZERO
                    }
                }),
                ChainRejection::WrongFee {
                    got: U256::ZERO,
                    want: fee,
                },
            ),
        ];
        for (change, rejection) in cases {
            assert_eq!(with(&*change), ChainDecision::Reject(rejection));
        }
        let mut foreign = event(paid(&o), false);
        foreign.contract = stranger;
        assert_eq!(
            decide_chain_event(&o, OURS, &foreign),
            ChainDecision::Reject(ChainRejection::WrongContract(stranger))
        );
        // A payment for an order that can no longer be paid is raised, not applied.
        for status in [S::Paid, S::Expired, S::Cancelled, S::Completed] {
            let o = order(status, u64::MAX);
            assert!(
                matches!(
                    decide_chain_event(&o, OURS, &event(paid(&o), false)),
                    ChainDecision::Reject(ChainRejection::Lifecycle(_))
                ),
                "{status}"
            );
        }
    }

    #[test]
    fn settlements_apply_once_and_replays_change_nothing() {
        let released = |o: &super::super::order::Order| EscrowLog::Released {
            order_id: o.quote.order_id,
            payee: o.quote.payee,
            payee_amount: U256::from(o.fees.price.0),
            fee: U256::from(o.quote.fee.0),
        };
        let refunded = |o: &super::super::order::Order| EscrowLog::Refunded {
            order_id: o.quote.order_id,
            payer: o.quote.payer,
            amount: U256::from(o.quote.amount.0),
        };
        let cases = [
            (S::Releasing, true, ChainDecision::Apply(A::Released)),
            (S::Paid, true, ChainDecision::Apply(A::Released)),
            (
                S::Completed,
                true,
                ChainDecision::Nothing("already completed"),
            ),
            (S::Refunding, false, ChainDecision::Apply(A::Refunded)),
            (S::Paid, false, ChainDecision::Apply(A::Refunded)),
            (
                S::Cancelled,
                false,
                ChainDecision::Nothing("already cancelled"),
            ),
        ];
        for (status, is_release, expected) in cases {
            let o = order(status, 0);
            let log = if is_release {
                released(&o)
            } else {
                refunded(&o)
            };
            assert_eq!(
                decide_chain_event(&o, OURS, &event(log, false)),
                expected,
                "{status}"
            );
        }
        let o = order(S::Refunding, 0);
        assert!(matches!(
            decide_chain_event(&o, OURS, &event(released(&o), false)),
            ChainDecision::Reject(ChainRejection::Lifecycle(_))
        ));
    }

    #[test]
    fn a_removed_payment_is_undone_unless_final() {
        for (status, undo) in [
            (S::Paid, true),
            (S::Releasing, true),
            (S::Refunding, true),
            (S::Completed, false),
            (S::Cancelled, false),
            (S::AwaitingPayment, false),
        ] {
            let o = order(status, 0);
            let got = decide_chain_event(&o, OURS, &event(paid(&o), true));
            assert_eq!(
                matches!(got, ChainDecision::Apply(A::UndoPay)),
                undo,
                "{status}"
            );
        }
    }

    #[test]
    fn settlement_reads_the_contract_before_sending() {
        let held = EscrowRecord::Held {
            payer: Address::ZERO,
            payee: Address::ZERO,
            amount: U256::from(1),
            fee: U256::ZERO,
        };
        assert_eq!(decide_settlement(true, &held), SettlementStep::Send);
        assert_eq!(decide_settlement(false, &held), SettlementStep::Send);
        assert_eq!(
            decide_settlement(true, &EscrowRecord::Released),
            SettlementStep::AlreadyDone
        );
        assert_eq!(
            decide_settlement(false, &EscrowRecord::Refunded),
            SettlementStep::AlreadyDone
        );
        assert!(matches!(
            decide_settlement(true, &EscrowRecord::Refunded),
            SettlementStep::Impossible(_)
        ));
        assert!(matches!(
            decide_settlement(false, &EscrowRecord::Released),
            SettlementStep::Impossible(_)
        ));
        assert!(matches!(
            decide_settlement(true, &EscrowRecord::Unknown),
            SettlementStep::Impossible(_)
        ));
    }
}
