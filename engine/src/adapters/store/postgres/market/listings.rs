//! Categories and listings on PostgreSQL.

use super::super::shape::Shape;
use super::super::social::delete_parent_assets_tx;
use super::super::{PgStore, Sql, map_err, record};
use super::offers::{OFFER_RETURNING, offer_returned};
use super::{corrupt, open_order_statuses, wei, wire};
use crate::domain::assets::ParentType;
use crate::domain::listing::{
    AdditionalFields, Listing, ListingAction, ListingPatch, ListingQuery, ListingStatus, Location,
    NewListing, decide, decide_delete,
};
use crate::domain::market::{
    Category, CategoryType, Currency, CurrencyType, ListingType, ServiceDelivery,
};
use crate::domain::offer::OfferStatus;
use crate::domain::refusal::Refusal;
use crate::domain::search::single_word;
use crate::domain::{Page, PageRequest, Timestamp};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::{ListingStore, OfferEvents};
use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;
use uuid::Uuid;

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

/// The columns [`listing_from`] reads, all from `l`, a listing row: showing a listing
/// joins nothing. Its category's uuid (V18: ids and uuids of categories never change) and
/// its location (V19) are copies the database keeps on the row.
macro_rules! listing_cols {
    () => {
        "l.id, l.uuid, l.person_uuid, l.listing_type, l.title, l.description, l.price::text, \
         l.currency_type, l.currency, l.status, l.category_uuid, l.additional_fields, l.service_delivery, l.created_at, \
         l.updated_at, l.location_uuid, l.location_address, l.location_suburb, l.location_city, \
         l.location_state_region, l.location_country, l.location_postal_code, l.location_latitude, \
         l.location_longitude, l.location_place_id, l.location_created_at, l.location_updated_at"
    };
}
const LISTING_SELECT: &str = concat!("SELECT ", listing_cols!(), " FROM listing l");

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

pub(super) async fn lock_listing(tx: &Transaction<'_>, uuid: Uuid) -> StoreResult<Listing> {
    tx.fetch_opt(
        &format!("{LISTING_SELECT} WHERE l.uuid = $1 FOR UPDATE OF l"),
        &[&uuid],
        listing_from,
    )
    .await?
    .ok_or(StoreError::Refused(Refusal::ListingNotFound))
}

/// The status of listing `id`, its row locked.
pub(super) async fn lock_listing_status(
    tx: &Transaction<'_>,
    id: i64,
) -> StoreResult<ListingStatus> {
    tx.fetch_opt(
        "SELECT status FROM listing WHERE id = $1 FOR UPDATE",
        &[&id],
        |r| wire(r, 0, ListingStatus::parse),
    )
    .await?
    .ok_or(StoreError::Refused(Refusal::ListingNotFound))
}

async fn listing_has_open_order(tx: &Transaction<'_>, listing_uuid: Uuid) -> StoreResult<bool> {
    tx.fetch_one(
        "SELECT EXISTS (SELECT 1 FROM orders WHERE listing_uuid = $1 AND status = ANY($2))",
        &[&listing_uuid, &open_order_statuses()],
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

#[async_trait]
impl ListingStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_categories")]
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

    #[tracing::instrument(level = "debug", skip_all, name = "pg.category_by_uuid")]
    async fn category_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Category>> {
        self.fetch_opt(
            &format!("SELECT {CATEGORY_COLS} FROM category WHERE uuid = $1"),
            &[&uuid],
            category_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_listing")]
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
            .ok_or(StoreError::Refused(Refusal::CategoryNotFound))?;
        let location_id = match &listing.location {
            Some(l) => Some(insert_location(&tx, l).await?),
            None => None,
        };
        let id = tx
            .fetch_one(
                "INSERT INTO listing (uuid, person_uuid, listing_type, title, description, price, currency_type, currency, \
                 status, category_id, additional_fields, location_id, service_delivery, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6::text::numeric, $7, $8, $14, $9, $10, $11, $12, $13, $13) RETURNING id",
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
                    &ListingStatus::Draft.as_str(),
                ],
                |r| Ok(r.get(0)),
            )
            .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(listing.stored(id))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.listing_by_uuid")]
    async fn listing_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Listing>> {
        self.fetch_opt(
            &format!("{LISTING_SELECT} WHERE l.uuid = $1"),
            &[&uuid],
            listing_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.update_listing")]
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
        let open_order = listing_has_open_order(&tx, uuid).await?;
        decide(ListingAction::Edit, listing.status, open_order)?;
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

    #[tracing::instrument(level = "debug", skip_all, name = "pg.transition_listing")]
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
        let open_order = listing_has_open_order(&tx, uuid).await?;
        let next = decide(action, listing.status, open_order)?;
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
                    "UPDATE offer SET status = $4, updated_at = $2 \
                     WHERE listing_id = $1 AND status = ANY($3) RETURNING {OFFER_RETURNING}"
                ),
                &[
                    &listing.id,
                    &at,
                    &OfferStatus::OPEN.map(OfferStatus::as_str).to_vec(),
                    &OfferStatus::Cancelled.as_str(),
                ],
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

    #[tracing::instrument(level = "debug", skip_all, name = "pg.delete_listing")]
    async fn delete_listing(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let listing = lock_listing(&tx, uuid).await?;
        decide_delete(listing_has_open_order(&tx, uuid).await?)?;
        // Offers go by their FK (CASCADE), the location by trigger, orders keep their
        // record (offer_id SET NULL).
        tx.exec("DELETE FROM listing WHERE id = $1", &[&listing.id])
            .await?;
        delete_parent_assets_tx(&tx, ParentType::Listing, &[uuid]).await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.search_listings")]
    async fn search_listings(
        &self,
        query: &ListingQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Listing>> {
        // Only the filters present are written (see `shape`): a generic plan keeps the
        // keyset cursor and the type as index conditions. The page's ids are chosen from
        // `listing` alone (browsing: an index-only scan; a search sorts narrow `(id)`
        // tuples, not whole rows), then each shown row is read by primary key, alone (its
        // category's uuid and its location are copies on the row since V18 and V19: under
        // a generic plan each join cost a nested-loop step per shown row, and the one to
        // `category` a sort too); one word walks `listing_word` instead (below). `LIMIT 1`
        // keeps that LATERAL subquery from being flattened into a join the planner may run
        // as hash joins over whole tables: a generic plan cannot see the page size and
        // guesses 500 rows, and browsing at 5,000 listings took 1.3 ms that way against
        // 0.13 ms; a search matching 200 listings 0.37 ms against 1.0–2.2 ms with whole
        // rows in its sort (issue 14, EXPLAIN ANALYZE).
        let types: Vec<&str> = query.listing_types.iter().map(|t| t.as_str()).collect();
        let limit = page.fetch() as i64;
        let published = ListingStatus::Published.as_str();
        let mut shape = Shape::new();
        // What the listing row itself must satisfy.
        if query.published_only {
            let n = shape.param(&published);
            shape.and(format!("l.status = ${n}"));
        }
        if !types.is_empty() {
            let n = shape.param(&types);
            shape.and(format!("l.listing_type = ANY(${n})"));
        }
        shape.and_some(&query.person_uuid, |n| format!("l.person_uuid = ${n}"));
        shape.and_some(&query.updated_at_start, |n| format!("l.updated_at >= ${n}"));
        shape.and_some(&query.updated_at_end, |n| format!("l.updated_at <= ${n}"));
        let listing_conditions = shape.take_conditions();
        // One plain word, with no filter that keeps few of its listings (a poster, a time
        // window), is looked up in `listing_word` (V14): its (word, listing_id) key,
        // walked backwards, hands the matches over newest first, each listing read once by
        // primary key, its own conditions checked and, if kept, shown (`LIMIT 1` keeps
        // that a nested loop: flattened, a generic plan merge-joined the whole `listing`
        // table), so the walk stops at the page whatever the word's frequency. (Checking
        // first and reading the shown rows again, as before, took 236 buffer reads for a
        // page of 21 against 171, and pgbench ran the statement at 5.8–6.9k/s against
        // 7.2k/s, generic plans, 5,000 listings.)
        let selective = query.person_uuid.is_some()
            || query.updated_at_start.is_some()
            || query.updated_at_end.is_some();
        let word = query
            .q
            .as_deref()
            .and_then(single_word)
            .filter(|_| !selective);
        let sql = if let Some(w) = &word {
            shape.and_some(&page.after, |n| format!("w.listing_id < ${n}"));
            // The word's one lexeme as `document` holds it (NULL for a stop word, which
            // then matches nothing, as `@@` does).
            let n = shape.param(w);
            shape.and(format!(
                "w.word = (tsvector_to_array(to_tsvector('english', ${n})))[1]"
            ));
            let n_limit = shape.param(&limit);
            format!(
                "SELECT shown.* FROM listing_word w \
                 CROSS JOIN LATERAL (SELECT {cols} FROM listing l \
                 WHERE l.id = w.listing_id AND {listing_conditions} LIMIT 1) shown \
                 WHERE {conditions} ORDER BY w.listing_id DESC LIMIT ${n_limit}",
                cols = listing_cols!(),
                conditions = shape.conditions(),
            )
        } else {
            shape.and_some(&page.after, |n| format!("l.id < ${n}"));
            shape.and_some(&query.q, |n| {
                format!("l.document @@ websearch_to_tsquery('english', ${n})")
            });
            // With any other text, the matches come from the GIN index and are sorted
            // (`l.id + 0` keeps the planner off a backward walk of the primary key that
            // stops at the first page of matches: quick for a common word, but a word
            // nobody uses then reads the whole table, 4,400 pages at 100k listings). The
            // cost is one heap fetch per match, whatever the words.
            let order = if query.q.is_some() {
                "l.id + 0"
            } else {
                "l.id"
            };
            let n_limit = shape.param(&limit);
            format!(
                "SELECT shown.* FROM (SELECT l.id FROM listing l WHERE {listing_conditions} \
                 AND {conditions} ORDER BY {order} DESC LIMIT ${n_limit}) page \
                 CROSS JOIN LATERAL (SELECT {cols} FROM listing l WHERE l.id = page.id LIMIT 1) shown \
                 ORDER BY page.id DESC",
                cols = listing_cols!(),
                conditions = shape.conditions(),
            )
        };
        let items = self.fetch_all(&sql, shape.params(), listing_from).await?;
        Ok(Page::from_rows(items, page, |l| l.id))
    }
}
