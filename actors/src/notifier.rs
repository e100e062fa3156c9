//! Notifier: decides by presence how something reaches a person. Online on this node →
//! the frame goes to every one of their connections (through Presence and their
//! UserSession, in the order it was handed over); online on another node → through
//! that node's queue ([`crate::cluster`]); online nowhere → a push to their devices
//! (when the caller asked for one). Chat rooms use it for messages, and
//! [`NotifierSink`] plugs it into the engine's `NotificationSink` port, so stored trade
//! and social notifications go out the same way.

use crate::cluster::{ClusterLink, Pending};
use crate::frames::{ChatSeq, Frame, ServerFrame};
use crate::presence::{Presence, Route};
use crate::user_session::ConnId;
use actix::prelude::*;
use metmos_engine::domain::notifications::Notification;
use metmos_engine::ports::{NotificationSink, PushMessage};
use metmos_engine::services::notifications::NotificationView;
use tokio::sync::oneshot;
use uuid::Uuid;

pub struct Notifier {
    presence: Addr<Presence>,
    cluster: ClusterLink,
}

impl Notifier {
    pub fn new(presence: Addr<Presence>, cluster: ClusterLink) -> Self {
        Self { presence, cluster }
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
        let (tx, rx) = oneshot::channel::<Vec<Uuid>>();
        // Frames go on synchronously (do_send keeps the order chat rooms rely on); those
        // not online here go, in the same order, to the cluster task: other nodes or push.
        self.presence.do_send(Route {
            persons: msg.persons,
            frame: msg.frame.clone(),
            except: msg.except,
            order: msg.order,
            offline: Some(tx),
        });
        self.cluster.forward(Pending {
            offline: rx,
            frame: msg.frame,
            order: msg.order,
            push: msg.push,
        });
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
