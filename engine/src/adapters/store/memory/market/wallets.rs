//! Wallets in memory.

use super::super::{MemoryStore, page_newest_first};
use crate::domain::refusal::Refusal;
use crate::domain::wallet::{NewWallet, Wallet};
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::WalletStore;
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl WalletStore for MemoryStore {
    async fn insert_wallet(
        &self,
        wallet: &NewWallet,
        events: &[EventEnvelope],
    ) -> StoreResult<Wallet> {
        let mut s = self.state.write();
        if s.person_by_uuid(wallet.person_uuid).is_none() {
            return Err(StoreError::Refused(Refusal::PersonNotFound));
        }
        // Address equality is byte equality: case was only ever a checksum.
        if s.wallets
            .values()
            .any(|w| w.person_uuid == wallet.person_uuid && w.address == wallet.address)
        {
            return Err(StoreError::Refused(Refusal::WalletAddressTaken));
        }
        let id = s.next_id("wallet");
        let stored = wallet.stored(id);
        s.wallets.insert(id, stored.clone());
        s.record(events);
        Ok(stored)
    }

    async fn wallet_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Wallet>> {
        Ok(self
            .state
            .read()
            .wallets
            .values()
            .find(|w| w.uuid == uuid)
            .cloned())
    }

    async fn delete_wallet(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut s = self.state.write();
        let id = s
            .wallets
            .values()
            .find(|w| w.uuid == uuid)
            .map(|w| w.id)
            .ok_or(StoreError::Refused(Refusal::WalletNotFound))?;
        s.wallets.remove(&id);
        s.record(events);
        Ok(())
    }

    async fn list_wallets(
        &self,
        person_uuid: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Wallet>> {
        let s = self.state.read();
        Ok(page_newest_first(&s.wallets, page, |w| {
            (w.person_uuid == person_uuid).then(|| w.clone())
        }))
    }
}
