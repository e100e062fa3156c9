//! The marketplace on PostgreSQL. Wei amounts are NUMERIC(78,0), which tokio-postgres
//! cannot map: they go in as text (`$n::text::numeric`) and come out as text
//! (`col::text`), parsed exactly into `Wei`.
//!
//! Locks: every change that involves a listing's state locks the listing row first
//! (`FOR UPDATE`), then its offer row, so that two changes to one listing (accepting two
//! offers, pausing while an order is created) serialize instead of deadlocking.

use super::notifications::insert_tx;
use super::{PgStore, Sql, map_err, record};
use crate::adapters::store::msg;
use crate::domain::listing::{
    AdditionalFields, Listing, ListingAction, ListingPatch, ListingQuery, ListingStatus, Location,
    NewListing, open_order_refusal,
};
use crate::domain::market::{
    Category, CategoryType, Currency, CurrencyType, ListingType, ServiceDelivery,
};
use crate::domain::money::{Fees, Wei};
use crate::domain::notifications::{NewNotification, Notification};
use crate::domain::offer::{NewOffer, Offer, OfferAction, OfferPatch, OfferQuery, OfferStatus};
use crate::domain::order::{EscrowQuote, NewOrder, Order, OrderStatus};
use crate::domain::wallet::{Blockchain, NewWallet, Wallet, WalletType, checksummed};
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::{MarketStore, OfferEvents};
use alloy_primitives::{Address, B256};
use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use std::str::FromStr;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// The statuses of an order that is not final (`OrderStatus::OPEN`), as SQL.
const OPEN_ORDER: &str = "('AWAITING_PAYMENT', 'PAID', 'RELEASING', 'REFUNDING')";

pub(super) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("stored {what} does not parse: {detail}"))
}

fn wei(r: &Row, i: usize) -> StoreResult<Wei> {
    let text: String = r.get(i);
    Wei::parse_wei(&text).map_err(|e| corrupt("amount", e))
}

pub(super) fn wire<T>(r: &Row, i: usize, parse: fn(&str) -> Result<T, String>) -> StoreResult<T> {
    let text: String = r.get(i);
    parse(&text).map_err(|e| corrupt("enum", e))
}

pub(super) fn address(r: &Row, i: usize) -> StoreResult<Address> {
    let text: String = r.get(i);
    Address::from_str(&text).map_err(|e| corrupt("address", e))
}

// --- categories -------------------------------------------------------------------------

const CATEGORY_COLS: &str = "id, uuid, name, description, category_type, created_at, updated_at";

fn category_from(r: &Row) -> StoreResult<Category> {
    Ok(Category {
        id: r.get(0),
        uuid: r.get(1),
        name: r.get(2),
        description: r.get(3),
        category_type: wire(r, 4, CategoryType::parse)?,
        created_at: r.get(5),
        updated_at: r.get(6),
    })
}

// --- listings ---------------------------------------------------------------------------

const LISTING_SELECT: &str = "SELECT l.id, l.uuid, l.person_uuid, l.listing_type, l.title, l.description, l.price::text, \
     l.currency_type, l.currency, l.status, c.uuid, l.additional_fields, l.service_delivery, l.created_at, l.updated_at, \
     loc.uuid, loc.address, loc.suburb, loc.city, loc.state_region, loc.country, loc.postal_code, loc.latitude, \
     loc.longitude, loc.place_id, loc.created_at, loc.updated_at \
     FROM listing l JOIN category c ON c.id = l.category_id LEFT JOIN location loc ON loc.id = l.location_id";

fn listing_from(r: &Row) -> StoreResult<Listing> {
    let fields: serde_json::Value = r.get(11);
    let additional_fields: AdditionalFields =
        serde_json::from_value(fields).map_err(|e| corrupt("additional_fields", e))?;
    let service_delivery: Option<String> = r.get(12);
    let location_uuid: Option<Uuid> = r.get(15);
    let location = location_uuid.map(|uuid| Location {
        uuid,
        address: r.get(16),
        suburb: r.get(17),
        city: r.get(18),
        state_region: r.get(19),
        country: r.get(20),
        postal_code: r.get(21),
        latitude: r.get(22),
        longitude: r.get(23),
        place_id: r.get(24),
        created_at: r.get(25),
        updated_at: r.get(26),
    });
    Ok(Listing {
        id: r.get(0),
        uuid: r.get(1),
        person_uuid: r.get(2),
        listing_type: wire(r, 3, ListingType::parse)?,
        title: r.get(4),
        description: r.get(5),
        price: wei(r, 6)?,
        currency_type: wire(r, 7, CurrencyType::parse)?,
        currency: wire(r, 8, Currency::parse)?,
        status: wire(r, 9, ListingStatus::parse)?,
        category_uuid: r.get(10),
        additional_fields,
        location,
        service_delivery: service_delivery
            .map(|s| ServiceDelivery::parse(&s).map_err(|e| corrupt("service_delivery", e)))
            .transpose()?,
        created_at: r.get(13),
        updated_at: r.get(14),
    })
}

fn additional_fields_json(f: &AdditionalFields) -> serde_json::Value {
    // A struct of optional strings: serializing cannot fail.
    serde_json::to_value(f).unwrap_or_else(|_| serde_json::json!({}))
}

async fn lock_listing(tx: &Transaction<'_>, uuid: Uuid) -> StoreResult<Listing> {
    tx.fetch_opt(
        &format!("{LISTING_SELECT} WHERE l.uuid = $1 FOR UPDATE OF l"),
        &[&uuid],
        listing_from,
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(msg::LISTING_NOT_FOUND.into()))
}

/// The status of listing `id`, its row locked.
async fn lock_listing_status(tx: &Transaction<'_>, id: i64) -> StoreResult<ListingStatus> {
    tx.fetch_opt(
        "SELECT status FROM listing WHERE id = $1 FOR UPDATE",
        &[&id],
        |r| wire(r, 0, ListingStatus::parse),
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(msg::LISTING_NOT_FOUND.into()))
}

async fn listing_has_open_order(tx: &Transaction<'_>, listing_uuid: Uuid) -> StoreResult<bool> {
    tx.fetch_one(
        &format!(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE listing_uuid = $1 AND status IN {OPEN_ORDER})"
        ),
        &[&listing_uuid],
        |r| Ok(r.get(0)),
    )
    .await
}

async fn insert_location(tx: &Transaction<'_>, l: &Location) -> StoreResult<i64> {
    tx.fetch_one(
        "INSERT INTO location (uuid, address, suburb, city, state_region, country, postal_code, latitude, longitude, \
         place_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
        &[
            &l.uuid,
            &l.address,
            &l.suburb,
            &l.city,
            &l.state_region,
            &l.country,
            &l.postal_code,
            &l.latitude,
            &l.longitude,
            &l.place_id,
            &l.created_at,
            &l.updated_at,
        ],
        |r| Ok(r.get(0)),
    )
    .await
}

// --- offers -----------------------------------------------------------------------------

const OFFER_SELECT: &str = "SELECT o.id, o.uuid, o.person_uuid, o.price::text, o.comment, o.status, o.listing_id, \
     l.uuid, l.person_uuid, l.listing_type, o.created_at, o.updated_at \
     FROM offer o JOIN listing l ON l.id = o.listing_id";

/// The offer columns `RETURNING` can give, the listing's part supplied by the caller.
const OFFER_RETURNING: &str =
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

fn offer_returned(r: &Row, listing: &Listing) -> StoreResult<Offer> {
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

async fn lock_offer(tx: &Transaction<'_>, uuid: Uuid) -> StoreResult<Offer> {
    tx.fetch_opt(
        &format!("{OFFER_SELECT} WHERE o.uuid = $1 FOR UPDATE OF o"),
        &[&uuid],
        offer_from,
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(msg::OFFER_NOT_FOUND.into()))
}

/// The listing id of an offer (unlocked: it never changes), to lock the listing before
/// the offer.
async fn listing_id_of_offer(tx: &Transaction<'_>, uuid: Uuid) -> StoreResult<i64> {
    tx.fetch_opt(
        "SELECT listing_id FROM offer WHERE uuid = $1",
        &[&uuid],
        |r| Ok(r.get(0)),
    )
    .await?
    .ok_or_else(|| StoreError::NotFound(msg::OFFER_NOT_FOUND.into()))
}

// --- wallets ----------------------------------------------------------------------------

const WALLET_COLS: &str = "id, uuid, person_uuid, chain, wallet_type, network, balance::text, currency, address, created_at, updated_at";

fn wallet_from(r: &Row) -> StoreResult<Wallet> {
    let balance: Option<String> = r.get(6);
    Ok(Wallet {
        id: r.get(0),
        uuid: r.get(1),
        person_uuid: r.get(2),
        chain: wire(r, 3, Blockchain::parse)?,
        wallet_type: wire(r, 4, WalletType::parse)?,
        network: r.get(5),
        balance: balance
            .map(|b| Wei::parse_wei(&b).map_err(|e| corrupt("balance", e)))
            .transpose()?,
        currency: wire(r, 7, Currency::parse)?,
        address: address(r, 8)?,
        created_at: r.get(9),
        updated_at: r.get(10),
    })
}

// --- orders -----------------------------------------------------------------------------

pub(super) const ORDER_COLS: &str = "id, uuid, status, offer_uuid, listing_uuid, listing_title, payer_uuid, payee_uuid, \
     payer_address, payee_address, currency, listing_price::text, total_platform_fee::text, platform_fee_tax::text, \
     order_total::text, chain_id, escrow_contract, escrow_order_id, deadline, quote_signature, version, created_at, updated_at";

pub(super) fn order_from(r: &Row) -> StoreResult<Order> {
    let fees = Fees {
        price: wei(r, 11)?,
        platform_fee: wei(r, 12)?,
        fee_tax: wei(r, 13)?,
        total: wei(r, 14)?,
    };
    let chain_id: i64 = r.get(15);
    let order_id: String = r.get(17);
    let deadline: Timestamp = r.get(18);
    Ok(Order {
        id: r.get(0),
        uuid: r.get(1),
        status: wire(r, 2, OrderStatus::parse)?,
        offer_uuid: r.get(3),
        listing_uuid: r.get(4),
        listing_title: r.get(5),
        payer_uuid: r.get(6),
        payee_uuid: r.get(7),
        currency: wire(r, 10, Currency::parse)?,
        quote: EscrowQuote {
            chain_id: u64::try_from(chain_id).map_err(|e| corrupt("chain_id", e))?,
            contract: address(r, 16)?,
            order_id: B256::from_str(&order_id).map_err(|e| corrupt("escrow_order_id", e))?,
            payer: address(r, 8)?,
            payee: address(r, 9)?,
            amount: fees.total,
            fee: fees.platform_take(),
            deadline: u64::try_from(deadline.timestamp()).map_err(|e| corrupt("deadline", e))?,
        },
        fees,
        quote_signature: r.get(19),
        version: r.get(20),
        created_at: r.get(21),
        updated_at: r.get(22),
    })
}

/// The offer's order that is not final (inside a change's transaction, or on its own).
async fn open_order<C: GenericClient>(c: &C, offer_uuid: Uuid) -> StoreResult<Option<Order>> {
    c.fetch_opt(
        &format!(
            "SELECT {ORDER_COLS} FROM orders WHERE offer_uuid = $1 AND status IN {OPEN_ORDER}"
        ),
        &[&offer_uuid],
        order_from,
    )
    .await
}

#[async_trait]
impl MarketStore for PgStore {
    async fn list_categories(
        &self,
        category_type: Option<CategoryType>,
    ) -> StoreResult<Vec<Category>> {
        let kind = category_type.map(|t| t.as_str());
        self.fetch_all(
            &format!(
                "SELECT {CATEGORY_COLS} FROM category WHERE ($1::text IS NULL OR category_type = $1) ORDER BY id"
            ),
            &[&kind],
            category_from,
        )
        .await
    }

    async fn category_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Category>> {
        self.fetch_opt(
            &format!("SELECT {CATEGORY_COLS} FROM category WHERE uuid = $1"),
            &[&uuid],
            category_from,
        )
        .await
    }

    async fn insert_listing(
        &self,
        listing: &NewListing,
        events: &[EventEnvelope],
    ) -> StoreResult<Listing> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let category_id: i64 = tx
            .fetch_opt(
                "SELECT id FROM category WHERE uuid = $1",
                &[&listing.category_uuid],
                |r| Ok(r.get(0)),
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(msg::CATEGORY_NOT_FOUND.into()))?;
        let location_id = match &listing.location {
            Some(l) => Some(insert_location(&tx, l).await?),
            None => None,
        };
        let id = tx
            .fetch_one(
                "INSERT INTO listing (uuid, person_uuid, listing_type, title, description, price, currency_type, currency, \
                 status, category_id, additional_fields, location_id, service_delivery, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::numeric, $7, $8, 'DRAFT', $9, $10, $11, $12, $13, $13) RETURNING id",
                &[
                    &listing.uuid,
                    &listing.person_uuid,
                    &listing.listing_type.as_str(),
                    &listing.title,
                    &listing.description,
                    &listing.price.to_wei_string(),
                    &listing.currency_type.as_str(),
                    &listing.currency.as_str(),
                    &category_id,
                    &additional_fields_json(&listing.additional_fields),
                    &location_id,
                    &listing.service_delivery.map(|d| d.as_str()),
                    &listing.at,
                ],
                |r| Ok(r.get(0)),
            )
            .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(listing.stored(id))
    }

    async fn listing_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Listing>> {
        self.fetch_opt(
            &format!("{LISTING_SELECT} WHERE l.uuid = $1"),
            &[&uuid],
            listing_from,
        )
        .await
    }

    async fn update_listing(
        &self,
        uuid: Uuid,
        patch: &ListingPatch,
        at: Timestamp,
        events: &[EventEnvelope],
    ) -> StoreResult<Listing> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let mut listing = lock_listing(&tx, uuid).await?;
        listing
            .status
            .transition(ListingAction::Edit)
            .map_err(|e| StoreError::Conflict(e.0))?;
        if listing_has_open_order(&tx, uuid).await? {
            return Err(StoreError::Conflict(open_order_refusal("edit").0));
        }
        let old_location = listing.location.clone();
        patch.apply(&mut listing, at);
        let mut location_id: Option<Option<i64>> = None;
        match (&old_location, &listing.location) {
            (Some(old), None) => {
                // The listing's location_id becomes NULL by its FK (ON DELETE SET NULL).
                tx.exec("DELETE FROM location WHERE uuid = $1", &[&old.uuid])
                    .await?;
            }
            (Some(_), Some(l)) if patch.location.is_some() => {
                tx.exec(
                    "UPDATE location SET address = $2, suburb = $3, city = $4, state_region = $5, country = $6, \
                     postal_code = $7, latitude = $8, longitude = $9, place_id = $10, updated_at = $11 WHERE uuid = $1",
                    &[
                        &l.uuid,
                        &l.address,
                        &l.suburb,
                        &l.city,
                        &l.state_region,
                        &l.country,
                        &l.postal_code,
                        &l.latitude,
                        &l.longitude,
                        &l.place_id,
                        &l.updated_at,
                    ],
                )
                .await?;
            }
            (None, Some(l)) => location_id = Some(Some(insert_location(&tx, l).await?)),
            _ => {}
        }
        tx.exec(
            "UPDATE listing SET title = $2, description = $3, price = $4::text::numeric, additional_fields = $5, \
             location_id = CASE WHEN $6 THEN $7 ELSE location_id END, updated_at = $8 WHERE id = $1",
            &[
                &listing.id,
                &listing.title,
                &listing.description,
                &listing.price.to_wei_string(),
                &additional_fields_json(&listing.additional_fields),
                &location_id.is_some(),
                &location_id.flatten(),
                &at,
            ],
        )
        .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(listing)
    }

    async fn transition_listing(
        &self,
        uuid: Uuid,
        action: ListingAction,
        at: Timestamp,
        events: &[EventEnvelope],
        offer_event: OfferEvents<'_>,
    ) -> StoreResult<Listing> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let mut listing = lock_listing(&tx, uuid).await?;
        let next = listing
            .status
            .transition(action)
            .map_err(|e| StoreError::Conflict(e.0))?;
        if action.blocked_by_open_order() && listing_has_open_order(&tx, uuid).await? {
            return Err(StoreError::Conflict(open_order_refusal(action.verb()).0));
        }
        tx.exec(
            "UPDATE listing SET status = $2, updated_at = $3 WHERE id = $1",
            &[&listing.id, &next.as_str(), &at],
        )
        .await?;
        listing.status = next;
        listing.updated_at = at;
        let cascade = if next == ListingStatus::Cancelled {
            tx.fetch_all(
                &format!(
                    "UPDATE offer SET status = 'CANCELLED', updated_at = $2 \
                     WHERE listing_id = $1 AND status IN ('OFFERED', 'ACCEPTED') RETURNING {OFFER_RETURNING}"
                ),
                &[&listing.id, &at],
                |r| Ok(offer_event(&offer_returned(r, &listing)?)),
            )
            .await?
        } else {
            Vec::new()
        };
        record(&tx, events).await?;
        record(&tx, &cascade).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(listing)
    }

    async fn delete_listing(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let listing = lock_listing(&tx, uuid).await?;
        if listing_has_open_order(&tx, uuid).await? {
            return Err(StoreError::Conflict(open_order_refusal("delete").0));
        }
        // Offers go by their FK (CASCADE), the location by trigger, orders keep their
        // record (offer_id SET NULL).
        tx.exec("DELETE FROM listing WHERE id = $1", &[&listing.id])
            .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn search_listings(
        &self,
        query: &ListingQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Listing>> {
        // Two statements rather than `$q IS NULL OR ...`, so that a cached generic plan
        // cannot lose the GIN index on `document`.
        let text = if query.q.is_some() {
            " AND l.document @@ websearch_to_tsquery('english', $8)"
        } else {
            ""
        };
        let sql = format!(
            "{LISTING_SELECT} WHERE ($1::bigint IS NULL OR l.id < $1) \
               AND (NOT $2 OR l.status = 'PUBLISHED') \
               AND (cardinality($3::text[]) = 0 OR l.listing_type = ANY($3)) \
               AND ($4::uuid IS NULL OR l.person_uuid = $4) \
               AND ($5::timestamptz IS NULL OR l.updated_at >= $5) \
               AND ($6::timestamptz IS NULL OR l.updated_at <= $6){text} \
             ORDER BY l.id DESC LIMIT $7"
        );
        let types: Vec<&str> = query.listing_types.iter().map(|t| t.as_str()).collect();
        let limit = page.fetch() as i64;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &page.after,
            &query.published_only,
            &types,
            &query.person_uuid,
            &query.updated_at_start,
            &query.updated_at_end,
            &limit,
        ];
        if let Some(q) = &query.q {
            params.push(q);
        }
        let items = self.fetch_all(&sql, &params, listing_from).await?;
        Ok(Page::from_rows(items, page, |l| l.id))
    }

    async fn insert_offer(
        &self,
        offer: &NewOffer,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let listing = lock_listing(&tx, offer.listing_uuid).await?;
        if listing.status != ListingStatus::Published {
            return Err(StoreError::Conflict(msg::listing_not_published(
                "make an offer",
                listing.status,
            )));
        }
        let stored = tx
            .fetch_one(
                &format!(
                    "INSERT INTO offer (uuid, person_uuid, price, comment, status, listing_id, created_at, updated_at) \
                     VALUES ($1, $2, $3::text::numeric, $4, 'OFFERED', $5, $6, $6) RETURNING {OFFER_RETURNING}"
                ),
                &[
                    &offer.uuid,
                    &offer.person_uuid,
                    &offer.price.to_wei_string(),
                    &offer.comment,
                    &listing.id,
                    &offer.at,
                ],
                |r| offer_returned(r, &listing),
            )
            .await?;
        let notified = insert_tx(&tx, notifications).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((stored, notified))
    }

    async fn offer_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Offer>> {
        self.fetch_opt(
            &format!("{OFFER_SELECT} WHERE o.uuid = $1"),
            &[&uuid],
            offer_from,
        )
        .await
    }

    async fn update_offer(
        &self,
        uuid: Uuid,
        patch: &OfferPatch,
        at: Timestamp,
        events: &[EventEnvelope],
    ) -> StoreResult<Offer> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let mut offer = lock_offer(&tx, uuid).await?;
        offer
            .status
            .transition(OfferAction::Update)
            .map_err(|e| StoreError::Conflict(e.0))?;
        patch.apply(&mut offer, at);
        tx.exec(
            "UPDATE offer SET price = $2::text::numeric, comment = $3, updated_at = $4 WHERE id = $1",
            &[&offer.id, &offer.price.to_wei_string(), &offer.comment, &at],
        )
        .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(offer)
    }

    async fn transition_offer(
        &self,
        uuid: Uuid,
        action: OfferAction,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let listing_id = listing_id_of_offer(&tx, uuid).await?;
        let listing_status = lock_listing_status(&tx, listing_id).await?;
        let mut offer = lock_offer(&tx, uuid).await?;
        let next = offer
            .status
            .transition(action)
            .map_err(|e| StoreError::Conflict(e.0))?;
        match action {
            OfferAction::Accept if listing_status != ListingStatus::Published => {
                return Err(StoreError::Conflict(msg::listing_not_published(
                    "accept an offer",
                    listing_status,
                )));
            }
            OfferAction::Cancel if open_order(&tx, uuid).await?.is_some() => {
                return Err(StoreError::Conflict(msg::OFFER_HAS_OPEN_ORDER.into()));
            }
            _ => {}
        }
        // Accepting a second offer of the listing trips offer_one_accepted_per_listing_key.
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

    async fn insert_wallet(
        &self,
        wallet: &NewWallet,
        events: &[EventEnvelope],
    ) -> StoreResult<Wallet> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = tx
            .fetch_one(
                "INSERT INTO wallet (uuid, person_uuid, chain, wallet_type, network, balance, currency, address, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6::text::numeric, $7, $8, $9, $9) RETURNING id",
                &[
                    &wallet.uuid,
                    &wallet.person_uuid,
                    &wallet.chain.as_str(),
                    &wallet.wallet_type.as_str(),
                    &wallet.network,
                    &wallet.balance.map(Wei::to_wei_string),
                    &wallet.currency.as_str(),
                    &checksummed(&wallet.address),
                    &wallet.at,
                ],
                |r| Ok(r.get(0)),
            )
            .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(wallet.stored(id))
    }

    async fn wallet_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Wallet>> {
        self.fetch_opt(
            &format!("SELECT {WALLET_COLS} FROM wallet WHERE uuid = $1"),
            &[&uuid],
            wallet_from,
        )
        .await
    }

    async fn delete_wallet(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        if tx
            .exec("DELETE FROM wallet WHERE uuid = $1", &[&uuid])
            .await?
            == 0
        {
            return Err(StoreError::NotFound(msg::WALLET_NOT_FOUND.into()));
        }
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    async fn list_wallets(
        &self,
        person_uuid: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Wallet>> {
        let limit = page.fetch() as i64;
        let items = self
            .fetch_all(
                &format!(
                    "SELECT {WALLET_COLS} FROM wallet WHERE person_uuid = $1 AND ($2::bigint IS NULL OR id < $2) \
                     ORDER BY id DESC LIMIT $3"
                ),
                &[&person_uuid, &page.after, &limit],
                wallet_from,
            )
            .await?;
        Ok(Page::from_rows(items, page, |w| w.id))
    }

    async fn insert_order(
        &self,
        order: &NewOrder,
        events: &[EventEnvelope],
    ) -> StoreResult<(Order, bool)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let listing_id = listing_id_of_offer(&tx, order.offer_uuid).await?;
        let listing_status = lock_listing_status(&tx, listing_id).await?;
        let offer = lock_offer(&tx, order.offer_uuid).await?;
        if let Some(existing) = open_order(&tx, order.offer_uuid).await? {
            tx.commit().await.map_err(map_err)?;
            return Ok((existing, false));
        }
        if offer.status != OfferStatus::Accepted {
            return Err(StoreError::Conflict(msg::offer_not_accepted(offer.status)));
        }
        if listing_status != ListingStatus::Published {
            return Err(StoreError::Conflict(msg::listing_not_published(
                "create an order",
                listing_status,
            )));
        }
        let q = &order.quote;
        let chain_id = i64::try_from(q.chain_id)
            .map_err(|_| StoreError::Internal("chain id out of range".into()))?;
        let deadline = crate::domain::order::deadline_timestamp(q.deadline)
            .ok_or_else(|| StoreError::Internal("quote deadline out of range".into()))?;
        let fees = &order.fees;
        let inserted: Option<i64> = tx
            .fetch_opt(
                &format!(
                    "INSERT INTO orders (uuid, status, offer_id, offer_uuid, payer_uuid, payee_uuid, payer_address, payee_address, \
                 currency, listing_title, listing_uuid, listing_price, total_platform_fee, platform_fee_tax, order_total, \
                 chain_id, escrow_contract, escrow_order_id, deadline, quote_signature, created_at, updated_at) \
                 VALUES ($1, 'AWAITING_PAYMENT', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::numeric, $12::text::numeric, \
                 $13::text::numeric, $14::text::numeric, $15, $16, $17, $18, $19, $20, $20) \
                 ON CONFLICT (offer_uuid) WHERE status IN {OPEN_ORDER} DO NOTHING RETURNING id"
                ),
                &[
                    &order.uuid,
                    &offer.id,
                    &order.offer_uuid,
                    &order.payer_uuid,
                    &order.payee_uuid,
                    &checksummed(&q.payer),
                    &checksummed(&q.payee),
                    &order.currency.as_str(),
                    &order.listing_title,
                    &order.listing_uuid,
                    &fees.price.to_wei_string(),
                    &fees.platform_fee.to_wei_string(),
                    &fees.fee_tax.to_wei_string(),
                    &fees.total.to_wei_string(),
                    &chain_id,
                    &checksummed(&q.contract),
                    &q.order_id.to_string(),
                    &deadline,
                    &order.quote_signature,
                    &order.at,
                ],
                |r| Ok(r.get(0)),
            )
            .await?;
        let Some(id) = inserted else {
            // Only reachable without the locks above (they serialize every creation for
            // this offer); kept so that the index, not luck, guarantees one open order.
            let existing = open_order(&tx, order.offer_uuid)
                .await?
                .ok_or_else(|| StoreError::Conflict("order creation raced; retry".into()))?;
            tx.commit().await.map_err(map_err)?;
            return Ok((existing, false));
        };
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((order.stored(id), true))
    }

    async fn open_order_for_offer(&self, offer_uuid: Uuid) -> StoreResult<Option<Order>> {
        let client = self.client().await?;
        open_order(&client, offer_uuid).await
    }

    async fn has_funds_in_escrow(&self, person_uuid: Uuid) -> StoreResult<bool> {
        self.fetch_one(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE (payer_uuid = $1 OR payee_uuid = $1) \
             AND status IN ('PAID', 'RELEASING', 'REFUNDING'))",
            &[&person_uuid],
            |r| Ok(r.get(0)),
        )
        .await
    }
}
