//! The order lifecycle in memory: one write lock per step is its transaction, and every
//! rule is checked (version, order, offer, listing) before anything is written, so a
//! refused step leaves nothing behind.

use crate::adapters::store::memory::{MemoryStore, State, page_newest_first};
use crate::domain::offer::OfferStatus;
use crate::domain::order::{
    ChainEventRecord, ChainTouch, Order, OrderChange, OrderChangeOutcome, OrderQuery, Payment,
};
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::events::{EventEnvelope, OfferChanged};
use crate::ports::OrderLifecycleStore;
use alloy_primitives::B256;
use async_trait::async_trait;
use std::collections::BTreeMap;
use uuid::Uuid;

/// `chain_event` and `payment`.
#[derive(Default)]
pub(crate) struct EscrowTables {
    chain_events: BTreeMap<(B256, u64), ChainEventRecord>,
    /// By id, with the order's row id.
    payments: BTreeMap<i64, (i64, Payment)>,
}

impl State {
    /// The order step, all checks first, then the writes.
    fn apply_order_change(&mut self, c: &OrderChange) -> StoreResult<OrderChangeOutcome> {
        let order = self
            .orders
            .get(&c.order_id)
            .cloned()
            .ok_or(StoreError::Refused(Refusal::OrderNotFound))?;
        if let ChainTouch::Record(record, _) = &c.chain
            && self
                .escrow
                .chain_events
                .contains_key(&(record.tx_hash, record.log_index))
        {
            return Ok(OrderChangeOutcome::Replay);
        }
        if order.version != c.expected_version {
            return Err(StoreError::Refused(Refusal::OrderChanged));
        }
        let next = order
            .status
            .transition(c.action)
            .map_err(StoreError::Refused)?;
        let effects = c.action.effects(order.status);
        // The offer and listing may be gone (deleted with an account after the order
        // ended); an order step never needs them to exist, only to obey their lifecycle
        // where they do.
        let offer = self
            .offers
            .values()
            .find(|o| o.uuid == order.offer_uuid)
            .map(|o| (o.id, o.status, o.listing_id));
        let offer_next = match (effects.offer, offer) {
            (Some(action), Some((id, status, _))) => {
                Some((id, status.transition(action).map_err(StoreError::Refused)?))
            }
            _ => None,
        };
        let listing_id = self
            .listings
            .values()
            .find(|r| r.listing.uuid == order.listing_uuid)
            .map(|r| r.listing.id);
        let listing_next = match (effects.listing, listing_id) {
            (Some(action), Some(id)) => {
                let status = self.listings[&id].listing.status;
                Some((id, status.transition(action).map_err(StoreError::Refused)?))
            }
            _ => None,
        };
        // Writes.
        if let Some((id, status)) = offer_next
            && let Some(o) = self.offers.get_mut(&id)
        {
            o.status = status;
            o.updated_at = c.at;
        }
        if let Some((id, status)) = listing_next
            && let Some(r) = self.listings.get_mut(&id)
        {
            r.listing.status = status;
            r.listing.updated_at = c.at;
        }
        if effects.cancel_rival_offers
            && let Some((offer_id, _, listing_id)) = offer
        {
            let mut cancelled = Vec::new();
            for o in self.offers.values_mut() {
                if o.listing_id == listing_id && o.id != offer_id && o.status.is_open() {
                    o.status = OfferStatus::Cancelled;
                    o.updated_at = c.at;
                    cancelled.push(OfferChanged::cancelled_by_rival_payment(o, c.at));
                }
            }
            self.record(&cancelled);
        }
        let stored = {
            let o = self
                .orders
                .get_mut(&c.order_id)
                .ok_or(StoreError::Refused(Refusal::OrderNotFound))?;
            o.status = next;
            o.version += 1;
            o.updated_at = c.at;
            o.clone()
        };
        match &c.chain {
            ChainTouch::None => {}
            ChainTouch::Record(record, payment) => {
                self.escrow
                    .chain_events
                    .insert((record.tx_hash, record.log_index), record.clone());
                if let Some(p) = payment {
                    let id = self.next_id("payment");
                    self.escrow.payments.insert(id, (c.order_id, p.clone()));
                }
            }
            ChainTouch::Removed { tx_hash, log_index } => {
                self.forget_chain_event(*tx_hash, *log_index);
            }
        }
        let notifications = self.put_notifications(&c.notifications);
        self.record(&c.events);
        Ok(OrderChangeOutcome::Applied {
            order: stored,
            notifications,
        })
    }

    fn forget_chain_event(&mut self, tx_hash: B256, log_index: u64) -> bool {
        self.escrow
            .payments
            .retain(|_, (_, p)| !(p.tx_hash == tx_hash && p.log_index == log_index));
        self.escrow
            .chain_events
            .remove(&(tx_hash, log_index))
            .is_some()
    }

    /// Account deletion: the person's unpaid orders are cancelled (they could never be
    /// paid by, or to, someone who is gone). Funded ones block the deletion before this.
    pub(crate) fn cancel_unpaid_orders_of(
        &mut self,
        person_uuid: Uuid,
        at: crate::domain::Timestamp,
    ) -> Vec<Order> {
        use crate::domain::order::{OrderAction, OrderStatus};
        let mut cancelled = Vec::new();
        for o in self.orders.values_mut() {
            if (o.payer_uuid == person_uuid || o.payee_uuid == person_uuid)
                && o.status == OrderStatus::AwaitingPayment
                && let Ok(next) = o.status.transition(OrderAction::Cancel)
            {
                o.status = next;
                o.version += 1;
                o.updated_at = at;
                cancelled.push(o.clone());
            }
        }
        cancelled
    }
}

#[async_trait]
impl OrderLifecycleStore for MemoryStore {
    async fn order_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Order>> {
        Ok(self
            .state
            .read()
            .orders
            .values()
            .find(|o| o.uuid == uuid)
            .cloned())
    }

    async fn order_by_escrow_id(&self, escrow_order_id: B256) -> StoreResult<Option<Order>> {
        Ok(self
            .state
            .read()
            .orders
            .values()
            .find(|o| o.quote.order_id == escrow_order_id)
            .cloned())
    }

    async fn list_orders(
        &self,
        query: &OrderQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Order>> {
        let s = self.state.read();
        Ok(page_newest_first(&s.orders, page, |o| {
            query.matches(o).then(|| o.clone())
        }))
    }

    async fn unfinished_orders(&self) -> StoreResult<Vec<Order>> {
        Ok(self
            .state
            .read()
            .orders
            .values()
            .filter(|o| !o.status.is_final())
            .cloned()
            .collect())
    }

    async fn apply_order_change(&self, change: &OrderChange) -> StoreResult<OrderChangeOutcome> {
        self.state.write().apply_order_change(change)
    }

    async fn record_chain_event(
        &self,
        record: &ChainEventRecord,
        events: &[EventEnvelope],
    ) -> StoreResult<bool> {
        let mut s = self.state.write();
        let key = (record.tx_hash, record.log_index);
        if s.escrow.chain_events.contains_key(&key) {
            return Ok(false);
        }
        s.escrow.chain_events.insert(key, record.clone());
        s.record(events);
        Ok(true)
    }

    async fn forget_chain_event(&self, tx_hash: B256, log_index: u64) -> StoreResult<bool> {
        Ok(self.state.write().forget_chain_event(tx_hash, log_index))
    }

    async fn chain_event(
        &self,
        tx_hash: B256,
        log_index: u64,
    ) -> StoreResult<Option<ChainEventRecord>> {
        Ok(self
            .state
            .read()
            .escrow
            .chain_events
            .get(&(tx_hash, log_index))
            .cloned())
    }

    async fn payments_of(&self, order_id: i64) -> StoreResult<Vec<Payment>> {
        let s = self.state.read();
        let mut list: Vec<Payment> = s
            .escrow
            .payments
            .values()
            .filter(|(o, _)| *o == order_id)
            .map(|(_, p)| p.clone())
            .collect();
        list.sort_by_key(|p| (p.block_number, p.log_index));
        Ok(list)
    }
}
