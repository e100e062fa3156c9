use super::{PgStore, Sql, map_err};
use crate::domain::Timestamp;
use crate::domain::outbox::{RelayLease, may_hold_relay};
use crate::error::{StoreError, StoreResult};
use crate::events::{EventEnvelope, OutboxRow};
use crate::ports::OutboxStore;
use async_trait::async_trait;
use uuid::Uuid;

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

    async fn claim_outbox_relay(
        &self,
        node_id: Uuid,
        expires_at: Timestamp,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // The one row always exists (V16), so claimers queue on its lock.
        let current = tx
            .fetch_one(
                "SELECT node_id, expires_at FROM outbox_relay WHERE id = 1 FOR UPDATE",
                &[],
                |r| {
                    let node_id: Option<Uuid> = r.get(0);
                    let expires_at: Option<Timestamp> = r.get(1);
                    Ok(node_id
                        .zip(expires_at)
                        .map(|(node_id, expires_at)| RelayLease {
                            node_id,
                            expires_at,
                        }))
                },
            )
            .await?;
        if !may_hold_relay(current.as_ref(), node_id, at) {
            return Ok(false);
        }
        tx.exec(
            "UPDATE outbox_relay SET node_id = $1, expires_at = $2 WHERE id = 1",
            &[&node_id, &expires_at],
        )
        .await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    async fn release_outbox_relay(&self, node_id: Uuid) -> StoreResult<()> {
        self.exec(
            "UPDATE outbox_relay SET node_id = NULL, expires_at = NULL WHERE id = 1 AND node_id = $1",
            &[&node_id],
        )
        .await?;
        Ok(())
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
