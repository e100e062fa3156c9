//! The room registry: finds the ChatRoom of a chat, starting it on the first message,
//! and stops rooms that stayed idle for `ws.room_idle_secs`.
//!
//! Lifecycle: every message for a chat passes through here on its way to the room, so
//! the registry knows when each room was last used. A room idle past the limit is
//! removed from the map first and then sent `Shutdown`: anything routed to it before
//! is already in its mailbox ahead of `Shutdown` (one sender, FIFO), and anything after
//! starts a fresh room. A room whose chat does not exist (or could not be loaded)
//! answers what it was sent and asks to go at once (`RoomGone`), so probing random
//! uuids holds nothing.

use crate::RealtimeStats;
use crate::chat_room::{ChatRoom, PersonLeft, Refresh, Shutdown};
use crate::notifier::Notifier;
use crate::user_session::ConnId;
use actix::prelude::*;
use metmos_engine::Engine;
use metmos_engine::domain::chat::{MessageDraft, MessageInsert};
use metmos_engine::domain::people::Person;
use metmos_engine::error::Error;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use uuid::Uuid;

/// A message for a chat room; the outcome comes back on `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Post {
    pub sender: Person,
    /// The connection it was sent on, which gets the ack instead of the frame.
    pub origin: Option<ConnId>,
    pub draft: MessageDraft,
    pub reply: oneshot::Sender<Result<MessageInsert, Error>>,
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct ToRoom {
    pub chat_uuid: Uuid,
    pub post: Post,
}

/// A room that cannot serve (no such chat, store down) asks to be dropped.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RoomGone {
    pub chat_uuid: Uuid,
    pub generation: u64,
}

/// Participants of a chat changed: its room (if running) reloads them.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ParticipantsChanged {
    pub chat_uuid: Uuid,
}

/// A person left every chat (account deleted): running rooms drop them at once.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PersonGone {
    pub person_uuid: Uuid,
}

struct Entry {
    room: Addr<ChatRoom>,
    generation: u64,
    last_used: Instant,
}

pub struct RoomRegistry {
    rooms: HashMap<Uuid, Entry>,
    next_generation: u64,
    engine: Arc<Engine>,
    notifier: Addr<Notifier>,
    idle: Duration,
    stats: Arc<RealtimeStats>,
}

impl RoomRegistry {
    pub fn new(
        engine: Arc<Engine>,
        notifier: Addr<Notifier>,
        idle: Duration,
        stats: Arc<RealtimeStats>,
    ) -> Self {
        Self {
            rooms: HashMap::new(),
            next_generation: 0,
            engine,
            notifier,
            idle,
            stats,
        }
    }

    fn count(&self) {
        self.stats.rooms.store(self.rooms.len(), Ordering::Relaxed);
    }

    fn stop_idle(&mut self) {
        let idle = self.idle;
        let stale: Vec<Uuid> = self
            .rooms
            .iter()
            .filter(|(_, e)| e.last_used.elapsed() >= idle)
            .map(|(k, _)| *k)
            .collect();
        for chat_uuid in stale {
            if let Some(entry) = self.rooms.remove(&chat_uuid) {
                tracing::debug!(chat = %chat_uuid, "chat room idle; stopping it");
                entry.room.do_send(Shutdown);
            }
        }
        self.count();
    }
}

impl Actor for RoomRegistry {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let every = (self.idle / 2).clamp(Duration::from_millis(200), Duration::from_secs(30));
        ctx.run_interval(every, |registry, _| registry.stop_idle());
    }
}

impl Handler<ToRoom> for RoomRegistry {
    type Result = ();
    fn handle(&mut self, msg: ToRoom, ctx: &mut Self::Context) {
        if !self.rooms.contains_key(&msg.chat_uuid) {
            self.next_generation += 1;
            let generation = self.next_generation;
            let room = ChatRoom::new(
                msg.chat_uuid,
                generation,
                self.engine.clone(),
                self.notifier.clone(),
                ctx.address(),
            )
            .start();
            self.rooms.insert(
                msg.chat_uuid,
                Entry {
                    room,
                    generation,
                    last_used: Instant::now(),
                },
            );
            self.count();
        }
        let Some(entry) = self.rooms.get_mut(&msg.chat_uuid) else {
            return;
        };
        entry.last_used = Instant::now();
        entry.room.do_send(msg.post);
    }
}

impl Handler<RoomGone> for RoomRegistry {
    type Result = ();
    fn handle(&mut self, msg: RoomGone, _: &mut Self::Context) {
        if self
            .rooms
            .get(&msg.chat_uuid)
            .is_some_and(|e| e.generation == msg.generation)
        {
            if let Some(entry) = self.rooms.remove(&msg.chat_uuid) {
                entry.room.do_send(Shutdown);
            }
            self.count();
        }
    }
}

impl Handler<ParticipantsChanged> for RoomRegistry {
    type Result = ();
    fn handle(&mut self, msg: ParticipantsChanged, _: &mut Self::Context) {
        if let Some(entry) = self.rooms.get(&msg.chat_uuid) {
            entry.room.do_send(Refresh);
        }
    }
}

impl Handler<PersonGone> for RoomRegistry {
    type Result = ();
    fn handle(&mut self, msg: PersonGone, _: &mut Self::Context) {
        for entry in self.rooms.values() {
            entry.room.do_send(PersonLeft {
                person_uuid: msg.person_uuid,
            });
        }
    }
}

/// How many rooms run (for `/metrics` and tests).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ActiveRooms;

impl Handler<ActiveRooms> for RoomRegistry {
    type Result = usize;
    fn handle(&mut self, _: ActiveRooms, _: &mut Self::Context) -> usize {
        self.rooms.len()
    }
}
