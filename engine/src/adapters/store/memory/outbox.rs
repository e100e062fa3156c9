use super::MemoryStore;
use crate::domain::Timestamp;
use crate::error::StoreResult;
use crate::events::OutboxRow;
use crate::ports::OutboxStore;
use async_trait::async_trait;

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

    async fn mark_processed(&self, consumer: &str, key: &str) -> StoreResult<bool> {
        Ok(self
            .state
            .write()
            .processed
            .insert((consumer.to_string(), key.to_string())))
    }
}
