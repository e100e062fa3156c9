//! Notifier: decides by presence how something reaches a person. Online on this node →
//! the frame goes to every one of their connections (through Presence and their
//! UserSession, in the order it was handed over); not online → a push to their devices
//! (when the caller asked for one). Chat rooms use it for messages, and
//! [`NotifierSink`] plugs it into the engine's `NotificationSink` port, so stored trade
//! and social notifications go out the same way.

use crate::frames::{Frame, ServerFrame};
use crate::presence::{Presence, Route};
use crate::user_session::ConnId;
use actix::prelude::*;
use metmos_engine::Engine;
use metmos_engine::domain::notifications::Notification;
use metmos_engine::ports::{NotificationSink, PushMessage};
use metmos_engine::services::notifications::NotificationView;
use std::sync::Arc;
use tokio::sync::oneshot;
use uuid::Uuid;

pub struct Notifier {
    presence: Addr<Presence>,
    engine: Arc<Engine>,
}

impl Notifier {
    pub fn new(presence: Addr<Presence>, engine: Arc<Engine>) -> Self {
        Self { presence, engine }
    }
}

impl Actor for Notifier {
    type Context = Context<Self>;
}

/// Something for `persons`: `frame` to their connections (but `except`), and `push` to
/// the devices of those not online.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Deliver {
    pub persons: Vec<Uuid>,
    pub frame: Frame,
    pub except: Option<ConnId>,
    pub push: Option<PushMessage>,
}

impl Handler<Deliver> for Notifier {
    type Result = ();
    fn handle(&mut self, msg: Deliver, _: &mut Self::Context) {
        let offline = msg.push.map(|push| {
            let (tx, rx) = oneshot::channel::<Vec<Uuid>>();
            let queue = self.engine.push_queue.clone();
            // Only Presence's answer is awaited here; sending is the queue's workers'
            // job, so nothing on this path waits for the push service.
            self.engine.spawn_local(async move {
                let Ok(persons) = rx.await else { return };
                for person in persons {
                    queue.enqueue(person, push.clone());
                }
            });
            tx
        });
        // Frames go on synchronously (do_send keeps the order chat rooms rely on); only
        // the pushes wait for Presence's answer.
        self.presence.do_send(Route {
            persons: msg.persons,
            frame: msg.frame,
            except: msg.except,
            offline,
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
            push: Some(PushMessage {
                notification_type: n.notification_type,
                title: n.title.clone(),
                body: n.body.clone(),
                data,
            }),
        });
    }
}
