//! Bus bridge for the realtime actors: this node's own queue (`Bus::subscribe_node`),
//! which carries frames other nodes send to persons connected here, and the domain
//! events that change who may be reached: `account.deleted` closes the person's open
//! sockets on this node and drops them from running chat rooms (their token already
//! stops working for anything new). The queue lives as long as the node: when the node
//! dies, the broker deletes it, and what it held was for sockets that died too.

use crate::cluster::{self, ClusterStats};
use crate::presence::{Kick, Presence};
use crate::room_registry::Rooms;
use actix::Addr;
use metmos_engine::Engine;
use metmos_engine::events::Event;
use metmos_engine::ports::NodeMessage;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Wait before trying to subscribe again while the broker is away.
const RESUBSCRIBE: Duration = Duration::from_millis(500);

/// `consumed` is true while this node's queue exists and is consumed: a starting node
/// serves only once it is (see [`crate::Realtime::node_queue_consumed`]), since a frame
/// another node sends before then finds no queue and goes out as a push instead.
pub async fn run(
    engine: Arc<Engine>,
    presence: Addr<Presence>,
    rooms: Rooms,
    stats: Arc<ClusterStats>,
    consumed: watch::Sender<bool>,
) {
    let mut shutdown = engine.shutdown_signal();
    loop {
        // A connect attempt may take seconds with the broker away: shutdown wins.
        let subscribed = tokio::select! {
            s = engine.bus.subscribe_node(engine.node_id, &["account.deleted"]) => s,
            _ = shutdown.recv() => return,
        };
        let mut messages = match subscribed {
            Ok(rx) => {
                consumed.send_replace(true);
                rx
            }
            Err(e) => {
                tracing::warn!(error = %e, "node queue not subscribed yet; frames for persons here are pushed meanwhile");
                tokio::select! {
                    _ = tokio::time::sleep(RESUBSCRIBE) => continue,
                    _ = shutdown.recv() => return,
                }
            }
        };
        loop {
            let message = tokio::select! {
                m = messages.recv() => m,
                _ = shutdown.recv() => return,
            };
            match message {
                Some(NodeMessage::Frames(payload)) => cluster::receive(&payload, &presence, &stats),
                Some(NodeMessage::Event(envelope)) => {
                    if let Event::AccountDeleted(deleted) = &envelope.event
                        && let Some(person_uuid) = deleted.person_uuid
                    {
                        tracing::info!(person = %person_uuid, "account deleted; closing its sockets");
                        presence.do_send(Kick { person_uuid });
                        rooms.person_gone(person_uuid);
                    }
                }
                None => break,
            }
        }
        consumed.send_replace(false);
    }
}
