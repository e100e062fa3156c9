//! Ports: every external system the engine talks to, as a trait. Each has a production
//! adapter and an embedded one (`adapters/`); which one runs is configuration alone.
//! Services depend on these traits only.

use crate::domain::assets::{Asset, NewAsset, ParentType, Variation};
use crate::domain::chain_watch::ChainCheckpoint;
use crate::domain::chat::{
    Chat, ChatCreated, ChatFilter, ChatSummary, Message, MessageFilter, MessageInsert, NewChat,
    NewMessage,
};
use crate::domain::connections::{Connection, ConnectionEntry, ConnectionStatus, NewConnection};
use crate::domain::devices::{Device, NewDevice};
use crate::domain::escrow::{ChainEvent, EscrowRecord, Settlement};
use crate::domain::experiences::{
    Experience, ExperienceFilter, NewExperience, NewReaction, Reaction, ReactionScope,
};
use crate::domain::listing::{Listing, ListingAction, ListingPatch, ListingQuery, NewListing};
use crate::domain::market::{Category, CategoryType};
use crate::domain::money::Wei;
use crate::domain::notifications::{
    NewNotification, Notification, NotificationFilter, NotificationType,
};
use crate::domain::offer::{NewOffer, Offer, OfferAction, OfferPatch, OfferQuery};
use crate::domain::order::{
    ChainEventRecord, EscrowQuote, NewOrder, Order, OrderChange, OrderChangeOutcome, OrderQuery,
    Payment,
};
use crate::domain::people::{Account, NewAccount, NewPerson, PeopleQuery, Person, PersonPatch};
use crate::domain::read_state::{ChatReadState, ReadFacts, ReadPosition};
use crate::domain::wallet::{NewWallet, Wallet};
use crate::domain::ws_connections::{NewWsConnection, WsConnection, WsConnectionStatus};
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::events::{EventEnvelope, OutboxRow};
use alloy_primitives::{Address, B256};
use async_trait::async_trait;
use thiserror::Error;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Store
// ---------------------------------------------------------------------------------------

/// The source of truth. Split by area so each adapter keeps one file per area; `Store`
/// is all of them. Every method that changes more than one row does so atomically, and
/// every method that takes `events` writes them to the outbox in that same transaction.
///
/// Conflicts and missing rows come back as `StoreError::Conflict` / `NotFound` with the
/// same message from every adapter (the conformance suite checks this), so services and
/// clients see one behaviour whichever store runs.
#[async_trait]
pub trait Store:
    PeopleStore
    + NotificationStore
    + OutboxStore
    + SocialStore
    + AccountDeletionStore
    + MarketStore
    + OrderLifecycleStore
    + ChatStore
    + ReadStateStore
    + DeviceStore
    + WsConnectionStore
    + ChainWatchStore
    + AssetStore
    + Send
    + Sync
    + 'static
{
    /// `postgres` or `memory`, for logs and `/health`.
    fn adapter_name(&self) -> &'static str;
    /// Answers only when the store can serve requests.
    async fn ping(&self) -> StoreResult<()>;
    /// Called once on each HTTP worker thread before it serves. An adapter may give the
    /// thread resources of its own (PostgreSQL: a pool whose connections run their I/O on
    /// this thread, `database.worker_connections`), used by the store calls made on it.
    fn attach_worker_thread(&self) {}
    /// Connections in use and idle, for `/metrics` (`(0, 0)` where there is no pool).
    fn pool_status(&self) -> PoolStatus {
        PoolStatus::default()
    }
    /// Starts the store's own background tasks (PostgreSQL: the message writers of
    /// group commit) on the engine's tracker; they drain and end when `cancel` fires.
    /// Until then, and after, the store works without them (one transaction a message).
    fn start_tasks(
        &self,
        _tasks: &tokio_util::task::TaskTracker,
        _cancel: &tokio_util::sync::CancellationToken,
    ) {
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStatus {
    pub size: usize,
    pub available: usize,
    pub max_size: usize,
}

#[async_trait]
pub trait PeopleStore: Send + Sync {
    /// Conflict "Account already exists" when the cognito user id is taken.
    async fn insert_account(
        &self,
        account: &NewAccount,
        events: &[EventEnvelope],
    ) -> StoreResult<Account>;
    /// NotFound "Account not found"; Conflict "Account already has a person",
    /// "username is already taken", "email is already in use".
    async fn insert_person(
        &self,
        person: &NewPerson,
        events: &[EventEnvelope],
    ) -> StoreResult<Person>;
    /// Both in one transaction (dev users): neither exists if either fails.
    async fn insert_account_with_person(
        &self,
        account: &NewAccount,
        person: &NewPerson,
        events: &[EventEnvelope],
    ) -> StoreResult<(Account, Person)>;
    async fn account_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Account>>;
    /// The account a token's subject names, with its person if one was created: one
    /// round trip per authenticated request.
    async fn caller_by_cognito_id(
        &self,
        cognito_user_id: &str,
    ) -> StoreResult<Option<(Account, Option<Person>)>>;
    async fn person_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Person>>;
    /// NotFound "Person not found".
    async fn update_person(
        &self,
        person_uuid: Uuid,
        patch: &PersonPatch,
        at: Timestamp,
        events: &[EventEnvelope],
    ) -> StoreResult<Person>;
    /// Newest first, except that an exact username match leads the first page.
    async fn search_people(
        &self,
        query: &PeopleQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Person>>;
    /// Whether an ACCEPTED connection joins the two persons (either direction).
    async fn are_contacts(&self, a: i64, b: i64) -> StoreResult<bool>;
}

/// The social graph: connections and contacts, experiences and their reactions.
/// Notifications a change causes are stored in that change's transaction and returned,
/// for delivery after commit. Visibility is decided by the store where it filters a
/// list (so paging stays keyset-exact), by the service for single objects.
#[async_trait]
pub trait SocialStore: Send + Sync {
    /// Stores a PENDING request (`person_id` asks `connection_id`) with its
    /// notifications. NotFound "Person not found" when either person is gone; Conflict
    /// "A connection between these people already exists" when a PENDING or ACCEPTED
    /// one joins them, in either direction.
    async fn insert_connection(
        &self,
        connection: &NewConnection,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Connection, Vec<Notification>)>;
    async fn connection_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Connection>>;
    /// Moves connection `id` from `from` to `to`, only if it is still `from` (the
    /// service decided the transition on what it read; a concurrent answer loses).
    /// NotFound "Connection not found"; Conflict "Connection request is not pending".
    async fn update_connection_status(
        &self,
        id: i64,
        from: ConnectionStatus,
        to: ConnectionStatus,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Connection, Vec<Notification>)>;
    /// Connections involving `person_id`, in both directions, newest first, each with
    /// the person on the other side.
    async fn list_connections(
        &self,
        person_id: i64,
        status: Option<ConnectionStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<ConnectionEntry>>;
    /// The persons joined to `person_id` by an ACCEPTED connection, most recent
    /// connection first (the cursor is the connection's id), matching `query` as people
    /// search does.
    async fn list_contacts(
        &self,
        person_id: i64,
        query: &PeopleQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Person>>;
    /// Deletes the ACCEPTED connection joining the two (either may ask) and answers it.
    /// NotFound "Contact not found".
    async fn delete_contact(
        &self,
        person_id: i64,
        other_id: i64,
        events: &[EventEnvelope],
    ) -> StoreResult<Connection>;

    /// NotFound "Person not found" when the poster is gone.
    async fn insert_experience(
        &self,
        experience: &NewExperience,
        events: &[EventEnvelope],
    ) -> StoreResult<Experience>;
    async fn experience_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Experience>>;
    /// The experiences `viewer_id` may see (their own, PUBLIC ones, and CONTACT_ONLY
    /// ones of their contacts) that match `filter`, newest first.
    async fn list_experiences(
        &self,
        viewer_id: i64,
        filter: &ExperienceFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Experience>>;
    /// Deletes an experience with everything hanging on it: its reactions and the rows
    /// of its assets. NotFound "Experience not found".
    async fn delete_experience(&self, id: i64, events: &[EventEnvelope]) -> StoreResult<()>;
    /// Stores a reaction and answers it with `true`. A LIKE by someone who already
    /// likes the experience stores nothing, writes no events, and answers the existing
    /// like with `false` (liking is idempotent). NotFound "Experience not found".
    async fn insert_reaction(
        &self,
        reaction: &NewReaction,
        events: &[EventEnvelope],
    ) -> StoreResult<(Reaction, bool)>;
    async fn reaction_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Reaction>>;
    /// The reactions on experience `experience_id` that `viewer_id` sees under `scope`
    /// (all, or their own and their contacts'), newest first.
    async fn list_reactions(
        &self,
        experience_id: i64,
        viewer_id: i64,
        scope: ReactionScope,
        page: &PageRequest,
    ) -> StoreResult<Page<Reaction>>;
    /// NotFound "Reaction not found".
    async fn delete_reaction(&self, id: i64, events: &[EventEnvelope]) -> StoreResult<()>;
}

/// Deleting an account for good (`DELETE /accounts/{uuid}`): one method, one
/// transaction, so a refused or failed deletion leaves everything as it was. Each area
/// that stores something personal extends the cascade in both adapters'
/// `account_deletion.rs`; each rule that must refuse a deletion is a "blocker" there.
#[async_trait]
pub trait AccountDeletionStore: Send + Sync {
    /// Deletes account `account_id`, its person and everything that is theirs: their
    /// connections (either side), experiences (with all reactions on them and their
    /// asset rows), their reactions elsewhere, their notifications. Messages they sent in
    /// others' chats stay, attributed to their uuid with no person behind it.
    /// NotFound "Account not found"; Conflict from a blocker (e.g. "Account cannot be
    /// deleted while an order holds funds in escrow", once orders exist).
    async fn delete_account(&self, account_id: i64, events: &[EventEnvelope]) -> StoreResult<()>;
}

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores notifications on their own. Areas that notify as part of a change store
    /// them inside that change's transaction instead (adapters share a helper for it).
    async fn insert_notifications(
        &self,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<Vec<Notification>>;
    /// Inbound effect with its inbox row: stores `notifications` and records that
    /// `consumer` handled `key`, in ONE transaction. `None` (nothing written) when `key`
    /// was already handled: a redelivered message is applied once.
    async fn insert_notifications_once(
        &self,
        consumer: &str,
        key: &str,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<Option<Vec<Notification>>>;
    /// A person's notifications, newest first.
    async fn list_notifications(
        &self,
        person_id: i64,
        filter: &NotificationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Notification>>;
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Unpublished rows, oldest first.
    async fn outbox_pending(&self, limit: usize) -> StoreResult<Vec<OutboxRow>>;
    /// Deletes rows the broker confirmed: the outbox holds only what is still to
    /// publish, so it does not grow with every event ever written (the events
    /// themselves are on the broker, with integrators' queues or `metmos.unrouted`).
    async fn outbox_delete_published(&self, ids: &[i64]) -> StoreResult<()>;
    /// Frees, now, the space of the rows deleted so far. The relay calls it every
    /// [`crate::services::outbox::RECLAIM_AFTER`] events published: each of its rounds reads from
    /// the oldest id, through every deleted row still in front of the live ones, so
    /// without it a round costs more the longer the store waits to clean up by itself.
    async fn outbox_reclaim(&self) -> StoreResult<()>;
    async fn outbox_mark_failed(&self, id: i64, error: &str) -> StoreResult<()>;
    /// Number of rows not yet published (for `/metrics`).
    async fn outbox_backlog(&self) -> StoreResult<i64>;
    /// Records that `consumer` handled `key`; false when it already had (a redelivery).
    async fn mark_processed(&self, consumer: &str, key: &str) -> StoreResult<bool>;
    /// When the oldest unpublished row was written (`/metrics`: age of the backlog).
    async fn outbox_oldest_pending(&self) -> StoreResult<Option<Timestamp>>;
    /// Takes or renews the relay lease for `node_id` until `expires_at`, if
    /// [`crate::domain::outbox::may_hold_relay`] lets it at `at`: true when `node_id`
    /// holds it now. Nodes sharing the store relay its outbox one at a time.
    async fn claim_outbox_relay(
        &self,
        node_id: Uuid,
        expires_at: Timestamp,
        at: Timestamp,
    ) -> StoreResult<bool>;
    /// Gives the relay lease back if `node_id` holds it (a clean stop), so another node
    /// takes over at once instead of when it runs out.
    async fn release_outbox_relay(&self, node_id: Uuid) -> StoreResult<()>;
}

/// Builds the events of offers a change touches that the caller could not know in
/// advance (the open offers a cancelled listing cancels), inside the same transaction.
pub type OfferEvents<'a> = &'a (dyn Fn(&Offer) -> EventEnvelope + Send + Sync);

/// The marketplace: categories and listings ([`ListingStore`]), offers ([`OfferStore`]),
/// wallets ([`WalletStore`]) and orders ([`OrderStore`]), one trait per resource so each
/// adapter keeps one file per resource.
///
/// Lifecycle rules are checked in the stores, under the row locks of the change, with the
/// domain's transition functions (`ListingStatus::transition`, `OfferStatus::transition`):
/// a refused transition is `Conflict` with the domain's words, the same from both
/// adapters. Authorization (who may) is the service's; whether the change is still
/// allowed when it commits is the store's.
pub trait MarketStore: ListingStore + OfferStore + WalletStore + OrderStore {}

impl<T: ListingStore + OfferStore + WalletStore + OrderStore> MarketStore for T {}

/// Categories and listings (see [`MarketStore`]).
#[async_trait]
pub trait ListingStore: Send + Sync {
    /// The seeded categories in seed order, optionally of one type.
    async fn list_categories(
        &self,
        category_type: Option<CategoryType>,
    ) -> StoreResult<Vec<Category>>;
    async fn category_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Category>>;

    /// NotFound "Category not found".
    async fn insert_listing(
        &self,
        listing: &NewListing,
        events: &[EventEnvelope],
    ) -> StoreResult<Listing>;
    /// Any status (drafts included: visibility is the service's call).
    async fn listing_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Listing>>;
    /// Applies `patch` if the listing may be edited now (`ListingAction::Edit`, no open
    /// order). NotFound "Listing not found"; Conflict naming the status or the order.
    async fn update_listing(
        &self,
        uuid: Uuid,
        patch: &ListingPatch,
        at: Timestamp,
        events: &[EventEnvelope],
    ) -> StoreResult<Listing>;
    /// Publish, unpublish or cancel. Refused while an order is open where
    /// `ListingAction::blocked_by_open_order`. Cancelling also cancels the listing's open
    /// offers, each recorded with `offer_event`.
    async fn transition_listing(
        &self,
        uuid: Uuid,
        action: ListingAction,
        at: Timestamp,
        events: &[EventEnvelope],
        offer_event: OfferEvents<'_>,
    ) -> StoreResult<Listing>;
    /// Deletes the listing, its location and its offers; refused while an order is open.
    /// Orders of its past offers survive (their `offer_id` becomes NULL).
    async fn delete_listing(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()>;
    /// Newest first.
    async fn search_listings(
        &self,
        query: &ListingQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Listing>>;
}

/// Offers (see [`MarketStore`]).
#[async_trait]
pub trait OfferStore: Send + Sync {
    /// The listing must be PUBLISHED (Conflict naming its status); one open offer per
    /// person per listing (Conflict "You already have an open offer on this listing").
    /// The notifications (the poster's OFFER_RECEIVED) are stored in the same transaction.
    async fn insert_offer(
        &self,
        offer: &NewOffer,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)>;
    async fn offer_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Offer>>;
    /// `OfferAction::Update`: only while OFFERED (so never once ACCEPTED). The
    /// notifications (the poster's OFFER_RECEIVED for a new price) are stored with it.
    async fn update_offer(
        &self,
        uuid: Uuid,
        patch: &OfferPatch,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)>;
    /// Accepts the offer if [`offer::decide`](crate::domain::offer::decide) allows it
    /// under the locks: listing PUBLISHED, no other offer holding it, and, when
    /// `accepted_price` is given, the offer's price still that one
    /// (`Refusal::OfferPriceChanged`).
    async fn accept_offer(
        &self,
        uuid: Uuid,
        accepted_price: Option<Wei>,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)>;
    /// Any other action, by [`offer::decide`](crate::domain::offer::decide) (accepting
    /// this way binds no price); cancelling is refused while the offer has an open order.
    async fn transition_offer(
        &self,
        uuid: Uuid,
        action: OfferAction,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)>;
    /// Newest first; only what `query.viewer` may see.
    async fn list_offers(&self, query: &OfferQuery, page: &PageRequest)
    -> StoreResult<Page<Offer>>;
}

/// Wallets (see [`MarketStore`]).
#[async_trait]
pub trait WalletStore: Send + Sync {
    /// `Refusal::WalletAddressTaken` for an address this person already registered
    /// (whatever its case). Others' wallets never block it: uniqueness is per person.
    async fn insert_wallet(
        &self,
        wallet: &NewWallet,
        events: &[EventEnvelope],
    ) -> StoreResult<Wallet>;
    async fn wallet_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Wallet>>;
    /// NotFound "Wallet not found".
    async fn delete_wallet(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()>;
    /// A person's wallets, newest (most recently added) first.
    async fn list_wallets(
        &self,
        person_uuid: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Wallet>>;
}

/// Orders (see [`MarketStore`]).
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Stores an AWAITING_PAYMENT order for its offer, which must still be ACCEPTED on a
    /// PUBLISHED listing (Conflict naming the status). If the offer already has an open
    /// order, that one comes back instead with `false` (and `events` are not written):
    /// asking twice, even concurrently, makes one order.
    async fn insert_order(
        &self,
        order: &NewOrder,
        events: &[EventEnvelope],
    ) -> StoreResult<(Order, bool)>;
    /// The offer's order that is not final, if any.
    async fn open_order_for_offer(&self, offer_uuid: Uuid) -> StoreResult<Option<Order>>;
    /// Whether the person is payer or payee of an order whose funds the escrow holds
    /// (PAID, RELEASING, REFUNDING): their account may not be deleted meanwhile.
    async fn has_funds_in_escrow(&self, person_uuid: Uuid) -> StoreResult<bool>;
}

/// The escrow lifecycle of orders after creation: what the OrderActor reads and the one
/// write it makes per step. The rules are the domain's (`OrderStatus::transition`,
/// `OrderAction::effects`); the store checks them again under the order row's lock with
/// the version the caller decided on, so two actors or nodes never both move one order.
#[async_trait]
pub trait OrderLifecycleStore: Send + Sync {
    async fn order_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Order>>;
    /// The order a log's `orderId` names.
    async fn order_by_escrow_id(&self, escrow_order_id: B256) -> StoreResult<Option<Order>>;
    /// Newest first.
    async fn list_orders(&self, query: &OrderQuery, page: &PageRequest)
    -> StoreResult<Page<Order>>;
    /// Every order that is not final (boot rehydration, expiry sweep), oldest first.
    async fn unfinished_orders(&self) -> StoreResult<Vec<Order>>;
    /// One step: see [`OrderChange`]. NotFound "Order not found"; Conflict "Order changed
    /// meanwhile" on a stale version, or the lifecycle's refusal (of the order, its offer
    /// or its listing). A chain event already recorded answers `Replay`, writing nothing.
    async fn apply_order_change(&self, change: &OrderChange) -> StoreResult<OrderChangeOutcome>;
    /// Records a log that changes no order (rejected, or nothing to do) with `events`
    /// (e.g. `payment.mismatched`); false, and nothing written, if it was recorded before.
    async fn record_chain_event(
        &self,
        record: &ChainEventRecord,
        events: &[EventEnvelope],
    ) -> StoreResult<bool>;
    /// Drops the dedupe row of a removed log (and its payment row) when its order needs
    /// no undoing; false when there was none.
    async fn forget_chain_event(&self, tx_hash: B256, log_index: u64) -> StoreResult<bool>;
    async fn chain_event(
        &self,
        tx_hash: B256,
        log_index: u64,
    ) -> StoreResult<Option<ChainEventRecord>>;
    /// The order's payments, in chain order.
    async fn payments_of(&self, order_id: i64) -> StoreResult<Vec<Payment>>;
}

// ---------------------------------------------------------------------------------------
// Chain
// ---------------------------------------------------------------------------------------

#[derive(Debug, Error, Clone, PartialEq)]
pub enum ChainError {
    /// A chain setting is missing or does not parse (start-up stops on it).
    #[error("{0}")]
    Config(String),
    #[error("chain unavailable: {0}")]
    Unavailable(String),
    /// The contract refused the call (e.g. releasing an order already refunded).
    #[error("reverted: {0}")]
    Reverted(String),
    #[error("chain error: {0}")]
    Other(String),
}

/// The escrow chain: Ethereum with the MEscrow contract, or the simulated escrow ledger.
/// Both sign quotes with the same key and encoding, settle orders as the operator, and
/// report the contract's logs block by block, so one watcher (confirmations, checkpoint,
/// reorgs) and one order handler serve both.
#[async_trait]
pub trait Chain: Send + Sync + 'static {
    /// `ethereum` or `simulated`, for logs.
    fn adapter_name(&self) -> &'static str;
    fn chain_id(&self) -> u64;
    /// The escrow contract the quotes are for.
    fn escrow_contract(&self) -> Address;
    /// The platform's signature over the quote (`adapters::chain::quote_digest`), as
    /// `0x` + 65 bytes hex.
    async fn sign_quote(&self, quote: &EscrowQuote) -> Result<String, ChainError>;

    /// `release(orderId)` as the operator: the payee gets amount − fee, the platform the
    /// fee. Reads the contract first and answers `AlreadyDone` without sending when the
    /// order is already released, so a retry after a crash never releases twice. Waits
    /// for the receipt. `Reverted` when the contract refuses (unknown order, refunded).
    async fn release(&self, order_id: B256) -> Result<Settlement, ChainError>;
    /// `refund(orderId)` as the operator: the payer gets the whole amount back. Same
    /// guarantees as [`Chain::release`].
    async fn refund(&self, order_id: B256) -> Result<Settlement, ChainError>;
    /// What the contract's storage holds for the order (not what its logs said).
    async fn escrow_record(&self, order_id: B256) -> Result<EscrowRecord, ChainError>;

    /// The newest block number.
    async fn latest_block(&self) -> Result<u64, ChainError>;
    /// The newest finalized block, where the chain has that notion (`None` otherwise).
    async fn finalized_block(&self) -> Result<Option<u64>, ChainError>;
    /// The hash of canonical block `number`, `None` past the head (reorg detection).
    async fn block_hash(&self, number: u64) -> Result<Option<B256>, ChainError>;
    /// The escrow contract's logs in blocks `from..=to` of the canonical chain, in chain
    /// order (block, then log index), all with `removed: false`.
    async fn escrow_logs(&self, from: u64, to: u64) -> Result<Vec<ChainEvent>, ChainError>;
}

/// Where confirmed chain events go: the order handler (OrderSupervisor). The watcher, the
/// Alchemy webhook and the inbound `chain.*` queue all feed the same sink.
#[async_trait]
pub trait ChainEventSink: Send + Sync + 'static {
    /// Applies the event (or its removal) idempotently: the same `(tx_hash, log_index)`
    /// twice changes nothing the second time. `Err` means not applied: deliver it again
    /// (the watcher does not move its checkpoint past it).
    async fn on_chain_event(&self, event: ChainEvent) -> Result<(), ChainError>;
}

/// The chain watcher's memory (`services::chain_watcher`): its checkpoint and the logs it
/// delivered from recent blocks, per watcher key (chain id and contract), so that a
/// restart resumes where it stopped and a reorg can name the logs it removed.
#[async_trait]
pub trait ChainWatchStore: Send + Sync {
    /// `None` before the watcher's first checkpoint.
    async fn chain_checkpoint(&self, watcher: &str) -> StoreResult<Option<ChainCheckpoint>>;
    /// The delivered logs still kept, in chain order (block, then log index).
    async fn chain_recent_logs(&self, watcher: &str) -> StoreResult<Vec<ChainEvent>>;
    /// Keeps a log the sink accepted; the same `(tx_hash, log_index)` again replaces it
    /// (a re-mined log with its new block).
    async fn chain_log_delivered(&self, watcher: &str, event: &ChainEvent) -> StoreResult<()>;
    /// Forgets a log whose removal the sink accepted.
    async fn chain_log_removed(
        &self,
        watcher: &str,
        tx_hash: B256,
        log_index: u64,
    ) -> StoreResult<()>;
    /// Moves the checkpoint and drops kept logs of blocks below `keep_from`, together.
    async fn chain_advance(
        &self,
        watcher: &str,
        checkpoint: &ChainCheckpoint,
        keep_from: u64,
    ) -> StoreResult<()>;
}

// --- realtime: chats, messages, devices, WebSocket connections ---------------------------

/// Read positions and receipts (issue 15). Positions only move forward and never past a
/// chat's last seq; counts come from the chat's seq and the position, never from a scan
/// of messages (O(chats)).
#[async_trait]
pub trait ReadStateStore: Send + Sync {
    /// The chat `chat_uuid`, `person_id`'s read state in it, and every participant with
    /// their receipts setting, in one read. `None` when there is no such chat or the
    /// person is not in it (the caller answers 404 either way).
    async fn read_facts(&self, chat_uuid: Uuid, person_id: i64) -> StoreResult<Option<ReadFacts>>;
    /// Stores many positions in ONE write: each becomes `GREATEST(stored, seq)`, clamped
    /// to the chat's last seq; positions of chats or participants that are gone are
    /// skipped.
    async fn save_read_positions(&self, positions: &[ReadPosition]) -> StoreResult<()>;
    /// `person_id`'s read state in each of their chats (`chat_ids`: only those, `None`:
    /// all of them), in no particular order.
    async fn read_states(
        &self,
        person_id: i64,
        chat_ids: Option<&[i64]>,
    ) -> StoreResult<Vec<ChatReadState>>;
    /// Whether the person shares read receipts (true by default, and for no such person).
    async fn read_receipts(&self, person_id: i64) -> StoreResult<bool>;
    async fn set_read_receipts(&self, person_id: i64, on: bool) -> StoreResult<()>;
}

#[async_trait]
pub trait ChatStore: Send + Sync {
    /// The chat and its participants in one transaction. A chat with the same `pair_key`
    /// already there is answered instead (`created: false`), even when two callers race
    /// (the unique key decides); then nothing is written and `events` are dropped.
    async fn create_chat(
        &self,
        chat: &NewChat,
        events: &[EventEnvelope],
    ) -> StoreResult<ChatCreated>;
    async fn chat_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Chat>>;
    /// The chat's participants, in the order they joined.
    async fn chat_participants(&self, chat_id: i64) -> StoreResult<Vec<Person>>;
    async fn is_participant(&self, chat_id: i64, person_id: i64) -> StoreResult<bool>;
    /// The chat `uuid` if `person_id` takes part in it (one read for both facts: a chat
    /// one is not in is, to them, no chat at all).
    async fn chat_of_participant(&self, uuid: Uuid, person_id: i64) -> StoreResult<Option<Chat>>;
    /// The chats `person_id` takes part in, newest first, each with its participants,
    /// its last message and the person's read state (`reader`).
    async fn list_chats(
        &self,
        person_id: i64,
        filter: &ChatFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ChatSummary>>;
    /// Stores a message with its chat's next seq, in one transaction with `events`
    /// (PostgreSQL: the transaction of a batch of messages; each caller still gets its
    /// own outcome). With `contact_of` set, the store reads whether the sender and that
    /// person are still contacts in the write and refuses per
    /// [`crate::domain::chat::may_post_contact`] ("Chat not found").
    /// The uuid already stored by the same sender in the same chat: `Existing` (nothing
    /// written). Already stored by someone else or in another chat: Conflict
    /// "uuid is already used by another message". NotFound "Chat not found".
    async fn insert_message(
        &self,
        message: &NewMessage,
        events: &[EventEnvelope],
    ) -> StoreResult<MessageInsert> {
        self.insert_messages(vec![(message.clone(), events.to_vec())])
            .await
            .pop()
            .unwrap_or_else(|| Err(StoreError::Internal("a message got no outcome".into())))
    }
    /// Stores messages, each with its own events, as [`ChatStore::insert_message`]
    /// would one after another: one outcome per message, in the order given, and a
    /// chat's seqs follow that order. A chat room hands over, as one call, what queued
    /// while its previous call was stored, so a busy chat's messages share a commit
    /// instead of waiting one commit each (issue 14).
    async fn insert_messages(
        &self,
        messages: Vec<(NewMessage, Vec<EventEnvelope>)>,
    ) -> Vec<StoreResult<MessageInsert>>;
    /// [`ChatStore::insert_messages`] in two steps: returns once the messages are
    /// queued behind everything queued before for the same chat, with their outcomes
    /// to await. A chat room queues its next messages while its earlier ones are still
    /// being stored, so they catch the store's next commit instead of the one after
    /// (PostgreSQL: a job of the chat's writer; waiting here is that queue's
    /// backpressure). By default they are stored before this returns.
    async fn queue_messages(
        &self,
        messages: Vec<(NewMessage, Vec<EventEnvelope>)>,
    ) -> QueuedInserts {
        QueuedInserts::ready(self.insert_messages(messages).await)
    }
    /// The message with the highest seq, if any.
    async fn last_message(&self, chat_id: i64) -> StoreResult<Option<Message>>;
    /// A chat's messages, OLDEST first (the app syncs forward); the cursor is `seq`.
    async fn list_messages(
        &self,
        chat_id: i64,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>>;
}

/// The outcomes of messages queued by [`ChatStore::queue_messages`], one per message
/// in the order given.
pub struct QueuedInserts(
    std::pin::Pin<Box<dyn Future<Output = Vec<StoreResult<MessageInsert>>> + Send>>,
);

impl QueuedInserts {
    /// Outcomes already known.
    pub fn ready(outcomes: Vec<StoreResult<MessageInsert>>) -> Self {
        Self(Box::pin(std::future::ready(outcomes)))
    }

    /// Outcomes `later` gives.
    pub fn later(
        later: impl Future<Output = Vec<StoreResult<MessageInsert>>> + Send + 'static,
    ) -> Self {
        Self(Box::pin(later))
    }

    pub async fn outcomes(self) -> Vec<StoreResult<MessageInsert>> {
        self.0.await
    }
}

#[async_trait]
pub trait AssetStore: Send + Sync {
    /// NotFound "Person not found" when the owner is gone.
    async fn insert_asset(&self, asset: &NewAsset) -> StoreResult<Asset>;
    async fn asset_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Asset>>;
    async fn assets_by_uuids(&self, uuids: &[Uuid]) -> StoreResult<Vec<Asset>>;
    /// Every asset of a parent (read before the parent is deleted, so that their objects
    /// can be removed once the deletion committed).
    async fn assets_of_parent(
        &self,
        parent_type: ParentType,
        parent_uuid: Uuid,
    ) -> StoreResult<Vec<Asset>>;
    /// A parent's assets, newest first; the cursor is the internal id.
    async fn list_assets(
        &self,
        parent_type: ParentType,
        parent_uuid: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Asset>>;
    /// Removes the row; NotFound "Asset not found" when it is already gone.
    async fn delete_asset(&self, id: i64) -> StoreResult<()>;
    /// Records that `variation` is stored beside the original (idempotent).
    async fn add_asset_variation(
        &self,
        id: i64,
        variation: Variation,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// The chat a message is in (the internal chat id), for MESSAGE parents.
    async fn message_chat_id(&self, message_uuid: Uuid) -> StoreResult<Option<i64>>;
    /// Blob keys (originals) of the assets account deletion removes with the person:
    /// those on the person, their experiences and their listings. Chat and message
    /// attachments stay with the chat (the owner becomes none).
    async fn assets_removed_with_person(&self, person_id: i64) -> StoreResult<Vec<Asset>>;
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Registers a device. A known push token updates that device instead (same uuid):
    /// moved to `device.person_id` if someone else had it, and enabled again.
    async fn upsert_device(&self, device: &NewDevice) -> StoreResult<Device>;
    /// The devices a push goes to: not disabled, most recently registered first, at
    /// most `limit`.
    async fn push_devices(&self, person_uuid: Uuid, limit: usize) -> StoreResult<Vec<Device>>;
    /// Disables the device if it still holds `push_token` (it may have been registered
    /// again meanwhile); false when nothing changed.
    async fn disable_device(
        &self,
        device_id: i64,
        push_token: &str,
        at: Timestamp,
    ) -> StoreResult<bool>;
}

#[async_trait]
pub trait WsConnectionStore: Send + Sync {
    /// Conflict "wsConnId already exists".
    async fn insert_ws_connection(&self, conn: &NewWsConnection) -> StoreResult<WsConnection>;
    async fn ws_connection_by_conn_id(&self, ws_conn_id: &str)
    -> StoreResult<Option<WsConnection>>;
    /// Marks one connection DISCONNECTED (no-op when it already is); the row after.
    /// NotFound "WsConnection not found".
    async fn disconnect_ws_connection(
        &self,
        ws_conn_id: &str,
        at: Timestamp,
    ) -> StoreResult<WsConnection>;
    /// A person's connections, newest first.
    async fn list_ws_connections(
        &self,
        person_id: i64,
        status: Option<WsConnectionStatus>,
        page: &PageRequest,
    ) -> StoreResult<Page<WsConnection>>;
    /// Crash recovery at start: this node's rows still CONNECTED from before `before`
    /// become DISCONNECTED. Returns how many.
    async fn disconnect_node(
        &self,
        node_id: Uuid,
        before: Timestamp,
        at: Timestamp,
    ) -> StoreResult<u64>;
    /// Writes (or extends) this node's lease until `expires_at`.
    async fn renew_node_lease(
        &self,
        node_id: Uuid,
        expires_at: Timestamp,
        at: Timestamp,
    ) -> StoreResult<()>;
    /// Nodes whose lease expired before `at`: their CONNECTED rows become
    /// DISCONNECTED and their lease rows go. Returns how many rows were closed.
    async fn reap_expired_nodes(&self, at: Timestamp) -> StoreResult<u64>;
    /// A node stopping cleanly gives its lease back.
    async fn release_node_lease(&self, node_id: Uuid) -> StoreResult<()>;
    /// The nodes whose lease runs past `at` (this one included, once it has renewed).
    async fn live_nodes(&self, at: Timestamp) -> StoreResult<Vec<Uuid>>;
    /// Where else `persons` are connected: `(person uuid, node id)` for each node other
    /// than `except` holding a CONNECTED row of theirs (cross-node delivery).
    async fn nodes_of_persons(
        &self,
        persons: &[Uuid],
        except: Uuid,
    ) -> StoreResult<Vec<(Uuid, Uuid)>>;
    /// Deletes DISCONNECTED rows that disconnected before `before`
    /// (`ws.keep_disconnected_days`); CONNECTED rows are never touched. Returns how many.
    async fn prune_disconnected_ws_connections(&self, before: Timestamp) -> StoreResult<u64>;
}

// ---------------------------------------------------------------------------------------
// Bus
// ---------------------------------------------------------------------------------------

#[derive(Debug, Error, Clone, PartialEq)]
pub enum BusError {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
    #[error("bus error: {0}")]
    Other(String),
}

/// How far [`Bus::publish_all`] got: the first `confirmed` events are the bus's, and
/// `stopped` is why the rest (if any) are not known to be.
#[derive(Debug, PartialEq)]
pub struct Published {
    pub confirmed: usize,
    pub stopped: Option<BusError>,
}

/// The event bus. `publish` returns only once the bus has taken responsibility for the
/// event (RabbitMQ: publisher confirm), so the outbox row may then be deleted.
/// Delivery is at least once: consumers deduplicate on `eventId`.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    fn adapter_name(&self) -> &'static str;
    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError>;
    /// Publishes `events` in this order and waits for the bus to take them. RabbitMQ
    /// has them all in flight at once, so the lot costs one round trip and one broker
    /// flush instead of one each (one at a time, a durable queue's confirms held the
    /// relay to 1.6k events/s, 300 under chat load). One refused (a nack) may be overtaken by later events
    /// of the lot that the broker took: the relay publishes it and those again, so a
    /// consumer sees them late and twice, never not at all.
    async fn publish_all(&self, events: &[&EventEnvelope]) -> Published {
        for (confirmed, event) in events.iter().enumerate() {
            if let Err(e) = self.publish(event).await {
                return Published {
                    confirmed,
                    stopped: Some(e),
                };
            }
        }
        Published {
            confirmed: events.len(),
            stopped: None,
        }
    }
    /// A durable subscription `queue` bound to `binding` (a topic pattern: `order.*`,
    /// `#`). Deliveries must be acked once applied; an unacked one comes again.
    async fn subscribe(&self, queue: &str, binding: &str) -> Result<Subscription, BusError>;
    async fn healthy(&self) -> bool;
    /// Resolves once the bus has a live link again (at once when it has one). The outbox
    /// relay waits on this instead of sleeping out its backoff, so it drains as soon as
    /// the broker is back.
    async fn wait_connected(&self);

    /// Node-to-node: `payload` (a batch of frames) to node `node`'s own queue through
    /// the direct exchange `metmos.nodes`, never `metmos.events`. `Ok(false)`: no such
    /// node queue (the node is gone): the caller falls back to a push.
    async fn send_to_node(&self, node: Uuid, payload: &[u8]) -> Result<bool, BusError>;
    /// This node's own queue: what other nodes send it, and the events matching
    /// `bindings`. The queue lives only as long as this node's connection (RabbitMQ:
    /// exclusive), so a dead node leaves nothing behind; what it held was for sockets
    /// that died with it, whose clients resync by history when they reconnect.
    async fn subscribe_node(
        &self,
        node: Uuid,
        bindings: &[&str],
    ) -> Result<tokio::sync::mpsc::Receiver<NodeMessage>, BusError>;

    /// A durable inbound queue of messages from outside (`chain.*`, `integration.*`):
    /// raw bodies, decoded by the consumer, which acks only after the effect committed,
    /// requeues on a passing failure (dead-lettered after the delivery limit), and
    /// rejects a malformed message at once, with the reason kept beside it in
    /// `QUEUE.dead`.
    async fn subscribe_inbound(
        &self,
        queue: &str,
        bindings: &[&str],
    ) -> Result<tokio::sync::mpsc::Receiver<InboundMessage>, BusError>;
}

/// What arrives on a node's own queue.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeMessage {
    /// A batch of frames another node sent this one (`metmos.nodes`).
    Frames(Vec<u8>),
    /// A domain event this node bound to.
    Event(EventEnvelope),
}

/// One message of an inbound queue.
pub struct InboundMessage {
    /// The routing key it was published with (`chain.escrow`, `integration.notification`).
    pub routing_key: String,
    pub body: Vec<u8>,
    pub redelivered: bool,
    acker: Box<dyn InboundAcker>,
}

impl InboundMessage {
    pub fn new(
        routing_key: String,
        body: Vec<u8>,
        redelivered: bool,
        acker: Box<dyn InboundAcker>,
    ) -> Self {
        Self {
            routing_key,
            body,
            redelivered,
            acker,
        }
    }
    /// Applied (or already applied): done.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }
    /// Not applied this time (store or chain unavailable): delivered again, and
    /// dead-lettered once the delivery limit is reached.
    pub async fn retry(self) -> Result<(), BusError> {
        self.acker.retry().await
    }
    /// Malformed or refused for good: dead-lettered at once with `reason`
    /// (RabbitMQ: header `x-metmos-reason` on the copy in `QUEUE.dead`).
    pub async fn reject(self, reason: &str) -> Result<(), BusError> {
        self.acker.reject(reason).await
    }
}

#[async_trait]
pub trait InboundAcker: Send + Sync {
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    async fn retry(self: Box<Self>) -> Result<(), BusError>;
    async fn reject(self: Box<Self>, reason: &str) -> Result<(), BusError>;
}

/// Deliveries of one subscription, bounded: a slow consumer slows its producer down
/// instead of growing memory.
pub struct Subscription {
    pub deliveries: tokio::sync::mpsc::Receiver<Delivery>,
}

/// One delivery; `ack` after applying it.
pub struct Delivery {
    pub envelope: EventEnvelope,
    pub redelivered: bool,
    acker: Box<dyn Acker>,
}

impl Delivery {
    pub fn new(envelope: EventEnvelope, redelivered: bool, acker: Box<dyn Acker>) -> Self {
        Self {
            envelope,
            redelivered,
            acker,
        }
    }
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }
    /// Gives the delivery back; `requeue = false` sends it to the dead-letter queue.
    pub async fn nack(self, requeue: bool) -> Result<(), BusError> {
        self.acker.nack(requeue).await
    }
}

#[async_trait]
pub trait Acker: Send + Sync {
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    async fn nack(self: Box<Self>, requeue: bool) -> Result<(), BusError>;
}

// ---------------------------------------------------------------------------------------
// Notification delivery
// ---------------------------------------------------------------------------------------

/// Where a stored notification goes next. The realtime Notifier (actors crate) decides
/// by presence: a WebSocket frame to every connection of an online person, else a push
/// to their devices. Delivery is best effort after commit and never fails the use case:
/// the notification is already stored and listed by `GET /notifications`.
pub trait NotificationSink: Send + Sync + 'static {
    fn deliver(&self, notification: &Notification);
}

/// The sink until a realtime front is attached (CLI commands, engine-only tests):
/// stored notifications stay listed; nothing is framed or pushed.
pub struct StoreOnly;

impl NotificationSink for StoreOnly {
    fn deliver(&self, notification: &Notification) {
        tracing::debug!(notification = %notification.uuid, "no realtime front attached; notification stored only");
    }
}

// ---------------------------------------------------------------------------------------
// Blobs
// ---------------------------------------------------------------------------------------

/// A URL that lets whoever holds it do one thing to one object until it expires.
#[derive(Debug, Clone, PartialEq)]
pub struct PresignedUrl {
    pub url: String,
    pub expires_at: Timestamp,
}

#[derive(Debug, Error, Clone, PartialEq)]
pub enum BlobError {
    /// The storage service cannot be reached or refused the credentials.
    #[error("blob storage unavailable: {0}")]
    Unavailable(String),
    #[error("blob storage error: {0}")]
    Internal(String),
}

/// Object storage for asset bytes: S3 (or any S3-compatible server) in production, files
/// under `data_dir` served by the engine itself embedded. Clients never stream bytes
/// through the API: they get presigned URLs, each good for one method on one object
/// until it expires (a PUT also only for the asset's content type).
#[async_trait]
pub trait Blobs: Send + Sync + 'static {
    fn adapter_name(&self) -> &'static str;
    async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        ttl: std::time::Duration,
    ) -> Result<PresignedUrl, BlobError>;
    async fn presign_get(
        &self,
        key: &str,
        ttl: std::time::Duration,
    ) -> Result<PresignedUrl, BlobError>;
    /// The object's bytes, `None` when it is not there (not uploaded yet). Used by the
    /// engine itself (image variations), never on a client's path.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError>;
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError>;
    /// Removes the objects; missing ones are not an error.
    async fn delete(&self, keys: &[String]) -> Result<(), BlobError>;
}

// ---------------------------------------------------------------------------------------
// Pusher
// ---------------------------------------------------------------------------------------

/// A push notification, the same for every device of its recipient.
#[derive(Debug, Clone, PartialEq)]
pub struct PushMessage {
    pub notification_type: NotificationType,
    pub title: String,
    pub body: String,
    /// `{"notificationType", ...uuids}`: what the app needs to open the right screen.
    pub data: serde_json::Map<String, serde_json::Value>,
}

/// What the push service said about one device.
#[derive(Debug, Clone, PartialEq)]
pub enum PushOutcome {
    Sent,
    /// The token is unregistered or invalid: the device gets disabled (never the person).
    DeadToken,
    /// Anything else (throttled, service down): logged; the device stays enabled.
    Failed(String),
}

/// Sends pushes to devices: Pinpoint in production; the recording adapter embedded
/// (visible at `GET /dev/pushes` in dev mode).
#[async_trait]
pub trait Pusher: Send + Sync + 'static {
    fn adapter_name(&self) -> &'static str;
    /// Sends `message` to all of one person's `devices` (one request where the service
    /// allows it); the outcome of each device, in the order given.
    async fn push(&self, devices: &[Device], message: &PushMessage) -> Vec<PushOutcome>;
    /// Whether trade notifications also go by email (Pinpoint with `pinpoint.email_from`).
    fn sends_email(&self) -> bool {
        false
    }
    /// Sends `message` as an email (subject = title, text = body) to `address`.
    async fn email(&self, address: &str, message: &PushMessage) -> PushOutcome {
        let _ = (address, message);
        PushOutcome::Failed("this pusher sends no email".into())
    }
}
