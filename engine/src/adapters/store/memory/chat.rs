use super::{MemoryStore, State};
use crate::domain::chat::{
    Chat, ChatCreated, ChatFilter, ChatSummary, ContactFacts, Message, MessageFilter,
    MessageInsert, NewChat, NewMessage, is_resend, may_post_contact, may_store_from,
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
/// Messages live in their chat's `History`; the uuid index says where.
#[derive(Default)]
pub(crate) struct ChatTables {
    pub chats: BTreeMap<i64, ChatRow>,
    pub by_uuid: HashMap<Uuid, i64>,
    by_pair_key: HashMap<String, i64>,
    message_by_uuid: MessageIndex,
}

/// Message uuid → where the message is, in shards. A hash map grows by moving everything
/// it holds into a table twice the size, at once, under the store's write lock that every
/// chat room needs: one map of every message took 30–45 ms to grow past 229k entries, and
/// at 20k msg/s the engine's p99 showed those stalls at the same seconds of every run
/// (issue 14). A shard grows on its own, moving a 64th of the entries.
///
/// The shards are of unequal shares, not alike: shards that fill alike reach their
/// thresholds together, and 64 growths within a few milliseconds were one stall again
/// (at 100k msg/s, at 458k and 917k messages in every run: p99 of those seconds 100–250
/// ms, of the others 30–50 ms). Shard `i` gets a share proportional to 2^(i/64), so the
/// shards' sizes are spread evenly over one doubling, and their growths over the time
/// the index takes to double.
struct MessageIndex {
    shards: Vec<HashMap<Uuid, MessageAt>>,
    /// `bounds[i]`: the first hash value of shard `i + 1` (hashes are spread over `u64`).
    bounds: Vec<u64>,
}

impl Default for MessageIndex {
    fn default() -> Self {
        let weights: Vec<f64> = (0..Self::SHARDS)
            .map(|i| (i as f64 / Self::SHARDS as f64).exp2())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut cumulative = 0.0;
        let bounds = weights
            .iter()
            .map(|w| {
                cumulative += w;
                // Saturates at u64::MAX for the last shard.
                (cumulative / total * u64::MAX as f64) as u64
            })
            .collect();
        Self {
            shards: (0..Self::SHARDS).map(|_| HashMap::new()).collect(),
            bounds,
        }
    }
}

impl MessageIndex {
    const SHARDS: usize = 64;

    fn shard(&self, uuid: &Uuid) -> usize {
        let (hi, lo) = uuid.as_u64_pair();
        // Any bits will do, spread over u64: the shard only spreads the growing, the map
        // hashes the key. Client uuids may be of any version; mixing both halves keeps
        // version and variant bits from weighing.
        let spread = (hi ^ lo).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.bounds
            .partition_point(|&bound| bound <= spread)
            .min(Self::SHARDS - 1)
    }

    fn get(&self, uuid: &Uuid) -> Option<&MessageAt> {
        self.shards.get(self.shard(uuid))?.get(uuid)
    }

    fn insert(&mut self, uuid: Uuid, at: MessageAt) {
        let shard = self.shard(&uuid);
        if let Some(map) = self.shards.get_mut(shard) {
            map.insert(uuid, at);
        }
    }
}

/// Where a message is: its chat and its `seq` there.
#[derive(Clone, Copy)]
struct MessageAt {
    chat_id: i64,
    seq: i64,
}

/// A chat's messages in `seq` order. `seq` counts from 1 without gaps and messages are
/// never removed, so the position is the index: no tree, no per-message key. Kept in
/// chunks of fixed capacity, so a growing chat never copies what it holds. The embedded
/// engine keeps every message, and at 100k msg/s a `BTreeMap` per message id plus one
/// per chat's seqs cost ≈500 bytes of fresh memory per message: the kernel zeroing those
/// pages was the largest single cost in a `perf` profile (issue 14).
#[derive(Default)]
pub(crate) struct History {
    chunks: Vec<Vec<Message>>,
}

impl History {
    /// 64 messages (≈11 KB): small enough for the allocator's ordinary pages. Chunks of
    /// 1,024 (180 KB) were each a fresh mapping of their own, and as chats fill at like
    /// rates, a hundred of them were mapped and faulted in within the same moment: a
    /// 35–50 ms stall of the store's lock at every 1,024th message (issue 14).
    const CHUNK: usize = 64;

    /// The number of messages (the last `seq`).
    fn len(&self) -> usize {
        match self.chunks.last() {
            Some(last) => (self.chunks.len() - 1) * Self::CHUNK + last.len(),
            None => 0,
        }
    }

    fn push(&mut self, message: Message) {
        match self.chunks.last_mut() {
            Some(chunk) if chunk.len() < Self::CHUNK => chunk.push(message),
            _ => {
                // The first chunk grows as a `Vec` does, so a chat with a few messages
                // holds room for a few; a chat that filled one gets whole chunks.
                let capacity = if self.chunks.is_empty() {
                    0
                } else {
                    Self::CHUNK
                };
                let mut chunk = Vec::with_capacity(capacity);
                chunk.push(message);
                self.chunks.push(chunk);
            }
        }
    }

    /// The message at `seq`, if the chat has it.
    fn get(&self, seq: i64) -> Option<&Message> {
        let index = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.chunks
            .get(index / Self::CHUNK)?
            .get(index % Self::CHUNK)
    }

    fn last(&self) -> Option<&Message> {
        self.chunks.last().and_then(|c| c.last())
    }

    /// The messages from `seq` on (all of them from any `seq` below 1), found by index:
    /// a page deep in a long history costs what a first page does.
    fn starting_at(&self, seq: i64) -> impl Iterator<Item = &Message> {
        let index = usize::try_from(seq.saturating_sub(1)).unwrap_or(0);
        let (first, offset) = (index / Self::CHUNK, index % Self::CHUNK);
        self.chunks
            .get(first..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .flat_map(move |(k, chunk)| {
                let from = if k == 0 { offset.min(chunk.len()) } else { 0 };
                &chunk[from..]
            })
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Message> {
        self.chunks.iter_mut().flatten()
    }
}

pub(crate) struct ChatRow {
    pub chat: Chat,
    /// Person ids, in the order they joined.
    pub participants: Vec<i64>,
    /// The chat's messages.
    history: History,
    /// person id → the highest seq they have read (absent: 0), as `chat_participant.read_seq`.
    pub read: HashMap<i64, i64>,
}

impl ChatRow {
    /// The chat's last seq (0 before its first message).
    pub fn last_seq(&self) -> i64 {
        self.history.len() as i64
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
        self.message_by_uuid.get(&message_uuid).map(|at| at.chat_id)
    }

    fn message(&self, at: MessageAt) -> Option<&Message> {
        self.chats.get(&at.chat_id)?.history.get(at.seq)
    }
}

impl State {
    fn chat_summary(&self, row: &ChatRow) -> ChatSummary {
        ChatSummary {
            chat: row.chat.clone(),
            participants: self.participants_of(row),
            last_message: row.history.last().cloned(),
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
            for m in row.history.iter_mut() {
                if m.sender_id == Some(person_id) {
                    m.sender_id = None;
                }
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
                participants,
                history: History::default(),
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
            .and_then(|r| r.history.last())
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
        let from = page.after.map_or(1, |a| a.saturating_add(1));
        let rows = row
            .history
            .starting_at(from)
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
        // The sender's and the CONTACT chat's write-time checks, under the same lock as
        // the write (an account's deletion takes it too).
        may_store_from(s.persons.contains_key(&new.sender_id)).map_err(StoreError::Refused)?;
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
            .and_then(|at| s.chats.message(*at))
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
        // `seq` is the position in the history: the next one is one past its length.
        let seq = row.last_seq() + 1;
        row.chat.updated_at = new.at;
        let message = new.stored(id, row.chat.uuid, seq);
        row.history.push(message.clone());
        s.chats.message_by_uuid.insert(
            new.uuid,
            MessageAt {
                chat_id: new.chat_id,
                seq,
            },
        );
        let chat_uuid = message.chat_uuid;
        s.link_message_assets(new.sender_id, chat_uuid, new.uuid, &new.asset_uuids, new.at);
        s.record(events);
        Ok(MessageInsert::Created(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_shards_fill_at_spread_shares_and_find_every_message() {
        let mut index = MessageIndex::default();
        let uuids: Vec<Uuid> = (0..128_000).map(|_| Uuid::new_v4()).collect();
        for (seq, uuid) in uuids.iter().enumerate() {
            index.insert(
                *uuid,
                MessageAt {
                    chat_id: 1,
                    seq: seq as i64,
                },
            );
        }
        let sizes: Vec<usize> = index.shards.iter().map(HashMap::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), uuids.len());
        // Expected shares: 2^(i/64) / Σ, i.e. about 1,385 for the first and 2,755 for
        // the last of 128k; a sampling spread of a few percent.
        let (first, last) = (sizes[0] as f64, sizes[63] as f64);
        assert!((1_200.0..1_600.0).contains(&first), "{sizes:?}");
        assert!((2_500.0..3_000.0).contains(&last), "{sizes:?}");
        // The sizes span one doubling, so the shards' growths span the index's.
        let ratio = last / first;
        assert!((1.7..2.3).contains(&ratio), "{ratio}");
        for (seq, uuid) in uuids.iter().enumerate().step_by(997) {
            assert_eq!(index.get(uuid).map(|at| at.seq), Some(seq as i64));
        }
        assert!(index.get(&Uuid::new_v4()).is_none());
    }

    fn message(seq: i64) -> Message {
        let at = crate::domain::time::now();
        Message {
            id: seq * 10,
            uuid: Uuid::new_v4(),
            chat_id: 1,
            chat_uuid: Uuid::nil(),
            sender_id: Some(7),
            sender_uuid: Uuid::nil(),
            message_content: format!("m{seq}"),
            asset_uuids: Vec::new(),
            seq,
            created_at: at,
            updated_at: at,
        }
    }

    fn seqs<'a>(it: impl Iterator<Item = &'a Message>) -> Vec<i64> {
        it.map(|m| m.seq).collect()
    }

    #[test]
    fn a_history_finds_every_seq_across_its_chunks() {
        let mut h = History::default();
        assert_eq!(h.len(), 0);
        assert!(h.last().is_none() && h.get(1).is_none());
        assert!(h.starting_at(1).next().is_none());
        let n = 2 * History::CHUNK as i64 + 5;
        for seq in 1..=n {
            h.push(message(seq));
            assert_eq!(h.len() as i64, seq);
        }
        let c = History::CHUNK as i64;
        for seq in [1, 2, c - 1, c, c + 1, 2 * c, 2 * c + 1, n] {
            assert_eq!(h.get(seq).map(|m| m.seq), Some(seq), "get({seq})");
        }
        for seq in [0, -1, n + 1, i64::MIN, i64::MAX] {
            assert!(h.get(seq).is_none(), "get({seq})");
        }
        assert_eq!(h.last().map(|m| m.seq), Some(n));
        assert_eq!(
            seqs(h.starting_at(c - 4).take(8)),
            (c - 4..c + 4).collect::<Vec<_>>()
        );
        assert_eq!(
            seqs(h.starting_at(2 * c - 1).take(3)),
            vec![2 * c - 1, 2 * c, 2 * c + 1]
        );
        assert_eq!(seqs(h.starting_at(n - 1)), vec![n - 1, n]);
        assert_eq!(seqs(h.starting_at(-5).take(2)), vec![1, 2]);
        assert!(h.starting_at(n + 1).next().is_none());
        assert!(h.starting_at(i64::MAX).next().is_none());
        assert_eq!(h.starting_at(1).count() as i64, n);
        for m in h.iter_mut() {
            m.sender_id = None;
        }
        assert!(h.starting_at(1).all(|m| m.sender_id.is_none()));
    }
}
