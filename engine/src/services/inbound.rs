//! The inbound consumer: applies messages of the `metmos.inbound` queue (`chain.*` and
//! `integration.*`, format in `docs/events.md`).
//!
//! Each message is acked only after its effect committed. `integration.notification`
//! stores the notification and its inbox row (`processed_event`, key = `eventId`) in one
//! transaction, so a redelivery (the consumer died before its ack) is applied once; then
//! presence delivers it (frame or push). `chain.escrow` goes to the engine's
//! [`ChainEventSink`] (the order handler the watcher and the webhook feed too), which
//! deduplicates by `(txHash, logIndex)` itself. A malformed message is dead-lettered at
//! once with its reason; a passing failure (store or chain unavailable) is requeued and
//! dead-lettered by the broker after `amqp.delivery_limit` deliveries.

use crate::domain::escrow::ChainEvent;
use crate::domain::inbound::{self, InboundCommand, IntegrationNotification};
use crate::domain::notifications::NewNotification;
use crate::domain::time;
use crate::error::StoreError;
use crate::ports::{Bus, ChainError, ChainEventSink, InboundMessage, Store};
use crate::services::notifications::Deliverer;
use async_trait::async_trait;
use parking_lot::RwLock;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

/// The engine's inbound queue.
pub const INBOUND_QUEUE: &str = "metmos.inbound";
/// What it is bound to on `metmos.events`.
pub const INBOUND_BINDINGS: [&str; 2] = ["chain.*", "integration.*"];
/// The inbox consumer name of integration notifications (`processed_event.consumer`).
pub const NOTIFICATION_CONSUMER: &str = "inbound.integration.notification";
/// Wait before retrying to subscribe while the broker is away.
const RESUBSCRIBE: Duration = Duration::from_millis(500);
/// A passing failure is requeued after this pause, so a store that is down is not
/// hammered by the same message.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Figures for `/metrics`.
#[derive(Debug, Default)]
pub struct InboundStats {
    /// Messages applied (or found already applied) and acked.
    pub consumed: AtomicU64,
    /// Messages dead-lettered by the engine (malformed, refused).
    pub dead_lettered: AtomicU64,
    /// Messages requeued after a passing failure.
    pub retried: AtomicU64,
}

/// Where chain events go, attachable because the order handler (actors) starts after
/// the engine. Until one is attached, chain events are not applied: they are requeued
/// (and dead-lettered after the delivery limit), never acked unapplied.
#[derive(Clone, Default)]
pub struct ChainEvents(Arc<RwLock<Option<Arc<dyn ChainEventSink>>>>);

impl ChainEvents {
    pub fn attach(&self, sink: Arc<dyn ChainEventSink>) {
        *self.0.write() = Some(sink);
    }

    /// The attached handler, if any.
    pub fn attached(&self) -> Option<Arc<dyn ChainEventSink>> {
        self.0.read().clone()
    }
}

#[async_trait]
impl ChainEventSink for ChainEvents {
    async fn on_chain_event(&self, event: ChainEvent) -> Result<(), ChainError> {
        let sink = self.0.read().clone();
        match sink {
            Some(sink) => sink.on_chain_event(event).await,
            None => Err(ChainError::Unavailable(
                "no chain event handler attached".into(),
            )),
        }
    }
}

/// What became of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied now, or already applied before (a redelivery): ack.
    Applied,
    /// Refused for good: dead-letter with this reason.
    Refused(String),
    /// Not applied this time: requeue.
    Retry(String),
}

#[derive(Clone)]
pub struct InboundService {
    store: Arc<dyn Store>,
    deliverer: Deliverer,
    chain: ChainEvents,
    pub stats: Arc<InboundStats>,
}

impl InboundService {
    pub fn new(store: Arc<dyn Store>, deliverer: Deliverer, chain: ChainEvents) -> Self {
        Self {
            store,
            deliverer,
            chain,
            stats: Arc::default(),
        }
    }

    /// Applies one message body (what the queue consumer and tests call).
    pub async fn apply(&self, body: &[u8]) -> Outcome {
        let message = match inbound::parse(body) {
            Ok(m) => m,
            Err(refusal) => return Outcome::Refused(refusal.to_string()),
        };
        match message.command {
            InboundCommand::Chain(event) => match self.chain.on_chain_event(event).await {
                Ok(()) => Outcome::Applied,
                Err(ChainError::Unavailable(e)) => Outcome::Retry(e),
                Err(e) => Outcome::Retry(e.to_string()),
            },
            InboundCommand::Notify(n) => self.notify(message.event_id, n).await,
        }
    }

    async fn notify(&self, event_id: Uuid, n: IntegrationNotification) -> Outcome {
        let person = match self.store.person_by_uuid(n.person_uuid).await {
            Ok(Some(p)) => p,
            Ok(None) => return Outcome::Refused(format!("person {} not found", n.person_uuid)),
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        let mut new = NewNotification::new(
            person.id,
            person.uuid,
            n.notification_type,
            n.title,
            n.body,
            &[],
            time::now(),
        );
        new.data = n.data;
        match self
            .store
            .insert_notifications_once(NOTIFICATION_CONSUMER, &event_id.to_string(), &[new], &[])
            .await
        {
            Ok(Some(stored)) => {
                self.deliverer.deliver(&stored);
                Outcome::Applied
            }
            Ok(None) => {
                tracing::info!(%event_id, "inbound notification already applied; acked again");
                Outcome::Applied
            }
            // The person went away between the read and the write.
            Err(StoreError::NotFound(m)) => Outcome::Refused(m),
            Err(StoreError::Refused(r)) => Outcome::Refused(r.to_string()),
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    async fn settle(&self, message: InboundMessage) {
        let routing_key = message.routing_key.clone();
        let outcome = self.apply(&message.body).await;
        let done = match &outcome {
            Outcome::Applied => {
                self.stats.consumed.fetch_add(1, Ordering::Relaxed);
                message.ack().await
            }
            Outcome::Refused(reason) => {
                tracing::warn!(routing_key, reason, "inbound message dead-lettered");
                self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
                message.reject(reason).await
            }
            Outcome::Retry(reason) => {
                tracing::warn!(routing_key, reason, "inbound message not applied; requeued");
                self.stats.retried.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(RETRY_PAUSE).await;
                message.retry().await
            }
        };
        if let Err(e) = done {
            // The broker link broke: it redelivers what was not acked.
            tracing::warn!(routing_key, error = %e, "inbound settle failed");
        }
    }

    /// Consumes `metmos.inbound` until shutdown, subscribing again whenever the
    /// subscription ends or the broker is away.
    pub async fn run(self, bus: Arc<dyn Bus>, mut shutdown: broadcast::Receiver<()>) {
        loop {
            // A connect attempt may take seconds with the broker away: shutdown wins.
            let subscribed = tokio::select! {
                s = bus.subscribe_inbound(INBOUND_QUEUE, &INBOUND_BINDINGS) => s,
                _ = shutdown.recv() => return,
            };
            let mut messages = match subscribed {
                Ok(rx) => rx,
                Err(e) => {
                    tracing::debug!(error = %e, "inbound queue not subscribed yet");
                    tokio::select! {
                        _ = tokio::time::sleep(RESUBSCRIBE) => continue,
                        _ = shutdown.recv() => return,
                    }
                }
            };
            tracing::info!(queue = INBOUND_QUEUE, "inbound consumer started");
            loop {
                let message = tokio::select! {
                    m = messages.recv() => m,
                    _ = shutdown.recv() => return,
                };
                match message {
                    Some(m) => self.settle(m).await,
                    None => break,
                }
            }
        }
    }
}
