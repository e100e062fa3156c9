//! Domain events: what changed, for whoever cares (integrations on RabbitMQ, our own
//! consumers). One enum; on the wire each event is the envelope
//! `{"eventId", "type", "occurredAt", "data"}` and `type` is also the routing key on the
//! `metmos.events` topic exchange (`person.created`, `offer.received`, ...).
//!
//! Events are never sent directly: a service hands them to the Store together with the
//! change, the Store writes them to the outbox in the same transaction, and the outbox
//! relay publishes them once the change is committed. So an event exists if and only if
//! its change does.

use crate::domain::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The envelope published on the bus and stored in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventEnvelope {
    /// Unique per event; consumers deduplicate on it (delivery is at least once).
    pub event_id: Uuid,
    #[serde(with = "time::millis")]
    pub occurred_at: Timestamp,
    #[serde(flatten)]
    pub event: Event,
}

impl EventEnvelope {
    pub fn new(event: Event, at: Timestamp) -> Self {
        Self {
            event_id: Uuid::new_v4(),
            occurred_at: at,
            event,
        }
    }

    /// The event type, which is also its routing key.
    pub fn event_type(&self) -> &'static str {
        self.event.event_type()
    }

    pub fn to_json(&self) -> serde_json::Value {
        // An envelope is plain data (strings, numbers, uuids): serializing cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// Every event the engine emits. `type` is the variant's rename; `data` its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename = "account.created")]
    AccountCreated(AccountCreated),
    #[serde(rename = "account.deleted")]
    AccountDeleted(AccountDeleted),
    #[serde(rename = "person.created")]
    PersonCreated(PersonChanged),
    #[serde(rename = "person.updated")]
    PersonUpdated(PersonChanged),
    // --- social: connections and contacts ---
    #[serde(rename = "connection.requested")]
    ConnectionRequested(ConnectionChanged),
    #[serde(rename = "connection.accepted")]
    ConnectionAccepted(ConnectionChanged),
    #[serde(rename = "connection.rejected")]
    ConnectionRejected(ConnectionChanged),
    #[serde(rename = "contact.removed")]
    ContactRemoved(ContactRemoved),
    // --- social: experiences and reactions ---
    #[serde(rename = "experience.created")]
    ExperienceCreated(ExperienceChanged),
    #[serde(rename = "experience.deleted")]
    ExperienceDeleted(ExperienceChanged),
    #[serde(rename = "experience_reaction.created")]
    ReactionCreated(ReactionChanged),
    #[serde(rename = "experience_reaction.deleted")]
    ReactionDeleted(ReactionChanged),

    // --- marketplace ------------------------------------------------------------------
    #[serde(rename = "listing.created")]
    ListingCreated(ListingChanged),
    #[serde(rename = "listing.updated")]
    ListingUpdated(ListingChanged),
    #[serde(rename = "listing.published")]
    ListingPublished(ListingChanged),
    #[serde(rename = "listing.unpublished")]
    ListingUnpublished(ListingChanged),
    #[serde(rename = "listing.cancelled")]
    ListingCancelled(ListingChanged),
    #[serde(rename = "listing.deleted")]
    ListingDeleted(ListingChanged),
    #[serde(rename = "offer.received")]
    OfferReceived(OfferChanged),
    #[serde(rename = "offer.updated")]
    OfferUpdated(OfferChanged),
    #[serde(rename = "offer.accepted")]
    OfferAccepted(OfferChanged),
    #[serde(rename = "offer.cancelled")]
    OfferCancelled(OfferChanged),
    #[serde(rename = "wallet.added")]
    WalletAdded(WalletChanged),
    #[serde(rename = "wallet.removed")]
    WalletRemoved(WalletChanged),
    #[serde(rename = "order.created")]
    OrderCreated(OrderCreated),
    #[serde(rename = "order.paid")]
    OrderPaid(OrderChanged),
    #[serde(rename = "order.releasing")]
    OrderReleasing(OrderChanged),
    #[serde(rename = "order.completed")]
    OrderCompleted(OrderChanged),
    #[serde(rename = "order.refunding")]
    OrderRefunding(OrderChanged),
    #[serde(rename = "order.cancelled")]
    OrderCancelled(OrderChanged),
    #[serde(rename = "order.expired")]
    OrderExpired(OrderChanged),
    #[serde(rename = "order.payment_undone")]
    OrderPaymentUndone(OrderChanged),
    /// An escrow log that does not match its order: recorded, raised, never applied.
    #[serde(rename = "payment.mismatched")]
    PaymentMismatched(PaymentMismatched),
    // --- realtime: chats and messages ---
    #[serde(rename = "chat.created")]
    ChatCreated(ChatCreated),
    #[serde(rename = "message.sent")]
    MessageSent(MessageSent),
}

impl Event {
    pub fn event_type(&self) -> &'static str {
        match self {
            Event::AccountCreated(_) => "account.created",
            Event::AccountDeleted(_) => "account.deleted",
            Event::PersonCreated(_) => "person.created",
            Event::PersonUpdated(_) => "person.updated",
            Event::ConnectionRequested(_) => "connection.requested",
            Event::ConnectionAccepted(_) => "connection.accepted",
            Event::ConnectionRejected(_) => "connection.rejected",
            Event::ContactRemoved(_) => "contact.removed",
            Event::ExperienceCreated(_) => "experience.created",
            Event::ExperienceDeleted(_) => "experience.deleted",
            Event::ReactionCreated(_) => "experience_reaction.created",
            Event::ReactionDeleted(_) => "experience_reaction.deleted",
            // marketplace
            Event::ListingCreated(_) => "listing.created",
            Event::ListingUpdated(_) => "listing.updated",
            Event::ListingPublished(_) => "listing.published",
            Event::ListingUnpublished(_) => "listing.unpublished",
            Event::ListingCancelled(_) => "listing.cancelled",
            Event::ListingDeleted(_) => "listing.deleted",
            Event::OfferReceived(_) => "offer.received",
            Event::OfferUpdated(_) => "offer.updated",
            Event::OfferAccepted(_) => "offer.accepted",
            Event::OfferCancelled(_) => "offer.cancelled",
            Event::WalletAdded(_) => "wallet.added",
            Event::WalletRemoved(_) => "wallet.removed",
            Event::OrderCreated(_) => "order.created",
            Event::OrderPaid(_) => "order.paid",
            Event::OrderReleasing(_) => "order.releasing",
            Event::OrderCompleted(_) => "order.completed",
            Event::OrderRefunding(_) => "order.refunding",
            Event::OrderCancelled(_) => "order.cancelled",
            Event::OrderExpired(_) => "order.expired",
            Event::OrderPaymentUndone(_) => "order.payment_undone",
            Event::PaymentMismatched(_) => "payment.mismatched",
            Event::ChatCreated(_) => "chat.created",
            Event::MessageSent(_) => "message.sent",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountCreated {
    pub account_uuid: Uuid,
    pub cognito_user_id: String,
    pub account_status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountDeleted {
    pub account_uuid: Uuid,
    pub person_uuid: Option<Uuid>,
    pub reason: Option<String>,
}

/// Public facts about a person (never email or phone: integrators get no more than a
/// stranger would see).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonChanged {
    pub person_uuid: Uuid,
    pub account_uuid: Uuid,
    pub username: String,
}

// --- social ---

/// A connection request and where it stands. `personUuid` asked `connectionPersonUuid`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionChanged {
    pub connection_uuid: Uuid,
    pub person_uuid: Uuid,
    pub connection_person_uuid: Uuid,
    pub status: String,
}

/// Two persons are no longer contacts; `removedByPersonUuid` asked for it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactRemoved {
    pub removed_by_person_uuid: Uuid,
    pub contact_person_uuid: Uuid,
}

/// An experience was posted or deleted. Never its content: a CONTACT_ONLY post is not
/// for integrators.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExperienceChanged {
    pub experience_uuid: Uuid,
    pub person_uuid: Uuid,
    pub visibility: String,
}

/// A like or comment was added or removed (without the comment's text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReactionChanged {
    pub reaction_uuid: Uuid,
    pub experience_uuid: Uuid,
    pub person_uuid: Uuid,
    pub reaction_type: String,
}

// --- marketplace ----------------------------------------------------------------------

/// A listing after the change (`status` is the new one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListingChanged {
    pub listing_uuid: Uuid,
    pub person_uuid: Uuid,
    pub listing_type: String,
    pub status: String,
    pub title: String,
}

/// An offer after the change; `price` in ETH, as on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OfferChanged {
    pub offer_uuid: Uuid,
    pub listing_uuid: Uuid,
    /// The offeror.
    pub person_uuid: Uuid,
    pub poster_uuid: Uuid,
    pub price: String,
    pub status: String,
}

impl From<&crate::domain::offer::Offer> for OfferChanged {
    fn from(o: &crate::domain::offer::Offer) -> Self {
        Self {
            offer_uuid: o.uuid,
            listing_uuid: o.listing_uuid,
            person_uuid: o.person_uuid,
            poster_uuid: o.poster_uuid,
            price: o.price.to_eth_string(),
            status: o.status.as_str().into(),
        }
    }
}

impl OfferChanged {
    /// `offer.cancelled` for an offer a payment on a rival offer cancelled (written by
    /// the store in the payment's transaction: only it knows which offers were open).
    pub fn cancelled_by_rival_payment(
        o: &crate::domain::offer::Offer,
        at: Timestamp,
    ) -> EventEnvelope {
        EventEnvelope::new(Event::OfferCancelled(Self::from(o)), at)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletChanged {
    pub wallet_uuid: Uuid,
    pub person_uuid: Uuid,
    pub address: String,
}

/// Amounts in ETH, as on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    pub order_uuid: Uuid,
    pub offer_uuid: Uuid,
    pub listing_uuid: Uuid,
    pub payer_uuid: Uuid,
    pub payee_uuid: Uuid,
    pub order_total: String,
    pub escrow_order_id: String,
    pub deadline: u64,
}

/// An order step: who, what, and the status after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderChanged {
    pub order_uuid: Uuid,
    pub offer_uuid: Uuid,
    pub listing_uuid: Uuid,
    pub payer_uuid: Uuid,
    pub payee_uuid: Uuid,
    pub status: String,
    /// The escrow log behind the step, if one was (`0x…` tx hash).
    pub tx_hash: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMismatched {
    /// `None` when the log names no order of ours.
    pub order_uuid: Option<Uuid>,
    pub escrow_order_id: String,
    pub tx_hash: String,
    pub log_index: u64,
    /// `OrderPaid`, `FundReleased`, `Refunded`.
    pub event: String,
    pub reason: String,
}

// --- realtime: chats and messages ---

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatCreated {
    pub chat_uuid: Uuid,
    pub chat_type: String,
    pub listing_uuid: Option<Uuid>,
    pub participant_uuids: Vec<Uuid>,
}

/// A stored message, without its content: integrators learn that people talk, not what
/// they say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSent {
    pub message_uuid: Uuid,
    pub chat_uuid: Uuid,
    pub sender_person_uuid: Uuid,
    pub asset_count: usize,
}

/// An outbox row as the relay sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxRow {
    pub id: i64,
    pub envelope: EventEnvelope,
    pub attempts: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_shape_is_event_id_type_occurred_at_data() {
        let at = time::parse("t", "2024-01-02T03:04:05.678Z").unwrap();
        let env = EventEnvelope::new(
            Event::AccountCreated(AccountCreated {
                account_uuid: Uuid::nil(),
                cognito_user_id: "sub-1".into(),
                account_status: "ACTIVE".into(),
            }),
            at,
        );
        let json = env.to_json();
        assert_eq!(json["type"], "account.created");
        assert_eq!(json["occurredAt"], "2024-01-02T03:04:05.678Z");
        assert_eq!(json["data"]["cognitoUserId"], "sub-1");
        assert!(json["eventId"].is_string());
        let back: EventEnvelope = serde_json::from_value(json).unwrap();
        assert_eq!(back, env);
        assert_eq!(back.event_type(), "account.created");
    }
}
