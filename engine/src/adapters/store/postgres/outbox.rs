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
        // `outbox` (one event a row) and `outbox_batch` (a message batch's events in one
        // row, V20) are one queue in id order. Whole rows, oldest first, until `limit`
        // events (at least one row); the payloads of only those are read, each table by
        // its primary key (`= ANY` of the ids taken: a join could plan a scan of a
        // backlog that has grown while the broker was away).
        let rows = self
            .fetch_all(
                "WITH head AS ( \
                   SELECT id, n FROM ( \
                     SELECT id, 1 AS n FROM outbox \
                     UNION ALL SELECT id, event_count FROM outbox_batch) u \
                   ORDER BY id LIMIT $1), \
                 taken AS ( \
                   SELECT id FROM ( \
                     SELECT id, sum(n) OVER (ORDER BY id) - n AS before FROM head) w \
                   WHERE before < $1) \
                 SELECT id, payload::text, attempts, false FROM outbox WHERE id = ANY (ARRAY(SELECT id FROM taken)) \
                 UNION ALL \
                 SELECT id, events, attempts, true FROM outbox_batch WHERE id = ANY (ARRAY(SELECT id FROM taken)) \
                 ORDER BY 1",
                &[&(limit.max(1) as i64)],
                |r| {
                    let id: i64 = r.get(0);
                    let text: &str = r.get(1);
                    let attempts: i32 = r.get(2);
                    let batch: bool = r.get(3);
                    let envelopes: Vec<EventEnvelope> = if batch {
                        serde_json::from_str(text)
                    } else {
                        serde_json::from_str(text).map(|e| vec![e])
                    }
                    .map_err(|e| {
                        StoreError::Internal(format!("outbox row {id} does not parse: {e}"))
                    })?;
                    Ok(envelopes
                        .into_iter()
                        .map(|envelope| OutboxRow {
                            id,
                            envelope,
                            attempts,
                        })
                        .collect::<Vec<_>>())
                },
            )
            .await?;
        Ok(rows.into_iter().flatten().collect())
    }

    async fn outbox_delete_published(&self, ids: &[i64]) -> StoreResult<()> {
        // A DELETE writes no new row version and no index entry; marking the row (an
        // UPDATE of an indexed column) wrote both, for every chat message. The ids are
        // unique across both tables (one sequence).
        self.exec(
            "WITH single AS (DELETE FROM outbox WHERE id = ANY($1)) \
             DELETE FROM outbox_batch WHERE id = ANY($1)",
            &[&ids],
        )
        .await?;
        Ok(())
    }

    async fn outbox_reclaim(&self) -> StoreResult<()> {
        // Autovacuum visits a database at most once a `autovacuum_naptime` (a minute by
        // default): at 20k chat messages/s that left a million dead rows and index entries
        // in front of the live ones, walked by every round of the relay (its p99 grew
        // from 40 to 220 ms within 25 s). A VACUUM of a queue table this size takes a
        // few milliseconds (20k dead rows: 2 ms here). It cannot run in a transaction.
        // (Since V20 chat messages write one `outbox_batch` row per batch, so `outbox`
        // itself sees far fewer rows; both are queue tables.)
        self.client()
            .await?
            .batch_execute("VACUUM outbox, outbox_batch")
            .await
            .map_err(map_err)
    }

    async fn outbox_mark_failed(&self, id: i64, error: &str) -> StoreResult<()> {
        self.exec(
            "WITH single AS ( \
               UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1) \
             UPDATE outbox_batch SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
            &[&id, &error],
        )
        .await?;
        Ok(())
    }

    async fn outbox_backlog(&self) -> StoreResult<i64> {
        self.fetch_one(
            "SELECT (SELECT count(*) FROM outbox) \
               + (SELECT coalesce(sum(event_count), 0) FROM outbox_batch)",
            &[],
            |r| Ok(r.get(0)),
        )
        .await
    }

    async fn outbox_oldest_pending(&self) -> StoreResult<Option<Timestamp>> {
        self.fetch_opt(
            "SELECT occurred_at FROM ( \
               SELECT id, occurred_at FROM outbox \
               UNION ALL SELECT id, occurred_at FROM outbox_batch) u \
             ORDER BY id LIMIT 1",
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
