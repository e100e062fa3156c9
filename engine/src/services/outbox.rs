//! The outbox relay: publishes committed events to the bus, oldest first, a round of up
//! to [`BATCH`] at a time, and deletes each row only after the bus confirmed it. A crash
//! between the two publishes the event again on restart (at least once); consumers
//! deduplicate on `eventId`.
//!
//! Broker down: the API keeps committing, the outbox grows, and the relay stops
//! publishing; it waits on [`Bus::wait_connected`] (a cheap connect probe every 250 ms)
//! instead of sleeping out a backoff, so the backlog starts draining, oldest first, as
//! soon as the broker is back. Other failures (the store, a broker nack) back off.

use crate::domain::outbox::fully_published;
use crate::domain::time;
use crate::events::EventEnvelope;
use crate::ports::{Bus, BusError, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use uuid::Uuid;

/// Rows per round: all published before the first confirm is awaited, so the broker
/// takes them with one flush. A backlog drains in rounds without holding memory for all
/// of it. (Draining 100k events to RabbitMQ here: 200 a round, 7.9k events/s; 1,000 a
/// round, 10.4k/s; one confirm at a time, as before, 1.6k/s.)
const BATCH: usize = 1000;
/// How often the relay looks even without a nudge: events committed on another node
/// (only one node's relay drains the outbox) wait at most this long.
const POLL: Duration = Duration::from_millis(200);
/// How long this node's hold on the outbox lasts without renewal: another node takes
/// over this long after the holder died (a clean stop hands it over at once).
const LEASE: Duration = Duration::from_secs(10);
/// The holder renews once less than this is left (so about every 3 s).
const RENEW_WITHIN: Duration = Duration::from_secs(7);
/// Published events after which the relay has the store free the space of their deleted
/// rows ([`crate::ports::OutboxStore::outbox_reclaim`]). Counted in events, not rows: a
/// message batch's row holds hundreds (V20), and its size grows with them. At 20k chat
/// messages/s this is about twice a second, and rare otherwise.
pub const RECLAIM_AFTER: u64 = 10_000;
/// Wait before retrying after the bus refused, doubling up to the cap.
const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Why a drain stopped: the bus (broker down, or it refused an event) or the store.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Bus(BusError),
    #[error("store: {0}")]
    Store(String),
}

/// Figures for `/metrics`.
#[derive(Debug, Default)]
pub struct RelayStats {
    pub published: AtomicU64,
    pub failures: AtomicU64,
    /// This node's relay holds the outbox lease (it is the one publishing).
    pub holds_lease: AtomicBool,
}

/// Lets a service tell the relay "I just committed events" so they go out at once
/// instead of at the next poll.
#[derive(Clone, Default)]
pub struct OutboxSignal(Arc<Notify>);

impl OutboxSignal {
    pub fn nudge(&self) {
        self.0.notify_one();
    }
}

pub struct OutboxRelay {
    /// The lease's holder name: several nodes share one outbox, one relays it at a time.
    node_id: Uuid,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    signal: OutboxSignal,
    stats: Arc<RelayStats>,
    /// Events deleted since the store last freed their space, and after how many it does.
    deleted_since_reclaim: AtomicU64,
    reclaim_after: u64,
}

impl OutboxRelay {
    pub fn new(
        node_id: Uuid,
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        signal: OutboxSignal,
        stats: Arc<RelayStats>,
    ) -> Self {
        Self {
            node_id,
            store,
            bus,
            signal,
            stats,
            deleted_since_reclaim: AtomicU64::new(0),
            reclaim_after: RECLAIM_AFTER,
        }
    }

    /// Frees the outbox's space after `events` published instead of [`RECLAIM_AFTER`]
    /// (tests, to see it happen without that many).
    pub fn reclaim_after(mut self, events: u64) -> Self {
        self.reclaim_after = events.max(1);
        self
    }

    /// Counts `deleted` events and, once enough are, has the store free their space. A
    /// failure is logged and tried again after as many more: the store still cleans up
    /// by itself, later.
    async fn reclaim_if_due(&self, deleted: usize) {
        let since = self
            .deleted_since_reclaim
            .fetch_add(deleted as u64, Ordering::Relaxed)
            + deleted as u64;
        if since < self.reclaim_after {
            return;
        }
        self.deleted_since_reclaim.store(0, Ordering::Relaxed);
        let started = Instant::now();
        match self.store.outbox_reclaim().await {
            Ok(()) => tracing::debug!(
                events = since,
                took_ms = started.elapsed().as_millis() as u64,
                "freed the space of published outbox rows"
            ),
            Err(e) => {
                tracing::warn!(error = %e, events = since, "could not free the space of published outbox rows")
            }
        }
    }

    /// Publishes everything pending now, as long as this node holds the lease (renewed
    /// between rounds: a long backlog outlasts it); returns how many went out.
    async fn drain_once(&self, held_until: &mut Option<Instant>) -> Result<usize, RelayError> {
        let mut total = 0;
        loop {
            if !self.hold_lease(held_until).await {
                return Ok(total);
            }
            let rows = self
                .store
                .outbox_pending(BATCH)
                .await
                .map_err(|e| RelayError::Store(e.to_string()))?;
            if rows.is_empty() {
                return Ok(total);
            }
            let envelopes: Vec<&EventEnvelope> = rows.iter().map(|r| &r.envelope).collect();
            let published = self.bus.publish_all(&envelopes).await;
            let row_ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let done = fully_published(&row_ids, published.confirmed);
            let failure = published.stopped;
            if let (Some(e), Some(row)) = (&failure, rows.get(published.confirmed)) {
                // Order matters to consumers: the next round starts again from this row,
                // not after it (all of it, when it holds several events: the ones already
                // confirmed go out twice, which consumers' deduplication absorbs).
                let _ = self.store.outbox_mark_failed(row.id, &e.to_string()).await;
            }
            if !done.rows.is_empty() {
                self.store
                    .outbox_delete_published(&done.rows)
                    .await
                    .map_err(|e| RelayError::Store(e.to_string()))?;
                self.stats
                    .published
                    .fetch_add(done.events as u64, Ordering::Relaxed);
                total += done.events;
                self.reclaim_if_due(done.events).await;
            }
            if let Some(e) = failure {
                self.stats.failures.fetch_add(1, Ordering::Relaxed);
                return Err(RelayError::Bus(e));
            }
            // Whole rows: a round can hold more events than asked, never fewer unless
            // that is all there is.
            if rows.len() < BATCH {
                return Ok(total);
            }
        }
    }

    /// Holds the relay lease, renewing it when due: false while another node holds it.
    /// A store error keeps what this node already held, until it runs out.
    async fn hold_lease(&self, held_until: &mut Option<Instant>) -> bool {
        let now = Instant::now();
        if held_until.is_some_and(|until| until > now + RENEW_WITHIN) {
            return true;
        }
        let at = time::now();
        let expires_at = at + chrono::TimeDelta::from_std(LEASE).unwrap_or_default();
        let held = match self
            .store
            .claim_outbox_relay(self.node_id, expires_at, at)
            .await
        {
            Ok(true) => {
                if held_until.is_none() {
                    tracing::info!(node_id = %self.node_id, "this node relays the outbox");
                }
                *held_until = Some(now + LEASE);
                true
            }
            Ok(false) => {
                if held_until.take().is_some() {
                    tracing::warn!(node_id = %self.node_id, "another node took over the outbox relay");
                }
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not claim or renew the outbox relay lease");
                held_until.is_some_and(|until| until > now)
            }
        };
        self.stats.holds_lease.store(held, Ordering::Relaxed);
        held
    }

    /// Runs until `shutdown` fires. Then, on a clean stop while holding the lease, it
    /// drains once more so committed events leave with the node, and gives the lease
    /// back so another node takes over at once.
    pub async fn run(self, mut shutdown: broadcast::Receiver<()>) {
        let mut held_until = None;
        let drain_at_stop = self.relay(&mut shutdown, &mut held_until).await;
        if held_until.is_some() {
            if drain_at_stop {
                let _ = self.drain_once(&mut held_until).await;
            }
            if let Err(e) = self.store.release_outbox_relay(self.node_id).await {
                tracing::warn!(error = %e, "could not give the outbox relay lease back; another node takes over when it runs out");
            }
            self.stats.holds_lease.store(false, Ordering::Relaxed);
        }
    }

    /// The relay's loop; returns at shutdown, true if the bus was fine then.
    async fn relay(
        &self,
        shutdown: &mut broadcast::Receiver<()>,
        held_until: &mut Option<Instant>,
    ) -> bool {
        let mut backoff = BACKOFF_START;
        loop {
            if !self.hold_lease(held_until).await {
                // Another node relays; its lease may run out. This node's own commits
                // are the holder's to publish (it polls), so nudges are not waited on.
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => continue,
                    _ = shutdown.recv() => return false,
                }
            }
            match self.drain_once(held_until).await {
                Ok(_) => backoff = BACKOFF_START,
                Err(RelayError::Bus(BusError::Unavailable(e))) => {
                    tracing::warn!(error = %e, "broker unavailable; events wait in the outbox until it is back");
                    tokio::select! {
                        _ = self.bus.wait_connected() => {
                            tracing::info!("broker back; draining the outbox");
                        }
                        _ = shutdown.recv() => return false,
                    }
                    backoff = BACKOFF_START;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay could not publish");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.recv() => return false,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            }
            tokio::select! {
                _ = self.signal.0.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.recv() => return true,
            }
        }
    }
}
