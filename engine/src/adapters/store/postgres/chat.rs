use super::message_writer::{Job, Pending, write_one};
use super::people::{PERSON_COLS, person_from};
use super::shape::Shape;
use super::{PgStore, Sql, map_err, record};
use crate::domain::chat::{
    Chat, ChatCreated, ChatFilter, ChatSummary, ChatType, Message, MessageFilter, MessageInsert,
    NewChat, NewMessage,
};
use crate::domain::people::Person;
use crate::domain::read_state::ChatReadState;
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::{ChatStore, QueuedInserts};
use async_trait::async_trait;
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

const CHAT_COLS: &str = "c.id, c.uuid, c.chat_type, c.listing_uuid, c.description, c.pair_key, c.created_at, c.updated_at";
/// Needs `JOIN chat c ON c.id = m.chat_id`.
pub(super) const MESSAGE_COLS: &str = "m.id, m.uuid, m.chat_id, c.uuid, m.sender_id, m.sender_uuid, m.message_content, \
     m.dto_asset_uuids, m.seq, m.created_at, m.updated_at";

fn chat_from(r: &Row, at: usize) -> StoreResult<Chat> {
    let kind: String = r.get(at + 2);
    Ok(Chat {
        id: r.get(at),
        uuid: r.get(at + 1),
        chat_type: ChatType::parse(&kind).map_err(StoreError::Internal)?,
        listing_uuid: r.get(at + 3),
        description: r.get(at + 4),
        pair_key: r.get(at + 5),
        created_at: r.get(at + 6),
        updated_at: r.get(at + 7),
    })
}

pub(super) fn message_from(r: &Row, at: usize) -> StoreResult<Message> {
    let assets: serde_json::Value = r.get(at + 7);
    let asset_uuids = match assets {
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| StoreError::Internal("dto_asset_uuids holds a non-uuid".into()))
            })
            .collect::<StoreResult<Vec<_>>>()?,
        _ => Vec::new(),
    };
    Ok(Message {
        id: r.get(at),
        uuid: r.get(at + 1),
        chat_id: r.get(at + 2),
        chat_uuid: r.get(at + 3),
        sender_id: r.get(at + 4),
        sender_uuid: r.get(at + 5),
        message_content: r.get(at + 6),
        asset_uuids,
        seq: r.get(at + 8),
        created_at: r.get(at + 9),
        updated_at: r.get(at + 10),
    })
}

/// A participant that is not a person is the caller's mistake to report as 404, the
/// same way the in-memory store does.
fn participant_err(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) {
        StoreError::Refused(Refusal::PersonNotFound)
    } else {
        map_err(e)
    }
}

#[async_trait]
impl ChatStore for PgStore {
    async fn create_chat(
        &self,
        new: &NewChat,
        events: &[EventEnvelope],
    ) -> StoreResult<ChatCreated> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // ON CONFLICT on the pair key: of two racing creates, one inserts and the other
        // waits for it, then finds its row below. No second chat, no error.
        let inserted = tx
            .fetch_opt(
                &format!(
                    "INSERT INTO chat AS c (uuid, chat_type, listing_uuid, description, pair_key, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (pair_key) DO NOTHING RETURNING {CHAT_COLS}"
                ),
                &[
                    &new.uuid,
                    &new.chat_type.as_str(),
                    &new.listing_uuid,
                    &new.description,
                    &new.pair_key,
                    &new.at,
                ],
                |r| chat_from(r, 0),
            )
            .await?;
        let Some(chat) = inserted else {
            let chat = tx
                .fetch_one(
                    &format!("SELECT {CHAT_COLS} FROM chat c WHERE c.pair_key = $1"),
                    &[&new.pair_key],
                    |r| chat_from(r, 0),
                )
                .await?;
            return Ok(ChatCreated {
                chat,
                created: false,
            });
        };
        let stmt = tx
            .statement(
                "INSERT INTO chat_participant (uuid, chat_id, participant_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (chat_id, participant_id) DO NOTHING",
            )
            .await?;
        for person_id in &new.participant_ids {
            tx.execute(&stmt, &[&Uuid::new_v4(), &chat.id, person_id, &new.at])
                .await
                .map_err(participant_err)?;
        }
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(ChatCreated {
            chat,
            created: true,
        })
    }

    async fn chat_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Chat>> {
        self.fetch_opt(
            &format!("SELECT {CHAT_COLS} FROM chat c WHERE c.uuid = $1"),
            &[&uuid],
            |r| chat_from(r, 0),
        )
        .await
    }

    async fn chat_participants(&self, chat_id: i64) -> StoreResult<Vec<Person>> {
        self.fetch_all(
            &format!(
                "SELECT {PERSON_COLS} FROM chat_participant cp JOIN person p ON p.id = cp.participant_id \
                 JOIN account a ON a.id = p.account_id WHERE cp.chat_id = $1 ORDER BY cp.id"
            ),
            &[&chat_id],
            |r| Ok(person_from(r, 0)),
        )
        .await
    }

    async fn is_participant(&self, chat_id: i64, person_id: i64) -> StoreResult<bool> {
        self.fetch_one(
            "SELECT EXISTS (SELECT 1 FROM chat_participant WHERE chat_id = $1 AND participant_id = $2)",
            &[&chat_id, &person_id],
            |r| Ok(r.get(0)),
        )
        .await
    }

    async fn chat_of_participant(&self, uuid: Uuid, person_id: i64) -> StoreResult<Option<Chat>> {
        self.fetch_opt(
            &format!(
                "SELECT {CHAT_COLS} FROM chat c JOIN chat_participant me \
                 ON me.chat_id = c.id AND me.participant_id = $2 WHERE c.uuid = $1"
            ),
            &[&uuid, &person_id],
            |r| chat_from(r, 0),
        )
        .await
    }

    async fn list_chats(
        &self,
        person_id: i64,
        filter: &ChatFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ChatSummary>> {
        let client = self.client().await?;
        // Three queries for the whole page (chats, their participants, their last
        // messages), never one per chat, each O(page) whatever the histories' length.
        // Only the filters present are written (see `shape`), and the cursor is on
        // `me.chat_id`: the page is a backward range of (participant_id, chat_id).
        let chat_type = filter.chat_type.map(|t| t.as_str());
        let limit = page.fetch() as i64;
        let mut shape = Shape::new();
        let me = shape.param(&person_id);
        shape.and(format!("me.participant_id = ${me}"));
        shape.and_some(&page.after, |n| format!("me.chat_id < ${n}"));
        shape.and_some(&chat_type, |n| format!("c.chat_type = ${n}"));
        shape.and_some(&filter.listing_uuid, |n| format!("c.listing_uuid = ${n}"));
        let n = shape.param(&limit);
        let chats = client
            .fetch_all(
                &format!(
                    "SELECT {CHAT_COLS}, c.next_seq - 1, me.read_seq \
                     FROM chat_participant me JOIN chat c ON c.id = me.chat_id \
                     WHERE {conditions} ORDER BY me.chat_id DESC LIMIT ${n}",
                    conditions = shape.conditions()
                ),
                shape.params(),
                |r| {
                    let chat = chat_from(r, 0)?;
                    let reader = ChatReadState {
                        chat_id: chat.id,
                        chat_uuid: chat.uuid,
                        last_seq: r.get(8),
                        read_seq: r.get(9),
                    };
                    Ok((chat, reader))
                },
            )
            .await?;
        if chats.is_empty() {
            return Ok(Page::empty());
        }
        let ids: Vec<i64> = chats.iter().map(|(c, _)| c.id).collect();
        // Participants and last messages depend only on the page: both statements go
        // out together on the one connection (tokio-postgres pipelines them), one round
        // trip for the two.
        let participants_sql = format!(
            "SELECT cp.chat_id, {PERSON_COLS} FROM chat_participant cp JOIN person p ON p.id = cp.participant_id \
             JOIN account a ON a.id = p.account_id WHERE cp.chat_id = ANY($1) ORDER BY cp.id"
        );
        // The newest message of each chat: one backward step on (chat_id, seq) per
        // chat, whatever the length of its history.
        let last_sql = format!(
            "SELECT {MESSAGE_COLS} FROM chat c CROSS JOIN LATERAL \
             (SELECT * FROM message m WHERE m.chat_id = c.id ORDER BY m.seq DESC LIMIT 1) m \
             WHERE c.id = ANY($1)"
        );
        let by_ids: [&(dyn ToSql + Sync); 1] = [&ids];
        let (rows, last) = tokio::try_join!(
            client.fetch_all(&participants_sql, &by_ids, |r| Ok((
                r.get::<_, i64>(0),
                person_from(r, 1)
            ))),
            client.fetch_all(&last_sql, &by_ids, |r| message_from(r, 0)
                .map(|m| (m.chat_id, m))),
        )?;
        let mut participants: HashMap<i64, Vec<Person>> = HashMap::new();
        for (chat_id, person) in rows {
            participants.entry(chat_id).or_default().push(person);
        }
        let mut last: HashMap<i64, Message> = last.into_iter().collect();
        let items = chats
            .into_iter()
            .map(|(chat, reader)| ChatSummary {
                participants: participants.remove(&chat.id).unwrap_or_default(),
                last_message: last.remove(&chat.id),
                reader: Some(reader),
                chat,
            })
            .collect();
        Ok(Page::from_rows(items, page, |c| c.chat.id))
    }

    async fn insert_messages(
        &self,
        messages: Vec<(NewMessage, Vec<EventEnvelope>)>,
    ) -> Vec<StoreResult<MessageInsert>> {
        self.queue_messages(messages).await.outcomes().await
    }

    async fn queue_messages(
        &self,
        messages: Vec<(NewMessage, Vec<EventEnvelope>)>,
    ) -> QueuedInserts {
        let mut pending: Vec<Pending> = messages
            .into_iter()
            .map(|(new, events)| Pending { new, events })
            .collect();
        // Through the writers (group commit) while they run: one job, to the writer of
        // the (first) message's chat, so the messages land in one batch in this order,
        // after the chat's earlier jobs. Without them (a store used outside an
        // engine, or after shutdown) one transaction per message, now.
        let writers = self.writer.lock().clone();
        let queue = pending
            .first()
            .and_then(|p| writers.as_ref()?.for_chat(p.new.chat_id).cloned());
        if let Some(queue) = queue {
            let n = pending.len();
            let (reply, outcomes) = oneshot::channel();
            match queue.send(Job { pending, reply }).await {
                Ok(()) => {
                    return QueuedInserts::later(async move {
                        match outcomes.await {
                            Ok(outcomes) => outcomes,
                            Err(_) => std::iter::repeat_with(|| {
                                Err(StoreError::Unavailable(
                                    "the message writer stopped before answering".into(),
                                ))
                            })
                            .take(n)
                            .collect(),
                        }
                    });
                }
                Err(mpsc::error::SendError(job)) => pending = job.pending,
            }
        }
        let mut outcomes = Vec::with_capacity(pending.len());
        for p in &pending {
            outcomes.push(write_one(&self.pool, p).await);
        }
        QueuedInserts::ready(outcomes)
    }

    async fn last_message(&self, chat_id: i64) -> StoreResult<Option<Message>> {
        self.fetch_opt(
            &format!(
                "SELECT {MESSAGE_COLS} FROM message m JOIN chat c ON c.id = m.chat_id \
                 WHERE m.chat_id = $1 ORDER BY m.seq DESC LIMIT 1"
            ),
            &[&chat_id],
            |r| message_from(r, 0),
        )
        .await
    }

    async fn list_messages(
        &self,
        chat_id: i64,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        // Only the filters present are written (see `shape`): the cursor stays in the
        // (chat_id, seq) index range under a generic plan.
        let limit = page.fetch() as i64;
        let mut shape = Shape::new();
        let chat = shape.param(&chat_id);
        shape.and(format!("m.chat_id = ${chat}"));
        shape.and_some(&page.after, |n| format!("m.seq > ${n}"));
        shape.and_some(&filter.updated_at_start, |n| {
            format!("m.updated_at >= ${n}")
        });
        shape.and_some(&filter.updated_at_end, |n| format!("m.updated_at <= ${n}"));
        let n = shape.param(&limit);
        let items = self
            .fetch_all(
                &format!(
                    "SELECT {MESSAGE_COLS} FROM message m JOIN chat c ON c.id = m.chat_id \
                     WHERE {conditions} ORDER BY m.seq LIMIT ${n}",
                    conditions = shape.conditions()
                ),
                shape.params(),
                |r| message_from(r, 0),
            )
            .await?;
        Ok(Page::from_rows(items, page, |m| m.seq))
    }
}
