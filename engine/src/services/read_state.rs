//! Read state of chats (issue 15): read positions, unread counts, receipts, typing.
//!
//! Positions are coalesced: markRead (and sending a message, which reads the chat up to
//! it) only records the highest seq per chat and person in memory; a tracked task writes
//! everything pending in ONE batched store call per `chat.read_flush_ms` window, and once
//! more at shutdown. Reads merge what is pending (and what a flush is writing), so a node
//! answers its own writes at once. Positions only move forward, so a lost race between
//! two nodes' flushes is harmless (the store keeps the greatest). A crash loses at most
//! one window of positions: clients mark read again on their next view.
//!
//! Typing is never stored: a per-node throttle forwards at most one per person and chat
//! every [`read_state::TYPING_EVERY`].

use crate::domain::people::PersonIds;
use crate::domain::read_state::{self, ChatReadState, ReadFacts, ReadPosition};
use crate::domain::refusal::Refusal;
use crate::error::{Error, Result};
use crate::ports::Store;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Typing throttle entries kept at most before old ones are pruned.
const TYPING_ENTRIES: usize = 10_000;

/// The outcome of a markRead.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadMarked {
    pub chat_uuid: Uuid,
    /// The reader's position after the request (unchanged when it did not move).
    pub seq: i64,
    /// Who gets the `read` frame (the reader first, for their other devices); empty
    /// when the position did not move.
    pub recipients: Vec<Uuid>,
}

/// One chat's unread count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatUnread {
    pub chat_id: i64,
    pub chat_uuid: Uuid,
    pub unread: i64,
}

type Key = (i64, i64);

#[derive(Default)]
struct Pending {
    /// (chat id, person id) → highest seq not yet handed to the store.
    waiting: HashMap<Key, i64>,
    /// What the running flush is writing (kept visible to reads until it is stored).
    writing: HashMap<Key, i64>,
}

impl Pending {
    fn get(&self, key: &Key) -> i64 {
        let a = self.waiting.get(key).copied().unwrap_or(0);
        let b = self.writing.get(key).copied().unwrap_or(0);
        a.max(b)
    }
}

struct Inner {
    store: Arc<dyn Store>,
    pending: Mutex<Pending>,
    /// Serializes flushes (the timer's and shutdown's).
    flushing: tokio::sync::Mutex<()>,
    typing: Mutex<HashMap<(Uuid, Uuid), Instant>>,
    flush_every: Duration,
}

#[derive(Clone)]
pub struct ReadStateService {
    inner: Arc<Inner>,
}

impl ReadStateService {
    pub fn new(store: Arc<dyn Store>, flush_every: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                pending: Mutex::new(Pending::default()),
                flushing: tokio::sync::Mutex::new(()),
                typing: Mutex::new(HashMap::new()),
                flush_every: flush_every.max(Duration::from_millis(1)),
            }),
        }
    }

    /// Records a position to write with the next flush (the highest wins).
    fn note(&self, chat_id: i64, person_id: i64, seq: i64) {
        let mut p = self.inner.pending.lock();
        let e = p.waiting.entry((chat_id, person_id)).or_insert(0);
        *e = (*e).max(seq);
    }

    /// A sender has read their chat up to their own message.
    pub fn note_sent(&self, chat_id: i64, person_id: i64, seq: i64) {
        self.note(chat_id, person_id, seq);
    }

    /// The read facts of `chat_uuid` for `person_id`: 404 for a chat they are not in.
    async fn facts(&self, chat_uuid: Uuid, person_id: i64) -> Result<ReadFacts> {
        self.inner
            .store
            .read_facts(chat_uuid, person_id)
            .await?
            .ok_or(Error::Refused(Refusal::ChatNotFound))
    }

    /// `markRead` / `PATCH /chats/{chatUuid}/read`: moves `me`'s position forward to
    /// `seq` (clamped to the chat's last). 404 for a chat `me` is not in.
    #[tracing::instrument(name = "read_state.mark_read", skip_all, fields(%chat_uuid, seq))]
    pub async fn mark_read(
        &self,
        me: impl Into<PersonIds> + Send,
        chat_uuid: Uuid,
        seq: i64,
    ) -> Result<ReadMarked> {
        let me: PersonIds = me.into();
        let facts = self.facts(chat_uuid, me.id).await?;
        let key = (facts.state.chat_id, me.id);
        let current = facts
            .state
            .read_seq
            .max(self.inner.pending.lock().get(&key));
        let Some(to) = read_state::advance(current, seq, facts.state.last_seq) else {
            return Ok(ReadMarked {
                chat_uuid,
                seq: current,
                recipients: Vec::new(),
            });
        };
        {
            // Checked again under the lock: of two concurrent marks, one moves it.
            let mut p = self.inner.pending.lock();
            if p.get(&key) >= to {
                return Ok(ReadMarked {
                    chat_uuid,
                    seq: p.get(&key),
                    recipients: Vec::new(),
                });
            }
            p.waiting.insert(key, to);
        }
        Ok(ReadMarked {
            chat_uuid,
            seq: to,
            recipients: read_state::receipt_recipients(me.uuid, &facts.participants),
        })
    }

    /// `typing`: the other participants to tell, or `None` when throttled (dropped
    /// silently). 404 for a chat `me` is not in.
    pub async fn typing(
        &self,
        me: impl Into<PersonIds> + Send,
        chat_uuid: Uuid,
    ) -> Result<Option<Vec<Uuid>>> {
        let me: PersonIds = me.into();
        let now = Instant::now();
        {
            let mut typing = self.inner.typing.lock();
            let key = (chat_uuid, me.uuid);
            let since = typing.get(&key).map(|t| now.saturating_duration_since(*t));
            if !read_state::typing_forwarded(since) {
                return Ok(None);
            }
            if typing.len() >= TYPING_ENTRIES {
                typing.retain(|_, t| now.saturating_duration_since(*t) < read_state::TYPING_EVERY);
            }
            typing.insert(key, now);
        }
        let facts = self.facts(chat_uuid, me.id).await?;
        Ok(Some(
            facts
                .participants
                .iter()
                .filter(|p| p.person_id != me.id)
                .map(|p| p.person_uuid)
                .collect(),
        ))
    }

    /// Unread counts from read states already read (`GET /chats` has them with its
    /// page), with this node's marks not yet written merged in.
    pub fn unread_from(&self, person_id: i64, states: Vec<ChatReadState>) -> Vec<ChatUnread> {
        let p = self.inner.pending.lock();
        states
            .into_iter()
            .map(|s| ChatUnread {
                chat_id: s.chat_id,
                chat_uuid: s.chat_uuid,
                unread: read_state::unread(
                    s.last_seq,
                    s.read_seq.max(p.get(&(s.chat_id, person_id))),
                ),
            })
            .collect()
    }

    /// Unread counts of these chats of `person_id` (one store call for all of them).
    pub async fn unread_in(&self, person_id: i64, chat_ids: &[i64]) -> Result<Vec<ChatUnread>> {
        if chat_ids.is_empty() {
            return Ok(Vec::new());
        }
        let states = self
            .inner
            .store
            .read_states(person_id, Some(chat_ids))
            .await?;
        Ok(self.unread_from(person_id, states))
    }

    /// `GET /chats/unread`: the total and the chats with something unread, most unread
    /// first (ties: newest chat first).
    pub async fn unread(&self, person_id: i64) -> Result<(i64, Vec<ChatUnread>)> {
        let states = self.inner.store.read_states(person_id, None).await?;
        let mut chats: Vec<ChatUnread> = self
            .unread_from(person_id, states)
            .into_iter()
            .filter(|c| c.unread > 0)
            .collect();
        chats.sort_by(|a, b| b.unread.cmp(&a.unread).then(b.chat_id.cmp(&a.chat_id)));
        Ok((chats.iter().map(|c| c.unread).sum(), chats))
    }

    /// A push badge: the person's total unread; `None` when it cannot be read (the push
    /// goes without a badge rather than not at all).
    pub async fn badge(&self, person_uuid: Uuid) -> Option<i64> {
        let person = self.inner.store.person_by_uuid(person_uuid).await.ok()??;
        match self.unread(person.id).await {
            Ok((total, _)) => Some(total),
            Err(e) => {
                tracing::warn!(person = %person_uuid, error = %e, "badge not computed");
                None
            }
        }
    }

    pub async fn receipts(&self, person_id: i64) -> Result<bool> {
        Ok(self.inner.store.read_receipts(person_id).await?)
    }

    pub async fn set_receipts(&self, person_id: i64, on: bool) -> Result<()> {
        Ok(self.inner.store.set_read_receipts(person_id, on).await?)
    }

    /// Writes every pending position in one store call. On failure they go back to
    /// pending (merged with anything newer) for the next round.
    pub async fn flush(&self) -> Result<usize> {
        let _one = self.inner.flushing.lock().await;
        let batch: Vec<ReadPosition> = {
            let mut p = self.inner.pending.lock();
            if p.waiting.is_empty() {
                return Ok(0);
            }
            p.writing = std::mem::take(&mut p.waiting);
            p.writing
                .iter()
                .map(|(&(chat_id, person_id), &seq)| ReadPosition {
                    chat_id,
                    person_id,
                    seq,
                })
                .collect()
        };
        let result = self.inner.store.save_read_positions(&batch).await;
        let mut p = self.inner.pending.lock();
        let writing = std::mem::take(&mut p.writing);
        if result.is_err() {
            for (key, seq) in writing {
                let e = p.waiting.entry(key).or_insert(0);
                *e = (*e).max(seq);
            }
        }
        result?;
        Ok(batch.len())
    }

    /// The flush task: one flush per window until `stop`, then a last one.
    pub async fn run(self, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.inner.flush_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => break,
            }
            if let Err(e) = self.flush().await {
                tracing::warn!(error = %e, "read positions not written; retried next window");
            }
        }
        if let Err(e) = self.flush().await {
            tracing::warn!(error = %e, "read positions not written at shutdown");
        }
    }
}
