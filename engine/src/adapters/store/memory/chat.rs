use super::{MemoryStore, State};
use crate::domain::chat::{
    Chat, ChatCreated, ChatFilter, ChatSummary, ContactFacts, Message, MessageFilter,
    MessageInsert, NewChat, NewMessage, is_resend, may_post_contact,
};
use crate::domain::people::Person;
use crate::domain::read_state::ChatReadState;
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::ChatStore;
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// The chat tables with the indexes PostgreSQL would have (uuid, pair key, message uuid).
#[derive(Default)]
pub(crate) struct ChatTables {
    pub chats: BTreeMap<i64, ChatRow>,
    pub by_uuid: HashMap<Uuid, i64>,
    by_pair_key: HashMap<String, i64>,
    pub messages: BTreeMap<i64, Message>,
    message_by_uuid: HashMap<Uuid, i64>,
}

pub(crate) struct ChatRow {
    pub chat: Chat,
    next_seq: i64,
    /// Person ids, in the order they joined.
    pub participants: Vec<i64>,
    /// seq → message id.
    by_seq: BTreeMap<i64, i64>,
    /// person id → the highest seq they have read (absent: 0), as `chat_participant.read_seq`.
    pub read: HashMap<i64, i64>,
}

impl ChatRow {
    /// The chat's last seq (0 before its first message).
    pub fn last_seq(&self) -> i64 {
        self.next_seq - 1
    }

    /// The chat's read state for `person_id` (0 read: nothing yet).
    pub fn read_state(&self, person_id: i64) -> ChatReadState {
        ChatReadState {
            chat_id: self.chat.id,
            chat_uuid: self.chat.uuid,
            last_seq: self.last_seq(),
            read_seq: self.read.get(&person_id).copied().unwrap_or(0),
        }
    }
}

impl ChatTables {
    pub(crate) fn message_chat_id(&self, message_uuid: Uuid) -> Option<i64> {
        self.message_by_uuid
            .get(&message_uuid)
            .and_then(|id| self.messages.get(id))
            .map(|m| m.chat_id)
    }
}

impl State {
    fn chat_summary(&self, row: &ChatRow) -> ChatSummary {
        ChatSummary {
            chat: row.chat.clone(),
            participants: self.participants_of(row),
            last_message: row
                .by_seq
                .last_key_value()
                .and_then(|(_, id)| self.chats.messages.get(id))
                .cloned(),
            reader: None,
        }
    }

    fn participants_of(&self, row: &ChatRow) -> Vec<Person> {
        row.participants
            .iter()
            .filter_map(|id| self.persons.get(id))
            .cloned()
            .collect()
    }

    /// What deleting a person does to chats (account deletion calls this inside its
    /// change): they leave every chat; their messages stay, attributed by sender uuid.
    pub(crate) fn remove_person_from_chats(&mut self, person_id: i64) {
        for row in self.chats.chats.values_mut() {
            row.participants.retain(|p| *p != person_id);
            row.read.remove(&person_id);
        }
        for m in self.chats.messages.values_mut() {
            if m.sender_id == Some(person_id) {
                m.sender_id = None;
            }
        }
    }
}

#[async_trait]
impl ChatStore for MemoryStore {
    async fn create_chat(
        &self,
        new: &NewChat,
        events: &[EventEnvelope],
    ) -> StoreResult<ChatCreated> {
        let mut s = self.state.write();
        if let Some(id) = new
            .pair_key
            .as_ref()
            .and_then(|k| s.chats.by_pair_key.get(k))
        {
            let chat = s
                .chats
                .chats
                .get(id)
                .map(|r| r.chat.clone())
                .ok_or_else(|| StoreError::Internal("pair key index points at no chat".into()))?;
            return Ok(ChatCreated {
                chat,
                created: false,
            });
        }
        if s.chats.by_uuid.contains_key(&new.uuid) {
            // Chat uuids are generated here, never taken from a client: a clash is a bug.
            return Err(StoreError::Internal("duplicate chat uuid".into()));
        }
        if new
            .participant_ids
            .iter()
            .any(|id| !s.persons.contains_key(id))
        {
            return Err(StoreError::Refused(Refusal::PersonNotFound));
        }
        let id = s.next_id("chat");
        for _ in &new.participant_ids {
            // chat_participant rows have ids of their own in PostgreSQL; keep the
            // sequence moving alike.
            s.next_id("chat_participant");
        }
        let chat = Chat {
            id,
            uuid: new.uuid,
            chat_type: new.chat_type,
            listing_uuid: new.listing_uuid,
            description: new.description.clone(),
            pair_key: new.pair_key.clone(),
            created_at: new.at,
            updated_at: new.at,
        };
        let mut participants = Vec::new();
        for p in &new.participant_ids {
            if !participants.contains(p) {
                participants.push(*p);
            }
        }
        s.chats.chats.insert(
            id,
            ChatRow {
                chat: chat.clone(),
                next_seq: 1,
                participants,
                by_seq: BTreeMap::new(),
                read: HashMap::new(),
            },
        );
        s.chats.by_uuid.insert(new.uuid, id);
        if let Some(k) = &new.pair_key {
            s.chats.by_pair_key.insert(k.clone(), id);
        }
        s.record(events);
        Ok(ChatCreated {
            chat,
            created: true,
        })
    }

    async fn chat_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Chat>> {
        let s = self.state.read();
        Ok(s.chats
            .by_uuid
            .get(&uuid)
            .and_then(|id| s.chats.chats.get(id))
            .map(|r| r.chat.clone()))
    }

    async fn chat_participants(&self, chat_id: i64) -> StoreResult<Vec<Person>> {
        let s = self.state.read();
        Ok(s.chats
            .chats
            .get(&chat_id)
            .map(|r| s.participants_of(r))
            .unwrap_or_default())
    }

    async fn is_participant(&self, chat_id: i64, person_id: i64) -> StoreResult<bool> {
        let s = self.state.read();
        Ok(s.chats
            .chats
            .get(&chat_id)
            .is_some_and(|r| r.participants.contains(&person_id)))
    }

    async fn chat_of_participant(&self, uuid: Uuid, person_id: i64) -> StoreResult<Option<Chat>> {
        let s = self.state.read();
        Ok(s.chats
            .by_uuid
            .get(&uuid)
            .and_then(|id| s.chats.chats.get(id))
            .filter(|r| r.participants.contains(&person_id))
            .map(|r| r.chat.clone()))
    }

    async fn list_chats(
        &self,
        person_id: i64,
        filter: &ChatFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ChatSummary>> {
        let s = self.state.read();
        let rows = s
            .chats
            .chats
            .values()
            .rev()
            .filter(|r| page.after.is_none_or(|a| r.chat.id < a))
            .filter(|r| r.participants.contains(&person_id) && filter.matches(&r.chat))
            .take(page.fetch())
            .map(|r| ChatSummary {
                reader: Some(r.read_state(person_id)),
                ..s.chat_summary(r)
            })
            .collect();
        Ok(Page::from_rows(rows, page, |c| c.chat.id))
    }

    async fn insert_messages(
        &self,
        messages: Vec<(NewMessage, Vec<EventEnvelope>)>,
    ) -> Vec<StoreResult<MessageInsert>> {
        let mut s = self.state.write();
        messages
            .iter()
            .map(|(new, events)| s.insert_message(new, events))
            .collect()
    }

    async fn last_message(&self, chat_id: i64) -> StoreResult<Option<Message>> {
        let s = self.state.read();
        Ok(s.chats
            .chats
            .get(&chat_id)
            .and_then(|r| r.by_seq.last_key_value())
            .and_then(|(_, id)| s.chats.messages.get(id))
            .cloned())
    }

    async fn list_messages(
        &self,
        chat_id: i64,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        let s = self.state.read();
        let Some(row) = s.chats.chats.get(&chat_id) else {
            return Ok(Page::empty());
        };
        let from = page.after.map(|a| a + 1).unwrap_or(i64::MIN);
        let rows = row
            .by_seq
            .range(from..)
            .filter_map(|(_, id)| s.chats.messages.get(id))
            .filter(|m| filter.matches(m))
            .take(page.fetch())
            .cloned()
            .collect();
        Ok(Page::from_rows(rows, page, |m| m.seq))
    }
}

impl State {
    /// One message, under the caller's write lock (the CONTACT chat's check included).
    fn insert_message(
        &mut self,
        new: &NewMessage,
        events: &[EventEnvelope],
    ) -> StoreResult<MessageInsert> {
        let s = self;
        // The CONTACT chat's write-time check, under the same lock as the write.
        if let Some(other) = new.contact_of {
            may_post_contact(ContactFacts {
                are_contacts: s.are_contacts(new.sender_id, other),
                other_exists: s.persons.contains_key(&other),
            })
            .map_err(StoreError::Refused)?;
        }
        if !s.chats.chats.contains_key(&new.chat_id) {
            return Err(StoreError::Refused(Refusal::ChatNotFound));
        }
        if let Some(existing) = s
            .chats
            .message_by_uuid
            .get(&new.uuid)
            .and_then(|id| s.chats.messages.get(id))
        {
            return if is_resend(existing, new) {
                Ok(MessageInsert::Existing(existing.clone()))
            } else {
                Err(StoreError::Refused(Refusal::MessageUuidTaken))
            };
        }
        let id = s.next_id("message");
        let row = s
            .chats
            .chats
            .get_mut(&new.chat_id)
            .ok_or(StoreError::Refused(Refusal::ChatNotFound))?;
        let seq = row.next_seq;
        row.next_seq += 1;
        row.chat.updated_at = new.at;
        row.by_seq.insert(seq, id);
        let message = new.stored(id, row.chat.uuid, seq);
        s.chats.messages.insert(id, message.clone());
        s.chats.message_by_uuid.insert(new.uuid, id);
        let chat_uuid = message.chat_uuid;
        s.link_message_assets(new.sender_id, chat_uuid, new.uuid, &new.asset_uuids, new.at);
        s.record(events);
        Ok(MessageInsert::Created(message))
    }
}
