//! Categories and listings in memory.

use super::super::{MemoryStore, page_newest_first};
use crate::domain::assets::ParentType;
use crate::domain::listing::{
    Listing, ListingAction, ListingPatch, ListingQuery, ListingStatus, NewListing, decide,
    decide_delete,
};
use crate::domain::market::{Category, CategoryType};
use crate::domain::offer::OfferStatus;
use crate::domain::refusal::Refusal;
use crate::domain::search::{TextQuery, lexemes};
use crate::domain::{Page, PageRequest, Timestamp, time};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::{ListingStore, OfferEvents};
use async_trait::async_trait;
use std::collections::HashSet;
use std::sync::LazyLock;
use uuid::Uuid;

/// A listing with the stems of its title and description (the memory store's
/// `listing.document`), recomputed whenever they change.
pub(crate) struct ListingRow {
    pub listing: Listing,
    pub lexemes: HashSet<String>,
}

impl ListingRow {
    fn new(listing: Listing) -> Self {
        let lexemes = lexemes(&format!("{} {}", listing.title, listing.description));
        Self { listing, lexemes }
    }
}

/// The seed migration, the single source of the category list for both stores.
pub(super) const SEED_SQL: &str =
    include_str!("../../../../../../migrations/V4__seed_categories.sql");
/// The timestamp the seed migration gives every category.
const SEEDED_AT: &str = "2024-01-01T00:00:00Z";

/// The categories of `V4__seed_categories.sql`, read from its lines of the form
/// `('uuid', 'TYPE', 'Name', 'Description'),`. Categories never change at run time, so
/// they live outside the lock.
pub(super) static CATEGORIES: LazyLock<Vec<Category>> = LazyLock::new(|| parse_seed(SEED_SQL));

/// The single-quoted SQL strings of one line (`''` is a quote inside a string).
pub(super) fn quoted_strings(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut s = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    s.push('\'');
                }
                Some('\'') | None => break,
                Some(other) => s.push(other),
            }
        }
        out.push(s);
    }
    out
}

pub(crate) fn parse_seed(sql: &str) -> Vec<Category> {
    let at = time::parse("seed", SEEDED_AT).unwrap_or_default();
    sql.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("('"))
        .filter_map(|line| {
            let fields = quoted_strings(line);
            let [uuid, kind, name, description] = fields.as_slice() else {
                return None;
            };
            Some((
                Uuid::parse_str(uuid).ok()?,
                CategoryType::parse(kind).ok()?,
                name.clone(),
                description.clone(),
            ))
        })
        .enumerate()
        .map(|(i, (uuid, category_type, name, description))| Category {
            id: i as i64 + 1,
            uuid,
            name,
            description: Some(description),
            category_type,
            created_at: at,
            updated_at: at,
        })
        .collect()
}

#[async_trait]
impl ListingStore for MemoryStore {
    async fn list_categories(
        &self,
        category_type: Option<CategoryType>,
    ) -> StoreResult<Vec<Category>> {
        Ok(CATEGORIES
            .iter()
            .filter(|c| category_type.is_none_or(|t| c.category_type == t))
            .cloned()
            .collect())
    }

    async fn category_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Category>> {
        Ok(CATEGORIES.iter().find(|c| c.uuid == uuid).cloned())
    }

    async fn insert_listing(
        &self,
        listing: &NewListing,
        events: &[EventEnvelope],
    ) -> StoreResult<Listing> {
        if !CATEGORIES.iter().any(|c| c.uuid == listing.category_uuid) {
            return Err(StoreError::Refused(Refusal::CategoryNotFound));
        }
        let mut s = self.state.write();
        if s.person_by_uuid(listing.person_uuid).is_none() {
            return Err(StoreError::Refused(Refusal::PersonNotFound));
        }
        let id = s.next_id("listing");
        let stored = listing.stored(id);
        s.listings.insert(id, ListingRow::new(stored.clone()));
        s.record(events);
        Ok(stored)
    }

    async fn listing_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Listing>> {
        let s = self.state.read();
        Ok(s.listings
            .values()
            .find(|r| r.listing.uuid == uuid)
            .map(|r| r.listing.clone()))
    }

    async fn update_listing(
        &self,
        uuid: Uuid,
        patch: &ListingPatch,
        at: Timestamp,
        events: &[EventEnvelope],
    ) -> StoreResult<Listing> {
        let mut s = self.state.write();
        let id = s
            .listing_id(uuid)
            .ok_or(StoreError::Refused(Refusal::ListingNotFound))?;
        decide(
            ListingAction::Edit,
            s.listings[&id].listing.status,
            s.listing_has_open_order(uuid),
        )?;
        let mut listing = s.listings[&id].listing.clone();
        patch.apply(&mut listing, at);
        s.listings.insert(id, ListingRow::new(listing.clone()));
        s.record(events);
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
        let mut s = self.state.write();
        let id = s
            .listing_id(uuid)
            .ok_or(StoreError::Refused(Refusal::ListingNotFound))?;
        let next = decide(
            action,
            s.listings[&id].listing.status,
            s.listing_has_open_order(uuid),
        )?;
        let mut cascade = Vec::new();
        if next == ListingStatus::Cancelled {
            for o in s
                .offers
                .values_mut()
                .filter(|o| o.listing_id == id && o.status.is_open())
            {
                o.status = OfferStatus::Cancelled;
                o.updated_at = at;
                cascade.push(offer_event(o));
            }
        }
        let row = s
            .listings
            .get_mut(&id)
            .ok_or(StoreError::Refused(Refusal::ListingNotFound))?;
        row.listing.status = next;
        row.listing.updated_at = at;
        let listing = row.listing.clone();
        s.record(events);
        s.record(&cascade);
        Ok(listing)
    }

    async fn delete_listing(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut s = self.state.write();
        let id = s
            .listing_id(uuid)
            .ok_or(StoreError::Refused(Refusal::ListingNotFound))?;
        decide_delete(s.listing_has_open_order(uuid))?;
        s.listings.remove(&id);
        s.offers.retain(|_, o| o.listing_id != id);
        s.remove_parent_assets(ParentType::Listing, uuid);
        s.record(events);
        Ok(())
    }

    async fn search_listings(
        &self,
        query: &ListingQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Listing>> {
        let text = query.q.as_deref().map(TextQuery::parse);
        let s = self.state.read();
        Ok(page_newest_first(&s.listings, page, |r| {
            (query.matches_filters(&r.listing)
                && text.as_ref().is_none_or(|t| t.matches(&r.lexemes)))
            .then(|| r.listing.clone())
        }))
    }
}
