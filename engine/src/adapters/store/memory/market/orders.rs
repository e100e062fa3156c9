//! Orders in memory.

use super::super::MemoryStore;
use crate::domain::order::{NewOrder, Order, decide_create};
use crate::domain::refusal::Refusal;
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::OrderStore;
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl OrderStore for MemoryStore {
    async fn insert_order(
        &self,
        order: &NewOrder,
        events: &[EventEnvelope],
    ) -> StoreResult<(Order, bool)> {
        let mut s = self.state.write();
        if let Some(existing) = s.open_order_of(order.offer_uuid) {
            return Ok((existing.clone(), false));
        }
        let offer = s
            .offers
            .values()
            .find(|o| o.uuid == order.offer_uuid)
            .cloned()
            .ok_or(StoreError::Refused(Refusal::OfferNotFound))?;
        let listing_status = s
            .listings
            .get(&offer.listing_id)
            .map(|r| r.listing.status)
            .ok_or(StoreError::Refused(Refusal::ListingNotFound))?;
        decide_create(offer.status, listing_status)?;
        let id = s.next_id("orders");
        let stored = order.stored(id);
        s.orders.insert(id, stored.clone());
        s.record(events);
        Ok((stored, true))
    }

    async fn open_order_for_offer(&self, offer_uuid: Uuid) -> StoreResult<Option<Order>> {
        Ok(self.state.read().open_order_of(offer_uuid).cloned())
    }

    async fn has_funds_in_escrow(&self, person_uuid: Uuid) -> StoreResult<bool> {
        Ok(self.state.read().funds_in_escrow(person_uuid))
    }
}
