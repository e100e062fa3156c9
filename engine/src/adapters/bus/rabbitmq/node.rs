//! Node-to-node delivery: each node consumes its own queue `metmos.node.<node id>`,
//! bound to the direct exchange `metmos.nodes` by its node id (frames other nodes send
//! it) and to `metmos.events` by the events the node's realtime actors need.
//!
//! The queue is exclusive and non-durable: the broker deletes it when the node's
//! connection closes, whether the node stopped, crashed or lost the broker, so dead
//! nodes leave no queues behind. Frames are hints for live sockets: a frame that finds
//! no queue is returned to its sender (mandatory publish), which pushes instead; a frame
//! lost with a dead node was for sockets that died with it, and their apps resync by
//! history when they reconnect. Consumed without acks for the same reason.

use super::consumer::{QueueConsumer, forward};
use super::{EVENTS_EXCHANGE, NODES_EXCHANGE, RabbitMqBus, unavailable};
use crate::events::EventEnvelope;
use crate::ports::{BusError, NodeMessage};
use async_trait::async_trait;
use lapin::Confirmation;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use tokio::sync::mpsc;
use uuid::Uuid;

/// How many node messages wait for the node's bridge before the consumer stops reading.
const NODE_BUFFER: usize = 1024;
/// Node messages (batches) the broker keeps for a node that does not keep up.
const NODE_QUEUE_MAX: i32 = 100_000;

pub fn queue_name(node: Uuid) -> String {
    format!("metmos.node.{node}")
}

pub(super) async fn send(bus: &RabbitMqBus, node: Uuid, payload: &[u8]) -> Result<bool, BusError> {
    let key = node.to_string();
    bus.with_link(async |channel: &Channel| {
        let confirm = channel
            .basic_publish(
                NODES_EXCHANGE.into(),
                key.as_str().into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..Default::default()
                },
                payload,
                // Transient: a frame is worth nothing after a broker restart.
                BasicProperties::default()
                    .with_content_type("application/json".into())
                    .with_delivery_mode(1),
            )
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
        match confirm {
            Confirmation::Ack(None) => Ok(true),
            // Returned: no queue for that node id (it is gone).
            Confirmation::Ack(Some(_)) => Ok(false),
            Confirmation::Nack(_) => Err(BusError::Other("broker refused the frames".into())),
            Confirmation::NotRequested => Ok(true),
        }
    })
    .await
}

async fn declare(
    connection: &Connection,
    node: Uuid,
    bindings: &[String],
) -> Result<lapin::Consumer, BusError> {
    let channel = connection.create_channel().await.map_err(unavailable)?;
    RabbitMqBus::declare_topology(&channel).await?;
    let queue = queue_name(node);
    // Bounded in the broker too: past this, the oldest frames go (their apps resync).
    let mut args = FieldTable::default();
    args.insert("x-max-length".into(), AMQPValue::LongInt(NODE_QUEUE_MAX));
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            args,
        )
        .await
        .map_err(unavailable)?;
    let key = node.to_string();
    channel
        .queue_bind(
            queue.as_str().into(),
            NODES_EXCHANGE.into(),
            key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)?;
    for binding in bindings {
        channel
            .queue_bind(
                queue.as_str().into(),
                EVENTS_EXCHANGE.into(),
                binding.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(unavailable)?;
    }
    channel
        .basic_consume(
            queue.as_str().into(),
            ShortString::from(format!("metmos-node-{node}")),
            BasicConsumeOptions {
                no_ack: true,
                exclusive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(unavailable)
}

pub(super) async fn subscribe(
    bus: &RabbitMqBus,
    node: Uuid,
    bindings: &[&str],
) -> Result<mpsc::Receiver<NodeMessage>, BusError> {
    let bindings: Vec<String> = bindings.iter().map(|b| b.to_string()).collect();
    let connection = RabbitMqBus::connect(&bus.url).await?;
    let consumer = declare(&connection, node, &bindings).await?;
    let (tx, rx) = mpsc::channel(NODE_BUFFER);
    let queue = NodeQueue {
        node,
        label: format!("node queue {node}"),
        bindings,
    };
    tokio::spawn(forward(
        bus.url.clone(),
        queue,
        tx,
        (consumer, (), connection),
    ));
    Ok(rx)
}

/// The node queue, re-declared after every reconnect (the broker deleted it with the
/// old connection). Frames pass as they are; events are decoded, and one that does not
/// decode is dropped (nothing is acked on this queue).
struct NodeQueue {
    node: Uuid,
    label: String,
    bindings: Vec<String>,
}

#[async_trait]
impl QueueConsumer for NodeQueue {
    type Item = NodeMessage;
    type Link = ();

    fn label(&self) -> &str {
        &self.label
    }

    async fn open(&self, connection: &Connection) -> Result<(lapin::Consumer, ()), BusError> {
        Ok((declare(connection, self.node, &self.bindings).await?, ()))
    }

    async fn map(&self, delivery: lapin::message::Delivery, _: &()) -> Option<NodeMessage> {
        if delivery.exchange.as_str() == NODES_EXCHANGE {
            return Some(NodeMessage::Frames(delivery.data));
        }
        match serde_json::from_slice::<EventEnvelope>(&delivery.data) {
            Ok(e) => Some(NodeMessage::Event(e)),
            Err(e) => {
                tracing::warn!(error = %e, "undecodable event on the node queue dropped");
                None
            }
        }
    }
}
