//! Assets in memory. A row keeps its owner's internal id beside the asset, as the
//! PostgreSQL table does, so account deletion can find and detach it.

use super::{MemoryStore, State, page_newest_first};
use crate::domain::Timestamp;
use crate::domain::assets::{Asset, NewAsset, ParentType, Variation};
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::ports::AssetStore;
use async_trait::async_trait;
use std::collections::BTreeMap;
use uuid::Uuid;

pub(crate) struct AssetRow {
    pub asset: Asset,
    pub owner_person_id: Option<i64>,
}

pub(crate) type AssetTable = BTreeMap<i64, AssetRow>;

fn removed_with_person(row: &AssetRow, person_id: i64, experiences: &[Uuid]) -> bool {
    row.owner_person_id == Some(person_id)
        && match row.asset.parent_type {
            ParentType::Person | ParentType::Listing => true,
            ParentType::Experience => experiences.contains(&row.asset.parent_uuid),
            ParentType::Chat | ParentType::Message => false,
        }
}

impl State {
    fn person_experience_uuids(&self, person_id: i64) -> Vec<Uuid> {
        self.experiences
            .values()
            .filter(|e| e.person_id == person_id)
            .map(|e| e.uuid)
            .collect()
    }

    /// Account deletion calls this inside its change (before the person's experiences
    /// go): the person's own assets go; the chat attachments they sent stay, ownerless,
    /// as `owner_person_id ON DELETE SET NULL` leaves them in PostgreSQL.
    pub(crate) fn remove_person_assets(&mut self, person_id: i64) {
        let experiences = self.person_experience_uuids(person_id);
        self.assets
            .retain(|_, row| !removed_with_person(row, person_id, &experiences));
        for row in self.assets.values_mut() {
            if row.owner_person_id == Some(person_id) {
                row.owner_person_id = None;
                row.asset.owner_person_uuid = None;
            }
        }
    }

    /// Removes the rows of assets on these experiences (deleting an experience).
    /// The asset rows of a deleted parent (experience or listing) go with it.
    pub(crate) fn remove_parent_assets(&mut self, parent_type: ParentType, parent: Uuid) {
        self.assets.retain(|_, row| {
            !(row.asset.parent_type == parent_type && row.asset.parent_uuid == parent)
        });
    }

    /// A stored message takes the assets it names: CHAT → MESSAGE (the service checked
    /// they are the sender's, on this chat, with `check_message_link`).
    pub(crate) fn link_message_assets(
        &mut self,
        sender_id: i64,
        chat: Uuid,
        message: Uuid,
        assets: &[Uuid],
        at: Timestamp,
    ) {
        for row in self.assets.values_mut() {
            let a = &mut row.asset;
            if assets.contains(&a.uuid)
                && row.owner_person_id == Some(sender_id)
                && a.parent_type == ParentType::Chat
                && a.parent_uuid == chat
            {
                a.parent_type = ParentType::Message;
                a.parent_uuid = message;
                a.updated_at = at;
            }
        }
    }
}

#[async_trait]
impl AssetStore for MemoryStore {
    async fn insert_asset(&self, new: &NewAsset) -> StoreResult<Asset> {
        let mut s = self.state.write();
        let owner = s
            .persons
            .get(&new.owner_person_id)
            .map(|p| p.uuid)
            .ok_or(StoreError::Refused(Refusal::PersonNotFound))?;
        if s.assets.values().any(|r| r.asset.uuid == new.uuid) {
            return Err(StoreError::Refused(Refusal::AssetExists));
        }
        let id = s.next_id("asset");
        let asset = Asset {
            id,
            uuid: new.uuid,
            parent_type: new.parent_type,
            parent_uuid: new.parent_uuid,
            owner_person_uuid: Some(owner),
            s3_key: new.s3_key.clone(),
            mime_type: new.mime_type.clone(),
            variations: Vec::new(),
            created_at: new.at,
            updated_at: new.at,
        };
        s.assets.insert(
            id,
            AssetRow {
                asset: asset.clone(),
                owner_person_id: Some(new.owner_person_id),
            },
        );
        Ok(asset)
    }

    async fn asset_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Asset>> {
        let s = self.state.read();
        Ok(s.assets
            .values()
            .find(|r| r.asset.uuid == uuid)
            .map(|r| r.asset.clone()))
    }

    async fn assets_by_uuids(&self, uuids: &[Uuid]) -> StoreResult<Vec<Asset>> {
        let s = self.state.read();
        Ok(s.assets
            .values()
            .filter(|r| uuids.contains(&r.asset.uuid))
            .map(|r| r.asset.clone())
            .collect())
    }

    async fn assets_of_parent(
        &self,
        parent_type: ParentType,
        parent_uuid: Uuid,
    ) -> StoreResult<Vec<Asset>> {
        Ok(self
            .state
            .read()
            .assets
            .values()
            .filter(|r| r.asset.parent_type == parent_type && r.asset.parent_uuid == parent_uuid)
            .map(|r| r.asset.clone())
            .collect())
    }

    async fn list_assets(
        &self,
        parent_type: ParentType,
        parent_uuid: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Asset>> {
        let s = self.state.read();
        Ok(page_newest_first(&s.assets, page, |r| {
            (r.asset.parent_type == parent_type && r.asset.parent_uuid == parent_uuid)
                .then(|| r.asset.clone())
        }))
    }

    async fn delete_asset(&self, id: i64) -> StoreResult<()> {
        let mut s = self.state.write();
        s.assets
            .remove(&id)
            .map(|_| ())
            .ok_or(StoreError::Refused(Refusal::AssetNotFound))
    }

    async fn add_asset_variation(
        &self,
        id: i64,
        variation: Variation,
        at: Timestamp,
    ) -> StoreResult<()> {
        let mut s = self.state.write();
        let row = s
            .assets
            .get_mut(&id)
            .ok_or(StoreError::Refused(Refusal::AssetNotFound))?;
        if !row.asset.variations.contains(&variation) {
            row.asset.variations.push(variation);
            row.asset.updated_at = at;
        }
        Ok(())
    }

    async fn message_chat_id(&self, message_uuid: Uuid) -> StoreResult<Option<i64>> {
        let s = self.state.read();
        Ok(s.chats.message_chat_id(message_uuid))
    }

    async fn assets_removed_with_person(&self, person_id: i64) -> StoreResult<Vec<Asset>> {
        let s = self.state.read();
        let experiences = s.person_experience_uuids(person_id);
        Ok(s.assets
            .values()
            .filter(|r| removed_with_person(r, person_id, &experiences))
            .map(|r| r.asset.clone())
            .collect())
    }
}
