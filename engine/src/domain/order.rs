//! Orders: the escrowed purchase of an accepted offer, and the escrow quote the payer's
//! wallet pays with. Creation lives here; the lifecycle after it (paid, released,
//! refunded, expired) belongs to the OrderActor.

use super::Timestamp;
use super::listing::ListingStatus;
use super::market::{Currency, wire_enum};
use super::money::{Fees, Wei};
use super::offer::OfferStatus;
use super::refusal::{ListingStep, Refusal};
use alloy_primitives::{Address, B256};
use uuid::Uuid;

wire_enum! {
    pub enum OrderStatus ("status") {
        AwaitingPayment = "AWAITING_PAYMENT",
        Paid = "PAID",
        Releasing = "RELEASING",
        Completed = "COMPLETED",
        Refunding = "REFUNDING",
        Cancelled = "CANCELLED",
        Expired = "EXPIRED",
    }
}

impl OrderStatus {
    /// Not final: at most one such order per offer (`orders_one_open_per_offer_key`).
    pub const OPEN: [OrderStatus; 4] = [
        OrderStatus::AwaitingPayment,
        OrderStatus::Paid,
        OrderStatus::Releasing,
        OrderStatus::Refunding,
    ];

    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }

    /// The escrow holds the payer's money (account deletion is refused meanwhile).
    pub const HOLDING_FUNDS: [OrderStatus; 3] = [
        OrderStatus::Paid,
        OrderStatus::Releasing,
        OrderStatus::Refunding,
    ];

    pub fn holds_funds(self) -> bool {
        Self::HOLDING_FUNDS.contains(&self)
    }
}

/// Creating an order (when the offer has no open one already, which is returned instead):
/// the offer must be ACCEPTED and its listing still PUBLISHED, both read under their row
/// locks.
pub fn decide_create(
    offer_status: OfferStatus,
    listing_status: ListingStatus,
) -> Result<(), Refusal> {
    if offer_status != OfferStatus::Accepted {
        return Err(Refusal::OfferNotAccepted {
            status: offer_status,
        });
    }
    if listing_status != ListingStatus::Published {
        return Err(Refusal::ListingNotPublished {
            step: ListingStep::CreateOrder,
            status: listing_status,
        });
    }
    Ok(())
}

/// The escrow contract's order id: the order uuid's 16 bytes right-aligned in 32.
pub fn escrow_order_id(order_uuid: Uuid) -> B256 {
    let mut bytes = [0u8; 32];
    bytes[16..].copy_from_slice(order_uuid.as_bytes());
    B256::from(bytes)
}

/// What the payer's wallet sends to the escrow: `pay(orderId, payee, fee, deadline,
/// signature)` with `msg.value = amount`. The platform's quote key signs every field
/// (see `adapters::chain::quote_digest` for the exact encoding), so none can be changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscrowQuote {
    pub chain_id: u64,
    pub contract: Address,
    pub order_id: B256,
    /// Must be `msg.sender` of `pay`: only the payer's wallet can use the quote.
    pub payer: Address,
    pub payee: Address,
    /// The order total, in wei.
    pub amount: Wei,
    /// What the platform keeps on release (fee and its tax), in wei.
    pub fee: Wei,
    /// Unix seconds; unpaid after it, the order expires.
    pub deadline: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: i64,
    pub uuid: Uuid,
    pub status: OrderStatus,
    pub offer_uuid: Uuid,
    pub listing_uuid: Uuid,
    pub listing_title: String,
    pub payer_uuid: Uuid,
    pub payee_uuid: Uuid,
    pub currency: Currency,
    pub fees: Fees,
    pub quote: EscrowQuote,
    /// `0x` + 65 bytes (r, s, v) hex.
    pub quote_signature: String,
    /// Bumped by every transition (optimistic lock of the OrderActor).
    pub version: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewOrder {
    pub uuid: Uuid,
    pub offer_uuid: Uuid,
    pub listing_uuid: Uuid,
    pub listing_title: String,
    pub payer_uuid: Uuid,
    pub payee_uuid: Uuid,
    pub currency: Currency,
    pub fees: Fees,
    pub quote: EscrowQuote,
    pub quote_signature: String,
    pub at: Timestamp,
}

impl NewOrder {
    pub fn stored(&self, id: i64) -> Order {
        Order {
            id,
            uuid: self.uuid,
            status: OrderStatus::AwaitingPayment,
            offer_uuid: self.offer_uuid,
            listing_uuid: self.listing_uuid,
            listing_title: self.listing_title.clone(),
            payer_uuid: self.payer_uuid,
            payee_uuid: self.payee_uuid,
            currency: self.currency,
            fees: self.fees,
            quote: self.quote.clone(),
            quote_signature: self.quote_signature.clone(),
            version: 0,
            created_at: self.at,
            updated_at: self.at,
        }
    }
}

/// The deadline as a timestamp (whole seconds, so it converts both ways exactly).
pub fn deadline_timestamp(unix_secs: u64) -> Option<Timestamp> {
    chrono::DateTime::from_timestamp(i64::try_from(unix_secs).ok()?, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_id_is_the_uuid_right_aligned() {
        let u = Uuid::parse_str("d3a10ad0-548a-484e-9584-6075fceca6be").unwrap();
        // The same layout as the topic of the original OrderPaid log in the Postman webhook.
        assert_eq!(
            escrow_order_id(u).to_string(),
            "0x00000000000000000000000000000000d3a10ad0548a484e95846075fceca6be"
        );
    }

    #[test]
    fn open_and_funded_statuses() {
        use OrderStatus as S;
        let open: Vec<_> = S::ALL.iter().copied().filter(|s| s.is_open()).collect();
        assert_eq!(
            open,
            [S::AwaitingPayment, S::Paid, S::Releasing, S::Refunding]
        );
        let funded: Vec<_> = S::ALL.iter().copied().filter(|s| s.holds_funds()).collect();
        assert_eq!(funded, [S::Paid, S::Releasing, S::Refunding]);
    }

    #[test]
    fn deadlines_round_trip() {
        let t = deadline_timestamp(1_764_288_000).unwrap();
        assert_eq!(t.timestamp(), 1_764_288_000);
        assert!(deadline_timestamp(u64::MAX).is_none());
    }
}
