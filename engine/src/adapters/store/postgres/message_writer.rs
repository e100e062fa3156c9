//! Group commit of chat messages. One transaction per message is bounded by commit
//! latency (≈2.7k msg/s here); instead, each writer task takes every job (a chat room's
//! queued messages) queued for it while its previous batch committed, from all of its
//! chats at once, and stores them in ONE transaction: the senders locked in one query,
//! the CONTACT chats' "still contacts" facts in one, resends in one, the chats' seqs taken
//! with their rows locked in id order, one multi-row INSERT of the messages, ONE outbox
//! row holding all their events (V20), then one commit. Every sender is answered after
//! that commit (an ack means durable; `synchronous_commit` stays on). Those locks are
//! also why `message` has no foreign keys (V17): a foreign key checks its row once per
//! message, the writer once per batch.
//!
//! A message refused before the write (not contacts, a uuid taken, no such chat) is
//! answered alone and the others go on. If the batch transaction itself fails, its
//! messages are written again one by one, so each sender gets its own outcome. Order
//! within a chat holds because a job stays whole and in order in its batch, and a chat
//! always goes to the same writer ([`Writers::for_chat`]), which commits its batches one
//! after another. Writers own disjoint chats, so they run in parallel (one PostgreSQL
//! backend each) without waiting on each other's chat rows.

use super::chat::{MESSAGE_COLS, message_from};
use super::{Sql, map_err};
use crate::domain::chat::{
    ContactFacts, Message, MessageInsert, NewMessage, is_resend, may_post_contact, may_store_from,
};
use crate::domain::connections::ConnectionStatus;
use crate::domain::refusal::Refusal;
use crate::domain::time::Timestamp;
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use deadpool_postgres::{Client, Pool};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// A message to store, with the outbox events of its transaction.
pub(crate) struct Pending {
    pub new: NewMessage,
    pub events: Vec<EventEnvelope>,
}

/// Queued messages (one caller's, kept together in one batch and in this order) and
/// where their outcomes go, one per message in the same order.
pub(crate) struct Job {
    pub pending: Vec<Pending>,
    pub reply: oneshot::Sender<Vec<StoreResult<MessageInsert>>>,
}

/// The writers' queues, one per writer; a chat always goes to the same writer.
#[derive(Clone)]
pub(crate) struct Writers(Arc<[mpsc::Sender<Job>]>);

impl Writers {
    pub fn new(queues: Vec<mpsc::Sender<Job>>) -> Self {
        Self(queues.into())
    }

    /// The queue of the writer that owns `chat_id`'s messages.
    pub fn for_chat(&self, chat_id: i64) -> Option<&mpsc::Sender<Job>> {
        let n = self.0.len() as u64;
        if n == 0 {
            return None;
        }
        self.0.get((chat_id.unsigned_abs() % n) as usize)
    }
}

/// One writer: batches of at most `batch_max` jobs until `cancel` fires; then its queue
/// is closed (new messages are written by their callers, one transaction each) and what
/// it still holds is committed before the task ends.
pub(crate) async fn run(
    pool: Pool,
    mut rx: mpsc::Receiver<Job>,
    batch_max: usize,
    cancel: CancellationToken,
) {
    let mut jobs = Vec::with_capacity(batch_max);
    loop {
        let taken = tokio::select! {
            taken = rx.recv_many(&mut jobs, batch_max) => taken,
            () = cancel.cancelled(), if !rx.is_closed() => {
                rx.close();
                continue;
            }
        };
        if taken == 0 {
            return;
        }
        write_jobs(&pool, std::mem::take(&mut jobs)).await;
    }
}

/// Writes `jobs` and answers each. A batch that fails as a whole is retried message by
/// message; a repeat of a uuid inside the batch waits for the next round, where it finds
/// its original stored. A job's messages stay in their order in every round.
async fn write_jobs(pool: &Pool, jobs: Vec<Job>) {
    let mut replies = Vec::with_capacity(jobs.len());
    let mut outcomes: Vec<Vec<Option<StoreResult<MessageInsert>>>> = Vec::with_capacity(jobs.len());
    // Each message still to write, with its place: (job, position in the job).
    let mut round: Vec<((usize, usize), Pending)> = Vec::new();
    for (j, job) in jobs.into_iter().enumerate() {
        outcomes.push(
            std::iter::repeat_with(|| None)
                .take(job.pending.len())
                .collect(),
        );
        round.extend(
            job.pending
                .into_iter()
                .enumerate()
                .map(|(k, p)| ((j, k), p)),
        );
        replies.push(job.reply);
    }
    while !round.is_empty() {
        let (places, pending): (Vec<(usize, usize)>, Vec<Pending>) = round.into_iter().unzip();
        let size = pending.len();
        let written = async {
            match write_batch(pool, &pending).await {
                Ok(outcomes) => outcomes,
                Err(e) if size == 1 => vec![Some(Err(e))],
                Err(e) => {
                    tracing::warn!(error = %e, size, "message batch failed; writing its messages one by one");
                    let mut alone = Vec::with_capacity(size);
                    for p in &pending {
                        alone.push(Some(write_one(pool, p).await));
                    }
                    alone
                }
            }
        }
        .instrument(tracing::debug_span!("message_batch", size))
        .await;
        round = Vec::new();
        for ((place, pending), outcome) in places.into_iter().zip(pending).zip(written) {
            match outcome {
                Some(outcome) => outcomes[place.0][place.1] = Some(outcome),
                None => round.push((place, pending)),
            }
        }
    }
    for (reply, job_outcomes) in replies.into_iter().zip(outcomes) {
        let answered = job_outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| Err(StoreError::Internal("a message got no outcome".into())))
            })
            .collect();
        let _ = reply.send(answered);
    }
}

/// One message in a transaction of its own (the path without writers, and the retry of
/// a failed batch). A repeat cannot occur in a batch of one, so there is an outcome.
pub(crate) async fn write_one(pool: &Pool, pending: &Pending) -> StoreResult<MessageInsert> {
    write_batch(pool, std::slice::from_ref(pending))
        .await?
        .pop()
        .flatten()
        .unwrap_or_else(|| {
            Err(StoreError::Internal(
                "a batch of one gave no outcome".into(),
            ))
        })
}

/// Are the two still contacts, and is the other side still there? One row per pair, in
/// the order given.
const CONTACT_FACTS: &str = "SELECT EXISTS (SELECT 1 FROM connection k WHERE k.status = $3 AND \
       ((k.person_id = x.a AND k.connection_id = x.b) OR (k.person_id = x.b AND k.connection_id = x.a))), \
     EXISTS (SELECT 1 FROM person p WHERE p.id = x.b) \
     FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS x(a, b, i) ORDER BY x.i";
/// The batch's senders that still exist, each locked `FOR KEY SHARE` (what a foreign key
/// on `message.sender_id` would do once per message): an account's deletion locks its
/// person `FOR UPDATE`, so it waits for this batch, and this batch for it (V17).
const LOCK_SENDERS: &str = "SELECT id FROM person WHERE id = ANY($1) ORDER BY id FOR KEY SHARE";
const LOCK_CHATS: &str = "SELECT id FROM chat WHERE id = ANY($1) ORDER BY id FOR UPDATE";
const TAKE_SEQS: &str = "UPDATE chat c SET next_seq = c.next_seq + x.n, updated_at = x.at \
     FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS x(id, n, at) \
     WHERE c.id = x.id RETURNING c.id, c.next_seq - x.n, c.uuid";
const INSERT_MESSAGES: &str = "INSERT INTO message (uuid, chat_id, sender_id, sender_uuid, message_content, \
     dto_asset_uuids, seq, created_at, updated_at) \
     SELECT x.u, x.c, x.s, x.su, x.mc, x.da, x.sq, x.at, x.at FROM unnest($1::uuid[], $2::bigint[], \
     $3::bigint[], $4::uuid[], $5::text[], $6::jsonb[], $7::bigint[], $8::timestamptz[]) \
     AS x(u, c, s, su, mc, da, sq, at) RETURNING uuid, id";
/// The batch's events as one row (V20): one JSON array, printed here, read only by
/// the relay.
const INSERT_OUTBOX_BATCH: &str =
    "INSERT INTO outbox_batch (event_count, events, occurred_at) VALUES ($1, $2, $3)";

/// Runs a prepared statement. Two of these joined on one connection are pipelined: sent
/// back to back in the order they are first polled, run by the server in that order,
/// one round trip for both (statements are prepared beforehand, so nothing reorders them).
async fn rows(
    client: &Client,
    stmt: &Statement,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<Row>> {
    client.query(stmt, params).await.map_err(map_err)
}

/// [`rows`] when `needed`; otherwise no rows, and nothing sent.
async fn rows_if(
    needed: bool,
    client: &Client,
    stmt: &Statement,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<Row>> {
    if !needed {
        return Ok(Vec::new());
    }
    rows(client, stmt, params).await
}

/// BEGIN or COMMIT, pipelined like [`rows`] with the statements joined to it.
async fn command(client: &Client, sql: &str) -> StoreResult<Vec<Row>> {
    client.batch_execute(sql).await.map_err(map_err)?;
    Ok(Vec::new())
}

/// A batch's connection while its transaction may be open. The transaction's BEGIN
/// rides with the batch's first statements and its COMMIT with the last ones (two round
/// trips fewer than `Client::transaction`, which waits for each), so nothing here rolls
/// back by itself: a batch that failed sends ROLLBACK ([`OpenTx::rolled_back`]), and one
/// dropped halfway (its caller gave up) takes its connection out of the pool, whose
/// closing ends the transaction on the server.
struct OpenTx(Option<Client>);

impl OpenTx {
    fn client(&self) -> &Client {
        self.0
            .as_ref()
            .expect("the connection is held until the transaction ends")
    }

    /// The transaction committed (or never began): the connection goes back to the pool.
    fn ended(mut self) {
        self.0.take();
    }

    /// The batch failed: its transaction, if still open, is rolled back before the
    /// connection goes back to the pool (after a failed ROLLBACK it is dropped instead).
    async fn rolled_back(self) {
        if self.client().batch_execute("ROLLBACK").await.is_ok() {
            self.ended();
        }
    }
}

impl Drop for OpenTx {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(Client::take(client));
        }
    }
}

/// One transaction for the whole batch, in three round trips whatever its size (BEGIN
/// with the senders, contact facts and resends; chat locks with seqs; messages with
/// their events' outbox row and COMMIT).
/// Per message: `Some(outcome)`, or `None` for a repeat of a uuid met earlier in the
/// batch (to write in the next round). `Err` when the transaction failed as a whole
/// (nothing was written).
///
/// A resend (a client's retry of a message already stored) is rare, and looking every
/// uuid of a batch up in `message` first was a fifth of the batch's time in PostgreSQL,
/// the same index descents the INSERT's unique check makes anyway. So a batch is first
/// written without the lookup: if a uuid was stored already, the INSERT fails on
/// `message_uuid_key`, the transaction rolls back whole (seqs included: no gap) and the
/// batch is written again, looking its uuids up this time.
async fn write_batch(
    pool: &Pool,
    items: &[Pending],
) -> StoreResult<Vec<Option<StoreResult<MessageInsert>>>> {
    match write_batch_looking_up(pool, items, StoredLookup::Skipped).await {
        Err(StoreError::Refused(Refusal::MessageUuidTaken)) => {
            write_batch_looking_up(pool, items, StoredLookup::Made).await
        }
        written => written,
    }
}

/// Whether a batch looks its uuids up among the stored messages before writing them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StoredLookup {
    /// Not looked up: a stored uuid fails the INSERT on `message_uuid_key`.
    Skipped,
    Made,
}

/// [`write_batch`], once, on a connection of `pool`.
async fn write_batch_looking_up(
    pool: &Pool,
    items: &[Pending],
    lookup: StoredLookup,
) -> StoreResult<Vec<Option<StoreResult<MessageInsert>>>> {
    let client = pool
        .get()
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    let tx = OpenTx(Some(client));
    match write_batch_in(tx.client(), items, lookup).await {
        Ok(outcomes) => {
            tx.ended();
            Ok(outcomes)
        }
        Err(e) => {
            tx.rolled_back().await;
            Err(e)
        }
    }
}

/// [`write_batch`]'s transaction on `tx`, from BEGIN to COMMIT; `Ok` only once committed.
async fn write_batch_in(
    tx: &Client,
    items: &[Pending],
    lookup: StoredLookup,
) -> StoreResult<Vec<Option<StoreResult<MessageInsert>>>> {
    let mut outcomes: Vec<Option<StoreResult<MessageInsert>>> =
        std::iter::repeat_with(|| None).take(items.len()).collect();

    // 1. The senders locked (`may_store_from` decides each message), CONTACT chats'
    // facts (`may_post_contact`) and, when looked up, resends (`is_resend`), one query
    // each for the whole batch, pipelined.
    let sender_ids: Vec<i64> = items
        .iter()
        .map(|p| p.new.sender_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let checks: Vec<(usize, i64, i64)> = items
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.new.contact_of.map(|other| (i, p.new.sender_id, other)))
        .collect();
    let senders: Vec<i64> = checks.iter().map(|c| c.1).collect();
    let others: Vec<i64> = checks.iter().map(|c| c.2).collect();
    let uuids: Vec<Uuid> = match lookup {
        StoredLookup::Made => items.iter().map(|p| p.new.uuid).collect(),
        StoredLookup::Skipped => Vec::new(),
    };
    let senders_stmt = tx.statement(LOCK_SENDERS).await?;
    let facts_stmt = tx.statement(CONTACT_FACTS).await?;
    let stored_stmt = tx
        .statement(&format!(
            "SELECT {MESSAGE_COLS} FROM message m JOIN chat c ON c.id = m.chat_id WHERE m.uuid = ANY($1)"
        ))
        .await?;
    let accepted = ConnectionStatus::Accepted.as_str();
    let senders_params: [&(dyn ToSql + Sync); 1] = [&sender_ids];
    let facts_params: [&(dyn ToSql + Sync); 3] = [&senders, &others, &accepted];
    let stored_params: [&(dyn ToSql + Sync); 1] = [&uuids];
    let (begun, present, facts, stored) = tokio::join!(
        command(tx, "BEGIN"),
        rows(tx, &senders_stmt, &senders_params),
        rows_if(!checks.is_empty(), tx, &facts_stmt, &facts_params),
        rows_if(!uuids.is_empty(), tx, &stored_stmt, &stored_params),
    );
    // Joined with `join!`, not `try_join!`, and their errors read in statement order:
    // after a failed statement the server answers each next one of the transaction with
    // "current transaction is aborted", and `try_join!` returns whichever error it polls
    // first (`join!` rotates the branch it polls first), not always the cause.
    let (_, present, facts, stored) = (begun?, present?, facts?, stored?);
    let present: HashSet<i64> = present.iter().map(|r| r.get(0)).collect();
    for (i, p) in items.iter().enumerate() {
        if let Err(refusal) = may_store_from(present.contains(&p.new.sender_id)) {
            outcomes[i] = Some(Err(StoreError::Refused(refusal)));
        }
    }
    for ((i, _, _), row) in checks.iter().zip(facts) {
        let facts = ContactFacts {
            are_contacts: row.get(0),
            other_exists: row.get(1),
        };
        if let Err(refusal) = may_post_contact(facts)
            && outcomes[*i].is_none()
        {
            outcomes[*i] = Some(Err(StoreError::Refused(refusal)));
        }
    }
    let stored: HashMap<Uuid, Message> = stored
        .iter()
        .map(|r| message_from(r, 0).map(|m| (m.uuid, m)))
        .collect::<StoreResult<_>>()?;
    let mut first_seen: HashMap<Uuid, usize> = HashMap::new();
    let mut to_write: Vec<usize> = Vec::with_capacity(items.len());
    for (i, pending) in items.iter().enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        let new = &pending.new;
        if let Some(existing) = stored.get(&new.uuid) {
            outcomes[i] = Some(if is_resend(existing, new) {
                Ok(MessageInsert::Existing(existing.clone()))
            } else {
                Err(StoreError::Refused(Refusal::MessageUuidTaken))
            });
        } else if first_seen.insert(new.uuid, i).is_none() {
            to_write.push(i);
        }
        // else: a repeat inside the batch, left `None` for the next round.
    }

    // 2. Seqs: the chats' rows locked in id order (no deadlock with another writer),
    // then each chat's counter moved past its messages of the batch at once; pipelined.
    let mut per_chat: BTreeMap<i64, (i64, Timestamp)> = BTreeMap::new();
    for i in &to_write {
        let new = &items[*i].new;
        let entry = per_chat.entry(new.chat_id).or_insert((0, new.at));
        entry.0 += 1;
        entry.1 = new.at;
    }
    let mut first_seq: HashMap<i64, (i64, Uuid)> = HashMap::new();
    if !per_chat.is_empty() {
        let ids: Vec<i64> = per_chat.keys().copied().collect();
        let counts: Vec<i64> = per_chat.values().map(|v| v.0).collect();
        let ats: Vec<Timestamp> = per_chat.values().map(|v| v.1).collect();
        let lock_stmt = tx.statement(LOCK_CHATS).await?;
        let seqs_stmt = tx.statement(TAKE_SEQS).await?;
        let lock_params: [&(dyn ToSql + Sync); 1] = [&ids];
        let seqs_params: [&(dyn ToSql + Sync); 3] = [&ids, &counts, &ats];
        let (locked, seqs) = tokio::join!(
            rows(tx, &lock_stmt, &lock_params),
            rows(tx, &seqs_stmt, &seqs_params),
        );
        let (_, seqs) = (locked?, seqs?);
        first_seq = seqs
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0),
                    (r.get::<_, i64>(1), r.get::<_, Uuid>(2)),
                )
            })
            .collect();
    }
    let mut written: Vec<(usize, i64, Uuid)> = Vec::with_capacity(to_write.len());
    for i in to_write {
        let new = &items[i].new;
        match first_seq.get_mut(&new.chat_id) {
            Some((next, chat_uuid)) => {
                written.push((i, *next, *chat_uuid));
                *next += 1;
            }
            None => outcomes[i] = Some(Err(StoreError::Refused(Refusal::ChatNotFound))),
        }
    }

    // 3. The messages in one INSERT and their events in one outbox row, pipelined; the
    // assets of messages that name some moved one message at a time (rare).
    let mut ids: HashMap<Uuid, i64> = HashMap::new();
    if !written.is_empty() {
        let n = written.len();
        let (mut uuid, mut chat, mut sender, mut sender_uuid) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut content, mut assets, mut seq, mut at) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for (i, s, _) in &written {
            let new = &items[*i].new;
            uuid.push(new.uuid);
            chat.push(new.chat_id);
            sender.push(new.sender_id);
            sender_uuid.push(new.sender_uuid);
            content.push(new.message_content.as_str());
            assets.push(serde_json::Value::Array(
                new.asset_uuids
                    .iter()
                    .map(|u| serde_json::Value::String(u.to_string()))
                    .collect(),
            ));
            seq.push(*s);
            at.push(new.at);
        }
        let events: Vec<&EventEnvelope> = written
            .iter()
            .flat_map(|(i, _, _)| items[*i].events.iter())
            .collect();
        let event_count = events.len() as i32;
        let events_json = serde_json::to_string(&events)
            .map_err(|e| StoreError::Internal(format!("events do not print: {e}")))?;
        let first_occurred = events.first().map(|e| e.occurred_at);
        let insert_stmt = tx.statement(INSERT_MESSAGES).await?;
        let outbox_stmt = tx.statement(INSERT_OUTBOX_BATCH).await?;
        let insert_params: [&(dyn ToSql + Sync); 8] = [
            &uuid,
            &chat,
            &sender,
            &sender_uuid,
            &content,
            &assets,
            &seq,
            &at,
        ];
        let outbox_params: [&(dyn ToSql + Sync); 3] = [&event_count, &events_json, &first_occurred];
        // COMMIT rides with the inserts, unless assets are still to be moved (rare). A
        // COMMIT after a failed statement only rolls back, so `Ok` from all three means
        // committed, and the first error in statement order is the failed statement's (a
        // resend's `message_uuid_key` violation, not the next statement's "aborted").
        let moves_assets = written
            .iter()
            .any(|(i, _, _)| !items[*i].new.asset_uuids.is_empty());
        let (inserted, outboxed, committed) = tokio::join!(
            rows(tx, &insert_stmt, &insert_params),
            rows_if(!events.is_empty(), tx, &outbox_stmt, &outbox_params),
            async {
                if moves_assets {
                    return Ok(Vec::new());
                }
                command(tx, "COMMIT").await
            },
        );
        let (inserted, _, _) = (inserted?, outboxed?, committed?);
        ids = inserted.iter().map(|r| (r.get(0), r.get(1))).collect();
        if moves_assets {
            for (i, _, chat_uuid) in &written {
                let new = &items[*i].new;
                super::assets::link_message_assets_tx(
                    tx,
                    new.sender_id,
                    *chat_uuid,
                    new.uuid,
                    &new.asset_uuids,
                    new.at,
                )
                .await?;
            }
            command(tx, "COMMIT").await?;
        }
    } else {
        command(tx, "COMMIT").await?;
    }

    for (i, seq, chat_uuid) in written {
        let new = &items[i].new;
        let id = ids
            .get(&new.uuid)
            .copied()
            .ok_or_else(|| StoreError::Internal("an inserted message has no id".into()))?;
        outcomes[i] = Some(Ok(MessageInsert::Created(new.stored(id, chat_uuid, seq))));
    }
    Ok(outcomes)
}
