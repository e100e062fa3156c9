//! Whether an operator call (release, refund) must be sent, from what the contract's
//! storage says now. Both chain adapters ask this before every send, and again before a
//! retry, so a settlement that already happened is answered, never sent twice.

use crate::domain::escrow::EscrowRecord;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorCall {
    Release,
    Refund,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleDecision {
    /// The funds are held: send the call.
    Send,
    /// The contract already shows this call's outcome.
    AlreadyDone,
}

/// Why the contract would refuse the call (it would revert with `NotHeld`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SettleRefusal {
    #[error("the escrow holds no payment for this order")]
    NotPaid,
    #[error("the escrow already released this order")]
    AlreadyReleased,
    #[error("the escrow already refunded this order")]
    AlreadyRefunded,
}

pub fn decide_settlement(
    record: &EscrowRecord,
    call: OperatorCall,
) -> Result<SettleDecision, SettleRefusal> {
    match (record, call) {
        (EscrowRecord::Held { .. }, _) => Ok(SettleDecision::Send),
        (EscrowRecord::Released, OperatorCall::Release)
        | (EscrowRecord::Refunded, OperatorCall::Refund) => Ok(SettleDecision::AlreadyDone),
        (EscrowRecord::Released, OperatorCall::Refund) => Err(SettleRefusal::AlreadyReleased),
        (EscrowRecord::Refunded, OperatorCall::Release) => Err(SettleRefusal::AlreadyRefunded),
        (EscrowRecord::Unknown, _) => Err(SettleRefusal::NotPaid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, U256};

    #[test]
    fn each_record_and_call_has_one_answer() {
        let held = EscrowRecord::Held {
            payer: Address::ZERO,
            payee: Address::ZERO,
            amount: U256::from(2),
            fee: U256::from(1),
        };
        use OperatorCall::*;
        assert_eq!(decide_settlement(&held, Release), Ok(SettleDecision::Send));
        assert_eq!(decide_settlement(&held, Refund), Ok(SettleDecision::Send));
        let released = EscrowRecord::Released;
        assert_eq!(
            decide_settlement(&released, Release),
            Ok(SettleDecision::AlreadyDone)
        );
        assert_eq!(
            decide_settlement(&released, Refund),
            Err(SettleRefusal::AlreadyReleased)
        );
        let refunded = EscrowRecord::Refunded;
        assert_eq!(
            decide_settlement(&refunded, Refund),
            Ok(SettleDecision::AlreadyDone)
        );
        assert_eq!(
            decide_settlement(&refunded, Release),
            Err(SettleRefusal::AlreadyRefunded)
        );
        for call in [Release, Refund] {
            assert_eq!(
                decide_settlement(&EscrowRecord::Unknown, call),
                Err(SettleRefusal::NotPaid)
            );
        }
    }
}
