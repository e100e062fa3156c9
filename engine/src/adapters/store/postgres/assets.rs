//! Assets in PostgreSQL (the V1 `asset` table). The parent is polymorphic, so no foreign
//! key guards it: the service checks the parent before inserting, and deletions of
//! parents remove their asset rows explicitly.

use super::{PgStore, Sql};
use crate::domain::Timestamp;
use crate::domain::assets::{Asset, MimeType, NewAsset, ParentType, Variation};
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::ports::AssetStore;
use async_trait::async_trait;
use tokio_postgres::Row;
use uuid::Uuid;

type Tx<'a> = deadpool_postgres::Transaction<'a>;

/// Needs `LEFT JOIN person p ON p.id = a.owner_person_id`.
const COLS: &str = "a.id, a.uuid, a.parent_type, a.parent_uuid, p.uuid, a.s3_key, a.mime_type, \
                    a.variations, a.created_at, a.updated_at";

fn from_row(r: &Row) -> StoreResult<Asset> {
    let parent_type: String = r.get(2);
    let variations: serde_json::Value = r.get(7);
    let variations = variations
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().and_then(|s| Variation::parse(s).ok()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Asset {
        id: r.get(0),
        uuid: r.get(1),
        parent_type: ParentType::parse(&parent_type).map_err(StoreError::Internal)?,
        parent_uuid: r.get(3),
        owner_person_uuid: r.get(4),
        s3_key: r.get(5),
        mime_type: MimeType::from_stored(r.get(6)),
        variations,
        created_at: r.get(8),
        updated_at: r.get(9),
    })
}

/// Parent types whose assets go with their owner's account (chat attachments stay).
fn removed_with_person_types() -> Vec<&'static str> {
    [ParentType::Person, ParentType::Listing]
        .iter()
        .map(|t| t.as_str())
        .collect()
}

/// Inside account deletion's transaction: the person's own assets (on themself and
/// their listings; their experiences' assets go with the experiences).
pub(crate) async fn delete_person_assets_tx(tx: &Tx<'_>, person_id: i64) -> StoreResult<u64> {
    tx.exec(
        "DELETE FROM asset WHERE owner_person_id = $1 AND parent_type = ANY($2)",
        &[&person_id, &removed_with_person_types()],
    )
    .await
}

/// Inside insert_message's transaction: the named assets move from the chat to the
/// message (the service checked them with `check_message_link`; the WHERE re-states it
/// so a race cannot move someone else's asset).
pub(crate) async fn link_message_assets_tx(
    tx: &(impl Sql + Sync),
    sender_id: i64,
    chat: Uuid,
    message: Uuid,
    assets: &[Uuid],
    at: Timestamp,
) -> StoreResult<u64> {
    if assets.is_empty() {
        return Ok(0);
    }
    tx.exec(
        "UPDATE asset SET parent_type = $1, parent_uuid = $2, updated_at = $3 \
         WHERE uuid = ANY($4) AND owner_person_id = $5 AND parent_type = $6 AND parent_uuid = $7",
        &[
            &ParentType::Message.as_str(),
            &message,
            &at,
            &assets,
            &sender_id,
            &ParentType::Chat.as_str(),
            &chat,
        ],
    )
    .await
}

#[async_trait]
impl AssetStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_asset")]
    async fn insert_asset(&self, new: &NewAsset) -> StoreResult<Asset> {
        let client = self.client().await?;
        let row = client
            .fetch_one(
                &format!(
                    "WITH a AS (
                       INSERT INTO asset (uuid, parent_uuid, parent_type, owner_person_id, s3_key, mime_type, \
                                          created_at, updated_at)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING *)
                     SELECT {COLS} FROM a LEFT JOIN person p ON p.id = a.owner_person_id"
                ),
                &[
                    &new.uuid,
                    &new.parent_uuid,
                    &new.parent_type.as_str(),
                    &new.owner_person_id,
                    &new.s3_key,
                    &new.mime_type.as_str(),
                    &new.at,
                ],
                from_row,
            )
            .await;
        // A lost owner (the person went while the asset was being made) or a taken uuid
        // or key come back as the refusals `CONSTRAINT_REFUSALS` maps them to.
        row
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.asset_by_uuid")]
    async fn asset_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Asset>> {
        self.fetch_opt(
            &format!(
                "SELECT {COLS} FROM asset a LEFT JOIN person p ON p.id = a.owner_person_id WHERE a.uuid = $1"
            ),
            &[&uuid],
            from_row,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.assets_by_uuids")]
    async fn assets_by_uuids(&self, uuids: &[Uuid]) -> StoreResult<Vec<Asset>> {
        self.fetch_all(
            &format!(
                "SELECT {COLS} FROM asset a LEFT JOIN person p ON p.id = a.owner_person_id \
                 WHERE a.uuid = ANY($1) ORDER BY a.id"
            ),
            &[&uuids],
            from_row,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.assets_of_parent")]
    async fn assets_of_parent(
        &self,
        parent_type: ParentType,
        parent_uuid: Uuid,
    ) -> StoreResult<Vec<Asset>> {
        self.fetch_all(
            &format!(
                "SELECT {COLS} FROM asset a LEFT JOIN person p ON p.id = a.owner_person_id \
                 WHERE a.parent_type = $1 AND a.parent_uuid = $2"
            ),
            &[&parent_type.as_str(), &parent_uuid],
            from_row,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_assets")]
    async fn list_assets(
        &self,
        parent_type: ParentType,
        parent_uuid: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Asset>> {
        let items = self
            .fetch_all(
                &format!(
                    "SELECT {COLS} FROM asset a LEFT JOIN person p ON p.id = a.owner_person_id \
                     WHERE a.parent_type = $1 AND a.parent_uuid = $2 AND ($3::bigint IS NULL OR a.id < $3) \
                     ORDER BY a.id DESC LIMIT $4"
                ),
                &[
                    &parent_type.as_str(),
                    &parent_uuid,
                    &page.after,
                    &(page.fetch() as i64),
                ],
                from_row,
            )
            .await?;
        Ok(Page::from_rows(items, page, |a| a.id))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.delete_asset")]
    async fn delete_asset(&self, id: i64) -> StoreResult<()> {
        match self.exec("DELETE FROM asset WHERE id = $1", &[&id]).await? {
            0 => Err(StoreError::Refused(Refusal::AssetNotFound)),
            _ => Ok(()),
        }
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.add_asset_variation")]
    async fn add_asset_variation(
        &self,
        id: i64,
        variation: Variation,
        at: Timestamp,
    ) -> StoreResult<()> {
        let v = serde_json::Value::Array(vec![variation.as_str().into()]);
        // `@>` keeps it idempotent when two requests make the same variation at once.
        let n = self
            .exec(
                "UPDATE asset SET variations = CASE WHEN variations @> $2 THEN variations \
                 ELSE variations || $2 END, updated_at = $3 WHERE id = $1",
                &[&id, &v, &at],
            )
            .await?;
        if n == 0 {
            return Err(StoreError::Refused(Refusal::AssetNotFound));
        }
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.message_chat_id")]
    async fn message_chat_id(&self, message_uuid: Uuid) -> StoreResult<Option<i64>> {
        self.fetch_opt(
            "SELECT chat_id FROM message WHERE uuid = $1",
            &[&message_uuid],
            |r| Ok(r.get(0)),
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.assets_removed_with_person")]
    async fn assets_removed_with_person(&self, person_id: i64) -> StoreResult<Vec<Asset>> {
        self.fetch_all(
            &format!(
                "SELECT {COLS} FROM asset a LEFT JOIN person p ON p.id = a.owner_person_id \
                 WHERE a.owner_person_id = $1 AND (a.parent_type = ANY($2) OR (a.parent_type = $3 \
                   AND a.parent_uuid IN (SELECT uuid FROM experience WHERE person_id = $1)))"
            ),
            &[
                &person_id,
                &removed_with_person_types(),
                &ParentType::Experience.as_str(),
            ],
            from_row,
        )
        .await
    }
}
