use super::people::{PERSON_COLS, person_from};
use super::{PgStore, map_err, record};
use crate::adapters::store::msg;
use crate::domain::chat::{
    Chat, ChatCreated, ChatFilter, ChatSummary, ChatType, Message, MessageFilter, MessageInsert,
    NewChat, NewMessage, is_resend,
};
use crate::domain::people::Person;
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::ChatStore;
use async_trait::async_trait;
use std::collections::HashMap;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

const CHAT_COLS: &str = "c.id, c.uuid, c.chat_type, c.listing_uuid, c.description, c.pair_key, c.created_at, c.updated_at";
/// Needs `JOIN chat c ON c.id = m.chat_id`.
const MESSAGE_COLS: &str = "m.id, m.uuid, m.chat_id, c.uuid, m.sender_id, m.sender_uuid, m.message_content, \
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

fn message_from(r: &Row, at: usize) -> StoreResult<Message> {
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
        StoreError::NotFound(msg::PERSON_NOT_FOUND.into())
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
        let stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO chat AS c (uuid, chat_type, listing_uuid, description, pair_key, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (pair_key) DO NOTHING RETURNING {CHAT_COLS}"
            ))
            .await
            .map_err(map_err)?;
        let inserted = tx
            .query_opt(
                &stmt,
                &[
                    &new.uuid,
                    &new.chat_type.as_str(),
                    &new.listing_uuid,
                    &new.description,
                    &new.pair_key,
                    &new.at,
                ],
            )
            .await
            .map_err(map_err)?;
        let Some(row) = inserted else {
            let stmt = tx
                .prepare_cached(&format!(
                    "SELECT {CHAT_COLS} FROM chat c WHERE c.pair_key = $1"
                ))
                .await
                .map_err(map_err)?;
            let row = tx
                .query_one(&stmt, &[&new.pair_key])
                .await
                .map_err(map_err)?;
            return Ok(ChatCreated {
                chat: chat_from(&row, 0)?,
                created: false,
            });
        };
        let chat = chat_from(&row, 0)?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO chat_participant (uuid, chat_id, participant_id, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $4) ON CONFLICT (chat_id, participant_id) DO NOTHING",
            )
            .await
            .map_err(map_err)?;
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
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!("SELECT {CHAT_COLS} FROM chat c WHERE c.uuid = $1"))
            .await
            .map_err(map_err)?;
        client
            .query_opt(&stmt, &[&uuid])
            .await
            .map_err(map_err)?
            .map(|r| chat_from(&r, 0))
            .transpose()
    }

    async fn chat_participants(&self, chat_id: i64) -> StoreResult<Vec<Person>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {PERSON_COLS} FROM chat_participant cp JOIN person p ON p.id = cp.participant_id \
                 JOIN account a ON a.id = p.account_id WHERE cp.chat_id = $1 ORDER BY cp.id"
            ))
            .await
            .map_err(map_err)?;
        Ok(client
            .query(&stmt, &[&chat_id])
            .await
            .map_err(map_err)?
            .iter()
            .map(|r| person_from(r, 0))
            .collect())
    }

    async fn is_participant(&self, chat_id: i64, person_id: i64) -> StoreResult<bool> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM chat_participant WHERE chat_id = $1 AND participant_id = $2)",
            )
            .await
            .map_err(map_err)?;
        Ok(client
            .query_one(&stmt, &[&chat_id, &person_id])
            .await
            .map_err(map_err)?
            .get(0))
    }

    async fn list_chats(
        &self,
        person_id: i64,
        filter: &ChatFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<ChatSummary>> {
        let client = self.client().await?;
        // Three queries for the whole page (chats, their participants, their last
        // messages), never one per chat.
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {CHAT_COLS} FROM chat_participant me JOIN chat c ON c.id = me.chat_id \
                 WHERE me.participant_id = $1 AND ($2::bigint IS NULL OR c.id < $2) \
                   AND ($3::text IS NULL OR c.chat_type = $3) \
                   AND ($4::uuid IS NULL OR c.listing_uuid = $4) \
                 ORDER BY c.id DESC LIMIT $5"
            ))
            .await
            .map_err(map_err)?;
        let chat_type = filter.chat_type.map(|t| t.as_str());
        let rows = client
            .query(
                &stmt,
                &[
                    &person_id,
                    &page.after,
                    &chat_type,
                    &filter.listing_uuid,
                    &(page.fetch() as i64),
                ],
            )
            .await
            .map_err(map_err)?;
        let chats = rows
            .iter()
            .map(|r| chat_from(r, 0))
            .collect::<StoreResult<Vec<_>>>()?;
        if chats.is_empty() {
            return Ok(Page::empty());
        }
        let ids: Vec<i64> = chats.iter().map(|c| c.id).collect();
        let stmt = client
            .prepare_cached(&format!(
                "SELECT cp.chat_id, {PERSON_COLS} FROM chat_participant cp JOIN person p ON p.id = cp.participant_id \
                 JOIN account a ON a.id = p.account_id WHERE cp.chat_id = ANY($1) ORDER BY cp.id"
            ))
            .await
            .map_err(map_err)?;
        let mut participants: HashMap<i64, Vec<Person>> = HashMap::new();
        for r in client.query(&stmt, &[&ids]).await.map_err(map_err)? {
            participants
                .entry(r.get(0))
                .or_default()
                .push(person_from(&r, 1));
        }
        let stmt = client
            .prepare_cached(&format!(
                "SELECT DISTINCT ON (m.chat_id) {MESSAGE_COLS} FROM message m JOIN chat c ON c.id = m.chat_id \
                 WHERE m.chat_id = ANY($1) ORDER BY m.chat_id, m.seq DESC"
            ))
            .await
            .map_err(map_err)?;
        let mut last: HashMap<i64, Message> = HashMap::new();
        for r in client.query(&stmt, &[&ids]).await.map_err(map_err)? {
            let m = message_from(&r, 0)?;
            last.insert(m.chat_id, m);
        }
        let items = chats
            .into_iter()
            .map(|chat| ChatSummary {
                participants: participants.remove(&chat.id).unwrap_or_default(),
                last_message: last.remove(&chat.id),
                chat,
            })
            .collect();
        Ok(Page::from_rows(items, page, |c| c.chat.id))
    }

    async fn insert_message(
        &self,
        new: &NewMessage,
        events: &[EventEnvelope],
    ) -> StoreResult<MessageInsert> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        // Taking the seq first locks the chat row: messages of one chat are stored one
        // at a time, so a resend racing its original finds it below.
        let stmt = tx
            .prepare_cached(
                "UPDATE chat SET next_seq = next_seq + 1, updated_at = $2 WHERE id = $1 RETURNING next_seq - 1, uuid",
            )
            .await
            .map_err(map_err)?;
        let Some(row) = tx
            .query_opt(&stmt, &[&new.chat_id, &new.at])
            .await
            .map_err(map_err)?
        else {
            return Err(StoreError::NotFound(msg::CHAT_NOT_FOUND.into()));
        };
        let seq: i64 = row.get(0);
        let chat_uuid: Uuid = row.get(1);
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLS} FROM message m JOIN chat c ON c.id = m.chat_id WHERE m.uuid = $1"
            ))
            .await
            .map_err(map_err)?;
        if let Some(r) = tx.query_opt(&stmt, &[&new.uuid]).await.map_err(map_err)? {
            let existing = message_from(&r, 0)?;
            // Dropping the transaction rolls the seq back: a resend takes no number.
            return if is_resend(&existing, new) {
                Ok(MessageInsert::Existing(existing))
            } else {
                Err(StoreError::Conflict(msg::MESSAGE_UUID_TAKEN.into()))
            };
        }
        let assets = serde_json::Value::Array(
            new.asset_uuids
                .iter()
                .map(|u| serde_json::Value::String(u.to_string()))
                .collect(),
        );
        let stmt = tx
            .prepare_cached(
                "INSERT INTO message (uuid, chat_id, sender_id, sender_uuid, message_content, dto_asset_uuids, seq, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
            )
            .await
            .map_err(map_err)?;
        let row = tx
            .query_one(
                &stmt,
                &[
                    &new.uuid,
                    &new.chat_id,
                    &new.sender_id,
                    &new.sender_uuid,
                    &new.message_content,
                    &assets,
                    &seq,
                    &new.at,
                ],
            )
            .await
            .map_err(map_err)?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(MessageInsert::Created(Message {
            id: row.get(0),
            uuid: new.uuid,
            chat_id: new.chat_id,
            chat_uuid,
            sender_id: Some(new.sender_id),
            sender_uuid: new.sender_uuid,
            message_content: new.message_content.clone(),
            asset_uuids: new.asset_uuids.clone(),
            seq,
            created_at: new.at,
            updated_at: new.at,
        }))
    }

    async fn last_message(&self, chat_id: i64) -> StoreResult<Option<Message>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLS} FROM message m JOIN chat c ON c.id = m.chat_id \
                 WHERE m.chat_id = $1 ORDER BY m.seq DESC LIMIT 1"
            ))
            .await
            .map_err(map_err)?;
        client
            .query_opt(&stmt, &[&chat_id])
            .await
            .map_err(map_err)?
            .map(|r| message_from(&r, 0))
            .transpose()
    }

    async fn list_messages(
        &self,
        chat_id: i64,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLS} FROM message m JOIN chat c ON c.id = m.chat_id \
                 WHERE m.chat_id = $1 AND ($2::bigint IS NULL OR m.seq > $2) \
                   AND ($3::timestamptz IS NULL OR m.updated_at >= $3) \
                   AND ($4::timestamptz IS NULL OR m.updated_at <= $4) \
                 ORDER BY m.seq LIMIT $5"
            ))
            .await
            .map_err(map_err)?;
        let rows = client
            .query(
                &stmt,
                &[
                    &chat_id,
                    &page.after,
                    &filter.updated_at_start,
                    &filter.updated_at_end,
                    &(page.fetch() as i64),
                ],
            )
            .await
            .map_err(map_err)?;
        let items = rows
            .iter()
            .map(|r| message_from(r, 0))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page, |m| m.seq))
    }
}
