//! `delete_account` in memory: the blockers first (nothing is removed if one refuses),
//! then the cascade, table by table, as PostgreSQL's foreign keys do it. The lock held
//! for the whole method is the transaction.

use super::{MemoryStore, State};
use crate::domain::refusal::Refusal;
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::AccountDeletionStore;
use async_trait::async_trait;

impl State {
    /// Blockers: the rules that refuse a deletion (409), checked before anything goes.
    fn account_deletion_blockers(&self, person_id: Option<i64>) -> StoreResult<()> {
        let Some(person) = person_id.and_then(|id| self.persons.get(&id)) else {
            return Ok(());
        };
        if self.funds_in_escrow(person.uuid) {
            return Err(StoreError::Refused(Refusal::AccountHasEscrow));
        }
        Ok(())
    }

    /// The cascade: everything that is the person's, as `ON DELETE` does in PostgreSQL.
    fn remove_everything_of(&mut self, person_id: i64) {
        // assets first: which experiences are the person's is still known
        self.remove_person_assets(person_id);
        // social
        self.connections.retain(|_, c| !c.involves(person_id));
        let experiences: Vec<i64> = self
            .experiences
            .values()
            .filter(|e| e.person_id == person_id)
            .map(|e| e.id)
            .collect();
        for id in experiences {
            self.remove_experience(id);
        }
        self.reactions.retain(|_, r| r.person_id != person_id);
        // platform
        self.notifications.retain(|_, n| n.person_id != person_id);
        // realtime: devices and ws connections go; chat participation goes while the
        // messages the person sent stay (sender set to none, sender uuid kept)
        self.remove_person_devices(person_id);
        self.remove_person_ws_connections(person_id);
        self.remove_person_from_chats(person_id);
        // marketplace: wallets, listings and their offers, offers made (orders stay as
        // financial records, as `orders.offer_id ON DELETE SET NULL` keeps them)
        if let Some(uuid) = self.persons.get(&person_id).map(|p| p.uuid) {
            self.cancel_unpaid_orders_of(uuid, crate::domain::time::now());
            self.remove_person_market_data(uuid);
        }
        self.persons.remove(&person_id);
        self.receipts_off.remove(&person_id);
    }
}

#[async_trait]
impl AccountDeletionStore for MemoryStore {
    async fn delete_account(&self, account_id: i64, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut s = self.state.write();
        if !s.accounts.contains_key(&account_id) {
            return Err(StoreError::Refused(Refusal::AccountNotFound));
        }
        let person_id = s
            .persons
            .values()
            .find(|p| p.account_id == account_id)
            .map(|p| p.id);
        s.account_deletion_blockers(person_id)?;
        if let Some(person_id) = person_id {
            s.remove_everything_of(person_id);
        }
        s.accounts.remove(&account_id);
        s.record(events);
        Ok(())
    }
}
