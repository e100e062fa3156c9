//! The chain watcher: reads the escrow contract's logs block by block from a stored
//! checkpoint and hands each confirmed one to the [`ChainEventSink`] (the order handler),
//! in chain order. Works on any [`Chain`] adapter (Ethereum or simulated).
//!
//! Guarantees:
//! - only logs of blocks `chain.confirmations` below the head (or at the `finalized` tag)
//!   are delivered;
//! - the checkpoint moves only after the sink accepted every log below it, so a crash or a
//!   refusing sink means the logs are delivered again (the sink is idempotent on
//!   `(tx_hash, log_index)`), never skipped;
//! - a delivered log whose block a reorg replaced is delivered again with `removed: true`
//!   (newest first), then scanning rewinds so the re-mined transaction arrives as new;
//! - the checkpoint and the recent delivered logs live in the store, so all of this holds
//!   across restarts of the engine or of the node.

use crate::config::ChainSettings;
use crate::domain::chain_watch::{
    self, ChainCheckpoint, Confirmations, blocks_to_verify, judge_reorg,
};
use crate::error::StoreError;
use crate::ports::{Chain, ChainError, ChainEventSink, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{Notify, broadcast};

#[derive(Debug, Error)]
pub enum WatchError {
    #[error("chain: {0}")]
    Chain(#[from] ChainError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("sink refused {what}: {source}")]
    Sink { what: String, source: ChainError },
}

/// Wakes the watcher before its next poll (the Alchemy webhook's hint). Cheap to clone;
/// a wake while the watcher is busy is kept for when it next waits.
#[derive(Clone, Default)]
pub struct ChainWatchSignal(Arc<Notify>, Arc<std::sync::atomic::AtomicU64>);

impl ChainWatchSignal {
    pub fn wake(&self) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.notify_one();
    }

    /// How many wakes were given so far (observable even after the running watcher took
    /// them: tests, metrics).
    pub fn wakes(&self) -> u64 {
        self.1.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Resolves at the next wake, or at once when one came while nobody waited.
    pub async fn woken(&self) {
        self.0.notified().await;
    }
}

/// How the watcher behaves, from `[chain]`.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub confirmations: Confirmations,
    pub start_block: u64,
    pub poll: Duration,
    pub log_range: u64,
    pub reorg_window: u64,
}

impl WatchOptions {
    pub fn from_settings(s: &ChainSettings) -> Result<Self, crate::config::ConfigError> {
        Ok(Self {
            confirmations: s.confirmations()?,
            start_block: s.start_block.unwrap_or(0),
            poll: Duration::from_millis(s.poll_ms.max(1)),
            log_range: s.log_range.max(1),
            reorg_window: s.reorg_window.max(1),
        })
    }
}

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub removed: usize,
    /// More confirmed blocks wait beyond the range just scanned.
    pub behind: bool,
}

pub struct ChainWatcher {
    chain: Arc<dyn Chain>,
    store: Arc<dyn Store>,
    sink: Arc<dyn ChainEventSink>,
    options: WatchOptions,
    signal: ChainWatchSignal,
    /// The store key: one checkpoint per chain and contract, so pointing the engine at a
    /// new deployment starts over from its `start_block`.
    key: String,
}

impl ChainWatcher {
    pub fn new(
        chain: Arc<dyn Chain>,
        store: Arc<dyn Store>,
        sink: Arc<dyn ChainEventSink>,
        options: WatchOptions,
        signal: ChainWatchSignal,
    ) -> Self {
        let key = format!("{}:{}", chain.chain_id(), chain.escrow_contract());
        Self {
            chain,
            store,
            sink,
            options,
            signal,
            key,
        }
    }

    /// Polls until `shutdown` fires: a round, then again at once while behind, else waits
    /// for the poll interval or a wake. A failed round is logged and retried next poll.
    pub async fn run(self, mut shutdown: broadcast::Receiver<()>) {
        tracing::info!(watcher = %self.key, chain = self.chain.adapter_name(), "chain watcher started");
        loop {
            let behind = match self.round().await {
                Ok(round) => round.behind,
                Err(e) => {
                    tracing::warn!(watcher = %self.key, error = %e, "chain watcher round failed");
                    false
                }
            };
            if behind {
                // Yield between ranges so a long catch-up does not starve shutdown.
                if matches!(
                    shutdown.try_recv(),
                    Ok(()) | Err(broadcast::error::TryRecvError::Closed)
                ) {
                    break;
                }
                continue;
            }
            tokio::select! {
                _ = shutdown.recv() => break,
                _ = self.signal.woken() => {}
                _ = tokio::time::sleep(self.options.poll) => {}
            }
        }
        tracing::info!(watcher = %self.key, "chain watcher stopped");
    }

    /// One round: undo what a reorg removed, then deliver the next confirmed range.
    #[tracing::instrument(name = "chain_watch.round", skip(self), fields(watcher = %self.key))]
    pub async fn round(&self) -> Result<Round, WatchError> {
        let o = &self.options;
        let mut checkpoint =
            self.store
                .chain_checkpoint(&self.key)
                .await?
                .unwrap_or(ChainCheckpoint {
                    next_block: o.start_block,
                    last_block: None,
                });
        let mut delivered = self.store.chain_recent_logs(&self.key).await?;
        let mut round = Round::default();

        // 1. Reorgs: compare what was delivered (and the checkpoint) with the canonical
        // chain; usually one call, the checkpoint block's hash, vouches for all of it.
        let mut canonical = HashMap::new();
        let mut intact = false;
        if let Some((n, hash)) = checkpoint.last_block {
            let now = self.chain.block_hash(n).await?;
            intact = now == Some(hash);
            canonical.insert(n, now);
        }
        for n in blocks_to_verify(&delivered, &checkpoint, intact) {
            if let std::collections::hash_map::Entry::Vacant(slot) = canonical.entry(n) {
                slot.insert(self.chain.block_hash(n).await?);
            }
        }
        let verdict = judge_reorg(
            &delivered,
            &checkpoint,
            &canonical,
            o.start_block,
            o.reorg_window,
        );
        for event in verdict.removed {
            tracing::warn!(
                tx = %event.tx_hash, log_index = event.log_index, block = event.block_number,
                event = event.log.name(), "reorg removed a delivered log"
            );
            let (tx_hash, log_index) = (event.tx_hash, event.log_index);
            self.deliver(event).await?;
            self.store
                .chain_log_removed(&self.key, tx_hash, log_index)
                .await?;
            delivered.retain(|e| (e.tx_hash, e.log_index) != (tx_hash, log_index));
            round.removed += 1;
        }
        if let Some(rewind_to) = verdict.rewind_to {
            checkpoint = ChainCheckpoint {
                next_block: rewind_to.min(checkpoint.next_block),
                last_block: None,
            };
            self.store
                .chain_advance(
                    &self.key,
                    &checkpoint,
                    self.keep_from(checkpoint.next_block),
                )
                .await?;
        }

        // 2. The next confirmed range.
        let latest = self.chain.latest_block().await?;
        let finalized = match o.confirmations {
            Confirmations::Finalized => self.chain.finalized_block().await?,
            Confirmations::Blocks(_) => None,
        };
        let head = chain_watch::confirmed_head(latest, finalized, o.confirmations);
        let Some((from, to)) = chain_watch::next_range(checkpoint.next_block, head, o.log_range)
        else {
            return Ok(round);
        };
        let Some(to_hash) = self.chain.block_hash(to).await? else {
            return Ok(round); // the head moved back under us: next round sees the reorg
        };
        let logs = self.chain.escrow_logs(from, to).await?;
        if self.chain.block_hash(to).await? != Some(to_hash) {
            return Ok(round); // a reorg while reading: these logs may be stale, read again
        }
        for event in chain_watch::undelivered(logs, &delivered) {
            self.deliver(event.clone()).await?;
            self.store.chain_log_delivered(&self.key, &event).await?;
            round.delivered += 1;
        }
        let next = ChainCheckpoint {
            next_block: to + 1,
            last_block: Some((to, to_hash)),
        };
        self.store
            .chain_advance(&self.key, &next, self.keep_from(next.next_block))
            .await?;
        round.behind = head.is_some_and(|h| h > to);
        Ok(round)
    }

    fn keep_from(&self, next_block: u64) -> u64 {
        next_block.saturating_sub(self.options.reorg_window)
    }

    async fn deliver(&self, event: crate::domain::escrow::ChainEvent) -> Result<(), WatchError> {
        let what = format!(
            "{}{} {}:{}",
            if event.removed { "removed " } else { "" },
            event.log.name(),
            event.tx_hash,
            event.log_index
        );
        tracing::debug!(event = %what, block = event.block_number, "delivering chain event");
        self.sink
            .on_chain_event(event)
            .await
            .map_err(|source| WatchError::Sink { what, source })
    }
}
