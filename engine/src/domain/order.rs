//! Orders: the escrowed purchase of an accepted offer, the escrow quote the payer's
//! wallet pays with, and the lifecycle after it (reference/diagrams/payment.png):
//!
//! ```text
//! AWAITING_PAYMENT ──pay──► PAID ──complete──► RELEASING ──released──► COMPLETED
//!      │   │                  └───cancel────► REFUNDING ──refunded──► CANCELLED
//!      │   └──cancel (unpaid, no chain call)──────────────────────────► CANCELLED
//!      └──expire (at the quote's deadline)───────────────────────────► EXPIRED
//! ```
//!
//! [`OrderStatus::transition`] is the whole table; [`OrderAction::effects`] says what each
//! step does to the offer and the listing; the `decide_*` functions take the facts read
//! under the order's lock and answer the step or a typed refusal. The OrderActor and
//! both stores call these and nothing else.

use super::Timestamp;
use super::listing::{ListingAction, ListingStatus};
use super::market::{Currency, wire_enum};
use super::money::{Fees, Wei};
use super::notifications::NotificationType;
use super::offer::{OfferAction, OfferStatus};
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

/// Everything that can happen to an order. `Complete` and `Cancel` are the payer's REST
/// calls; `Pay`, `Released`, `Refunded` and `UndoPay` come from the chain; `Expire` from
/// the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderAction {
    /// A matching `OrderPaid` was confirmed.
    Pay,
    /// The payer confirms delivery: the operator releases the funds.
    Complete,
    /// `FundReleased` was confirmed.
    Released,
    /// The payer cancels: unpaid, at once; paid, the operator refunds.
    Cancel,
    /// `Refunded` was confirmed.
    Refunded,
    /// The quote's deadline passed unpaid.
    Expire,
    /// A reorg removed the `OrderPaid` log before the order was final.
    UndoPay,
}

impl OrderAction {
    pub const ALL: [OrderAction; 7] = [
        Self::Pay,
        Self::Complete,
        Self::Released,
        Self::Cancel,
        Self::Refunded,
        Self::Expire,
        Self::UndoPay,
    ];

    pub fn verb(self) -> &'static str {
        match self {
            Self::Pay => "pay",
            Self::Complete => "complete",
            Self::Released => "release",
            Self::Cancel => "cancel",
            Self::Refunded => "refund",
            Self::Expire => "expire",
            Self::UndoPay => "undo the payment of",
        }
    }

    /// What the step does beyond the order's own status, in the same transaction.
    pub fn effects(self, from: OrderStatus) -> OrderEffects {
        let none = OrderEffects::default();
        match self {
            // Paid: the offer is PAID, the listing taken, and its other open offers
            // cancelled (nobody else can buy it now).
            Self::Pay => OrderEffects {
                offer: Some(OfferAction::Pay),
                listing: Some(ListingAction::Order),
                cancel_rival_offers: true,
                notify: Some(NotificationType::PaymentConfirmed),
            },
            Self::Released => OrderEffects {
                offer: Some(OfferAction::Complete),
                listing: Some(ListingAction::Complete),
                notify: Some(NotificationType::ListingCompleted),
                ..none
            },
            Self::Refunded => OrderEffects {
                offer: Some(OfferAction::Refund),
                listing: Some(ListingAction::ReopenAfterOrder),
                notify: Some(NotificationType::OrderCancelled),
                ..none
            },
            // Unpaid: nothing was taken, so only the order ends (the offer stays
            // ACCEPTED; the payer may order again). Paid: REFUNDING, nothing else yet.
            Self::Cancel if from == OrderStatus::AwaitingPayment => OrderEffects {
                notify: Some(NotificationType::OrderCancelled),
                ..none
            },
            Self::UndoPay => OrderEffects {
                offer: Some(OfferAction::Unpay),
                listing: Some(ListingAction::ReopenAfterOrder),
                ..none
            },
            Self::Cancel | Self::Complete | Self::Expire => none,
        }
    }
}

/// What an order step does to the order's offer and listing (each through its own
/// transition function, so their lifecycles are checked too) and who hears of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderEffects {
    pub offer: Option<OfferAction>,
    pub listing: Option<ListingAction>,
    /// The listing's other OFFERED / ACCEPTED offers become CANCELLED.
    pub cancel_rival_offers: bool,
    /// Sent to payer and payee, stored in the same transaction.
    pub notify: Option<NotificationType>,
}

impl OrderStatus {
    /// Every status in which the order may not change any more.
    pub const FINAL: [OrderStatus; 3] = [
        OrderStatus::Completed,
        OrderStatus::Cancelled,
        OrderStatus::Expired,
    ];

    /// The lifecycle, in one place: the status after `action`, or why not.
    pub fn transition(self, action: OrderAction) -> Result<OrderStatus, Refusal> {
        use OrderAction as A;
        use OrderStatus as S;
        let next = match (self, action) {
            (S::AwaitingPayment, A::Pay) => S::Paid,
            (S::Paid, A::Complete) => S::Releasing,
            // PAID too: the payer may reclaim on chain after the grace period, and the
            // chain's word is final whatever the engine was about to do.
            (S::Paid | S::Releasing, A::Released) => S::Completed,
            (S::AwaitingPayment, A::Cancel) => S::Cancelled,
            (S::Paid, A::Cancel) => S::Refunding,
            (S::Paid | S::Refunding, A::Refunded) => S::Cancelled,
            (S::AwaitingPayment, A::Expire) => S::Expired,
            (S::Paid | S::Releasing | S::Refunding, A::UndoPay) => S::AwaitingPayment,
            _ => {
                return Err(Refusal::OrderTransition {
                    status: self,
                    verb: action.verb(),
                });
            }
        };
        Ok(next)
    }

    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self)
    }
}

/// Who is asking, relative to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderRole {
    Payer,
    Payee,
}

impl OrderRole {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "payer" => Ok(Self::Payer),
            "payee" => Ok(Self::Payee),
            _ => Err("role must be one of the following values: payer, payee".into()),
        }
    }

    pub fn of(order: &Order, person: Uuid) -> Option<Self> {
        if order.payer_uuid == person {
            Some(Self::Payer)
        } else if order.payee_uuid == person {
            Some(Self::Payee)
        } else {
            None
        }
    }
}

/// Why a payer's command on an order is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRefusal {
    /// Neither payer nor payee: the order does not exist for them (404).
    NotAParty,
    /// The payee may follow the order but not complete or cancel it (403).
    NotThePayer(OrderAction),
    /// The lifecycle forbids it now (409).
    Lifecycle(Refusal),
}

impl std::fmt::Display for OrderRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotAParty => f.write_str("Order not found"),
            Self::NotThePayer(a) => write!(f, "Only the payer can {} an order", a.verb()),
            Self::Lifecycle(r) => write!(f, "{r}"),
        }
    }
}

/// `PATCH /orders/{uuid}/complete` and `/cancel`: only the payer, only where the
/// lifecycle allows. Answers the status to record (RELEASING / REFUNDING before any chain
/// call, so a crash never sends an operator transaction that is not recorded first).
pub fn decide_payer_command(
    order: &Order,
    caller: Uuid,
    action: OrderAction,
) -> Result<OrderStatus, OrderRefusal> {
    match OrderRole::of(order, caller) {
        None => Err(OrderRefusal::NotAParty),
        Some(OrderRole::Payee) => Err(OrderRefusal::NotThePayer(action)),
        Some(OrderRole::Payer) => order
            .status
            .transition(action)
            .map_err(OrderRefusal::Lifecycle),
    }
}

/// An unpaid order whose quote deadline has passed expires: the chain refuses a payment
/// after `deadline` (`block.timestamp > deadline` reverts), so from then on it can never
/// be paid. `None`: nothing to do (paid, final, or not due yet).
pub fn decide_expiry(order: &Order, now: Timestamp) -> Option<OrderStatus> {
    let due = u64::try_from(now.timestamp()).is_ok_and(|n| n > order.quote.deadline);
    if !due {
        return None;
    }
    order.status.transition(OrderAction::Expire).ok()
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

// A money movement of an order seen on chain (`payment` table).
wire_enum! {
    pub enum PaymentKind ("kind") {
        Payment = "PAYMENT",
        Release = "RELEASE",
        Refund = "REFUND",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub uuid: Uuid,
    pub kind: PaymentKind,
    pub tx_hash: B256,
    pub log_index: u64,
    pub block_number: u64,
    pub from: Address,
    pub to: Address,
    /// Wei; a log can carry any uint256.
    pub value: alloy_primitives::U256,
}

/// One escrow log as the engine recorded it (`chain_event`): its dedupe key, whether it
/// was applied, and why not.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainEventRecord {
    pub tx_hash: B256,
    pub log_index: u64,
    pub block_hash: B256,
    pub block_number: u64,
    /// `OrderPaid`, `FundReleased`, `Refunded`.
    pub event_type: String,
    /// The order's row id, when the log names one of ours.
    pub order_id: Option<i64>,
    pub payload: serde_json::Value,
    pub applied: bool,
    pub rejected_reason: Option<String>,
    pub at: Timestamp,
}

/// What a chain event does to the dedupe and payment tables with its order step.
// One per order step, moved into the store call and dropped: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ChainTouch {
    /// A REST command or the clock: no log involved.
    None,
    /// Insert the dedupe row (applied) and, for money moved, the payment row. If the
    /// dedupe row exists already, nothing at all is written (a replay).
    Record(ChainEventRecord, Option<Payment>),
    /// A reorg removed the log: delete its dedupe row and its payment row, so the
    /// re-mined log applies again.
    Removed { tx_hash: B256, log_index: u64 },
}

/// One order step, decided by the caller on the order it read at `expected_version`;
/// the store locks the order row, checks the version (another node or actor may have
/// moved it meanwhile: Conflict, read again and decide again), re-checks the step with
/// [`OrderStatus::transition`] and writes the step's [`OrderEffects`], `chain`,
/// notifications and events in one transaction.
#[derive(Debug, Clone)]
pub struct OrderChange {
    pub order_id: i64,
    pub expected_version: i64,
    pub action: OrderAction,
    pub chain: ChainTouch,
    pub notifications: Vec<super::notifications::NewNotification>,
    pub events: Vec<crate::events::EventEnvelope>,
    pub at: Timestamp,
}

// One per order step, returned and consumed at once: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum OrderChangeOutcome {
    Applied {
        order: Order,
        notifications: Vec<super::notifications::Notification>,
    },
    /// The chain event was recorded before: nothing changed.
    Replay,
}

/// `GET /orders`: the caller's orders, as payer, payee or either, of one status or any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQuery {
    pub person: Uuid,
    pub role: Option<OrderRole>,
    pub status: Option<OrderStatus>,
}

impl OrderQuery {
    pub fn matches(&self, o: &Order) -> bool {
        let role_ok = match self.role {
            None => o.payer_uuid == self.person || o.payee_uuid == self.person,
            Some(OrderRole::Payer) => o.payer_uuid == self.person,
            Some(OrderRole::Payee) => o.payee_uuid == self.person,
        };
        role_ok && self.status.is_none_or(|s| s == o.status)
    }
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
pub(crate) mod tests {
    use super::*;

    #[test]
    fn roles_parse_from_the_query() {
        assert_eq!(OrderRole::parse("payer"), Ok(OrderRole::Payer));
        assert_eq!(OrderRole::parse("payee"), Ok(OrderRole::Payee));
        assert!(OrderRole::parse("PAYER").is_err());
    }

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

    /// The whole table: every status × every action, the expected outcome spelled out.
    #[test]
    fn order_transition_table_is_exactly_the_lifecycle() {
        use OrderStatus as S;
        //                     Pay            Complete           Released          Cancel            Refunded          Expire          UndoPay
        let table: [(OrderStatus, [Option<OrderStatus>; 7]); 7] = [
            (
                S::AwaitingPayment,
                [
                    Some(S::Paid),
                    None,
                    None,
                    Some(S::Cancelled),
                    None,
                    Some(S::Expired),
                    None,
                ],
            ),
            (
                S::Paid,
                [
                    None,
                    Some(S::Releasing),
                    Some(S::Completed),
                    Some(S::Refunding),
                    Some(S::Cancelled),
                    None,
                    Some(S::AwaitingPayment),
                ],
            ),
            (
                S::Releasing,
                [
                    None,
                    None,
                    Some(S::Completed),
                    None,
                    None,
                    None,
                    Some(S::AwaitingPayment),
                ],
            ),
            (S::Completed, [None; 7]),
            (
                S::Refunding,
                [
                    None,
                    None,
                    None,
                    None,
                    Some(S::Cancelled),
                    None,
                    Some(S::AwaitingPayment),
                ],
            ),
            (S::Cancelled, [None; 7]),
            (S::Expired, [None; 7]),
        ];
        assert_eq!(table.len(), S::ALL.len(), "every status has a row");
        for (from, row) in table {
            for (action, expected) in OrderAction::ALL.into_iter().zip(row) {
                let got = from.transition(action);
                match expected {
                    Some(to) => assert_eq!(got, Ok(to), "{from} --{}--> {to}", action.verb()),
                    None => assert_eq!(
                        got,
                        Err(Refusal::OrderTransition {
                            status: from,
                            verb: action.verb()
                        }),
                    ),
                }
            }
            assert_eq!(from.is_final(), row.iter().all(Option::is_none), "{from}");
        }
    }

    /// Each step's effects are themselves allowed by the offer's and listing's lifecycles
    /// from where an order in that step finds them.
    #[test]
    fn effects_follow_the_offer_and_listing_lifecycles() {
        use OrderAction as A;
        use OrderStatus as S;
        let cases = [
            (
                A::Pay,
                S::AwaitingPayment,
                OfferStatus::Accepted,
                ListingStatus::Published,
                Some((OfferStatus::Paid, ListingStatus::Ordered)),
            ),
            (
                A::Released,
                S::Releasing,
                OfferStatus::Paid,
                ListingStatus::Ordered,
                Some((OfferStatus::Completed, ListingStatus::Completed)),
            ),
            (
                A::Refunded,
                S::Refunding,
                OfferStatus::Paid,
                ListingStatus::Ordered,
                Some((OfferStatus::Cancelled, ListingStatus::Published)),
            ),
            (
                A::UndoPay,
                S::Paid,
                OfferStatus::Paid,
                ListingStatus::Ordered,
                Some((OfferStatus::Accepted, ListingStatus::Published)),
            ),
            (
                A::Complete,
                S::Paid,
                OfferStatus::Paid,
                ListingStatus::Ordered,
                None,
            ),
            (
                A::Cancel,
                S::Paid,
                OfferStatus::Paid,
                ListingStatus::Ordered,
                None,
            ),
            (
                A::Cancel,
                S::AwaitingPayment,
                OfferStatus::Accepted,
                ListingStatus::Published,
                None,
            ),
            (
                A::Expire,
                S::AwaitingPayment,
                OfferStatus::Accepted,
                ListingStatus::Published,
                None,
            ),
        ];
        for (action, from, offer, listing, after) in cases {
            let e = action.effects(from);
            let got = match (e.offer, e.listing) {
                (Some(o), Some(l)) => {
                    Some((offer.transition(o).unwrap(), listing.transition(l).unwrap()))
                }
                (None, None) => None,
                _ => panic!("{action:?}: offer and listing move together"),
            };
            assert_eq!(got, after, "{action:?} from {from}");
            assert_eq!(e.cancel_rival_offers, action == A::Pay);
        }
        use NotificationType as N;
        assert_eq!(
            A::Pay.effects(S::AwaitingPayment).notify,
            Some(N::PaymentConfirmed)
        );
        assert_eq!(
            A::Released.effects(S::Releasing).notify,
            Some(N::ListingCompleted)
        );
        assert_eq!(
            A::Refunded.effects(S::Refunding).notify,
            Some(N::OrderCancelled)
        );
        assert_eq!(
            A::Cancel.effects(S::AwaitingPayment).notify,
            Some(N::OrderCancelled)
        );
        assert_eq!(
            A::Cancel.effects(S::Paid).notify,
            None,
            "told when refunded"
        );
        assert_eq!(A::Expire.effects(S::AwaitingPayment).notify, None);
    }

    pub(crate) fn order(status: OrderStatus, deadline: u64) -> Order {
        let at = chrono::Utc::now();
        let payer = Uuid::from_u128(1);
        let payee = Uuid::from_u128(2);
        let uuid = Uuid::from_u128(3);
        let fees = Fees::compute(Wei(100), 500, 0).unwrap();
        Order {
            id: 1,
            uuid,
            status,
            offer_uuid: Uuid::from_u128(4),
            listing_uuid: Uuid::from_u128(5),
            listing_title: "t".into(),
            payer_uuid: payer,
            payee_uuid: payee,
            currency: Currency::Eth,
            fees,
            quote: EscrowQuote {
                chain_id: 31337,
                contract: Address::repeat_byte(0xcc),
                order_id: escrow_order_id(uuid),
                payer: Address::repeat_byte(0x01),
                payee: Address::repeat_byte(0x02),
                amount: fees.total,
                fee: fees.platform_take(),
                deadline,
            },
            quote_signature: String::new(),
            version: 0,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn payer_commands_need_the_payer_and_the_lifecycle() {
        use OrderAction as A;
        use OrderStatus as S;
        let o = order(S::Paid, 0);
        let (payer, payee, stranger) = (o.payer_uuid, o.payee_uuid, Uuid::from_u128(9));
        assert_eq!(
            decide_payer_command(&o, payer, A::Complete),
            Ok(S::Releasing)
        );
        assert_eq!(decide_payer_command(&o, payer, A::Cancel), Ok(S::Refunding));
        assert_eq!(
            decide_payer_command(&o, payee, A::Complete),
            Err(OrderRefusal::NotThePayer(A::Complete))
        );
        assert_eq!(
            decide_payer_command(&o, stranger, A::Cancel),
            Err(OrderRefusal::NotAParty)
        );
        let unpaid = order(S::AwaitingPayment, 0);
        assert_eq!(
            decide_payer_command(&unpaid, payer, A::Cancel),
            Ok(S::Cancelled)
        );
        assert_eq!(
            decide_payer_command(&unpaid, payer, A::Complete)
                .unwrap_err()
                .to_string(),
            "Cannot complete an order that is AWAITING_PAYMENT"
        );
        assert_eq!(
            OrderRefusal::NotThePayer(A::Cancel).to_string(),
            "Only the payer can cancel an order"
        );
    }

    #[test]
    fn unpaid_orders_expire_after_their_deadline_only() {
        use OrderStatus as S;
        let now = chrono::DateTime::from_timestamp(1_000, 0).unwrap();
        assert_eq!(
            decide_expiry(&order(S::AwaitingPayment, 999), now),
            Some(S::Expired)
        );
        assert_eq!(
            decide_expiry(&order(S::AwaitingPayment, 1_000), now),
            None,
            "the deadline itself is still payable"
        );
        assert_eq!(decide_expiry(&order(S::Paid, 1), now), None);
        assert_eq!(decide_expiry(&order(S::Cancelled, 1), now), None);
    }

    #[test]
    fn orders_are_created_for_accepted_offers_on_published_listings() {
        assert_eq!(
            decide_create(OfferStatus::Accepted, ListingStatus::Published),
            Ok(())
        );
        for o in OfferStatus::ALL
            .iter()
            .copied()
            .filter(|s| *s != OfferStatus::Accepted)
        {
            assert!(decide_create(o, ListingStatus::Published).is_err(), "{o}");
        }
        for l in ListingStatus::ALL
            .iter()
            .copied()
            .filter(|s| *s != ListingStatus::Published)
        {
            assert_eq!(
                decide_create(OfferStatus::Accepted, l),
                Err(Refusal::ListingNotPublished {
                    step: ListingStep::CreateOrder,
                    status: l
                })
            );
        }
    }

    #[test]
    fn deadlines_round_trip() {
        let t = deadline_timestamp(1_764_288_000).unwrap();
        assert_eq!(t.timestamp(), 1_764_288_000);
        assert!(deadline_timestamp(u64::MAX).is_none());
    }
}

/// `POST /orders`, parsed at the edge: the accepted offer to pay for and, when the payer
/// names one, the wallet to pay from (else their most recently added).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateOrder {
    pub offer_uuid: Uuid,
    pub payer_wallet_uuid: Option<Uuid>,
}
