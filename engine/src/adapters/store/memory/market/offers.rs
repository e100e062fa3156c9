//! Offers in memory.

use super::super::MemoryStore;
use crate::domain::listing::ListingStatus;
use crate::domain::notifications::{NewNotification, Notification};
use crate::domain::offer::{NewOffer, Offer, OfferAction, OfferPatch, OfferQuery, OfferStatus};
use crate::domain::refusal::{ListingStep, Refusal};
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
        if listing.status != ListingStatus::Published {
            return Err(StoreError::Refused(Refusal::ListingNotPublished {
                step: ListingStep::MakeOffer,
                status: listing.status,
            }));
        }
        if s.offers.values().any(|o| {
            o.listing_id == listing.id && o.person_uuid == offer.person_uuid && o.status.is_open()
        }) {
            return Err(StoreError::Refused(Refusal::OpenOfferExists));
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
        events: &[EventEnvelope],
    ) -> StoreResult<Offer> {
        let mut s = self.state.write();
        let id = s
            .offer_id(uuid)
            .ok_or(StoreError::Refused(Refusal::OfferNotFound))?;
        let offer = s
            .offers
            .get_mut(&id)
            .ok_or(StoreError::Refused(Refusal::OfferNotFound))?;
        offer
            .status
            .transition(OfferAction::Update)
            .map_err(StoreError::Refused)?;
        patch.apply(offer, at);
        let updated = offer.clone();
        s.record(events);
        Ok(updated)
    }

    async fn transition_offer(
        &self,
        uuid: Uuid,
        action: OfferAction,
        at: Timestamp,
        notifications: &[NewNotification],
        events: &[EventEnvelope],
    ) -> StoreResult<(Offer, Vec<Notification>)> {
        let mut s = self.state.write();
        let id = s
            .offer_id(uuid)
            .ok_or(StoreError::Refused(Refusal::OfferNotFound))?;
        let offer = s.offers[&id].clone();
        let next = offer
            .status
            .transition(action)
            .map_err(StoreError::Refused)?;
        match action {
            OfferAction::Accept => {
                let listing_status = s
                    .listings
                    .get(&offer.listing_id)
                    .map(|r| r.listing.status)
                    .ok_or(StoreError::Refused(Refusal::ListingNotFound))?;
                if listing_status != ListingStatus::Published {
                    return Err(StoreError::Refused(Refusal::ListingNotPublished {
                        step: ListingStep::AcceptOffer,
                        status: listing_status,
                    }));
                }
                if s.offers.values().any(|o| {
                    o.listing_id == offer.listing_id && o.id != id && o.status.holds_listing()
                }) {
                    return Err(StoreError::Refused(Refusal::AcceptedOfferExists));
                }
            }
            OfferAction::Cancel if s.open_order_of(uuid).is_some() => {
                return Err(StoreError::Refused(Refusal::OfferHasOpenOrder));
            }
            _ => {}
        }
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

    async fn list_offers(
        &self,
        query: &OfferQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Offer>> {
        let s = self.state.read();
        let rows = s
            .offers
            .values()
            .rev()
            .filter(|o| page.after.is_none_or(|a| o.id < a))
            .filter(|o| query.matches(o))
            .take(page.fetch())
            .cloned()
            .collect();
        Ok(Page::from_rows(rows, page, |o| o.id))
    }
}
