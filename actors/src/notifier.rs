//! Notifier: decides by presence how something reaches a person. Online on this node →
//! the frame goes to every one of their connections (straight into their queues, in the
//! order it was handed over); online on another node → through that node's queue
//! ([`crate::cluster`]); online nowhere → a push to their devices (when the caller asked
//! for one). Chat rooms call [`Delivery`] directly for messages (no hop through this
//! actor); [`NotifierSink`] plugs the Notifier into the engine's `NotificationSink`
//! port, so stored trade and social notifications go out the same way.

use crate::cluster::{ClusterLink, Pending};
use crate::frames::{ChatSeq, Frame, ServerFrame};
use crate::threads::Sharded;
use crate::user_session::{ConnId, Connections};
use actix::prelude::*;
use metmos_engine::domain::notifications::Notification;
use metmos_engine::ports::{NotificationSink, PushMessage};
use metmos_engine::services::notifications::NotificationView;
use std::sync::Arc;
use uuid::Uuid;

/// The connections of the persons online on this node (their UserSessions' tables), by
/// person uuid. Presence alone writes it; deliveries read it synchronously, on whatever
/// thread they run.
pub type Sessions = Sharded<Arc<Connections>>;

/// How a frame reaches persons, callable from any thread without a mailbox hop: straight
/// to the sessions of those online here, and, in the same call order, to the cluster
/// task for the others (other nodes, or a push). Chat rooms use it for every message;
/// the Notifier for everything else.
#[derive(Clone)]
pub struct Delivery {
    sessions: Arc<Sessions>,
    cluster: ClusterLink,
}

impl Delivery {
    pub fn new(sessions: Arc<Sessions>, cluster: ClusterLink) -> Self {
        Self { sessions, cluster }
    }

    /// `frame` to every connection of `persons` (but `except`); `push` is built only
    /// when someone is not online here, for the devices of those online on no node.
    pub fn send(
        &self,
        persons: impl IntoIterator<Item = Uuid>,
        frame: &Frame,
        except: Option<ConnId>,
        order: Option<ChatSeq>,
        push: impl FnOnce() -> Option<PushMessage>,
    ) {
        let mut offline = Vec::new();
        // Persons online here may have sockets on other nodes too; looked for there only
        // when another node is alive.
        let others_alive = self.cluster.others_alive();
        let mut online_here = Vec::new();
        for person in persons {
            let shard = self.sessions.shard(&person).read();
            match shard.get(&person) {
                Some(connections) => {
                    connections.deliver(frame, except, order);
                    if others_alive {
                        online_here.push(person);
                    }
                }
                None => offline.push(person),
            }
        }
        if !offline.is_empty() || !online_here.is_empty() {
            // The push is for those online nowhere: only the offline can be.
            let push = if offline.is_empty() { None } else { push() };
            self.cluster.forward(Pending {
                offline,
                online_here,
                frame: frame.clone(),
                order,
                push,
            });
        }
    }
}

/// Delivers what is not a chat message (stored notifications, and any frame a service
/// hands over), one at a time in the order handed over.
pub struct Notifier {
    delivery: Delivery,
}

impl Notifier {
    pub fn new(delivery: Delivery) -> Self {
        Self { delivery }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;
}

/// Something for `persons`: `frame` to their connections (but `except`), and `push` to
/// the devices of those online on no node.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub persons: Vec<Uuid>,
    pub frame: Frame,
    pub except: Option<ConnId>,
    /// Set on chat message frames: receivers drop what arrives twice or late.
    pub order: Option<ChatSeq>,
    pub push: Option<PushMessage>,
}

impl Handler<Deliver> for Notifier {
    type Result = ();
    fn handle(&mut self, msg: Deliver, _: &mut Self::Context) {
        let push = msg.push;
        self.delivery
            .send(msg.persons, &msg.frame, msg.except, msg.order, || push);
    }
}

/// The engine's `NotificationSink`, attached at start-up: a stored notification becomes
/// a `{"type": "notification", ...}` frame when its person is online, else a push.
pub struct NotifierSink(pub Addr<Notifier>);

impl NotificationSink for NotifierSink {
    fn deliver(&self, n: &Notification) {
        let view = NotificationView::from(n);
        let frame = ServerFrame::Notification(&view).to_frame();
        let mut data = n.data.clone();
        data.insert(
            "notificationType".into(),
            n.notification_type.as_str().into(),
        );
        self.0.do_send(Deliver {
            persons: vec![n.person_uuid],
            frame,
            except: None,
            order: None,
            push: Some(PushMessage {
                notification_type: n.notification_type,
                title: n.title.clone(),
                body: n.body.clone(),
                data,
            }),
        });
    }
}
