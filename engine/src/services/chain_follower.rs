//! A minimal chain follower: reads the escrow contract's logs block by block once they
//! have `chain.confirmations` blocks on top (or are finalized), hands each to the
//! [`ChainEventSink`] (the OrderSupervisor), and when a block it delivered is no longer
//! canonical, hands back that block's logs marked `removed` (newest first) before reading
//! the new branch. A log the sink could not take is delivered again on the next poll.
//!
//! It keeps its position in memory and starts at `chain.start_block` (0 by default):
//! after a restart it reads again from there, and the sink's `(tx_hash, log_index)`
//! dedupe makes that harmless. The full ChainWatcher (stored checkpoint, Alchemy hints)
//! replaces it without changing the sink.

use crate::config::ChainSettings;
use crate::domain::escrow::ChainEvent;
use crate::ports::{Chain, ChainError, ChainEventSink};
use alloy_primitives::B256;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// How many delivered blocks are remembered to detect a reorg (deeper ones are final).
const REORG_WINDOW: usize = 128;
/// At most this many blocks per poll, so one poll never holds the sink for long.
const BLOCKS_PER_POLL: u64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Confirmations {
    Blocks(u64),
    Finalized,
}

pub struct ChainFollower {
    chain: Arc<dyn Chain>,
    sink: Arc<dyn ChainEventSink>,
    confirmations: Confirmations,
    poll: Duration,
    next: u64,
    delivered: VecDeque<(u64, B256, Vec<ChainEvent>)>,
}

impl ChainFollower {
    pub fn new(
        chain: Arc<dyn Chain>,
        sink: Arc<dyn ChainEventSink>,
        settings: &ChainSettings,
    ) -> Result<Self, ChainError> {
        let confirmations = match settings.confirmations.as_deref().map(str::trim) {
            None | Some("") => Confirmations::Blocks(0),
            Some("finalized") => Confirmations::Finalized,
            Some(n) => Confirmations::Blocks(n.parse().map_err(|_| {
                ChainError::Config(
                    "chain.confirmations must be a number of blocks or \"finalized\"".into(),
                )
            })?),
        };
        Ok(Self {
            chain,
            sink,
            confirmations,
            poll: Duration::from_millis(settings.poll_interval_ms.max(10)),
            next: settings.start_block.unwrap_or(0),
            delivered: VecDeque::new(),
        })
    }

    pub async fn run(mut self, mut shutdown: broadcast::Receiver<()>) {
        let mut tick = tokio::time::interval(self.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.recv() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.poll_once().await {
                tracing::warn!(error = %e, next = self.next, "chain follower: will retry");
            }
        }
    }

    /// One round: undo what a reorg removed, then deliver confirmed blocks in order.
    pub async fn poll_once(&mut self) -> Result<(), ChainError> {
        self.unwind_reorg().await?;
        let head = self.chain.latest_block().await?;
        let safe = match self.confirmations {
            Confirmations::Blocks(n) => head.checked_sub(n),
            Confirmations::Finalized => self.chain.finalized_block().await?,
        };
        let Some(safe) = safe else { return Ok(()) };
        let last = safe.min(self.next.saturating_add(BLOCKS_PER_POLL - 1));
        while self.next <= last {
            let n = self.next;
            let Some(hash) = self.chain.block_hash(n).await? else {
                return Ok(());
            };
            let events = self.chain.escrow_logs(n, n).await?;
            for event in &events {
                // Not applied: stop here, deliver this block again next time (the ones
                // already applied are replays the sink ignores).
                self.sink.on_chain_event(event.clone()).await?;
            }
            self.delivered.push_back((n, hash, events));
            if self.delivered.len() > REORG_WINDOW {
                self.delivered.pop_front();
            }
            self.next = n + 1;
        }
        Ok(())
    }

    async fn unwind_reorg(&mut self) -> Result<(), ChainError> {
        while let Some((n, hash, _)) = self.delivered.back() {
            if self.chain.block_hash(*n).await? == Some(*hash) {
                return Ok(());
            }
            let n = *n;
            let Some((_, _, events)) = self.delivered.back() else {
                break;
            };
            for event in events.iter().rev() {
                let mut removed = event.clone();
                removed.removed = true;
                self.sink.on_chain_event(removed).await?;
            }
            tracing::warn!(
                block = n,
                "chain reorg: block no longer canonical, its logs removed"
            );
            self.delivered.pop_back();
            self.next = n;
        }
        Ok(())
    }
}
