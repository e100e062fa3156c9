//! Offers on PostgreSQL.

use super::super::notifications::insert_tx;
use super::super::{PgStore, Sql, map_err, record};
use super::listings::{lock_listing, lock_listing_status};
use super::orders::open_order;
use super::{wei, wire};
use crate::domain::listing::Listing;
use crate::domain::market::ListingType;
use crate::domain::money::Wei;
use crate::domain::notifications::{NewNotification, Notification};
use crate::domain::offer::{
    NewOffer, Offer, OfferAction, OfferFacts, OfferPatch, OfferQuery, OfferStatus, decide,
    decide_new,
};
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::OfferStore;
use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use uuid::Uuid;

// --- offers -----------------------------------------------------------------------------

const OFFER_SELECT: &str = "SELECT o.id, o.uuid, o.person_uuid, o.price::text, o.comment, o.status, o.listing_id, \
     l.uuid, l.person_uuid, l.listing_type, o.created_at, o.updated_at \
     FROM offer o JOIN listing l ON l.id = o.listing_id";

/// The offer columns `RETURNING` can give, the listing's part supplied by the caller.
pub(super) const OFFER_RETURNING: &str =
    "id, uuid, person_uuid, price::text, comment, status, listing_id, created_at, updated_at";

fn offer_from(r: &Row) -> StoreResult<Offer> {
    Ok(Offer {
        id: r.get(0),
        uuid: r.get(1),
        person_uuid: r.get(2),
        price: wei(r, 3)?,
        comment: r.get(4),
        status: wire(r, 5, OfferStatus::parse)?,
        listing_id: r.get(6),
        listing_uuid: r.get(7),
        poster_uuid: r.get(8),
        listing_type: wire(r, 9, ListingType::parse)?,
        created_at: r.get(10),
        updated_at: r.get(11),
    })
}

pub(super) fn offer_returned(r: &Row, listing: &Listing) -> StoreResult<Offer> {
    Ok(Offer {
        id: r.get(0),
        uuid: r.get(1),
        person_uuid: r.get(2),
        price: wei(r, 3)?,
        comment: r.get(4),
        status: wire(r, 5, OfferStatus::parse)?,
        listing_id: r.get(6),
        listing_uuid: listing.uuid,
        poster_uuid: listing.person_uuid,
        listing_type: listing.listing_type,
        created_at: r.get(7),
        updated_at: r.get(8),
    })
}

pub(super) async fn lock_offer(tx: &Transaction<'_>, uuid: Uuid) -> StoreResult<Offer> {
    tx.fetch_opt(
        &format!("{OFFER_SELECT} WHERE o.uuid = $1 FOR UPDATE OF o"),
        &[&uuid],
        offer_from,
    )
    .await?
    .ok_or(StoreError::Refused(Refusal::OfferNotFound))
}

/// Cancels the listing's other open offers (a payment made one of them final) and
/// returns them as they are now, for their `offer.cancelled` events.
pub(super) async fn cancel_rival_offers(
    tx: &Transaction<'_>,
    listing_id: i64,
    paid_offer_id: i64,
    open: &[&str],
    at: Timestamp,
) -> StoreResult<Vec<Offer>> {
    tx.fetch_all(
        &format!(
            // The rows as RETURNING gives them: the statement's own SELECT would see
            // them as they were before the UPDATE.
            "WITH o AS (UPDATE offer SET status = $4, updated_at = $5 \
             WHERE listing_id = $1 AND id <> $2 AND status = ANY($3) RETURNING {OFFER_RETURNING}) \
             SELECT o.id, o.uuid, o.person_uuid, o.price, o.comment, o.status, o.listing_id, \
             l.uuid, l.person_uuid, l.listing_type, o.created_at, o.updated_at \
             FROM o JOIN listing l ON l.id = o.listing_id ORDER BY o.id"
        ),
        &[
            &listing_id,
            &paid_offer_id,
            &open,
            &OfferStatus::Cancelled.as_str(),
            &at,
        ],
        offer_from,
    )
    .await
}

/// The listing id of an offer (unlocked: it never changes), to lock the listing before
/// the offer.
pub(super) async fn listing_id_of_offer(tx: &Transaction<'_>, uuid: Uuid) -> StoreResult<i64> {
    tx.fetch_opt(
        "SELECT listing_id FROM offer WHERE uuid = $1",
        &[&uuid],
        |r| Ok(r.get(0)),
    )
    .await?
    .ok_or(StoreError::Refused(Refusal::OfferNotFound))
}

#[async_trait]
impl OfferStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_offer")]
    async fn insert_offer(
        &self,
        offer: &NewOffer,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let listing = lock_listing(&tx, offer.listing_uuid).await?;
        let open = OfferStatus::OPEN.map(OfferStatus::as_str).to_vec();
        let own_open_offer: bool = tx
            .fetch_one(
                "SELECT EXISTS (SELECT 1 FROM offer WHERE listing_id = $1 AND person_uuid = $2 \
                 AND status = ANY($3))",
                &[&listing.id, &offer.person_uuid, &open],
                |r| Ok(r.get(0)),
            )
            .await?;
        // offer_one_open_per_person_listing_key still guards a race the lock misses; its
        // violation maps to the same refusal.
        decide_new(listing.status, own_open_offer)?;
        let stored = tx
            .fetch_one(
                &format!(
                    "INSERT INTO offer (uuid, person_uuid, price, comment, status, listing_id, created_at, updated_at) \
                     VALUES ($1, $2, $3::text::numeric, $4, $7, $5, $6, $6) RETURNING {OFFER_RETURNING}"
                ),
                &[
                    &offer.uuid,
                    &offer.person_uuid,
                    &offer.price.to_wei_string(),
                    &offer.comment,
                    &listing.id,
                    &offer.at,
                    &OfferStatus::Offered.as_str(),
                ],
                |r| offer_returned(r, &listing),
            )
            .await?;
        let notified = insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((stored, notified))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.offer_by_uuid")]
    async fn offer_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Offer>> {
        self.fetch_opt(
            &format!("{OFFER_SELECT} WHERE o.uuid = $1"),
            &[&uuid],
            offer_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.update_offer")]
    async fn update_offer(
        &self,
        uuid: Uuid,
        patch: &OfferPatch,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let (mut offer, facts) = lock_offer_facts(&tx, uuid).await?;
        decide(OfferAction::Update, &facts, None)?;
        patch.apply(&mut offer, at);
        tx.exec(
            "UPDATE offer SET price = $2::text::numeric, comment = $3, updated_at = $4 WHERE id = $1",
            &[&offer.id, &offer.price.to_wei_string(), &offer.comment, &at],
        )
        .await?;
        let notified = insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((offer, notified))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.accept_offer")]
    async fn accept_offer(
        &self,
        uuid: Uuid,
        accepted_price: Option<Wei>,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        self.change_offer(
            uuid,
            OfferAction::Accept,
            accepted_price,
            at,
            notifications,
            events,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.transition_offer")]
    async fn transition_offer(
        &self,
        uuid: Uuid,
        action: OfferAction,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        self.change_offer(uuid, action, None, at, notifications, events)
            .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_offers")]
    async fn list_offers(
        &self,
        query: &OfferQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Offer>> {
        let limit = page.fetch() as i64;
        let items = self
            .fetch_all(
                &format!(
                    "{OFFER_SELECT} WHERE (o.person_uuid = $1 OR (NOT $2 AND l.person_uuid = $1)) \
                       AND ($3::uuid IS NULL OR l.uuid = $3) AND ($4::uuid IS NULL OR o.person_uuid = $4) \
                       AND ($5::bigint IS NULL OR o.id < $5) \
                     ORDER BY o.id DESC LIMIT $6"
                ),
                &[
                    &query.viewer,
                    &query.mine_only,
                    &query.listing_uuid,
                    &query.person_uuid,
                    &page.after,
                    &limit,
                ],
                offer_from,
            )
            .await?;
        Ok(Page::from_rows(items, page, |o| o.id))
    }
}

/// Locks the offer's listing, then the offer, and reads what
/// [`decide`](crate::domain::offer::decide) needs.
pub(super) async fn lock_offer_facts(
    tx: &Transaction<'_>,
    uuid: Uuid,
) -> StoreResult<(Offer, OfferFacts)> {
    let listing_id = listing_id_of_offer(tx, uuid).await?;
    let listing_status = lock_listing_status(tx, listing_id).await?;
    let offer = lock_offer(tx, uuid).await?;
    let holding = OfferStatus::HOLDING_LISTING
        .map(OfferStatus::as_str)
        .to_vec();
    let other_holds_listing: bool = tx
        .fetch_one(
            "SELECT EXISTS (SELECT 1 FROM offer WHERE listing_id = $1 AND id <> $2 AND status = ANY($3))",
            &[&listing_id, &offer.id, &holding],
            |r| Ok(r.get(0)),
        )
        .await?;
    let facts = OfferFacts {
        status: offer.status,
        price: offer.price,
        listing_status,
        other_holds_listing,
        open_order: open_order(tx, uuid).await?.is_some(),
    };
    Ok((offer, facts))
}

impl PgStore {
    /// Accept, cancel, or an order's step: lock and read the facts, decide, write.
    async fn change_offer(
        &self,
        uuid: Uuid,
        action: OfferAction,
        accepted_price: Option<Wei>,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let (mut offer, facts) = lock_offer_facts(&tx, uuid).await?;
        let next = decide(action, &facts, accepted_price)?;
        // offer_one_accepted_per_listing_key guards what the listing lock already
        // serializes; its violation maps to Refusal::AcceptedOfferExists.
        tx.exec(
            "UPDATE offer SET status = $2, updated_at = $3 WHERE id = $1",
            &[&offer.id, &next.as_str(), &at],
        )
        .await?;
        offer.status = next;
        offer.updated_at = at;
        let notified = insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((offer, notified))
    }
}
