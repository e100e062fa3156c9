use super::MemoryStore;
use crate::domain::chain_watch::ChainCheckpoint;
use crate::domain::escrow::ChainEvent;
use crate::error::StoreResult;
use crate::ports::ChainWatchStore;
use alloy_primitives::B256;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};

/// Per watcher key: the checkpoint and the kept logs by (tx hash, log index).
#[derive(Default)]
pub(crate) struct ChainWatchTables {
    watchers: HashMap<String, Watcher>,
}

#[derive(Default)]
struct Watcher {
    checkpoint: Option<ChainCheckpoint>,
    logs: BTreeMap<(B256, u64), ChainEvent>,
}

#[async_trait]
impl ChainWatchStore for MemoryStore {
    async fn chain_checkpoint(&self, watcher: &str) -> StoreResult<Option<ChainCheckpoint>> {
        let s = self.state.read();
        Ok(s.chain_watch
            .watchers
            .get(watcher)
            .and_then(|w| w.checkpoint.clone()))
    }

    async fn chain_recent_logs(&self, watcher: &str) -> StoreResult<Vec<ChainEvent>> {
        let s = self.state.read();
        let mut logs: Vec<ChainEvent> = s
            .chain_watch
            .watchers
            .get(watcher)
            .map(|w| w.logs.values().cloned().collect())
            .unwrap_or_default();
        logs.sort_by_key(|e| (e.block_number, e.log_index));
        Ok(logs)
    }

    async fn chain_log_delivered(&self, watcher: &str, event: &ChainEvent) -> StoreResult<()> {
        let mut s = self.state.write();
        let w = s
            .chain_watch
            .watchers
            .entry(watcher.to_string())
            .or_default();
        let mut kept = event.clone();
        kept.removed = false;
        w.logs.insert((event.tx_hash, event.log_index), kept);
        Ok(())
    }

    async fn chain_log_removed(
        &self,
        watcher: &str,
        tx_hash: B256,
        log_index: u64,
    ) -> StoreResult<()> {
        let mut s = self.state.write();
        if let Some(w) = s.chain_watch.watchers.get_mut(watcher) {
            w.logs.remove(&(tx_hash, log_index));
        }
        Ok(())
    }

    async fn chain_advance(
        &self,
        watcher: &str,
        checkpoint: &ChainCheckpoint,
        keep_from: u64,
    ) -> StoreResult<()> {
        let mut s = self.state.write();
        let w = s
            .chain_watch
            .watchers
            .entry(watcher.to_string())
            .or_default();
        w.checkpoint = Some(checkpoint.clone());
        w.logs.retain(|_, e| e.block_number >= keep_from);
        Ok(())
    }
}
