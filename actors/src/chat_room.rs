//! ChatRoom: one per active chat. It loads the chat and its participants when it starts
//! (and again when participants change), and handles the chat's messages one at a time:
//! check membership, store with the next seq, ack the sender, then hand the message
//! straight to the sessions of everyone else and of the sender's other connections
//! ([`Delivery`]; the cluster task for those not online here). Because the next message
//! waits until the previous one is stored and handed on, every receiver gets the chat's
//! messages in seq order.

use crate::frames::{ChatSeq, ServerFrame};
use crate::notifier::Delivery;
use crate::room_registry::{Post, Rooms};
use crate::user_session::ConnId;
use actix::prelude::*;
use metmos_engine::Engine;
use metmos_engine::domain::chat::{self, Chat, Message, MessageInsert};
use metmos_engine::domain::notifications::NotificationType;
use metmos_engine::domain::people::Person;
use metmos_engine::domain::refusal::Refusal;
use metmos_engine::error::Error;
use metmos_engine::ports::PushMessage;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A sender missing from the cached participants makes the room reload them, at most
/// this often (someone may have joined; a stranger probing costs one read per period).
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(1);

enum State {
    Loading,
    Ready {
        chat: Arc<Chat>,
        members: Arc<Vec<Person>>,
    },
    /// The chat does not exist or could not be loaded: every post gets this error
    /// until the registry stops the room.
    Gone(Error),
}

pub struct ChatRoom {
    chat_uuid: Uuid,
    generation: u64,
    engine: Arc<Engine>,
    delivery: Delivery,
    registry: Rooms,
    state: State,
    last_refresh: Option<Instant>,
}

impl ChatRoom {
    pub fn new(
        chat_uuid: Uuid,
        generation: u64,
        engine: Arc<Engine>,
        delivery: Delivery,
        registry: Rooms,
    ) -> Self {
        Self {
            chat_uuid,
            generation,
            engine,
            delivery,
            registry,
            state: State::Loading,
            last_refresh: None,
        }
    }

    /// Loads chat and participants; nothing else is handled until it is done.
    fn load(&mut self, ctx: &mut Context<Self>) {
        let engine = self.engine.clone();
        let chat_uuid = self.chat_uuid;
        self.last_refresh = Some(Instant::now());
        ctx.wait(
            async move { engine.chat.room(chat_uuid).await }
                .into_actor(self)
                .map(|loaded, room, _| room.loaded(loaded)),
        );
    }

    fn loaded(&mut self, loaded: Result<Option<(Chat, Vec<Person>)>, Error>) {
        self.state = match loaded {
            Ok(Some((chat, members))) => State::Ready {
                chat: Arc::new(chat),
                members: Arc::new(members),
            },
            Ok(None) => State::Gone(Error::Refused(Refusal::ChatNotFound)),
            Err(e) => {
                tracing::warn!(chat = %self.chat_uuid, error = %e, "chat room could not load its chat");
                State::Gone(e)
            }
        };
        if matches!(self.state, State::Gone(_)) {
            self.registry.gone(self.chat_uuid, self.generation);
        }
    }

    /// Hands a stored message on: a frame (or, offline, a push) for the others; a frame
    /// for the sender's other connections. The frame is serialized once and shared; the
    /// push is built only if someone is not online here.
    fn deliver(&self, sender: &Person, origin: Option<ConnId>, m: &Message, members: &[Person]) {
        let frame = ServerFrame::chat_message(m).to_frame();
        let order = Some(ChatSeq {
            chat: m.chat_uuid,
            seq: m.seq,
        });
        let others = members.iter().filter(|p| p.id != sender.id).map(|p| p.uuid);
        self.delivery
            .send(others, &frame, None, order, || Some(push_of(sender, m)));
        self.delivery
            .send([sender.uuid], &frame, origin, order, || None);
    }
}

/// The push for a new message, for participants online on no node.
fn push_of(sender: &Person, m: &Message) -> PushMessage {
    let mut data = serde_json::Map::new();
    data.insert(
        "notificationType".into(),
        NotificationType::NewChatMessage.as_str().into(),
    );
    data.insert("chatUuid".into(), m.chat_uuid.to_string().into());
    data.insert("messageUuid".into(), m.uuid.to_string().into());
    PushMessage {
        notification_type: NotificationType::NewChatMessage,
        title: sender.display_name(),
        body: chat::preview(
            &m.message_content,
            m.asset_uuids.len(),
            chat::PUSH_PREVIEW_CHARS,
        ),
        data,
    }
}

impl Actor for ChatRoom {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(chat = %self.chat_uuid, "chat room started");
        self.load(ctx);
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        tracing::debug!(chat = %self.chat_uuid, "chat room stopped");
    }
}

impl Handler<Post> for ChatRoom {
    type Result = ();

    fn handle(&mut self, post: Post, ctx: &mut Self::Context) {
        let (chat, members) = match &self.state {
            State::Ready { chat, members } => (chat.clone(), members.clone()),
            State::Gone(e) => {
                let _ = post.reply.send(Err(e.clone()));
                return;
            }
            State::Loading => {
                // `load` runs under ctx.wait, so no post is handled while loading.
                let _ = post
                    .reply
                    .send(Err(Error::Unavailable("chat room not ready".into())));
                return;
            }
        };
        let Post {
            sender,
            origin,
            draft,
            reply,
        } = post;
        let is_member = |list: &[Person]| list.iter().any(|p| p.id == sender.id);
        let refresh = !is_member(&members)
            && self
                .last_refresh
                .is_none_or(|t| t.elapsed() >= REFRESH_AT_MOST_EVERY);
        if refresh {
            self.last_refresh = Some(Instant::now());
        }
        let engine = self.engine.clone();
        let poster = sender.clone();
        let work = async move {
            let mut members = members;
            let mut reloaded = false;
            if refresh {
                match engine.chat.room(chat.uuid).await {
                    Ok(Some((_, fresh))) => {
                        members = Arc::new(fresh);
                        reloaded = true;
                    }
                    Ok(None) => return (None, Err(Error::Refused(Refusal::ChatNotFound))),
                    Err(e) => return (None, Err(e)),
                }
            }
            if !members.iter().any(|p| p.id == sender.id) {
                // Not theirs to know of: the same answer as for no chat at all.
                return (
                    reloaded.then_some(members),
                    Err(Error::Refused(Refusal::ChatNotFound)),
                );
            }
            let stored = engine
                .chat
                .store_message(&chat, &sender, &draft, &members)
                .await;
            (
                reloaded.then_some(members.clone()),
                stored.map(|s| (s, members)),
            )
        };
        // ctx.wait: the next post waits until this one is stored and handed on.
        ctx.wait(
            work.into_actor(self)
                .map(move |(reloaded, outcome), room, _| {
                    if let (Some(fresh), State::Ready { members, .. }) = (reloaded, &mut room.state)
                    {
                        *members = fresh;
                    }
                    let result = match outcome {
                        Ok((stored, members)) => {
                            if let MessageInsert::Created(m) = &stored {
                                room.deliver(&poster, origin, m, &members);
                            }
                            Ok(stored)
                        }
                        Err(e) => Err(e),
                    };
                    let _ = reply.send(result);
                }),
        );
    }
}

/// Reload participants (they changed).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refresh;

impl Handler<Refresh> for ChatRoom {
    type Result = ();
    fn handle(&mut self, _: Refresh, ctx: &mut Self::Context) {
        self.load(ctx);
    }
}

/// A person left (account deleted): drop them from the cached participants.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PersonLeft {
    pub person_uuid: Uuid,
}

impl Handler<PersonLeft> for ChatRoom {
    type Result = ();
    fn handle(&mut self, msg: PersonLeft, _: &mut Self::Context) {
        if let State::Ready { members, .. } = &mut self.state
            && members.iter().any(|p| p.uuid == msg.person_uuid)
        {
            let kept: Vec<Person> = members
                .iter()
                .filter(|p| p.uuid != msg.person_uuid)
                .cloned()
                .collect();
            *members = Arc::new(kept);
        }
    }
}

/// From the registry only (it removed the room from its map first).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

impl Handler<Shutdown> for ChatRoom {
    type Result = ();
    fn handle(&mut self, _: Shutdown, ctx: &mut Self::Context) {
        ctx.stop();
    }
}
