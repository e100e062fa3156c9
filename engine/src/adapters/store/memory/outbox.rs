use super::MemoryStore;
use crate::domain::Timestamp;
use crate::domain::outbox::{RelayLease, may_hold_relay};
use crate::error::StoreResult;
use crate::events::OutboxRow;
use crate::ports::OutboxStore;
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl OutboxStore for MemoryStore {
    async fn outbox_pending(&self, limit: usize) -> StoreResult<Vec<OutboxRow>> {
        let s = self.state.read();
        Ok(s.outbox
            .values()
            .take(limit)
            .map(|e| e.row.clone())
            .collect())
    }

    async fn outbox_delete_published(&self, ids: &[i64]) -> StoreResult<()> {
        // By id, never by a scan of the whole outbox: this runs under the store's write
        // lock, which every chat message needs.
        let mut s = self.state.write();
        for id in ids {
            s.outbox.remove(id);
        }
        Ok(())
    }

    async fn outbox_reclaim(&self) -> StoreResult<()> {
        // A removed entry leaves nothing behind in a map.
        Ok(())
    }

    async fn outbox_mark_failed(&self, id: i64, error: &str) -> StoreResult<()> {
        let mut s = self.state.write();
        if let Some(e) = s.outbox.get_mut(&id) {
            e.row.attempts += 1;
            e.last_error = Some(error.to_string());
        }
        Ok(())
    }

    async fn outbox_backlog(&self) -> StoreResult<i64> {
        Ok(self.state.read().outbox.len() as i64)
    }

    async fn outbox_oldest_pending(&self) -> StoreResult<Option<Timestamp>> {
        Ok(self
            .state
            .read()
            .outbox
            .values()
            .next()
            .map(|e| e.row.envelope.occurred_at))
    }

    async fn claim_outbox_relay(
        &self,
        node_id: Uuid,
        expires_at: Timestamp,
        at: Timestamp,
    ) -> StoreResult<bool> {
        let mut s = self.state.write();
        if !may_hold_relay(s.relay_lease.as_ref(), node_id, at) {
            return Ok(false);
        }
        s.relay_lease = Some(RelayLease {
            node_id,
            expires_at,
        });
        Ok(true)
    }

    async fn release_outbox_relay(&self, node_id: Uuid) -> StoreResult<()> {
        let mut s = self.state.write();
        if s.relay_lease.is_some_and(|l| l.node_id == node_id) {
            s.relay_lease = None;
        }
        Ok(())
    }

    async fn mark_processed(&self, consumer: &str, key: &str) -> StoreResult<bool> {
        Ok(self
            .state
            .write()
            .processed
            .insert((consumer.to_string(), key.to_string())))
    }
}
