//! Bus bridge for the realtime actors: domain events that change who may be reached.
//! `account.deleted` closes the person's open sockets on this node and drops them from
//! running chat rooms (their token already stops working for anything new). Each node
//! has a queue of its own, since every node holds its own sockets and rooms.

use crate::presence::{Kick, Presence};
use crate::room_registry::{PersonGone, RoomRegistry};
use actix::Addr;
use metmos_engine::Engine;
use metmos_engine::events::Event;
use std::sync::Arc;

pub async fn run(engine: Arc<Engine>, presence: Addr<Presence>, rooms: Addr<RoomRegistry>) {
    let queue = format!("metmos.realtime.{}", engine.node_id);
    let mut subscription = match engine.bus.subscribe(&queue, "account.deleted").await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "realtime bus bridge not subscribed; deleted accounts keep open sockets until they close");
            return;
        }
    };
    let mut shutdown = engine.shutdown_signal();
    loop {
        let delivery = tokio::select! {
            d = subscription.deliveries.recv() => d,
            _ = shutdown.recv() => None,
        };
        let Some(delivery) = delivery else { break };
        if let Event::AccountDeleted(deleted) = &delivery.envelope.event
            && let Some(person_uuid) = deleted.person_uuid
        {
            tracing::info!(person = %person_uuid, "account deleted; closing its sockets");
            presence.do_send(Kick { person_uuid });
            rooms.do_send(PersonGone { person_uuid });
        }
        // Applying is idempotent (closing closed sockets does nothing): ack at once.
        if let Err(e) = delivery.ack().await {
            tracing::warn!(error = %e, "realtime bus bridge could not ack");
        }
    }
}
