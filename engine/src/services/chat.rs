//! Chats and messages: starting a chat (CONTACT needs the two to be contacts), listing
//! one's chats, reading a chat's history (participants only), and storing a chat room's
//! messages with the chat's next seqs. Requests are parsed into commands at the http edge
//! (`http/src/routes/chats.rs`), which also owns the wire types.

use crate::domain::assets;
use crate::domain::chat::{
    self, Chat, ChatFilter, ChatSummary, ChatType, Message, MessageDraft, MessageFilter,
    MessageInsert, NewChat, NewMessage, OpenChat,
};
use crate::domain::offer::OfferQuery;
use crate::domain::people::Person;
use crate::domain::refusal::Refusal;
use crate::domain::time;
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Problems, Result, StoreError};
use crate::events::{ChatCreated, Event, EventEnvelope, MessageSent};
use crate::ports::{QueuedInserts, Store};
use crate::services::outbox::OutboxSignal;
use crate::services::people::Caller;
use crate::services::read_state::ReadStateService;
use std::sync::Arc;
use uuid::Uuid;

fn parse_uuid_field(field: &str, raw: &str) -> std::result::Result<Uuid, String> {
    Uuid::parse_str(raw.trim()).map_err(|_| format!("{field} must be a UUID"))
}

// --- service ----------------------------------------------------------------------------

#[derive(Clone)]
pub struct ChatService {
    store: Arc<dyn Store>,
    outbox: OutboxSignal,
    read_state: ReadStateService,
}

impl ChatService {
    pub fn new(store: Arc<dyn Store>, outbox: OutboxSignal, read_state: ReadStateService) -> Self {
        Self {
            store,
            outbox,
            read_state,
        }
    }

    /// `POST /chats` (parsed at the edge into [`OpenChat`]). The chat and whether it is
    /// new (201) or the pair's existing one (200).
    pub async fn create(&self, caller: &Caller, cmd: OpenChat) -> Result<(ChatSummary, bool)> {
        let me = caller.person()?;
        match cmd {
            OpenChat::Contact { receiver } => self.create_contact_chat(me, receiver).await,
            OpenChat::Listing {
                listing_uuid,
                receiver,
            } => self.create_listing_chat(me, listing_uuid, receiver).await,
        }
    }

    async fn create_contact_chat(
        &self,
        me: &Person,
        other_uuid: Uuid,
    ) -> Result<(ChatSummary, bool)> {
        if other_uuid == me.uuid {
            return Err(Error::validation(
                "receiverPersonUuid must be another person",
            ));
        }
        let other = self
            .store
            .person_by_uuid(other_uuid)
            .await?
            .ok_or_else(|| Error::not_found("Person not found"))?;
        if !self.store.are_contacts(me.id, other.id).await? {
            return Err(Error::forbidden("You can only start a chat with a contact"));
        }
        let pair_key = chat::contact_pair_key(me.uuid, other.uuid);
        self.open(ChatType::Contact, None, pair_key, me, other)
            .await
    }

    /// LISTING: a chat about a listing between its poster and one interested person
    /// (one chat per listing and person, keyed by `listing_pair_key`). Anyone who can see
    /// the listing may open one with its poster; the poster may open one with a person
    /// who made an offer on it (naming them in `receiverPersonUuid`), not with strangers.
    async fn create_listing_chat(
        &self,
        me: &Person,
        listing_uuid: Uuid,
        receiver: Option<Uuid>,
    ) -> Result<(ChatSummary, bool)> {
        let listing = match self.store.listing_by_uuid(listing_uuid).await? {
            Some(l) if l.status.is_public() || l.person_uuid == me.uuid => l,
            _ => return Err(Error::not_found("Listing not found")),
        };
        // `other` is the second participant; the pair key names the interested person.
        let (other, interested) = if listing.person_uuid == me.uuid {
            let receiver = receiver.ok_or_else(|| {
                Error::validation(
                    "receiverPersonUuid is required when the poster opens a LISTING chat",
                )
            })?;
            if receiver == me.uuid {
                return Err(Error::validation(
                    "receiverPersonUuid must be another person",
                ));
            }
            let other = self
                .store
                .person_by_uuid(receiver)
                .await?
                .ok_or_else(|| Error::not_found("Person not found"))?;
            let query = OfferQuery {
                viewer: me.uuid,
                mine_only: false,
                listing_uuid: Some(listing.uuid),
                person_uuid: Some(other.uuid),
            };
            let offers = self
                .store
                .list_offers(
                    &query,
                    &PageRequest {
                        limit: 1,
                        after: None,
                    },
                )
                .await?;
            if offers.items.is_empty() {
                return Err(Error::forbidden(
                    "The poster can only open a listing chat with someone who made an offer on it",
                ));
            }
            let interested = other.uuid;
            (other, interested)
        } else {
            if receiver.is_some_and(|r| r != listing.person_uuid) {
                return Err(Error::validation(
                    "receiverPersonUuid must be the listing's poster",
                ));
            }
            let poster = self
                .store
                .person_by_uuid(listing.person_uuid)
                .await?
                .ok_or_else(|| Error::not_found("Listing not found"))?;
            (poster, me.uuid)
        };
        let pair_key = chat::listing_pair_key(listing.uuid, interested);
        self.open(ChatType::Listing, Some(listing.uuid), pair_key, me, other)
            .await
    }

    /// Creates the chat for this pair, or answers the one it already has (`false`).
    async fn open(
        &self,
        chat_type: ChatType,
        listing_uuid: Option<Uuid>,
        pair_key: String,
        me: &Person,
        other: Person,
    ) -> Result<(ChatSummary, bool)> {
        let at = time::now();
        let new = NewChat {
            uuid: Uuid::new_v4(),
            chat_type,
            listing_uuid,
            description: None,
            pair_key: Some(pair_key),
            participant_ids: vec![me.id, other.id],
            at,
        };
        let event = EventEnvelope::new(
            Event::ChatCreated(ChatCreated {
                chat_uuid: new.uuid,
                chat_type: chat_type.as_str().into(),
                listing_uuid,
                participant_uuids: vec![me.uuid, other.uuid],
            }),
            at,
        );
        let outcome = self.store.create_chat(&new, &[event]).await?;
        if outcome.created {
            self.outbox.nudge();
            tracing::info!(chat = %outcome.chat.uuid, chat_type = chat_type.as_str(), "chat created");
            let summary = ChatSummary {
                chat: outcome.chat,
                participants: vec![me.clone(), other],
                last_message: None,
                reader: None,
            };
            return Ok((summary, true));
        }
        let summary = self.summary(outcome.chat).await?;
        Ok((summary, false))
    }

    /// A chat with its participants and last message (the existing chat `POST` answers).
    async fn summary(&self, chat: Chat) -> Result<ChatSummary> {
        let participants = self.store.chat_participants(chat.id).await?;
        let last_message = self.store.last_message(chat.id).await?;
        Ok(ChatSummary {
            chat,
            participants,
            last_message,
            reader: None,
        })
    }

    /// `GET /chats`: the caller's chats, newest first.
    pub async fn list(
        &self,
        caller: &Caller,
        chat_type: Option<&str>,
        listing_uuid: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<ChatSummary>> {
        let me = caller.person()?;
        let mut problems = Problems::new();
        let filter = ChatFilter {
            chat_type: chat_type
                .filter(|s| !s.is_empty())
                .and_then(|t| problems.check(ChatType::parse(t))),
            listing_uuid: listing_uuid
                .filter(|s| !s.is_empty())
                .and_then(|l| problems.check(parse_uuid_field("listingUuid", l))),
        };
        problems.finish()?;
        Ok(self.store.list_chats(me.id, &filter, &page).await?)
    }

    /// `GET /chats/{chatUuid}/messages`: participants only (anyone else: 404, the chat
    /// is not theirs to know of); oldest first.
    pub async fn messages(
        &self,
        caller: &Caller,
        chat_uuid: Uuid,
        updated_at_start: Option<&str>,
        updated_at_end: Option<&str>,
        page: PageRequest,
    ) -> Result<Page<Message>> {
        let me = caller.person()?;
        let mut problems = Problems::new();
        let filter = MessageFilter {
            updated_at_start: updated_at_start
                .filter(|s| !s.is_empty())
                .and_then(|t| problems.check(time::parse("updatedAtStart", t))),
            updated_at_end: updated_at_end
                .filter(|s| !s.is_empty())
                .and_then(|t| problems.check(time::parse("updatedAtEnd", t))),
        };
        problems.finish()?;
        let chat = self
            .store
            .chat_of_participant(chat_uuid, me.id)
            .await?
            .ok_or(Error::Refused(Refusal::ChatNotFound))?;
        Ok(self.store.list_messages(chat.id, &filter, &page).await?)
    }

    /// What a chat room loads when it starts (and when membership changes): the chat
    /// and its participants; `None` when there is no such chat.
    pub async fn room(&self, chat_uuid: Uuid) -> Result<Option<(Chat, Vec<Person>)>> {
        let Some(chat) = self.store.chat_by_uuid(chat_uuid).await? else {
            return Ok(None);
        };
        let participants = self.store.chat_participants(chat.id).await?;
        Ok(Some((chat, participants)))
    }

    /// A message may only name assets its sender uploaded to this chat (403 otherwise);
    /// the store moves them to the message in the transaction that stores it.
    async fn check_assets(&self, chat: &Chat, sender: &Person, draft: &MessageDraft) -> Result<()> {
        if draft.asset_uuids.is_empty() {
            return Ok(());
        }
        let found = self.store.assets_by_uuids(&draft.asset_uuids).await?;
        for uuid in &draft.asset_uuids {
            let asset = found.iter().find(|a| a.uuid == *uuid);
            assets::check_message_link(asset, sender.uuid, chat.uuid, draft.uuid)
                .map_err(|refusal| Error::forbidden(refusal.to_string()))?;
        }
        Ok(())
    }

    /// Queues messages to one chat to be stored, in order, each with the chat's next seq
    /// if [`chat::may_post`] allows it: `members` are the chat's participants (which
    /// never change for a CONTACT chat); whether the two are still contacts is read by
    /// the store in the write itself (`contact_of`; one query per batch on PostgreSQL),
    /// never from a cache. Returns once they are queued behind the chat's earlier
    /// messages ([`ChatStore::queue_messages`](crate::ports::ChatStore::queue_messages)),
    /// so a chat room can queue its next posts while these are stored; their outcomes,
    /// one per post in the order given, come from [`QueuedMessages::outcomes`]. A
    /// refusal answers its message alone.
    pub async fn queue_messages(
        &self,
        chat: &Chat,
        posts: &[(&Person, &MessageDraft)],
        members: &[Person],
    ) -> QueuedMessages {
        let member_ids: Vec<i64> = members.iter().map(|p| p.id).collect();
        let mut refused: Vec<(i64, Option<Result<MessageInsert>>)> =
            Vec::with_capacity(posts.len());
        let mut to_store = Vec::with_capacity(posts.len());
        for (sender, draft) in posts {
            let checked = match chat::contact_to_check(chat.chat_type, sender.id, &member_ids) {
                Ok(contact_of) => self
                    .check_assets(chat, sender, draft)
                    .await
                    .map(|()| contact_of),
                Err(refusal) => Err(refusal.into()),
            };
            match checked {
                Ok(contact_of) => {
                    to_store.push(self.new_message(chat, sender, draft, contact_of));
                    refused.push((sender.id, None));
                }
                Err(e) => refused.push((sender.id, Some(Err(e)))),
            }
        }
        let stored = if to_store.is_empty() {
            None
        } else {
            Some(self.store.queue_messages(to_store).await)
        };
        QueuedMessages {
            chat_id: chat.id,
            refused,
            stored,
            outbox: self.outbox.clone(),
            read_state: self.read_state.clone(),
        }
    }

    /// The row to store for a draft, with its `message.sent` event.
    fn new_message(
        &self,
        chat: &Chat,
        sender: &Person,
        draft: &MessageDraft,
        contact_of: Option<i64>,
    ) -> (NewMessage, Vec<EventEnvelope>) {
        let at = time::now();
        let new = NewMessage {
            uuid: draft.uuid,
            chat_id: chat.id,
            chat_uuid: chat.uuid,
            sender_id: sender.id,
            sender_uuid: sender.uuid,
            message_content: draft.message_content.clone(),
            asset_uuids: draft.asset_uuids.clone(),
            at,
            contact_of,
        };
        let event = EventEnvelope::new(
            Event::MessageSent(MessageSent {
                message_uuid: new.uuid,
                chat_uuid: chat.uuid,
                sender_person_uuid: sender.uuid,
                asset_count: new.asset_uuids.len(),
            }),
            at,
        );
        (new, vec![event])
    }
}

/// Messages queued by [`ChatService::queue_messages`]: the refused ones answered, the
/// others on their way to the store.
pub struct QueuedMessages {
    chat_id: i64,
    /// Each post's sender and refusal, in the order given; `None`: its outcome comes
    /// from `stored` (in order).
    refused: Vec<(i64, Option<Result<MessageInsert>>)>,
    stored: Option<QueuedInserts>,
    outbox: OutboxSignal,
    read_state: ReadStateService,
}

impl QueuedMessages {
    /// One outcome per post, in the order given, once the store answered.
    pub async fn outcomes(self) -> Vec<Result<MessageInsert>> {
        let stored = match self.stored {
            Some(stored) => stored.outcomes().await,
            None => Vec::new(),
        };
        let mut stored = stored.into_iter();
        let mut created = false;
        let outcomes = self
            .refused
            .into_iter()
            .map(|(sender_id, refused)| {
                refused.unwrap_or_else(|| {
                    let outcome = stored
                        .next()
                        .unwrap_or_else(|| {
                            Err(StoreError::Internal("a message got no outcome".into()))
                        })
                        .map_err(Error::from);
                    if let Ok(MessageInsert::Created(m)) = &outcome {
                        created = true;
                        // Sending reads the chat up to one's own message (coalesced,
                        // written later).
                        self.read_state.note_sent(self.chat_id, sender_id, m.seq);
                    }
                    outcome
                })
            })
            .collect();
        if created {
            self.outbox.nudge();
        }
        outcomes
    }
}
