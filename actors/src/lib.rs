//! Metmos actors: the realtime path (UserSession, Presence, ChatRoom with its registry,
//! Notifier) on actix. Built on `metmos-engine`'s services; the HTTP crate's WebSocket
//! tasks talk to these actors by typed messages.
//!
//! ```text
//! socket task ──Post (via the Rooms map)──► ChatRoom ── stores a batch, then for each message:
//!      ▲                                       │ ack or error: into the sender's queue
//!      ├──────────── bounded queue ◄───────────┤ frame: into the queues of every
//!      │                                       │ connection online here (the UserSessions'
//!      │                                       │ tables, via the Sessions map)
//!                          not online here → cluster task → other node, or push
//! ```
//!
//! A message crosses one mailbox (the room's) on its way in, and none on its way out.
//! Rooms and sessions run on one arbiter per core (`ws.actor_threads`), hashed by uuid;
//! the registry and the presence map are sharded maps read synchronously, so no single
//! actor is on every message's path. Presence (connect, disconnect) and the Notifier
//! (stored notifications) remain actors, off that path.

pub mod bus_bridge;
pub mod chat_room;
pub mod cluster;
pub mod frames;
pub mod notifier;
pub mod order_actor;
pub mod order_supervisor;
pub mod outbound;
pub mod presence;
pub mod room_registry;
pub mod threads;
pub mod user_session;

use actix::prelude::*;
use metmos_engine::Engine;
use metmos_engine::domain::chat::{MessageDraft, MessageInsert};
use metmos_engine::domain::people::Person;
use metmos_engine::error::Error;
use notifier::{Delivery, Notifier, NotifierSink, Sessions};
use presence::Presence;
use room_registry::{Post, Reply, Rooms};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use threads::ActorThreads;
use tokio::sync::watch;
use user_session::ConnId;

/// Figures for `/metrics`, kept by the actors as they change.
#[derive(Debug, Default)]
pub struct RealtimeStats {
    /// Persons online on this node (running UserSessions).
    pub sessions: AtomicUsize,
    /// Running chat rooms.
    pub rooms: AtomicUsize,
    /// Frames to and from other nodes.
    pub cluster: Arc<cluster::ClusterStats>,
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
    pub rooms: Rooms,
    pub notifier: Addr<Notifier>,
    /// How rooms hand a message to the sessions online here (and the cluster task for
    /// the others). Exposed for the fan-out benchmark (`benches/hot_path.rs`), which
    /// drives it with the sessions Presence placed on the actor threads.
    pub delivery: Delivery,
    pub stats: Arc<RealtimeStats>,
    pub threads: Arc<ActorThreads>,
    /// True while this node's own bus queue is consumed (set by the bus bridge).
    node_queue: watch::Receiver<bool>,
}

impl Realtime {
    /// Starts the actor threads (rooms and sessions run there), Presence and the
    /// Notifier on the current arbiter, attaches the Notifier as the engine's
    /// notification sink, and starts this node's lease and bus bridge tasks. Call once,
    /// inside the actix system, when the node starts serving.
    pub fn start(engine: Arc<Engine>) -> Self {
        let stats = Arc::new(RealtimeStats::default());
        let threads = ActorThreads::start(engine.settings.ws.actor_threads);
        let sessions = Arc::new(Sessions::default());
        let link = cluster::ClusterLink::start(engine.clone(), stats.cluster.clone());
        let delivery = Delivery::new(sessions.clone(), link);
        let notifier = Notifier::new(delivery.clone()).start();
        let idle = Duration::from_secs(engine.settings.ws.room_idle_secs);
        let rooms = Rooms::start(
            engine.clone(),
            delivery.clone(),
            threads.clone(),
            idle,
            stats.clone(),
        );
        let presence = Presence::new(sessions, threads.clone(), stats.clone()).start();
        engine
            .deliverer
            .attach(Arc::new(NotifierSink(notifier.clone())));
        engine.spawn_local(
            engine
                .ws_connections
                .clone()
                .run_node_lease(engine.shutdown_signal()),
        );
        let (consumed, node_queue) = watch::channel(false);
        engine.spawn_local(bus_bridge::run(
            engine.clone(),
            presence.clone(),
            rooms.clone(),
            stats.cluster.clone(),
            consumed,
        ));
        // The actor threads end with the engine (their actors with them).
        let stop = engine.cancelled();
        let stopping = threads.clone();
        engine.spawn(async move {
            stop.cancelled().await;
            stopping.stop();
        });
        tracing::info!(node_id = %engine.node_id, threads = threads.len(), "realtime actors started");
        Self {
            presence,
            rooms,
            notifier,
            delivery,
            stats,
            threads,
            node_queue,
        }
    }

    /// Waits until this node consumes its own bus queue, at most `limit`; false if it
    /// does not by then (the broker is away). Other nodes hand frames for the persons
    /// connected here to that queue, and one sent before it exists is lost to a push:
    /// a starting node serves only after this, so no socket of its is seen from other
    /// nodes before frames can reach it. Immediate on the in-process bus.
    pub async fn node_queue_consumed(&self, limit: Duration) -> bool {
        let mut consumed = self.node_queue.clone();
        matches!(
            tokio::time::timeout(limit, consumed.wait_for(|up| *up)).await,
            Ok(Ok(_))
        )
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
        let (reply, answer) = Reply::to_caller();
        self.rooms.post(
            draft.chat_uuid,
            Post {
                sender: Arc::new(sender),
                origin,
                draft,
                reply,
            },
        );
        answer.await.unwrap_or_else(|_| Err(Reply::room_stopped()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metmos_engine::adapters::bus::inprocess::InProcessBus;
    use metmos_engine::adapters::store::memory::MemoryStore;
    use metmos_engine::config::Settings;
    use metmos_engine::domain::chat::{ChatType, NewChat};
    use metmos_engine::domain::connections::RequestConnection;
    use metmos_engine::domain::people::{Email, PersonFields, Username};
    use metmos_engine::domain::refusal::Refusal;
    use metmos_engine::domain::time;
    use metmos_engine::services::people::Caller;
    use uuid::Uuid;

    async fn engine() -> Arc<Engine> {
        let settings = Settings::load_with(None, &[("ws.room_idle_secs", "1")]).unwrap();
        Engine::assemble(
            settings,
            Arc::new(MemoryStore::new()),
            Arc::new(InProcessBus::new()),
        )
        .await
        .unwrap()
    }

    async fn person(engine: &Engine, name: &str) -> Person {
        caller(engine, name).await.person.unwrap()
    }

    async fn caller(engine: &Engine, name: &str) -> Caller {
        let (account, person) = engine
            .people
            .create_dev_user(PersonFields::named(
                Username::parse(name).unwrap(),
                Email::parse(&format!("{name}@example.com")).unwrap(),
            ))
            .await
            .unwrap();
        Caller {
            account,
            person: Some(person),
        }
    }

    /// Makes the two contacts (a CONTACT chat takes messages only between contacts).
    async fn connect(engine: &Engine, a: &Caller, b: &Caller) {
        let request = engine
            .connections
            .request(
                a,
                RequestConnection {
                    person_uuid: b.person.as_ref().unwrap().uuid,
                },
            )
            .await
            .unwrap();
        engine
            .connections
            .accept(b, request.connection.uuid)
            .await
            .unwrap();
    }

    fn draft(chat_uuid: Uuid, text: &str) -> MessageDraft {
        MessageDraft {
            chat_uuid,
            uuid: Uuid::new_v4(),
            message_content: text.into(),
            asset_uuids: vec![],
        }
    }

    #[actix::test]
    async fn rooms_start_on_demand_refuse_strangers_and_stop_when_idle() {
        let engine = engine().await;
        let realtime = Realtime::start(engine.clone());
        let (alice, bob) = (caller(&engine, "alice").await, caller(&engine, "bob").await);
        connect(&engine, &alice, &bob).await;
        let (a, b, c) = (
            alice.person.unwrap(),
            bob.person.unwrap(),
            person(&engine, "carol").await,
        );
        let chat = engine
            .store
            .create_chat(&NewChat::contact(&a, &b, time::now()), &[])
            .await
            .unwrap()
            .chat;
        assert_eq!(realtime.rooms.active(), 0);
        let stored = realtime
            .post(a.clone(), None, draft(chat.uuid, "one"))
            .await
            .unwrap();
        assert_eq!(stored.message().seq, 1);
        assert_eq!(realtime.rooms.active(), 1);
        assert_eq!(realtime.stats.rooms(), 1);
        let refused = realtime.post(c, None, draft(chat.uuid, "let me in")).await;
        assert_eq!(refused, Err(Error::Refused(Refusal::ChatNotFound)));
        // A room for a chat that does not exist answers and goes at once.
        let ghost = realtime
            .post(a.clone(), None, draft(Uuid::new_v4(), "?"))
            .await;
        assert_eq!(ghost, Err(Error::Refused(Refusal::ChatNotFound)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(realtime.rooms.active(), 1);
        // Idle past ws.room_idle_secs: stopped; the next message starts a fresh room.
        tokio::time::sleep(Duration::from_millis(1700)).await;
        assert_eq!(realtime.rooms.active(), 0);
        assert_eq!(realtime.stats.rooms(), 0);
        let stored = realtime
            .post(b, None, draft(chat.uuid, "two"))
            .await
            .unwrap();
        assert_eq!(stored.message().seq, 2);
        assert_eq!(realtime.rooms.active(), 1);
        engine.shutdown();
    }

    /// Rooms and sessions on several actor threads: each participant's connections get
    /// every message once, in seq order, but the one it was sent on; the push is only
    /// for a participant online on no node.
    #[actix::test]
    async fn messages_reach_sessions_on_other_threads_in_order_and_push_only_the_offline() {
        use user_session::{ConnHandle, KillSwitch, Outbound};
        let settings = Settings::load_with(None, &[("ws.actor_threads", "3")]).unwrap();
        let engine = Engine::assemble(
            settings,
            Arc::new(MemoryStore::new()),
            Arc::new(InProcessBus::new()),
        )
        .await
        .unwrap();
        let realtime = Realtime::start(engine.clone());
        assert_eq!(realtime.threads.len(), 3);
        // A listing chat: no contact request, whose notifications would be pushes too.
        let (a, b) = (person(&engine, "alice").await, person(&engine, "bob").await);
        let chat = engine
            .store
            .create_chat(
                &NewChat {
                    uuid: Uuid::new_v4(),
                    chat_type: ChatType::Listing,
                    listing_uuid: Some(Uuid::new_v4()),
                    description: None,
                    pair_key: None,
                    participant_ids: vec![a.id, b.id],
                    at: time::now(),
                },
                &[],
            )
            .await
            .unwrap()
            .chat;
        let open = |person: Person| {
            let presence = realtime.presence.clone();
            async move {
                let (tx, rx) = crate::outbound::queue(64);
                let id = ConnId(Uuid::new_v4());
                presence
                    .send(presence::Connect {
                        person,
                        conn: ConnHandle {
                            id,
                            tx,
                            kill: Arc::new(KillSwitch::default()),
                        },
                    })
                    .await
                    .unwrap();
                (id, rx)
            }
        };
        let (origin, mut a_origin) = open(a.clone()).await;
        let (_, mut a_other) = open(a.clone()).await;
        let (b_conn, mut b_rx) = open(b.clone()).await;
        for i in 1..=20 {
            realtime
                .post(a.clone(), Some(origin), draft(chat.uuid, &format!("m{i}")))
                .await
                .unwrap();
        }
        // Deliveries run on the sessions' threads: wait for each frame (bounded).
        async fn seqs(rx: &mut crate::outbound::OutboundReceiver, n: usize) -> Vec<i64> {
            let mut seqs = Vec::new();
            while seqs.len() < n {
                match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                    Ok(Some(Outbound::Frame(f))) => {
                        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
                        seqs.push(v["seq"].as_i64().unwrap());
                    }
                    _ => break,
                }
            }
            seqs
        }
        let all: Vec<i64> = (1..=20).collect();
        assert_eq!(
            seqs(&mut b_rx, 20).await,
            all,
            "the other participant, in order"
        );
        assert_eq!(
            seqs(&mut a_other, 20).await,
            all,
            "the sender's other connection"
        );
        // The same deliveries reached a_other: anything for the origin would be queued.
        assert!(
            a_origin.try_recv().is_none(),
            "not the connection it came on"
        );
        assert!(b_rx.try_recv().is_none(), "each message once");
        let pushed = || engine.push_queue.stats().enqueued.load(Ordering::Relaxed);
        assert_eq!(pushed(), 0, "everyone online: no push");
        realtime
            .presence
            .send(presence::Disconnect {
                person_uuid: b.uuid,
                conn: b_conn,
            })
            .await
            .unwrap();
        realtime
            .post(a.clone(), Some(origin), draft(chat.uuid, "gone?"))
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while pushed() == 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(pushed(), 1, "bob is online nowhere: pushed");
        engine.shutdown();
    }

    #[actix::test]
    async fn a_deleted_account_has_its_sockets_closed() {
        use metmos_engine::events::{AccountDeleted, Event, EventEnvelope};
        use user_session::{ConnHandle, KillReason, KillSwitch};
        let engine = engine().await;
        let realtime = Realtime::start(engine.clone());
        let a = person(&engine, "alice").await;
        let (tx, _rx) = crate::outbound::queue(4);
        let kill = Arc::new(KillSwitch::default());
        realtime
            .presence
            .send(presence::Connect {
                person: a.clone(),
                conn: ConnHandle {
                    id: ConnId(Uuid::new_v4()),
                    tx,
                    kill: kill.clone(),
                },
            })
            .await
            .unwrap();
        assert_eq!(realtime.stats.sessions(), 1);
        // The bridge subscribes as it starts; publish once it has.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let event = Event::AccountDeleted(AccountDeleted {
            account_uuid: a.account_uuid,
            person_uuid: Some(a.uuid),
            reason: None,
        });
        engine
            .bus
            .publish(&EventEnvelope::new(event, time::now()))
            .await
            .unwrap();
        let reason = tokio::time::timeout(Duration::from_secs(5), kill.tripped())
            .await
            .expect("the socket is told to close");
        assert_eq!(reason, KillReason::AccountGone);
        engine.shutdown();
    }

    #[actix::test]
    async fn frames_arriving_twice_or_late_are_dropped_by_seq() {
        use frames::ChatSeq;
        use presence::Route;
        use user_session::{ConnHandle, KillSwitch, Outbound};
        let engine = engine().await;
        let realtime = Realtime::start(engine.clone());
        let a = person(&engine, "alice").await;
        let (tx, mut rx) = crate::outbound::queue(16);
        let conn = ConnId(Uuid::new_v4());
        realtime
            .presence
            .send(presence::Connect {
                person: a.clone(),
                conn: ConnHandle {
                    id: conn,
                    tx,
                    kill: Arc::new(KillSwitch::default()),
                },
            })
            .await
            .unwrap();
        let chat = Uuid::new_v4();
        let route = |seq: i64, except: Option<ConnId>| Route {
            persons: vec![a.uuid],
            frame: frames::Frame::from(format!("{{\"seq\":{seq}}}")),
            except,
            order: Some(ChatSeq { chat, seq }),
            offline: None,
        };
        // Own message framed to no other connection: does not move the seq on.
        realtime.presence.send(route(9, Some(conn))).await.unwrap();
        for seq in [1, 3, 3, 2, 4] {
            realtime.presence.send(route(seq, None)).await.unwrap();
        }
        let mut got = Vec::new();
        while let Ok(Some(Outbound::Frame(f))) =
            tokio::time::timeout(Duration::from_millis(300), rx.recv()).await
        {
            got.push(f.to_string());
        }
        assert_eq!(
            got,
            ["{\"seq\":1}", "{\"seq\":3}", "{\"seq\":4}"],
            "twice (3) and late (2) dropped"
        );
        engine.shutdown();
    }
}
