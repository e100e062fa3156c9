//! Inbound messages from outside the engine (the `metmos.inbound` queue), parsed into
//! what the engine applies, or refused with a typed reason that goes with the message to
//! the dead-letter queue. Wire format: `docs/events.md` ("Inbound messages").
//!
//! Every inbound message is the event envelope `{"eventId", "type", "occurredAt",
//! "data"}`; `type` says what it is (`chain.escrow`, `integration.notification`).

use crate::domain::escrow::{ChainEvent, EscrowLog};
use crate::domain::notifications::NotificationType;
use alloy_primitives::{Address, B256, U256};
use serde::Deserialize;
use std::str::FromStr;
use thiserror::Error;
use uuid::Uuid;

/// Longest title and body an integration may send (a push shows less anyway).
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_BODY_CHARS: usize = 2000;

/// Why an inbound message is refused for good (it is dead-lettered at once, never
/// retried: sending it again would fail the same way).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InboundRefusal {
    #[error("not a JSON envelope: {0}")]
    NotAnEnvelope(String),
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    #[error("invalid data: {0}")]
    InvalidData(String),
}

/// What an inbound message asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundCommand {
    /// A log of the escrow contract, for the order handler.
    Chain(ChainEvent),
    /// A notification to a person from a trusted integration.
    Notify(IntegrationNotification),
}

/// A parsed inbound message: its id (the inbox dedupe key) and what it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    pub event_id: Uuid,
    pub command: InboundCommand,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationNotification {
    pub person_uuid: Uuid,
    pub notification_type: NotificationType,
    pub title: String,
    pub body: String,
    pub data: serde_json::Map<String, serde_json::Value>,
}

pub const CHAIN_ESCROW: &str = "chain.escrow";
pub const INTEGRATION_NOTIFICATION: &str = "integration.notification";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    event_id: Uuid,
    #[serde(rename = "type")]
    kind: String,
    data: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ChainEscrowData {
    contract: String,
    tx_hash: String,
    log_index: u64,
    block_number: u64,
    block_hash: String,
    #[serde(default)]
    removed: bool,
    /// `OrderPaid`, `FundReleased` or `Refunded`
    event: String,
    order_id: String,
    payer: Option<String>,
    payee: Option<String>,
    amount: Option<String>,
    fee: Option<String>,
    payee_amount: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NotificationData {
    person_uuid: Uuid,
    notification_type: String,
    title: String,
    body: String,
    #[serde(default)]
    data: serde_json::Map<String, serde_json::Value>,
}

fn invalid(e: impl std::fmt::Display) -> InboundRefusal {
    InboundRefusal::InvalidData(e.to_string())
}

fn hash(field: &str, raw: &str) -> Result<B256, InboundRefusal> {
    B256::from_str(raw).map_err(|_| invalid(format!("{field} must be 0x + 32 bytes hex")))
}

fn address(field: &str, raw: Option<&String>) -> Result<Address, InboundRefusal> {
    let raw = raw.ok_or_else(|| invalid(format!("{field} is required")))?;
    Address::from_str(raw).map_err(|_| invalid(format!("{field} must be an address")))
}

/// Amounts are decimal wei strings: exact, and JSON numbers would lose them.
fn wei(field: &str, raw: Option<&String>) -> Result<U256, InboundRefusal> {
    let raw = raw.ok_or_else(|| invalid(format!("{field} is required")))?;
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(format!("{field} must be a decimal wei string")));
    }
    U256::from_str_radix(raw, 10).map_err(|_| invalid(format!("{field} does not fit uint256")))
}

fn chain_event(d: ChainEscrowData) -> Result<ChainEvent, InboundRefusal> {
    let order_id = hash("orderId", &d.order_id)?;
    let log = match d.event.as_str() {
        "OrderPaid" => EscrowLog::Paid {
            order_id,
            payer: address("payer", d.payer.as_ref())?,
            payee: address("payee", d.payee.as_ref())?,
            amount: wei("amount", d.amount.as_ref())?,
            fee: wei("fee", d.fee.as_ref())?,
        },
        "FundReleased" => EscrowLog::Released {
            order_id,
            payee: address("payee", d.payee.as_ref())?,
            payee_amount: wei("payeeAmount", d.payee_amount.as_ref())?,
            fee: wei("fee", d.fee.as_ref())?,
        },
        "Refunded" => EscrowLog::Refunded {
            order_id,
            payer: address("payer", d.payer.as_ref())?,
            amount: wei("amount", d.amount.as_ref())?,
        },
        other => return Err(invalid(format!("unknown escrow event {other:?}"))),
    };
    Ok(ChainEvent {
        contract: address("contract", Some(&d.contract))?,
        tx_hash: hash("txHash", &d.tx_hash)?,
        log_index: d.log_index,
        block_number: d.block_number,
        block_hash: hash("blockHash", &d.block_hash)?,
        removed: d.removed,
        log,
    })
}

fn notification(d: NotificationData) -> Result<IntegrationNotification, InboundRefusal> {
    // NEW_CHAT_MESSAGE belongs to chats (pushed, never stored); the stored types only.
    let notification_type = NotificationType::parse(&d.notification_type)
        .filter(|t| *t != NotificationType::NewChatMessage)
        .ok_or_else(|| {
            invalid(format!(
                "unsupported notificationType {:?}",
                d.notification_type
            ))
        })?;
    let title = d.title.trim().to_string();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return Err(invalid(format!(
            "title must be 1 to {MAX_TITLE_CHARS} characters"
        )));
    }
    if d.body.chars().count() > MAX_BODY_CHARS {
        return Err(invalid(format!(
            "body must be at most {MAX_BODY_CHARS} characters"
        )));
    }
    Ok(IntegrationNotification {
        person_uuid: d.person_uuid,
        notification_type,
        title,
        body: d.body,
        data: d.data,
    })
}

/// Parses one inbound message body. Pure: the consumer applies what this returns, or
/// dead-letters the message with the refusal as its reason.
pub fn parse(body: &[u8]) -> Result<Inbound, InboundRefusal> {
    let envelope: Envelope =
        serde_json::from_slice(body).map_err(|e| InboundRefusal::NotAnEnvelope(e.to_string()))?;
    let command = match envelope.kind.as_str() {
        CHAIN_ESCROW => InboundCommand::Chain(chain_event(
            serde_json::from_value(envelope.data).map_err(invalid)?,
        )?),
        INTEGRATION_NOTIFICATION => InboundCommand::Notify(notification(
            serde_json::from_value(envelope.data).map_err(invalid)?,
        )?),
        other => return Err(InboundRefusal::UnknownType(other.to_string())),
    };
    Ok(Inbound {
        event_id: envelope.event_id,
        command,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const H: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
    const A: &str = "0x2222222222222222222222222222222222222222";

    fn paid() -> serde_json::Value {
        json!({"eventId": Uuid::new_v4(), "type": "chain.escrow", "occurredAt": "2026-12-06T10:00:00.000Z",
               "data": {"contract": A, "txHash": H, "logIndex": 3, "blockNumber": 9, "blockHash": H,
                        "event": "OrderPaid", "orderId": H, "payer": A, "payee": A,
                        "amount": "1050000000000000000", "fee": "50000000000000000"}})
    }

    #[test]
    fn chain_escrow_paid_parses_exactly() {
        let parsed = parse(paid().to_string().as_bytes()).unwrap();
        let InboundCommand::Chain(e) = parsed.command else {
            panic!("not a chain event")
        };
        assert_eq!(e.log_index, 3);
        assert!(!e.removed);
        assert_eq!(
            e.log,
            EscrowLog::Paid {
                order_id: B256::from_str(H).unwrap(),
                payer: Address::from_str(A).unwrap(),
                payee: Address::from_str(A).unwrap(),
                amount: U256::from(1_050_000_000_000_000_000u128),
                fee: U256::from(50_000_000_000_000_000u128),
            }
        );
    }

    #[test]
    fn refusals_are_typed() {
        assert!(matches!(
            parse(b"nope"),
            Err(InboundRefusal::NotAnEnvelope(_))
        ));
        let mut m = paid();
        m["type"] = json!("chain.other");
        assert_eq!(
            parse(m.to_string().as_bytes()),
            Err(InboundRefusal::UnknownType("chain.other".into()))
        );
        let mut m = paid();
        m["data"]["amount"] = json!("1.5");
        assert!(matches!(
            parse(m.to_string().as_bytes()),
            Err(InboundRefusal::InvalidData(_))
        ));
        let mut m = paid();
        m["data"]["amount"] = json!(1);
        assert!(matches!(
            parse(m.to_string().as_bytes()),
            Err(InboundRefusal::InvalidData(_))
        ));
        let mut m = paid();
        m["data"]["event"] = json!("Stolen");
        assert!(matches!(
            parse(m.to_string().as_bytes()),
            Err(InboundRefusal::InvalidData(_))
        ));
    }

    #[test]
    fn integration_notification_checks_type_and_lengths() {
        let person = Uuid::new_v4();
        let ok = json!({"eventId": Uuid::new_v4(), "type": "integration.notification", "occurredAt": "2026-12-06T10:00:00.000Z",
                        "data": {"personUuid": person, "notificationType": "PAYMENT_CONFIRMED", "title": "Paid", "body": "b"}});
        let InboundCommand::Notify(n) = parse(ok.to_string().as_bytes()).unwrap().command else {
            panic!("not a notification")
        };
        assert_eq!(n.person_uuid, person);
        assert_eq!(n.notification_type, NotificationType::PaymentConfirmed);
        let mut bad = ok.clone();
        bad["data"]["notificationType"] = json!("SPAM");
        assert!(parse(bad.to_string().as_bytes()).is_err());
        let mut bad = ok.clone();
        bad["data"]["title"] = json!(" ");
        assert!(parse(bad.to_string().as_bytes()).is_err());
        let mut bad = ok;
        bad["data"]["extra"] = json!(1);
        assert!(parse(bad.to_string().as_bytes()).is_err());
    }
}
