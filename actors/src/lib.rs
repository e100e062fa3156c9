//! Metmos actors: the realtime path (UserSession, Presence, ChatRoom with its registry,
//! Notifier) on actix. Built on `metmos-engine`'s services; the HTTP crate's WebSocket
//! tasks talk to these actors by typed messages.
//!
//! ```text
//! socket task ──SendChat──► UserSession ──ToRoom──► RoomRegistry ──Post──► ChatRoom
//!      ▲                         ▲                                          │ stored
//!      └──── bounded queue ──────┘◄── Deliver ── Presence ◄── Route ── Notifier ◄┘
//!                                               (offline → push via the Pusher port)
//! ```

pub mod bus_bridge;
pub mod chat_room;
pub mod frames;
pub mod notifier;
pub mod presence;
pub mod room_registry;
pub mod user_session;

use actix::prelude::*;
use metmos_engine::Engine;
use metmos_engine::domain::chat::{MessageDraft, MessageInsert};
use metmos_engine::domain::people::Person;
use metmos_engine::error::Error;
use notifier::{Notifier, NotifierSink};
use presence::Presence;
use room_registry::{Post, RoomRegistry, ToRoom};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use user_session::ConnId;

/// Figures for `/metrics`, kept by the actors as they change.
#[derive(Debug, Default)]
pub struct RealtimeStats {
    /// Persons online on this node (running UserSessions).
    pub sessions: AtomicUsize,
    /// Running chat rooms.
    pub rooms: AtomicUsize,
}

impl RealtimeStats {
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::Relaxed)
    }
    pub fn rooms(&self) -> usize {
        self.rooms.load(Ordering::Relaxed)
    }
}

/// The running realtime actors of this node.
#[derive(Clone)]
pub struct Realtime {
    pub presence: Addr<Presence>,
    pub rooms: Addr<RoomRegistry>,
    pub notifier: Addr<Notifier>,
    pub stats: Arc<RealtimeStats>,
}

impl Realtime {
    /// Starts the actors on the current arbiter, attaches the Notifier as the engine's
    /// notification sink, and starts this node's lease and bus bridge tasks. Call once,
    /// inside the actix system, when the node starts serving.
    pub fn start(engine: Arc<Engine>) -> Self {
        let stats = Arc::new(RealtimeStats::default());
        // Presence, Notifier and the registry know each other in a circle; Presence's
        // address exists before it runs, which breaks the circle.
        let presence_ctx: Context<Presence> = Context::new();
        let presence = presence_ctx.address();
        let notifier = Notifier::new(presence.clone(), engine.clone()).start();
        let idle = Duration::from_secs(engine.settings.ws.room_idle_secs);
        let rooms =
            RoomRegistry::new(engine.clone(), notifier.clone(), idle, stats.clone()).start();
        presence_ctx.run(Presence::new(rooms.clone(), stats.clone()));
        engine
            .deliverer
            .attach(Arc::new(NotifierSink(notifier.clone())));
        actix::spawn(
            engine
                .ws_connections
                .clone()
                .run_node_lease(engine.shutdown_signal()),
        );
        actix::spawn(bus_bridge::run(
            engine.clone(),
            presence.clone(),
            rooms.clone(),
        ));
        tracing::info!(node_id = %engine.node_id, "realtime actors started");
        Self {
            presence,
            rooms,
            notifier,
            stats,
        }
    }

    /// Sends a message through its chat's room and waits for the outcome (stored now,
    /// or a resend of a stored one). `origin` is the sending connection, if it is one of
    /// this node's.
    pub async fn post(
        &self,
        sender: Person,
        origin: Option<ConnId>,
        draft: MessageDraft,
    ) -> Result<MessageInsert, Error> {
        let (reply, answer) = oneshot::channel();
        self.rooms.do_send(ToRoom {
            chat_uuid: draft.chat_uuid,
            post: Post {
                sender,
                origin,
                draft,
                reply,
            },
        });
        answer
            .await
            .unwrap_or_else(|_| Err(Error::Unavailable("chat room stopped".into())))
    }
}
