//! UserSession: one per person online on this node, holding all of that person's live
//! connections (phone, tablet, browser). Frames for the person fan out here; messages
//! the person sends go from here to their chat's room.
//!
//! Backpressure: every connection has a bounded queue (`ws.send_queue`) drained by its
//! socket task. Offering a frame never waits. What a queue can hold is bounded by the
//! socket tasks themselves: each stops reading its client's frames while
//! `ws.max_in_flight` of its messages await their outcome, so a busy engine slows the
//! senders down (TCP pushes back) instead of filling queues. A queue fills only when its
//! client stopped reading (the socket task also closes a connection whose write has been
//! stuck for `ws.slow_reader_secs`); that connection alone is then told to close (it
//! resyncs through history when it reconnects). Memory stays bounded and the person's
//! other connections, and everyone else, are not slowed down.

use crate::frames::{ChatSeq, Frame};
use crate::outbound::{OutboundSender, TrySendError};
use crate::room_registry::{Post, Rooms};
use actix::prelude::*;
use metmos_engine::domain::chat::{MessageDraft, MessageInsert};
use metmos_engine::domain::people::Person;
use metmos_engine::error::Error;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::sync::{Notify, oneshot};
use uuid::Uuid;

/// A connection of this node: the uuid in its `ws_connection.ws_conn_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId(pub Uuid);

/// What a socket task writes to its client. Small (four words): it is what a
/// connection's queue holds per frame.
#[derive(Debug)]
pub enum Outbound {
    /// A ready frame (chat messages, notifications).
    Frame(Frame),
    /// The outcome of a message this connection sent: an ack, or an error frame whose
    /// status the HTTP layer maps (it owns the error → status table). Boxed: a stored
    /// message is large and rare next to frames.
    Posted(Box<Posted>),
}

/// The outcome of one message a connection sent.
#[derive(Debug)]
pub struct Posted {
    pub message_uuid: Uuid,
    pub result: Result<MessageInsert, Error>,
}

/// Why the server closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// Its queue overflowed, or a write to it was stuck for `ws.slow_reader_secs`: the
    /// client stopped reading.
    TooSlow,
    /// The person's account is gone.
    AccountGone,
}

/// Tells a socket task to close, and why. Tripping it never waits.
#[derive(Debug, Default)]
pub struct KillSwitch {
    notify: Notify,
    reason: AtomicU8,
}

impl KillSwitch {
    pub fn trip(&self, reason: KillReason) {
        let code = match reason {
            KillReason::TooSlow => 1,
            KillReason::AccountGone => 2,
        };
        self.reason.store(code, Ordering::Relaxed);
        // notify_one keeps a permit when nobody waits yet: a trip is never missed.
        self.notify.notify_one();
    }

    /// Resolves once tripped.
    pub async fn tripped(&self) -> KillReason {
        self.notify.notified().await;
        match self.reason.load(Ordering::Relaxed) {
            2 => KillReason::AccountGone,
            _ => KillReason::TooSlow,
        }
    }
}

/// The session's end of a connection.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    pub id: ConnId,
    /// Bounded: `ws.send_queue` frames; no memory while empty.
    pub tx: OutboundSender,
    /// Tripped when the connection must close (its queue overflowed, or the person's
    /// account is gone). The socket task then closes the socket and reports back.
    pub kill: Arc<KillSwitch>,
}

struct Conn {
    handle: ConnHandle,
    /// Told to close; no more frames are offered.
    closing: bool,
}

pub struct UserSession {
    /// Shared with every message it posts (no copy per message).
    person: Arc<Person>,
    conns: HashMap<ConnId, Conn>,
    rooms: Rooms,
    /// The last seq passed on per chat (frames arriving twice or late are dropped).
    last_seq: HashMap<Uuid, i64>,
}

impl UserSession {
    pub fn new(person: Arc<Person>, rooms: Rooms) -> Self {
        Self {
            person,
            conns: HashMap::new(),
            rooms,
            last_seq: HashMap::new(),
        }
    }

    /// Queues `out` for one connection without waiting; a full queue closes it.
    fn offer(&mut self, id: ConnId, out: Outbound) {
        if let Some(conn) = self.conns.get_mut(&id) {
            conn.offer(self.person.uuid, out);
        }
    }
}

impl Conn {
    /// Queues `out` without waiting; a full queue closes the connection.
    fn offer(&mut self, person: Uuid, out: Outbound) {
        if self.closing {
            return;
        }
        match self.handle.tx.try_send(out) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                tracing::info!(%person, conn = %self.handle.id.0, "client not reading; closing its connection");
                self.closing = true;
                self.handle.kill.trip(KillReason::TooSlow);
            }
            Err(TrySendError::Closed(_)) => {
                // The socket task is gone; its Disconnect is on the way.
                self.closing = true;
            }
        }
    }
}

impl Actor for UserSession {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        tracing::debug!(person = %self.person.uuid, "session started");
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::debug!(person = %self.person.uuid, "session stopped");
    }
}

/// From Presence: a new connection (with the person as of this sign-in).
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddConnection {
    pub person: Person,
    pub conn: ConnHandle,
}

impl Handler<AddConnection> for UserSession {
    type Result = ();
    fn handle(&mut self, msg: AddConnection, _: &mut Self::Context) {
        if *self.person != msg.person {
            self.person = Arc::new(msg.person);
        }
        self.conns.insert(
            msg.conn.id,
            Conn {
                handle: msg.conn,
                closing: false,
            },
        );
    }
}

/// From Presence: a connection's socket task ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoveConnection(pub ConnId);

impl Handler<RemoveConnection> for UserSession {
    type Result = ();
    fn handle(&mut self, msg: RemoveConnection, _: &mut Self::Context) {
        self.conns.remove(&msg.0);
    }
}

/// A frame for every connection of the person, but `except` (the one that sent it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub frame: Frame,
    pub except: Option<ConnId>,
    /// Set on chat message frames.
    pub order: Option<ChatSeq>,
}

impl Handler<Deliver> for UserSession {
    type Result = ();
    fn handle(&mut self, msg: Deliver, _: &mut Self::Context) {
        // Only frames that reach a connection move the seq on: the sender's own message
        // (framed to their other connections, here none) must not make an earlier
        // message of someone else, still on its way from another node, look late.
        if !self.conns.keys().any(|id| Some(*id) != msg.except) {
            return;
        }
        if let Some(order) = msg.order {
            let last = self.last_seq.entry(order.chat).or_insert(0);
            if order.seq <= *last {
                tracing::debug!(chat = %order.chat, seq = order.seq, last = *last, "frame dropped by seq");
                return;
            }
            *last = order.seq;
        }
        let person = self.person.uuid;
        for (id, conn) in &mut self.conns {
            if Some(*id) != msg.except {
                conn.offer(person, Outbound::Frame(msg.frame.clone()));
            }
        }
    }
}

/// From a socket task: the person sends a message on that connection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SendChat {
    pub conn: ConnId,
    pub draft: MessageDraft,
}

impl Handler<SendChat> for UserSession {
    type Result = ();
    fn handle(&mut self, msg: SendChat, ctx: &mut Self::Context) {
        let (reply, answer) = oneshot::channel();
        let message_uuid = msg.draft.uuid;
        self.rooms.post(
            msg.draft.chat_uuid,
            Post {
                sender: self.person.clone(),
                origin: Some(msg.conn),
                draft: msg.draft,
                reply,
            },
        );
        // The session goes on with other work while the room stores the message.
        ctx.spawn(answer.into_actor(self).map(move |answer, session, _| {
            let result =
                answer.unwrap_or_else(|_| Err(Error::Unavailable("chat room stopped".into())));
            session.offer(
                msg.conn,
                Outbound::Posted(Box::new(Posted {
                    message_uuid,
                    result,
                })),
            );
        }));
    }
}

/// Close every connection (the person's account is gone).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll;

impl Handler<CloseAll> for UserSession {
    type Result = ();
    fn handle(&mut self, _: CloseAll, _: &mut Self::Context) {
        for conn in self.conns.values_mut() {
            conn.closing = true;
            conn.handle.kill.trip(KillReason::AccountGone);
        }
    }
}

/// From Presence, after the last connection left.
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopSession;

impl Handler<StopSession> for UserSession {
    type Result = ();
    fn handle(&mut self, _: StopSession, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
