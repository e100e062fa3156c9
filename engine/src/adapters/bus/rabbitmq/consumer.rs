//! The one reconnecting consumer loop behind every queue the engine reads: event
//! subscriptions, the node queue and the inbound queues. What differs between them (how
//! a fresh connection declares and consumes the queue, what a delivery becomes) is a
//! [`QueueConsumer`]; the loop, its backoff and its shutdown are written once.

use super::{CONSUMER_BACKOFF_MAX, CONSUMER_BACKOFF_START, RabbitMqBus};
use crate::ports::BusError;
use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::Connection;
use lapin::message::Delivery;
use tokio::sync::mpsc;

/// What one kind of queue needs from the loop.
#[async_trait]
pub(super) trait QueueConsumer: Send + Sync + 'static {
    /// What the subscriber receives.
    type Item: Send + 'static;
    /// What a connection's deliveries need besides the stream (the channel inbound
    /// rejections publish on); `()` when nothing.
    type Link: Send + Sync + 'static;

    /// The queue's name, for the logs.
    fn label(&self) -> &str;

    /// Declares what the queue needs on a fresh connection (an exclusive queue went with
    /// the old one) and starts consuming it.
    async fn open(
        &self,
        connection: &Connection,
    ) -> Result<(lapin::Consumer, Self::Link), BusError>;

    /// What a delivery becomes; `None` when it was dealt with here (dead-lettered or
    /// dropped as undecodable).
    async fn map(&self, delivery: Delivery, link: &Self::Link) -> Option<Self::Item>;
}

/// Forwards the queue's deliveries into `tx` for as long as the subscriber holds the
/// receiver, reconnecting (with backoff) whenever the broker goes away. When the
/// subscriber goes, the connection is closed so the broker hands whatever was not acked
/// to the next consumer (at least once) and deletes exclusive queues at once.
pub(super) async fn forward<C: QueueConsumer>(
    url: String,
    consumer: C,
    tx: mpsc::Sender<C::Item>,
    first: (lapin::Consumer, C::Link, Connection),
) {
    let mut current = Some(first);
    let mut backoff = CONSUMER_BACKOFF_START;
    loop {
        if let Some((mut stream, link, connection)) = current.take() {
            backoff = CONSUMER_BACKOFF_START;
            loop {
                let next = tokio::select! {
                    next = stream.next() => next,
                    _ = tx.closed() => {
                        let _ = connection.close(200, "subscriber gone".into()).await;
                        return;
                    }
                };
                let delivery = match next {
                    Some(Ok(d)) => d,
                    Some(Err(e)) => {
                        tracing::warn!(queue = consumer.label(), error = %e, "consumer failed; reconnecting");
                        break;
                    }
                    None => break,
                };
                let Some(item) = consumer.map(delivery, &link).await else {
                    continue;
                };
                if tx.send(item).await.is_err() {
                    let _ = connection.close(200, "subscriber gone".into()).await;
                    return;
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(CONSUMER_BACKOFF_MAX);
        match RabbitMqBus::connect(&url).await {
            Ok(connection) => match consumer.open(&connection).await {
                Ok((stream, link)) => {
                    tracing::info!(queue = consumer.label(), "consumer reconnected");
                    current = Some((stream, link, connection));
                }
                Err(e) => tracing::warn!(queue = consumer.label(), error = %e, "consume failed"),
            },
            Err(e) => tracing::debug!(queue = consumer.label(), error = %e, "broker still down"),
        }
    }
}
