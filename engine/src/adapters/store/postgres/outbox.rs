use super::PgStore;
use crate::domain::Timestamp;
use crate::error::{StoreError, StoreResult};
use crate::events::{EventEnvelope, OutboxRow};
use crate::ports::OutboxStore;
use async_trait::async_trait;

#[async_trait]
impl OutboxStore for PgStore {
    async fn outbox_pending(&self, limit: usize) -> StoreResult<Vec<OutboxRow>> {
        self.fetch_all(
            "SELECT id, payload, attempts FROM outbox ORDER BY id LIMIT $1",
            &[&(limit as i64)],
            |r| {
                let payload: serde_json::Value = r.get(1);
                let envelope: EventEnvelope = serde_json::from_value(payload)
                    .map_err(|e| StoreError::Internal(format!("outbox row does not parse: {e}")))?;
                Ok(OutboxRow {
                    id: r.get(0),
                    envelope,
                    attempts: r.get(2),
                })
            },
        )
        .await
    }

    async fn outbox_delete_published(&self, ids: &[i64]) -> StoreResult<()> {
        // A DELETE writes no new row version and no index entry; marking the row (an
        // UPDATE of an indexed column) wrote both, for every chat message.
        self.exec("DELETE FROM outbox WHERE id = ANY($1)", &[&ids])
            .await?;
        Ok(())
    }

    async fn outbox_mark_failed(&self, id: i64, error: &str) -> StoreResult<()> {
        self.exec(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
            &[&id, &error],
        )
        .await?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> StoreResult<i64> {
        self.fetch_one("SELECT count(*) FROM outbox", &[], |r| Ok(r.get(0)))
            .await
    }

    async fn outbox_oldest_pending(&self) -> StoreResult<Option<Timestamp>> {
        self.fetch_opt(
            "SELECT occurred_at FROM outbox ORDER BY id LIMIT 1",
            &[],
            |r| Ok(r.get(0)),
        )
        .await
    }

    async fn mark_processed(&self, consumer: &str, key: &str) -> StoreResult<bool> {
        Ok(self
            .exec(
                "INSERT INTO processed_event (consumer, event_key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&consumer, &key],
            )
            .await?
            == 1)
    }
}
