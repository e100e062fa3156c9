//! Presence: who is online on this node, i.e. which persons have a UserSession. Every
//! connect and disconnect goes through here, so a person has exactly one session however
//! many sockets open or close at once, and a session stops when its last one closes.
//! (The cluster's view is the `ws_connection` table, with the node id on every row.)
//!
//! Presence is the one writer of the shared [`Sessions`] map, which deliveries read
//! synchronously (no hop through this actor per message). It adds a connection to its
//! person's table itself, before it answers the socket's `Connect` (so before the
//! upgrade is answered), and puts a new session's table in the map only after that: a
//! frame stored after a client saw its socket open reaches that socket.

use crate::RealtimeStats;
use crate::frames::{ChatSeq, Frame};
use crate::notifier::Sessions;
use crate::threads::ActorThreads;
use crate::user_session::{
    CloseAll, ConnHandle, ConnId, Connections, Deliver, StopSession, UserSession,
};
use actix::prelude::*;
use metmos_engine::domain::people::Person;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::oneshot;
use uuid::Uuid;

struct Entry {
    session: Addr<UserSession>,
    connections: Arc<Connections>,
    /// The person as of their latest sign-in here, shared by their sockets.
    person: Arc<Person>,
}

pub struct Presence {
    sessions: HashMap<Uuid, Entry>,
    shared: Arc<Sessions>,
    threads: Arc<ActorThreads>,
    stats: Arc<RealtimeStats>,
}

impl Presence {
    pub fn new(
        shared: Arc<Sessions>,
        threads: Arc<ActorThreads>,
        stats: Arc<RealtimeStats>,
    ) -> Self {
        Self {
            sessions: HashMap::new(),
            shared,
            threads,
            stats,
        }
    }

    fn count(&self) {
        self.stats
            .sessions
            .store(self.sessions.len(), Ordering::Relaxed);
    }
}

impl Actor for Presence {
    type Context = Context<Self>;
}

/// A socket opened: its connection joins its person's session (started if this is their
/// first connection). Answers the person as their sockets share them.
#[derive(Message)]
#[rtype(result = "Arc<Person>")]
pub struct Connect {
    pub person: Person,
    pub conn: ConnHandle,
}

impl Handler<Connect> for Presence {
    type Result = MessageResult<Connect>;
    fn handle(&mut self, msg: Connect, _: &mut Self::Context) -> Self::Result {
        let person_uuid = msg.person.uuid;
        let mut started = false;
        let threads = &self.threads;
        let entry = self.sessions.entry(person_uuid).or_insert_with(|| {
            started = true;
            let connections = Connections::new(person_uuid);
            let session = UserSession::new(connections.clone());
            Entry {
                session: UserSession::start_in_arbiter(&threads.of(&person_uuid), move |_| session),
                connections,
                person: Arc::new(msg.person.clone()),
            }
        });
        if *entry.person != msg.person {
            entry.person = Arc::new(msg.person);
        }
        entry.connections.add(msg.conn);
        let person = entry.person.clone();
        if started {
            // After the connection was added: see the module doc.
            self.shared
                .shard(&person_uuid)
                .write()
                .insert(person_uuid, entry.connections.clone());
        }
        self.count();
        MessageResult(person)
    }
}

/// A socket task ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnect {
    pub person_uuid: Uuid,
    pub conn: ConnId,
}

impl Handler<Disconnect> for Presence {
    type Result = ();
    fn handle(&mut self, msg: Disconnect, _: &mut Self::Context) {
        let Some(entry) = self.sessions.get_mut(&msg.person_uuid) else {
            return;
        };
        if entry.connections.remove(msg.conn) == 0 {
            // A connect arriving now starts a new session.
            entry.session.do_send(StopSession);
            self.sessions.remove(&msg.person_uuid);
            self.shared
                .shard(&msg.person_uuid)
                .write()
                .remove(&msg.person_uuid);
        }
        self.count();
    }
}

/// A frame for some persons: online ones get it on every connection (but `except`);
/// the uuids of those not online here are answered on `offline`, when asked for.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Route {
    pub persons: Vec<Uuid>,
    pub frame: Frame,
    pub except: Option<ConnId>,
    pub order: Option<ChatSeq>,
    pub offline: Option<oneshot::Sender<Vec<Uuid>>>,
}

impl Handler<Route> for Presence {
    type Result = ();
    fn handle(&mut self, msg: Route, _: &mut Self::Context) {
        let mut offline = Vec::new();
        for person in msg.persons {
            match self.sessions.get(&person) {
                Some(entry) => entry.session.do_send(Deliver {
                    frame: msg.frame.clone(),
                    except: msg.except,
                    order: msg.order,
                }),
                None => offline.push(person),
            }
        }
        if let Some(tx) = msg.offline {
            let _ = tx.send(offline);
        }
    }
}

/// Close every connection of a person (their account was deleted).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Kick {
    pub person_uuid: Uuid,
}

impl Handler<Kick> for Presence {
    type Result = ();
    fn handle(&mut self, msg: Kick, _: &mut Self::Context) {
        if let Some(entry) = self.sessions.get(&msg.person_uuid) {
            entry.session.do_send(CloseAll);
        }
    }
}
