//! The inbound queue: messages from outside the engine (`chain.*` from a chain watcher
//! or webhook relay, `integration.*` from trusted integrations), published to
//! `metmos.events` with their routing key (or straight to the queue through the default
//! exchange). A durable quorum queue like every subscription: manual acks after the
//! effect committed, bounded prefetch, `QUEUE.dead` after the delivery limit. A message
//! the engine cannot read is dead-lettered at once, with the reason in the header
//! `x-metmos-reason` of the copy in `QUEUE.dead` (a nack cannot carry one, so the
//! consumer publishes the copy, waits for the broker's confirm, then acks the original).

use super::consumer::{QueueConsumer, forward};
use super::{DEAD_LETTER_EXCHANGE, RabbitMqBus, long, unavailable};
use crate::ports::{BusError, InboundAcker, InboundMessage};
use async_trait::async_trait;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::mpsc;

/// The header naming why a message was dead-lettered by the engine.
pub const REASON_HEADER: &str = "x-metmos-reason";

struct RabbitInboundAcker {
    acker: lapin::Acker,
    channel: Channel,
    queue: String,
    body: Vec<u8>,
    properties: BasicProperties,
    routing_key: String,
}

#[async_trait]
impl InboundAcker for RabbitInboundAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn retry(self: Box<Self>) -> Result<(), BusError> {
        // The quorum queue counts this requeue against `x-delivery-limit`.
        self.acker
            .nack(BasicNackOptions {
                requeue: true,
                multiple: false,
            })
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn reject(self: Box<Self>, reason: &str) -> Result<(), BusError> {
        let mut headers = self.properties.headers().clone().unwrap_or_default();
        headers.insert(REASON_HEADER.into(), long(reason));
        headers.insert("x-metmos-routing-key".into(), long(&self.routing_key));
        let confirm = self
            .channel
            .basic_publish(
                DEAD_LETTER_EXCHANGE.into(),
                self.queue.as_str().into(),
                BasicPublishOptions::default(),
                &self.body,
                self.properties
                    .clone()
                    .with_headers(headers)
                    .with_delivery_mode(2),
            )
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        if confirm.is_nack() {
            return Err(BusError::Other("broker refused the dead letter".into()));
        }
        // Only now is the copy safe: a crash before this ack redelivers the original.
        self.acker
            .ack(BasicAckOptions::default())
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

async fn declare(
    connection: &Connection,
    queue: &str,
    bindings: &[String],
    bus: &RabbitMqBus,
) -> Result<(lapin::Consumer, Channel), BusError> {
    let channel = connection.create_channel().await.map_err(unavailable)?;
    RabbitMqBus::declare_topology(&channel).await?;
    let bindings: Vec<&str> = bindings.iter().map(String::as_str).collect();
    RabbitMqBus::declare_quorum(&channel, queue, &bindings, &bus.settings).await?;
    // Confirms on this channel are for the dead-letter copies `reject` publishes.
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(unavailable)?;
    channel
        .basic_qos(bus.settings.prefetch, BasicQosOptions::default())
        .await
        .map_err(unavailable)?;
    let consumer = channel
        .basic_consume(
            queue.into(),
            ShortString::from(format!("metmos-inbound-{}", uuid::Uuid::new_v4())),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    Ok((consumer, channel))
}

/// An inbound queue: re-declared (with its dead-letter topology) after a reconnect;
/// each delivery carries an acker that can dead-letter it with a reason on the
/// connection's channel.
struct InboundQueue {
    queue: String,
    bindings: Vec<String>,
    bus: RabbitMqBus,
}

#[async_trait]
impl QueueConsumer for InboundQueue {
    type Item = InboundMessage;
    type Link = Channel;

    fn label(&self) -> &str {
        &self.queue
    }

    async fn open(&self, connection: &Connection) -> Result<(lapin::Consumer, Channel), BusError> {
        declare(connection, &self.queue, &self.bindings, &self.bus).await
    }

    async fn map(&self, d: lapin::message::Delivery, channel: &Channel) -> Option<InboundMessage> {
        let acker = RabbitInboundAcker {
            acker: d.acker.clone(),
            channel: channel.clone(),
            queue: self.queue.clone(),
            body: d.data.clone(),
            properties: d.properties.clone(),
            routing_key: d.routing_key.to_string(),
        };
        Some(InboundMessage::new(
            d.routing_key.to_string(),
            d.data,
            d.redelivered,
            Box::new(acker),
        ))
    }
}

pub(super) async fn subscribe(
    bus: &RabbitMqBus,
    queue: &str,
    bindings: &[&str],
) -> Result<mpsc::Receiver<InboundMessage>, BusError> {
    let bindings: Vec<String> = bindings.iter().map(|b| b.to_string()).collect();
    let connection = RabbitMqBus::connect(&bus.url).await?;
    let (consumer, channel) = declare(&connection, queue, &bindings, bus).await?;
    let (tx, rx) = mpsc::channel(bus.settings.prefetch.max(1) as usize);
    let inbound = InboundQueue {
        queue: queue.to_string(),
        bindings,
        bus: RabbitMqBus::new(&bus.url, &bus.settings),
    };
    tokio::spawn(forward(
        bus.url.clone(),
        inbound,
        tx,
        (consumer, channel, connection),
    ));
    Ok(rx)
}
