//! ChatRoom: one per active chat. It loads the chat and its participants when it starts
//! (and again when participants change), and stores the chat's messages in batches: the
//! posts that queued since the previous batch was queued go to the store as one call, in
//! arrival order (on PostgreSQL, one job of the group-commit writer, which commits the
//! jobs of many chats at once). A batch is queued while the earlier ones are still being
//! stored (at most [`BATCHES_IN_FLIGHT`]), so a post catches the writer's next commit
//! instead of waiting for its room's previous batch first. When a batch is stored, each
//! sender gets its ack and each message is handed straight to the sessions of everyone
//! else and of the sender's other connections ([`Delivery`]; the cluster task for those
//! not online here). Batches are queued one after another, so the store gives seqs in
//! queue order, and handed on in that same order whatever order their outcomes arrive
//! in: every receiver gets the chat's messages in seq order (issue 14).

use crate::frames::{ChatSeq, ServerFrame};
use crate::notifier::Delivery;
use crate::room_registry::{Post, Rooms};
use crate::user_session::ConnId;
use actix::prelude::*;
use futures_util::FutureExt;
use metmos_engine::Engine;
use metmos_engine::domain::chat::{self, Chat, Message, MessageDraft, MessageInsert};
use metmos_engine::domain::notifications::NotificationType;
use metmos_engine::domain::people::Person;
use metmos_engine::domain::refusal::Refusal;
use metmos_engine::error::Error;
use metmos_engine::ports::PushMessage;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A sender missing from the cached participants makes the room reload them, at most
/// this often (someone may have joined; a stranger probing costs one read per period).
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// At most this many posts per batch. What queues is bounded anyway: each socket has
/// at most `ws.max_in_flight` messages awaiting their ack.
const BATCH_MAX: usize = 256;

/// At most this many batches of one room are queued to the store and not yet answered;
/// posts beyond them wait in the room, to go as one batch. Two keep a busy chat in
/// every commit of its writer (one being committed, one waiting for the next); more
/// would only split the same posts into more jobs.
const BATCHES_IN_FLIGHT: usize = 2;

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
    /// Posts not yet queued to the store: the next batch, in order.
    queued: VecDeque<Post>,
    /// A batch is being queued to the store; the next one waits for that, so batches
    /// reach the store in order (posts keep arriving in `queued` meanwhile).
    queueing: bool,
    /// Batches queued to the store, oldest first, each with its outcomes once known.
    in_flight: VecDeque<InFlight>,
    /// The id of the next batch queued.
    next_batch: u64,
}

/// A batch queued to the store, and its outcomes once the store answered.
struct InFlight {
    id: u64,
    batch: Vec<Post>,
    members: Arc<Vec<Person>>,
    outcomes: Option<Vec<Result<MessageInsert, Error>>>,
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
            queued: VecDeque::new(),
            queueing: false,
            in_flight: VecDeque::new(),
            next_batch: 0,
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
                .map(|loaded, room, ctx| {
                    room.loaded(loaded);
                    room.store_next(ctx);
                }),
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
        self.queued.push_back(post);
        self.store_next(ctx);
    }
}

impl ChatRoom {
    /// Queues the queued posts to the store as one batch, unless one is being queued or
    /// [`BATCHES_IN_FLIGHT`] are awaiting their outcomes (then this runs again when
    /// that changes) or the chat is not loaded yet (`load` runs under ctx.wait, and
    /// calls this when it is done).
    fn store_next(&mut self, ctx: &mut Context<Self>) {
        if self.queueing || self.in_flight.len() >= BATCHES_IN_FLIGHT || self.queued.is_empty() {
            return;
        }
        let (chat, members) = match &self.state {
            State::Ready { chat, members } => (chat.clone(), members.clone()),
            State::Gone(e) => {
                for post in self.queued.drain(..) {
                    post.reply.send(Err(e.clone()));
                }
                return;
            }
            State::Loading => return,
        };
        let take = self.queued.len().min(BATCH_MAX);
        let batch: Vec<Post> = self.queued.drain(..take).collect();
        // A sender missing from the cached participants may have just joined: reload
        // them once for the batch, at most once per REFRESH_AT_MOST_EVERY.
        let stranger = batch
            .iter()
            .any(|post| !members.iter().any(|p| p.id == post.sender.id));
        let refresh = stranger
            && self
                .last_refresh
                .is_none_or(|t| t.elapsed() >= REFRESH_AT_MOST_EVERY);
        if refresh {
            self.last_refresh = Some(Instant::now());
        }
        let engine = self.engine.clone();
        let queue = async move {
            let mut members = members;
            let mut reloaded = None;
            if refresh {
                let failed = match engine.chat.room(chat.uuid).await {
                    Ok(Some((_, fresh))) => {
                        members = Arc::new(fresh);
                        reloaded = Some(members.clone());
                        None
                    }
                    Ok(None) => Some(Error::Refused(Refusal::ChatNotFound)),
                    Err(e) => Some(e),
                };
                if let Some(e) = failed {
                    let outcomes = batch.iter().map(|_| Err(e.clone())).collect();
                    return (reloaded, batch, Err(outcomes), members);
                }
            }
            // Non-participants are refused there, with the answer a stranger gets.
            let posts: Vec<(&Person, &MessageDraft)> = batch
                .iter()
                .map(|post| (post.sender.as_ref(), &post.draft))
                .collect();
            let queued = engine.chat.queue_messages(&chat, &posts, &members).await;
            (reloaded, batch, Ok(queued), members)
        };
        self.queueing = true;
        ctx.spawn(
            queue
                .into_actor(self)
                .map(|(reloaded, batch, queued, members), room, ctx| {
                    room.queueing = false;
                    if let (Some(fresh), State::Ready { members, .. }) = (reloaded, &mut room.state)
                    {
                        *members = fresh;
                    }
                    let id = room.next_batch;
                    room.next_batch += 1;
                    room.in_flight.push_back(InFlight {
                        id,
                        batch,
                        members,
                        outcomes: None,
                    });
                    match queued {
                        Err(outcomes) => room.stored(id, outcomes, ctx),
                        Ok(queued) => {
                            // The embedded store has answered already: no task for it.
                            let mut outcomes = Box::pin(queued.outcomes());
                            match (&mut outcomes).now_or_never() {
                                Some(outcomes) => room.stored(id, outcomes, ctx),
                                None => {
                                    ctx.spawn(outcomes.into_actor(room).map(
                                        move |outcomes, room, ctx| room.stored(id, outcomes, ctx),
                                    ));
                                }
                            }
                        }
                    }
                    room.store_next(ctx);
                }),
        );
    }

    /// Batch `id` was answered: hands on every answered batch at the front, in the order
    /// they were queued (a later batch answered first waits for the earlier ones).
    fn stored(
        &mut self,
        id: u64,
        outcomes: Vec<Result<MessageInsert, Error>>,
        ctx: &mut Context<Self>,
    ) {
        if let Some(batch) = self.in_flight.iter_mut().find(|b| b.id == id) {
            batch.outcomes = Some(outcomes);
        }
        while self.in_flight.front().is_some_and(|b| b.outcomes.is_some()) {
            let Some(InFlight {
                batch,
                members,
                outcomes: Some(outcomes),
                ..
            }) = self.in_flight.pop_front()
            else {
                break;
            };
            for (post, outcome) in batch.into_iter().zip(outcomes) {
                if let Ok(MessageInsert::Created(m)) = &outcome {
                    self.deliver(&post.sender, post.origin, m, &members);
                }
                post.reply.send(outcome);
            }
        }
        self.store_next(ctx);
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
