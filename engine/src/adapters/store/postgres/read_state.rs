//! Read positions (`chat_participant.read_seq`) and receipts (`person.read_receipts`).
//! A chat's last seq is `chat.next_seq - 1`, so counts never scan messages.

use super::PgStore;
use crate::domain::read_state::{ChatReadState, ReadFacts, ReadPosition, ReceiptParticipant};
use crate::error::StoreResult;
use crate::ports::ReadStateStore;
use async_trait::async_trait;
use uuid::Uuid;

#[async_trait]
impl ReadStateStore for PgStore {
    async fn read_facts(&self, chat_uuid: Uuid, person_id: i64) -> StoreResult<Option<ReadFacts>> {
        let rows = self
            .fetch_all(
                "SELECT c.id, c.uuid, c.next_seq - 1, me.read_seq, p.id, p.uuid, p.read_receipts \
                 FROM chat c \
                 JOIN chat_participant me ON me.chat_id = c.id AND me.participant_id = $2 \
                 JOIN chat_participant cp ON cp.chat_id = c.id \
                 JOIN person p ON p.id = cp.participant_id \
                 WHERE c.uuid = $1 ORDER BY cp.id",
                &[&chat_uuid, &person_id],
                |r| {
                    Ok((
                        ChatReadState {
                            chat_id: r.get(0),
                            chat_uuid: r.get(1),
                            last_seq: r.get(2),
                            read_seq: r.get(3),
                        },
                        ReceiptParticipant {
                            person_id: r.get(4),
                            person_uuid: r.get(5),
                            read_receipts: r.get(6),
                        },
                    ))
                },
            )
            .await?;
        let Some((state, _)) = rows.first().copied() else {
            return Ok(None);
        };
        Ok(Some(ReadFacts {
            state,
            participants: rows.into_iter().map(|(_, p)| p).collect(),
        }))
    }

    async fn save_read_positions(&self, positions: &[ReadPosition]) -> StoreResult<()> {
        if positions.is_empty() {
            return Ok(());
        }
        // Sorted, so that two nodes flushing overlapping batches take row locks in one
        // order.
        let mut sorted = positions.to_vec();
        sorted.sort_unstable_by_key(|p| (p.chat_id, p.person_id));
        let chats: Vec<i64> = sorted.iter().map(|p| p.chat_id).collect();
        let persons: Vec<i64> = sorted.iter().map(|p| p.person_id).collect();
        let seqs: Vec<i64> = sorted.iter().map(|p| p.seq).collect();
        self.exec(
            "UPDATE chat_participant cp \
             SET read_seq = GREATEST(cp.read_seq, LEAST(v.seq, c.next_seq - 1)) \
             FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS v(chat_id, person_id, seq) \
             JOIN chat c ON c.id = v.chat_id \
             WHERE cp.chat_id = v.chat_id AND cp.participant_id = v.person_id \
               AND LEAST(v.seq, c.next_seq - 1) > cp.read_seq",
            &[&chats, &persons, &seqs],
        )
        .await?;
        Ok(())
    }

    async fn read_states(
        &self,
        person_id: i64,
        chat_ids: Option<&[i64]>,
    ) -> StoreResult<Vec<ChatReadState>> {
        let ids: Option<Vec<i64>> = chat_ids.map(<[i64]>::to_vec);
        self.fetch_all(
            "SELECT c.id, c.uuid, c.next_seq - 1, me.read_seq \
             FROM chat_participant me JOIN chat c ON c.id = me.chat_id \
             WHERE me.participant_id = $1 AND ($2::bigint[] IS NULL OR me.chat_id = ANY($2))",
            &[&person_id, &ids],
            |r| {
                Ok(ChatReadState {
                    chat_id: r.get(0),
                    chat_uuid: r.get(1),
                    last_seq: r.get(2),
                    read_seq: r.get(3),
                })
            },
        )
        .await
    }

    async fn read_receipts(&self, person_id: i64) -> StoreResult<bool> {
        Ok(self
            .fetch_opt(
                "SELECT read_receipts FROM person WHERE id = $1",
                &[&person_id],
                |r| Ok(r.get::<_, bool>(0)),
            )
            .await?
            .unwrap_or(true))
    }

    async fn set_read_receipts(&self, person_id: i64, on: bool) -> StoreResult<()> {
        self.exec(
            "UPDATE person SET read_receipts = $2 WHERE id = $1",
            &[&person_id, &on],
        )
        .await?;
        Ok(())
    }
}
