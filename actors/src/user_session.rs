//! UserSession: one per person online on this node, holding all of that person's live
//! connections (phone, tablet, browser) in its [`Connections`] table.
//!
//! The table is shared, not kept behind the actor's mailbox: a chat room hands each
//! stored message's frame straight to the connections of the persons online here, under
//! the table's lock, on the room's own thread (ARCHITECTURE.md, "Realtime path"). A
//! mailbox hop per receiver and per message cost more than the delivery itself at 100k
//! messages a second (issue 14). Presence adds and removes connections in the table as
//! sockets open and close (before the upgrade is answered, so no frame can miss a
//! socket that is open); the actor's mailbox takes frames from other nodes and the
//! close of every connection when the account is gone. A connection's own messages go
//! from its socket task straight to their chat's room, which answers the outcome into
//! the connection's queue ([`Origin`]).
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
use crate::outbound::{OutboundSender, OutcomeSender, TrySendError};
use actix::prelude::*;
use metmos_engine::domain::chat::MessageInsert;
use metmos_engine::error::Error;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::sync::Notify;
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

    /// A queue of the connection is full: its client stopped reading.
    pub fn client_not_reading(&self, person: Uuid, conn: ConnId) {
        tracing::info!(%person, conn = %conn.0, "client not reading; closing its connection");
        self.trip(KillReason::TooSlow);
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

/// A connection as the sender of messages: where their outcomes go. Its socket task
/// holds it, and every message it sends carries a clone (one reference count).
#[derive(Debug)]
pub struct Origin {
    pub id: ConnId,
    /// The person whose connection it is.
    pub person: Uuid,
    outcomes: OutcomeSender,
    pub kill: Arc<KillSwitch>,
}

impl Origin {
    pub fn of(conn: &ConnHandle, person: Uuid) -> Arc<Self> {
        Arc::new(Self {
            id: conn.id,
            person,
            outcomes: conn.tx.outcomes(),
            kill: conn.kill.clone(),
        })
    }

    /// Queues the outcome of one of the connection's messages without waiting; a full
    /// queue closes the connection, as for any frame.
    pub fn answer(&self, posted: Posted) {
        match self.outcomes.try_send(Outbound::Posted(Box::new(posted))) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => self.kill.client_not_reading(self.person, self.id),
        }
    }
}

struct Conn {
    handle: ConnHandle,
    /// Told to close; no more frames are offered.
    closing: bool,
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
                self.closing = true;
                self.handle.kill.client_not_reading(person, self.handle.id);
            }
            Err(TrySendError::Closed(_)) => {
                // The socket task is gone; its Disconnect is on the way.
                self.closing = true;
            }
        }
    }
}

/// A person's connections on this node: the UserSession's state, which deliveries on
/// any thread reach synchronously (see the module doc). Its lock is held for one
/// delivery or one change, never across an await.
pub struct Connections {
    person: Uuid,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    /// Usually one or two: a list is smaller and faster than a map.
    conns: Vec<Conn>,
    /// The last seq passed on per chat (frames arriving twice or late are dropped).
    last_seq: HashMap<Uuid, i64>,
}

impl Connections {
    pub fn new(person: Uuid) -> Arc<Self> {
        Arc::new(Self {
            person,
            table: Mutex::new(Table::default()),
        })
    }

    pub fn add(&self, conn: ConnHandle) {
        self.table.lock().conns.push(Conn {
            handle: conn,
            closing: false,
        });
    }

    /// Forgets a connection whose socket task ended; answers how many are left.
    pub fn remove(&self, id: ConnId) -> usize {
        let mut table = self.table.lock();
        table.conns.retain(|c| c.handle.id != id);
        table.conns.len()
    }

    /// `frame` to every connection but `except` (the one that sent it), unless `order`
    /// says the chat already passed that seq here.
    pub fn deliver(&self, frame: &Frame, except: Option<ConnId>, order: Option<ChatSeq>) {
        let mut table = self.table.lock();
        // Only frames that reach a connection move the seq on: the sender's own message
        // (framed to their other connections, here none) must not make an earlier
        // message of someone else, still on its way from another node, look late.
        if !table.conns.iter().any(|c| Some(c.handle.id) != except) {
            return;
        }
        if let Some(order) = order {
            let last = table.last_seq.entry(order.chat).or_insert(0);
            if order.seq <= *last {
                tracing::debug!(chat = %order.chat, seq = order.seq, last = *last, "frame dropped by seq");
                return;
            }
            *last = order.seq;
        }
        for conn in &mut table.conns {
            if Some(conn.handle.id) != except {
                conn.offer(self.person, Outbound::Frame(frame.clone()));
            }
        }
    }

    /// Tells every connection to close (the person's account is gone).
    pub fn close_all(&self) {
        for conn in &mut self.table.lock().conns {
            conn.closing = true;
            conn.handle.kill.trip(KillReason::AccountGone);
        }
    }
}

pub struct UserSession {
    connections: Arc<Connections>,
}

impl UserSession {
    pub fn new(connections: Arc<Connections>) -> Self {
        Self { connections }
    }
}

impl Actor for UserSession {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Self::Context) {
        tracing::debug!(person = %self.connections.person, "session started");
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::debug!(person = %self.connections.person, "session stopped");
    }
}

/// A frame for every connection of the person, but `except` (the one that sent it):
/// frames from other nodes come this way (deliveries on this node call
/// [`Connections::deliver`] directly).
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
        self.connections.deliver(&msg.frame, msg.except, msg.order);
    }
}

/// Close every connection (the person's account is gone).
#[derive(Message)]
#[rtype(result = "()")]
pub struct CloseAll;

impl Handler<CloseAll> for UserSession {
    type Result = ();
    fn handle(&mut self, _: CloseAll, _: &mut Self::Context) {
        self.connections.close_all();
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
