//! Read positions (on the chat rows, as `chat_participant.read_seq`) and receipts.

use super::MemoryStore;
use crate::domain::read_state::{ChatReadState, ReadFacts, ReadPosition, ReceiptParticipant};
use crate::error::StoreResult;
use crate::ports::ReadStateStore;
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl ReadStateStore for MemoryStore {
    async fn read_facts(&self, chat_uuid: Uuid, person_id: i64) -> StoreResult<Option<ReadFacts>> {
        let s = self.state.read();
        let Some(row) = s
            .chats
            .by_uuid
            .get(&chat_uuid)
            .and_then(|id| s.chats.chats.get(id))
        else {
            return Ok(None);
        };
        if !row.participants.contains(&person_id) {
            return Ok(None);
        }
        let participants = row
            .participants
            .iter()
            .filter_map(|id| s.persons.get(id))
            .map(|p| ReceiptParticipant {
                person_id: p.id,
                person_uuid: p.uuid,
                read_receipts: !s.receipts_off.contains(&p.id),
            })
            .collect();
        Ok(Some(ReadFacts {
            state: ChatReadState {
                chat_id: row.chat.id,
                chat_uuid: row.chat.uuid,
                last_seq: row.last_seq(),
                read_seq: row.read.get(&person_id).copied().unwrap_or(0),
            },
            participants,
        }))
    }

    async fn save_read_positions(&self, positions: &[ReadPosition]) -> StoreResult<()> {
        let mut s = self.state.write();
        for p in positions {
            let Some(row) = s.chats.chats.get_mut(&p.chat_id) else {
                continue;
            };
            if !row.participants.contains(&p.person_id) {
                continue;
            }
            let clamped = p.seq.min(row.last_seq());
            let stored = row.read.entry(p.person_id).or_insert(0);
            *stored = (*stored).max(clamped);
        }
        Ok(())
    }

    async fn read_states(
        &self,
        person_id: i64,
        chat_ids: Option<&[i64]>,
    ) -> StoreResult<Vec<ChatReadState>> {
        let s = self.state.read();
        let state_of = |row: &super::chat::ChatRow| row.read_state(person_id);
        let mine = |row: &&super::chat::ChatRow| row.participants.contains(&person_id);
        Ok(match chat_ids {
            Some(ids) => ids
                .iter()
                .filter_map(|id| s.chats.chats.get(id))
                .filter(mine)
                .map(state_of)
                .collect(),
            None => s.chats.chats.values().filter(mine).map(state_of).collect(),
        })
    }

    async fn read_receipts(&self, person_id: i64) -> StoreResult<bool> {
        Ok(!self.state.read().receipts_off.contains(&person_id))
    }

    async fn set_read_receipts(&self, person_id: i64, on: bool) -> StoreResult<()> {
        let mut s = self.state.write();
        if on {
            s.receipts_off.remove(&person_id);
        } else if s.persons.contains_key(&person_id) {
            s.receipts_off.insert(person_id);
        }
        Ok(())
    }
}
