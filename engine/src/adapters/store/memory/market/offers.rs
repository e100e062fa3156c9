//! Offers in memory.

use super::super::{MemoryStore, State, page_newest_first};
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
use uuid::Uuid;

#[async_trait]
impl OfferStore for MemoryStore {
    async fn insert_offer(
        &self,
        offer: &NewOffer,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut s = self.state.write();
        let listing = s
            .listings
            .values()
            .find(|r| r.listing.uuid == offer.listing_uuid)
            .map(|r| r.listing.clone())
            .ok_or(StoreError::Refused(Refusal::ListingNotFound))?;
        let own_open_offer = s.offers.values().any(|o| {
            o.listing_id == listing.id && o.person_uuid == offer.person_uuid && o.status.is_open()
        });
        decide_new(listing.status, own_open_offer)?;
        // PostgreSQL's offer_person_uuid_fkey, said here with the same refusal.
        if s.person_by_uuid(offer.person_uuid).is_none() {
            return Err(StoreError::Refused(Refusal::PersonNotFound));
        }
        let id = s.next_id("offer");
        let stored = Offer {
            id,
            uuid: offer.uuid,
            person_uuid: offer.person_uuid,
            price: offer.price,
            comment: offer.comment.clone(),
            status: OfferStatus::Offered,
            listing_id: listing.id,
            listing_uuid: listing.uuid,
            poster_uuid: listing.person_uuid,
            listing_type: listing.listing_type,
            created_at: offer.at,
            updated_at: offer.at,
        };
        s.offers.insert(id, stored.clone());
        let notified = s.put_notifications(notifications);
        s.record(events);
        Ok((stored, notified))
    }

    async fn offer_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Offer>> {
        Ok(self
            .state
            .read()
            .offers
            .values()
            .find(|o| o.uuid == uuid)
            .cloned())
    }

    async fn update_offer(
        &self,
        uuid: Uuid,
        patch: &OfferPatch,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut s = self.state.write();
        let id = s
            .offer_id(uuid)
            .ok_or(StoreError::Refused(Refusal::OfferNotFound))?;
        let facts = s.offer_facts(id)?;
        decide(OfferAction::Update, &facts, None)?;
        let offer = s
            .offers
            .get_mut(&id)
            .ok_or(StoreError::Refused(Refusal::OfferNotFound))?;
        patch.apply(offer, at);
        let updated = offer.clone();
        let notified = s.put_notifications(notifications);
        s.record(events);
        Ok((updated, notified))
    }

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
    }

    async fn transition_offer(
        &self,
        uuid: Uuid,
        action: OfferAction,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        self.change_offer(uuid, action, None, at, notifications, events)
    }

    async fn list_offers(
        &self,
        query: &OfferQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Offer>> {
        let s = self.state.read();
        Ok(page_newest_first(&s.offers, page, |o| {
            query.matches(o).then(|| o.clone())
        }))
    }
}

impl State {
    /// What [`decide`] needs about offer `id`, read under the store's lock.
    fn offer_facts(&self, id: i64) -> StoreResult<OfferFacts> {
        let offer = self
            .offers
            .get(&id)
            .ok_or(StoreError::Refused(Refusal::OfferNotFound))?;
        let listing_status = self
            .listings
            .get(&offer.listing_id)
            .map(|r| r.listing.status)
            .ok_or(StoreError::Refused(Refusal::ListingNotFound))?;
        Ok(OfferFacts {
            status: offer.status,
            price: offer.price,
            listing_status,
            other_holds_listing: self.offers.values().any(|o| {
                o.listing_id == offer.listing_id && o.id != id && o.status.holds_listing()
            }),
            open_order: self.open_order_of(offer.uuid).is_some(),
        })
    }
}

impl MemoryStore {
    /// Accept, cancel, or an order's step: the facts, the decision, the write.
    fn change_offer(
        &self,
        uuid: Uuid,
        action: OfferAction,
        accepted_price: Option<Wei>,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut s = self.state.write();
        let id = s
            .offer_id(uuid)
            .ok_or(StoreError::Refused(Refusal::OfferNotFound))?;
        let next = decide(action, &s.offer_facts(id)?, accepted_price)?;
        let o = s
            .offers
            .get_mut(&id)
            .ok_or(StoreError::Refused(Refusal::OfferNotFound))?;
        o.status = next;
        o.updated_at = at;
        let updated = o.clone();
        let notified = s.put_notifications(notifications);
        s.record(events);
        Ok((updated, notified))
    }
}
