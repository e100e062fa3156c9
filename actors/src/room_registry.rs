//! The room registry: finds the ChatRoom of a chat, starting it on the first message (on
//! the arbiter its chat uuid hashes to), and stops rooms that stayed idle for
//! `ws.room_idle_secs`.
//!
//! It is a sharded map, not an actor: a socket task posts straight to the room's address
//! after one short lock of the chat's shard, so no single thread sits on every
//! message's path.
//!
//! Lifecycle: every message for a chat is routed here, under its shard's lock, so the
//! registry knows when each room was last used. A room idle past the limit is removed
//! from the map and sent `Shutdown` under that same lock: anything routed to it before
//! is already in its mailbox ahead of `Shutdown` (the lock orders the sends), and
//! anything after starts a fresh room. A room whose chat does not exist (or could not
//! be loaded) answers what it was sent and asks to go at once ([`Rooms::gone`]), so
//! probing random uuids holds nothing.

use crate::RealtimeStats;
use crate::chat_room::{ChatRoom, PersonLeft, Refresh, Shutdown};
use crate::notifier::Delivery;
use crate::threads::{ActorThreads, ShardedMut};
use crate::user_session::{ConnId, Origin, Posted};
use actix::prelude::*;
use metmos_engine::Engine;
use metmos_engine::domain::chat::{MessageDraft, MessageInsert};
use metmos_engine::domain::people::Person;
use metmos_engine::error::Error;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use uuid::Uuid;

/// A message for a chat room; the outcome goes to `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Post {
    /// Shared with the sender's socket: no copy of the person per message.
    pub sender: Arc<Person>,
    /// The connection it was sent on, which gets the ack instead of the frame.
    pub origin: Option<ConnId>,
    pub draft: MessageDraft,
    pub reply: Reply,
}

/// Where a post's outcome goes: to a caller awaiting it, or into the queue of the
/// connection that sent it. Answered exactly once: a post dropped unanswered (its room
/// stopped) answers "chat room stopped", so no socket waits for an ack forever.
pub struct Reply(Option<ReplyTo>);

enum ReplyTo {
    Caller(oneshot::Sender<Result<MessageInsert, Error>>),
    Conn {
        origin: Arc<Origin>,
        message_uuid: Uuid,
    },
}

impl Reply {
    /// For a caller on this node (a REST send, a test): the outcome comes on the receiver.
    pub fn to_caller() -> (Self, oneshot::Receiver<Result<MessageInsert, Error>>) {
        let (tx, rx) = oneshot::channel();
        (Self(Some(ReplyTo::Caller(tx))), rx)
    }

    /// For a message sent on a connection: its ack or error frame.
    pub fn to_conn(origin: Arc<Origin>, message_uuid: Uuid) -> Self {
        Self(Some(ReplyTo::Conn {
            origin,
            message_uuid,
        }))
    }

    /// What a post dropped unanswered gets: its room stopped.
    pub fn room_stopped() -> Error {
        Error::Unavailable("chat room stopped".into())
    }

    pub fn send(mut self, outcome: Result<MessageInsert, Error>) {
        if let Some(to) = self.0.take() {
            to.send(outcome);
        }
    }
}

impl ReplyTo {
    fn send(self, result: Result<MessageInsert, Error>) {
        match self {
            // The caller may have given up waiting.
            Self::Caller(tx) => drop(tx.send(result)),
            Self::Conn {
                origin,
                message_uuid,
            } => origin.answer(Posted {
                message_uuid,
                result,
            }),
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(to) = self.0.take() {
            to.send(Err(Self::room_stopped()));
        }
    }
}

struct Entry {
    room: Addr<ChatRoom>,
    generation: u64,
    last_used: Instant,
}

struct Inner {
    rooms: ShardedMut<Entry>,
    next_generation: AtomicU64,
    engine: Arc<Engine>,
    delivery: Delivery,
    threads: Arc<ActorThreads>,
    idle: Duration,
    stats: Arc<RealtimeStats>,
}

/// The running chat rooms of this node (cheap to clone).
#[derive(Clone)]
pub struct Rooms(Arc<Inner>);

impl Rooms {
    /// The registry, and its idle sweep as an engine task (it ends with the engine).
    pub fn start(
        engine: Arc<Engine>,
        delivery: Delivery,
        threads: Arc<ActorThreads>,
        idle: Duration,
        stats: Arc<RealtimeStats>,
    ) -> Self {
        let rooms = Self(Arc::new(Inner {
            rooms: ShardedMut::default(),
            next_generation: AtomicU64::new(0),
            engine: engine.clone(),
            delivery,
            threads,
            idle,
            stats,
        }));
        let every = (idle / 2).clamp(Duration::from_millis(200), Duration::from_secs(30));
        let sweeper = rooms.clone();
        let stop = engine.cancelled();
        engine.spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => sweeper.stop_idle(),
                    _ = stop.cancelled() => return,
                }
            }
        });
        rooms
    }

    /// Hands `post` to its chat's room, starting the room if none runs.
    pub fn post(&self, chat_uuid: Uuid, post: Post) {
        let inner = &*self.0;
        let mut map = inner.rooms.shard(&chat_uuid).lock();
        let entry = map.entry(chat_uuid).or_insert_with(|| {
            let generation = inner.next_generation.fetch_add(1, Ordering::Relaxed) + 1;
            let room = ChatRoom::new(
                chat_uuid,
                generation,
                inner.engine.clone(),
                inner.delivery.clone(),
                self.clone(),
            );
            inner.stats.rooms.fetch_add(1, Ordering::Relaxed);
            Entry {
                room: ChatRoom::start_in_arbiter(&inner.threads.of(&chat_uuid), move |_| room),
                generation,
                last_used: Instant::now(),
            }
        });
        entry.last_used = Instant::now();
        // Under the shard's lock: see the module doc (no Shutdown can overtake it).
        entry.room.do_send(post);
    }

    fn stop_idle(&self) {
        let idle = self.0.idle;
        for shard in self.0.rooms.shards() {
            shard.lock().retain(|chat_uuid, e| {
                if e.last_used.elapsed() < idle {
                    return true;
                }
                tracing::debug!(chat = %chat_uuid, "chat room idle; stopping it");
                e.room.do_send(Shutdown);
                self.0.stats.rooms.fetch_sub(1, Ordering::Relaxed);
                false
            });
        }
    }

    /// A room that cannot serve (no such chat, store down) asks to be dropped; a newer
    /// room of the same chat (another generation) is left alone.
    pub fn gone(&self, chat_uuid: Uuid, generation: u64) {
        let mut map = self.0.rooms.shard(&chat_uuid).lock();
        if map
            .get(&chat_uuid)
            .is_some_and(|e| e.generation == generation)
            && let Some(entry) = map.remove(&chat_uuid)
        {
            entry.room.do_send(Shutdown);
            self.0.stats.rooms.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Participants of a chat changed: its room (if running) reloads them.
    pub fn participants_changed(&self, chat_uuid: Uuid) {
        if let Some(entry) = self.0.rooms.shard(&chat_uuid).lock().get(&chat_uuid) {
            entry.room.do_send(Refresh);
        }
    }

    /// A person left every chat (account deleted): running rooms drop them at once.
    pub fn person_gone(&self, person_uuid: Uuid) {
        for shard in self.0.rooms.shards() {
            for entry in shard.lock().values() {
                entry.room.do_send(PersonLeft { person_uuid });
            }
        }
    }

    /// How many rooms run (for tests; `/metrics` reads [`RealtimeStats::rooms`]).
    pub fn active(&self) -> usize {
        self.0.rooms.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbound;
    use crate::user_session::{ConnHandle, KillSwitch, Outbound};

    fn connection() -> (ConnHandle, outbound::OutboundReceiver) {
        let (tx, rx) = outbound::queue(4);
        let handle = ConnHandle {
            id: ConnId(Uuid::new_v4()),
            tx,
            kill: Arc::new(KillSwitch::default()),
        };
        (handle, rx)
    }

    fn outcome(rx: &mut outbound::OutboundReceiver) -> Posted {
        match rx.try_recv() {
            Some(Outbound::Posted(posted)) => *posted,
            other => panic!("expected an outcome, got {other:?}"),
        }
    }

    #[test]
    fn a_connections_reply_lands_in_its_queue_once() {
        let (handle, mut rx) = connection();
        let message_uuid = Uuid::new_v4();
        let reply = Reply::to_conn(Origin::of(&handle, Uuid::new_v4()), message_uuid);
        reply.send(Err(Error::Refused(
            metmos_engine::domain::refusal::Refusal::ChatNotFound,
        )));
        let posted = outcome(&mut rx);
        assert_eq!(posted.message_uuid, message_uuid);
        assert!(matches!(posted.result, Err(Error::Refused(_))));
        assert!(rx.try_recv().is_none(), "answered once, not again on drop");
    }

    #[test]
    fn a_post_dropped_unanswered_tells_its_connection_the_room_stopped() {
        let (handle, mut rx) = connection();
        let message_uuid = Uuid::new_v4();
        drop(Reply::to_conn(
            Origin::of(&handle, Uuid::new_v4()),
            message_uuid,
        ));
        let posted = outcome(&mut rx);
        assert_eq!(posted.message_uuid, message_uuid);
        assert!(
            matches!(&posted.result, Err(Error::Unavailable(m)) if m == "chat room stopped"),
            "{:?}",
            posted.result
        );
    }

    #[tokio::test]
    async fn an_outcome_for_a_full_queue_closes_the_connection() {
        let (handle, _rx) = connection();
        for _ in 0..4 {
            handle
                .tx
                .try_send(Outbound::Frame("{}".into()))
                .expect("room in the queue");
        }
        Reply::to_conn(Origin::of(&handle, Uuid::new_v4()), Uuid::new_v4())
            .send(Err(Error::Unavailable("x".into())));
        let reason = tokio::time::timeout(std::time::Duration::from_secs(5), handle.kill.tripped())
            .await
            .expect("the kill switch tripped");
        assert_eq!(reason, crate::user_session::KillReason::TooSlow);
    }

    #[tokio::test]
    async fn a_caller_hears_the_room_stopped_too() {
        let (reply, answer) = Reply::to_caller();
        drop(reply);
        assert!(matches!(answer.await, Ok(Err(Error::Unavailable(_)))));
    }
}
