//! The in-process bus: subscriptions are bounded channels inside this process.
//!
//! Same contract as RabbitMQ: `publish` returns once every bound queue holds the event
//! (waiting if a queue is full, which is backpressure, not loss); a nack with requeue
//! delivers again with `redelivered = true`; a nack without requeue dead-letters it;
//! an event that no binding matches goes to the `unrouted` store instead of vanishing.

use super::topic_matches;
use crate::events::EventEnvelope;
use crate::ports::{
    Acker, Bus, BusError, Delivery, InboundAcker, InboundMessage, NodeMessage, Subscription,
};
use async_trait::async_trait;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc;
use uuid::Uuid;

/// How many deliveries a subscription buffers before `publish` waits.
const QUEUE_CAPACITY: usize = 1024;
/// How many unrouted / dead-lettered events are kept for inspection.
const KEEP: usize = 10_000;

#[derive(Clone)]
pub struct InProcessBus {
    inner: Arc<Inner>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self::with_delivery_limit(5)
    }
}

struct Inner {
    /// How often one event may be requeued to one queue (a failed delivery) before it is
    /// dead-lettered, as RabbitMQ's quorum queues count `x-delivery-limit`: an event is
    /// delivered at most `delivery_limit + 1` times.
    delivery_limit: u32,
    queues: Mutex<Vec<Queue>>,
    unrouted: Mutex<VecDeque<EventEnvelope>>,
    dead_letters: Mutex<VecDeque<EventEnvelope>>,
    /// Node queues of the engines sharing this bus (tests run two in one process).
    nodes: Mutex<HashMap<Uuid, mpsc::Sender<NodeMessage>>>,
    inbound: Mutex<Vec<InboundQueue>>,
    /// Inbound messages refused for good: (routing key, body, reason).
    inbound_dead: Mutex<VecDeque<DeadInbound>>,
}

/// An inbound message dead-lettered, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadInbound {
    pub routing_key: String,
    pub body: Vec<u8>,
    pub reason: String,
}

struct InboundQueue {
    name: String,
    bindings: Vec<String>,
    tx: mpsc::Sender<InboundMessage>,
}

struct Queue {
    name: String,
    binding: String,
    tx: mpsc::Sender<Delivery>,
}

impl InProcessBus {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_delivery_limit(delivery_limit: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                delivery_limit: delivery_limit.max(1),
                queues: Mutex::default(),
                unrouted: Mutex::default(),
                dead_letters: Mutex::default(),
                nodes: Mutex::default(),
                inbound: Mutex::default(),
                inbound_dead: Mutex::default(),
            }),
        }
    }

    /// Events published while no queue was bound to their type.
    pub fn unrouted(&self) -> Vec<EventEnvelope> {
        self.inner.unrouted.lock().iter().cloned().collect()
    }

    /// Deliveries a consumer refused for good.
    pub fn dead_letters(&self) -> Vec<EventEnvelope> {
        self.inner.dead_letters.lock().iter().cloned().collect()
    }

    /// Inbound messages dead-lettered, with their reasons.
    pub fn inbound_dead_letters(&self) -> Vec<DeadInbound> {
        self.inner.inbound_dead.lock().iter().cloned().collect()
    }

    /// What an outside publisher does on RabbitMQ: a raw message with a routing key, to
    /// every inbound queue bound to it. False when no inbound queue is bound.
    pub async fn publish_inbound(&self, routing_key: &str, body: &[u8]) -> bool {
        let targets: Vec<mpsc::Sender<InboundMessage>> = {
            let mut queues = self.inner.inbound.lock();
            queues.retain(|q| !q.tx.is_closed());
            queues
                .iter()
                .filter(|q| q.bindings.iter().any(|b| topic_matches(b, routing_key)))
                .map(|q| q.tx.clone())
                .collect()
        };
        let routed = !targets.is_empty();
        for tx in targets {
            let message = InProcessInbound {
                routing_key: routing_key.to_string(),
                body: body.to_vec(),
                attempts: 1,
                requeue_to: tx.clone(),
                bus: self.inner.clone(),
            }
            .into_message(false);
            let _ = tx.send(message).await;
        }
        routed
    }

    fn keep(list: &Mutex<VecDeque<EventEnvelope>>, e: EventEnvelope) {
        let mut l = list.lock();
        if l.len() == KEEP {
            l.pop_front();
        }
        l.push_back(e);
    }
}

struct InProcessAcker {
    envelope: EventEnvelope,
    /// How many times this event has been delivered to this queue.
    attempts: u32,
    requeue_to: mpsc::Sender<Delivery>,
    bus: Arc<Inner>,
}

#[async_trait]
impl Acker for InProcessAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        Ok(())
    }

    async fn nack(self: Box<Self>, requeue: bool) -> Result<(), BusError> {
        if requeue && self.attempts <= self.bus.delivery_limit {
            let again = Delivery::new(
                self.envelope.clone(),
                true,
                Box::new(InProcessAcker {
                    envelope: self.envelope.clone(),
                    attempts: self.attempts + 1,
                    requeue_to: self.requeue_to.clone(),
                    bus: self.bus.clone(),
                }),
            );
            self.requeue_to
                .send(again)
                .await
                .map_err(|_| BusError::Other("subscription closed".into()))
        } else {
            InProcessBus::keep(&self.bus.dead_letters, self.envelope);
            Ok(())
        }
    }
}

struct InProcessInbound {
    routing_key: String,
    body: Vec<u8>,
    attempts: u32,
    requeue_to: mpsc::Sender<InboundMessage>,
    bus: Arc<Inner>,
}

impl InProcessInbound {
    fn into_message(self, redelivered: bool) -> InboundMessage {
        InboundMessage::new(
            self.routing_key.clone(),
            self.body.clone(),
            redelivered,
            Box::new(self),
        )
    }

    fn dead(self, reason: &str) {
        let mut l = self.bus.inbound_dead.lock();
        if l.len() == KEEP {
            l.pop_front();
        }
        l.push_back(DeadInbound {
            routing_key: self.routing_key,
            body: self.body,
            reason: reason.to_string(),
        });
    }
}

#[async_trait]
impl InboundAcker for InProcessInbound {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        Ok(())
    }

    async fn retry(self: Box<Self>) -> Result<(), BusError> {
        if self.attempts <= self.bus.delivery_limit {
            let tx = self.requeue_to.clone();
            let again = InProcessInbound {
                attempts: self.attempts + 1,
                ..*self
            };
            tx.send(again.into_message(true))
                .await
                .map_err(|_| BusError::Other("subscription closed".into()))
        } else {
            self.dead("delivery limit reached");
            Ok(())
        }
    }

    async fn reject(self: Box<Self>, reason: &str) -> Result<(), BusError> {
        self.dead(reason);
        Ok(())
    }
}

#[async_trait]
impl Bus for InProcessBus {
    fn adapter_name(&self) -> &'static str {
        "in-process"
    }

    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError> {
        let targets: Vec<mpsc::Sender<Delivery>> = {
            let mut queues = self.inner.queues.lock();
            queues.retain(|q| !q.tx.is_closed());
            queues
                .iter()
                .filter(|q| topic_matches(&q.binding, event.event_type()))
                .map(|q| q.tx.clone())
                .collect()
        };
        if targets.is_empty() {
            Self::keep(&self.inner.unrouted, event.clone());
            return Ok(());
        }
        for tx in targets {
            let acker = InProcessAcker {
                envelope: event.clone(),
                attempts: 1,
                requeue_to: tx.clone(),
                bus: self.inner.clone(),
            };
            // A subscriber that went away between the lookup and the send is simply gone.
            let _ = tx
                .send(Delivery::new(event.clone(), false, Box::new(acker)))
                .await;
        }
        Ok(())
    }

    async fn subscribe(&self, queue: &str, binding: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let mut queues = self.inner.queues.lock();
        queues.retain(|q| !q.tx.is_closed());
        if queues.iter().any(|q| q.name == queue) {
            return Err(BusError::Other(format!(
                "queue {queue} already has a consumer"
            )));
        }
        queues.push(Queue {
            name: queue.to_string(),
            binding: binding.to_string(),
            tx,
        });
        Ok(Subscription { deliveries: rx })
    }

    async fn healthy(&self) -> bool {
        true
    }

    async fn wait_connected(&self) {}

    async fn send_to_node(&self, node: Uuid, payload: &[u8]) -> Result<bool, BusError> {
        let tx = self.inner.nodes.lock().get(&node).cloned();
        match tx {
            Some(tx) => Ok(tx.send(NodeMessage::Frames(payload.to_vec())).await.is_ok()),
            None => Ok(false),
        }
    }

    async fn subscribe_node(
        &self,
        node: Uuid,
        bindings: &[&str],
    ) -> Result<mpsc::Receiver<NodeMessage>, BusError> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        {
            let mut nodes = self.inner.nodes.lock();
            nodes.retain(|_, tx| !tx.is_closed());
            if nodes.contains_key(&node) {
                return Err(BusError::Other(format!("node {node} already has a queue")));
            }
            nodes.insert(node, tx.clone());
        }
        // Events reach the node queue like any subscription's, acked on arrival (the
        // node queue is not durable on RabbitMQ either).
        for binding in bindings {
            let mut sub = self
                .subscribe(&format!("metmos.node.{node}.{binding}"), binding)
                .await?;
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(d) = sub.deliveries.recv().await {
                    let envelope = d.envelope.clone();
                    let _ = d.ack().await;
                    if tx.send(NodeMessage::Event(envelope)).await.is_err() {
                        return;
                    }
                }
            });
        }
        Ok(rx)
    }

    async fn subscribe_inbound(
        &self,
        queue: &str,
        bindings: &[&str],
    ) -> Result<mpsc::Receiver<InboundMessage>, BusError> {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let mut queues = self.inner.inbound.lock();
        queues.retain(|q| !q.tx.is_closed());
        if queues.iter().any(|q| q.name == queue) {
            return Err(BusError::Other(format!(
                "queue {queue} already has a consumer"
            )));
        }
        queues.push(InboundQueue {
            name: queue.to_string(),
            bindings: bindings.iter().map(|b| b.to_string()).collect(),
            tx,
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time;
    use crate::events::{AccountCreated, Event};

    fn event() -> EventEnvelope {
        EventEnvelope::new(
            Event::AccountCreated(AccountCreated {
                account_uuid: uuid::Uuid::new_v4(),
                cognito_user_id: "s".into(),
                account_status: "ACTIVE".into(),
            }),
            time::now(),
        )
    }

    #[tokio::test]
    async fn routes_by_binding_and_keeps_unrouted() {
        let bus = InProcessBus::new();
        let mut accounts = bus.subscribe("q-accounts", "account.*").await.unwrap();
        let mut orders = bus.subscribe("q-orders", "order.#").await.unwrap();
        let e = event();
        bus.publish(&e).await.unwrap();
        let d = accounts.deliveries.recv().await.unwrap();
        assert_eq!(d.envelope, e);
        assert!(!d.redelivered);
        d.ack().await.unwrap();
        assert!(orders.deliveries.try_recv().is_err());
        drop(accounts);
        let lost = event();
        bus.publish(&lost).await.unwrap();
        assert_eq!(bus.unrouted(), vec![lost]);
    }

    #[tokio::test]
    async fn nack_requeues_or_dead_letters() {
        let bus = InProcessBus::new();
        let mut sub = bus.subscribe("q", "#").await.unwrap();
        let e = event();
        bus.publish(&e).await.unwrap();
        sub.deliveries
            .recv()
            .await
            .unwrap()
            .nack(true)
            .await
            .unwrap();
        let again = sub.deliveries.recv().await.unwrap();
        assert!(again.redelivered);
        again.nack(false).await.unwrap();
        assert_eq!(bus.dead_letters(), vec![e]);
    }
}
