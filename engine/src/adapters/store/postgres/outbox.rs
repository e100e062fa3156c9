use super::{PgStore, map_err};
use crate::domain::Timestamp;
use crate::error::{StoreError, StoreResult};
use crate::events::{EventEnvelope, OutboxRow};
use crate::ports::OutboxStore;
use async_trait::async_trait;

#[async_trait]
impl OutboxStore for PgStore {
    async fn outbox_pending(&self, limit: usize) -> StoreResult<Vec<OutboxRow>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT id, payload, attempts FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
            )
            .await
            .map_err(map_err)?;
        let rows = client
            .query(&stmt, &[&(limit as i64)])
            .await
            .map_err(map_err)?;
        rows.iter()
            .map(|r| {
                let payload: serde_json::Value = r.get(1);
                let envelope: EventEnvelope = serde_json::from_value(payload)
                    .map_err(|e| StoreError::Internal(format!("outbox row does not parse: {e}")))?;
                Ok(OutboxRow {
                    id: r.get(0),
                    envelope,
                    attempts: r.get(2),
                })
            })
            .collect()
    }

    async fn outbox_mark_published(&self, ids: &[i64], at: Timestamp) -> StoreResult<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE outbox SET published_at = $2 WHERE id = ANY($1) AND published_at IS NULL",
            )
            .await
            .map_err(map_err)?;
        client.execute(&stmt, &[&ids, &at]).await.map_err(map_err)?;
        Ok(())
    }

    async fn outbox_mark_failed(&self, id: i64, error: &str) -> StoreResult<()> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
            )
            .await
            .map_err(map_err)?;
        client
            .execute(&stmt, &[&id, &error])
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> StoreResult<i64> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .await
            .map_err(map_err)?;
        Ok(client.query_one(&stmt, &[]).await.map_err(map_err)?.get(0))
    }

    async fn mark_processed(&self, consumer: &str, key: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "INSERT INTO processed_event (consumer, event_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(map_err)?;
        Ok(client
            .execute(&stmt, &[&consumer, &key])
            .await
            .map_err(map_err)?
            == 1)
    }
}
