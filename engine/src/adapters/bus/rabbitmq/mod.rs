//! The RabbitMQ bus (lapin).
//!
//! Topology, declared on every (re)connect so a fresh broker needs no setup:
//! - `metmos.events`: topic exchange; events are published with routing key = event type,
//!   persistent, with publisher confirms (publish returns only once the broker has the
//!   event, so the outbox may delete its row).
//! - `metmos.unrouted`: the alternate exchange of `metmos.events` (fanout) with a queue of
//!   the same name, so an event no integration has bound yet is kept, not dropped.
//! - `metmos.dlx`: direct exchange for dead letters; each subscription queue `Q` is a
//!   quorum queue whose dead letters go to `Q.dead`. The broker counts deliveries, so a
//!   message that keeps failing (nacked with requeue) is dead-lettered after
//!   `amqp.delivery_limit` requeues instead of looping forever.
//! - `metmos.nodes`: direct exchange for node-to-node deliveries (routing key = node id)
//!   into each node's own exclusive queue `metmos.node.<id>` ([`node`]), which the broker
//!   deletes with the node's connection: a dead node leaves no queue behind.
//! - `metmos.inbound`: the durable quorum queue of messages from outside (`chain.*`,
//!   `integration.*`), see [`inbound`] and `docs/events.md`.
//!
//! The broker may be down at start and may go away later: the engine keeps serving,
//! events wait in the outbox, and the link is re-established on the next use.

use crate::config::AmqpSettings;
use crate::events::EventEnvelope;
use crate::ports::{
    Acker, Bus, BusError, Delivery, InboundMessage, NodeMessage, Published, Subscription,
};
use async_trait::async_trait;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};
use uuid::Uuid;

mod consumer;
mod inbound;
mod node;

pub use inbound::REASON_HEADER;
pub use node::queue_name as node_queue_name;

pub const EVENTS_EXCHANGE: &str = "metmos.events";
pub const UNROUTED: &str = "metmos.unrouted";
pub const DEAD_LETTER_EXCHANGE: &str = "metmos.dlx";
pub const NODES_EXCHANGE: &str = "metmos.nodes";

/// How long a connect attempt may take before the broker counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often a waiter probes a broker that is down.
const RECONNECT_PROBE: Duration = Duration::from_millis(250);
/// Reconnect backoff of the consumers: first wait and cap.
pub(super) const CONSUMER_BACKOFF_START: Duration = Duration::from_millis(200);
pub(super) const CONSUMER_BACKOFF_MAX: Duration = Duration::from_secs(2);

pub struct RabbitMqBus {
    pub(super) url: String,
    pub(super) settings: AmqpSettings,
    /// The publishing link; `None` until first use and after a failure.
    link: Mutex<Option<Link>>,
}

struct Link {
    connection: Connection,
    channel: Channel,
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(e.to_string())
}

pub(super) fn long(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s.as_bytes().to_vec()))
}

impl RabbitMqBus {
    /// Does not connect: the first publish, subscribe or health check does.
    pub fn new(url: &str, settings: &AmqpSettings) -> Self {
        Self {
            url: url.to_string(),
            settings: settings.clone(),
            link: Mutex::new(None),
        }
    }

    pub(super) async fn connect(url: &str) -> Result<Connection, BusError> {
        let props = ConnectionProperties::default().with_connection_name("metmos-engine".into());
        tokio::time::timeout(CONNECT_TIMEOUT, Connection::connect(url, props))
            .await
            .map_err(|_| unavailable("connect timed out"))?
            .map_err(unavailable)
    }

    /// Declares the shared exchanges and the unrouted queue (idempotent).
    pub(super) async fn declare_topology(channel: &Channel) -> Result<(), BusError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        };
        channel
            .exchange_declare(
                UNROUTED.into(),
                ExchangeKind::Fanout,
                durable,
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        channel
            .queue_declare(
                UNROUTED.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        channel
            .queue_bind(
                UNROUTED.into(),
                UNROUTED.into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        let mut args = FieldTable::default();
        args.insert("alternate-exchange".into(), long(UNROUTED));
        channel
            .exchange_declare(EVENTS_EXCHANGE.into(), ExchangeKind::Topic, durable, args)
            .await
            .map_err(unavailable)?;
        channel
            .exchange_declare(
                DEAD_LETTER_EXCHANGE.into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        channel
            .exchange_declare(
                NODES_EXCHANGE.into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    /// The publishing channel, (re)connecting when there is none or it broke.
    pub(super) async fn with_link<T>(
        &self,
        f: impl AsyncFnOnce(&Channel) -> Result<T, BusError>,
    ) -> Result<T, BusError> {
        let mut link = self.link.lock().await;
        let healthy = link
            .as_ref()
            .is_some_and(|l| l.connection.status().connected() && l.channel.status().connected());
        if !healthy {
            let connection = Self::connect(&self.url).await?;
            let channel = connection.create_channel().await.map_err(unavailable)?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(unavailable)?;
            Self::declare_topology(&channel).await?;
            tracing::info!("connected to RabbitMQ");
            *link = Some(Link {
                connection,
                channel,
            });
        }
        let channel = match link.as_ref() {
            Some(l) => l.channel.clone(),
            None => return Err(unavailable("no link")),
        };
        let result = f(&channel).await;
        if matches!(result, Err(BusError::Unavailable(_))) {
            // Drop the broken link; the next call reconnects.
            *link = None;
        }
        result
    }

    /// Declares `queue` (quorum, dead-lettering to `queue.dead`) bound to `binding`, and
    /// starts consuming it with the configured prefetch.
    async fn consume(
        connection: &Connection,
        queue: &str,
        binding: &str,
        settings: &AmqpSettings,
    ) -> Result<lapin::Consumer, BusError> {
        let channel = connection.create_channel().await.map_err(unavailable)?;
        Self::declare_topology(&channel).await?;
        Self::declare_quorum(&channel, queue, &[binding], settings).await?;
        channel
            .basic_qos(settings.prefetch, BasicQosOptions::default())
            .await
            .map_err(unavailable)?;
        channel
            .basic_consume(
                queue.into(),
                ShortString::from(format!("metmos-{}", uuid::Uuid::new_v4())),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)
    }

    /// Declares the durable quorum queue `queue`, dead-lettering to `queue.dead` after
    /// the delivery limit, bound to `metmos.events` by each of `bindings` (idempotent).
    pub(super) async fn declare_quorum(
        channel: &Channel,
        queue: &str,
        bindings: &[&str],
        settings: &AmqpSettings,
    ) -> Result<(), BusError> {
        let dead = format!("{queue}.dead");
        channel
            .queue_declare(
                dead.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        channel
            .queue_bind(
                dead.as_str().into(),
                DEAD_LETTER_EXCHANGE.into(),
                queue.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), long("quorum"));
        args.insert("x-dead-letter-exchange".into(), long(DEAD_LETTER_EXCHANGE));
        args.insert("x-dead-letter-routing-key".into(), long(queue));
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(settings.delivery_limit as i32),
        );
        channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                args,
            )
            .await
            .map_err(unavailable)?;
        for binding in bindings {
            channel
                .queue_bind(
                    queue.into(),
                    EVENTS_EXCHANGE.into(),
                    (*binding).into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }
}

struct RabbitAcker(lapin::Acker);

#[async_trait]
impl Acker for RabbitAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.0
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn nack(self: Box<Self>, requeue: bool) -> Result<(), BusError> {
        self.0
            .nack(BasicNackOptions {
                requeue,
                multiple: false,
            })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

/// An event subscription's queue: a quorum queue bound to one event type; what it
/// delivers is an [`EventEnvelope`] with its acker.
struct EventQueue {
    queue: String,
    binding: String,
    settings: AmqpSettings,
}

#[async_trait]
impl consumer::QueueConsumer for EventQueue {
    type Item = Delivery;
    type Link = ();

    fn label(&self) -> &str {
        &self.queue
    }

    async fn open(&self, connection: &Connection) -> Result<(lapin::Consumer, ()), BusError> {
        let stream =
            RabbitMqBus::consume(connection, &self.queue, &self.binding, &self.settings).await?;
        Ok((stream, ()))
    }

    async fn map(&self, delivery: lapin::message::Delivery, _: &()) -> Option<Delivery> {
        match serde_json::from_slice::<EventEnvelope>(&delivery.data) {
            Ok(envelope) => Some(Delivery::new(
                envelope,
                delivery.redelivered,
                Box::new(RabbitAcker(delivery.acker)),
            )),
            Err(e) => {
                // Not an event of ours: dead-letter it for a person to look at.
                tracing::warn!(queue = self.queue, error = %e, "undecodable message dead-lettered");
                let _ = delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: false,
                        multiple: false,
                    })
                    .await;
                None
            }
        }
    }
}

#[async_trait]
impl Bus for RabbitMqBus {
    fn adapter_name(&self) -> &'static str {
        "rabbitmq"
    }

    async fn publish(&self, event: &EventEnvelope) -> Result<(), BusError> {
        match self.publish_all(&[event]).await.stopped {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    async fn publish_all(&self, events: &[&EventEnvelope]) -> Published {
        let mut confirmed = 0;
        let result = self
            .with_link(async |channel: &Channel| {
                // Every event goes out before the first confirm is awaited; confirms
                // come back in publish order, so the count is the confirmed prefix.
                let mut confirms = Vec::with_capacity(events.len());
                for event in events {
                    let payload =
                        serde_json::to_vec(event).map_err(|e| BusError::Other(e.to_string()))?;
                    let properties = BasicProperties::default()
                        .with_content_type("application/json".into())
                        .with_delivery_mode(2)
                        .with_message_id(event.event_id.to_string().into())
                        .with_type(event.event_type().into())
                        .with_app_id("metmos-engine".into());
                    let confirm = channel
                        .basic_publish(
                            EVENTS_EXCHANGE.into(),
                            event.event_type().into(),
                            BasicPublishOptions::default(),
                            &payload,
                            properties,
                        )
                        .await
                        .map_err(unavailable);
                    match confirm {
                        Ok(c) => confirms.push(c),
                        // Those already out still get their confirms counted below.
                        Err(e) if confirms.is_empty() => return Err(e),
                        Err(_) => break,
                    }
                }
                let sent = confirms.len();
                for confirm in confirms {
                    if confirm.await.map_err(unavailable)?.is_nack() {
                        return Err(BusError::Other("broker refused the event (nack)".into()));
                    }
                    confirmed += 1;
                }
                if sent < events.len() {
                    return Err(unavailable("the link broke while publishing"));
                }
                Ok(())
            })
            .await;
        Published {
            confirmed,
            stopped: result.err(),
        }
    }

    async fn subscribe(&self, queue: &str, binding: &str) -> Result<Subscription, BusError> {
        let connection = Self::connect(&self.url).await?;
        let consumer = Self::consume(&connection, queue, binding, &self.settings).await?;
        let (tx, rx) = mpsc::channel(self.settings.prefetch.max(1) as usize);
        let events = EventQueue {
            queue: queue.into(),
            binding: binding.into(),
            settings: self.settings.clone(),
        };
        tokio::spawn(consumer::forward(
            self.url.clone(),
            events,
            tx,
            (consumer, (), connection),
        ));
        Ok(Subscription { deliveries: rx })
    }

    async fn healthy(&self) -> bool {
        self.with_link(async |_: &Channel| Ok(())).await.is_ok()
    }

    async fn wait_connected(&self) {
        // A refused connect fails at once, so probing often costs nothing while the
        // broker is down and wakes the caller within a probe of its return.
        while !self.healthy().await {
            tokio::time::sleep(RECONNECT_PROBE).await;
        }
    }

    async fn send_to_node(&self, node: Uuid, payload: &[u8]) -> Result<bool, BusError> {
        node::send(self, node, payload).await
    }

    async fn subscribe_node(
        &self,
        node: Uuid,
        bindings: &[&str],
    ) -> Result<mpsc::Receiver<NodeMessage>, BusError> {
        node::subscribe(self, node, bindings).await
    }

    async fn subscribe_inbound(
        &self,
        queue: &str,
        bindings: &[&str],
    ) -> Result<mpsc::Receiver<InboundMessage>, BusError> {
        inbound::subscribe(self, queue, bindings).await
    }
}
