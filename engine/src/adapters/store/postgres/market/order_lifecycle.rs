//! The order lifecycle on PostgreSQL. Each step is one transaction that locks the order
//! row (`FOR UPDATE`) and checks the version the caller decided on, so two actors or two
//! nodes never both move one order; then the listing and the offer rows, in that order
//! (as every marketplace change does), each moved by its own transition function.

use super::offers::cancel_rival_offers;
use super::orders::{ORDER_COLS, order_from};
use super::{address, corrupt, wire};
use crate::adapters::store::postgres::notifications::insert_tx;
use crate::adapters::store::postgres::{PgStore, Sql, map_err, record};
use crate::domain::listing::ListingStatus;
use crate::domain::offer::OfferStatus;
use crate::domain::order::{
    ChainEventRecord, ChainTouch, Order, OrderChange, OrderChangeOutcome, OrderQuery, OrderRole,
    OrderStatus, Payment, PaymentKind,
};
use crate::domain::refusal::Refusal;
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::events::{EventEnvelope, OfferChanged};
use crate::ports::OrderLifecycleStore;
use alloy_primitives::{B256, U256};
use async_trait::async_trait;
use deadpool_postgres::Transaction;
use std::str::FromStr;
use tokio_postgres::Row;
use uuid::Uuid;

fn statuses(list: &[OrderStatus]) -> Vec<&'static str> {
    list.iter().map(|s| s.as_str()).collect()
}

fn i64_of(n: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Internal(format!("{what} out of range")))
}

fn b256(r: &Row, i: usize, what: &str) -> StoreResult<B256> {
    let text: String = r.get(i);
    B256::from_str(&text).map_err(|e| corrupt(what, e))
}

fn u64_of(r: &Row, i: usize, what: &str) -> StoreResult<u64> {
    let n: i64 = r.get(i);
    u64::try_from(n).map_err(|e| corrupt(what, e))
}

const CHAIN_EVENT_COLS: &str = "txn_hash, log_index, block_hash, block_number, event_type, order_id, \
     payload, applied, rejected_reason, created_at";

fn chain_event_from(r: &Row) -> StoreResult<ChainEventRecord> {
    let block_hash: Option<String> = r.get(2);
    let block_number: Option<i64> = r.get(3);
    Ok(ChainEventRecord {
        tx_hash: b256(r, 0, "txn_hash")?,
        log_index: u64_of(r, 1, "log_index")?,
        block_hash: block_hash
            .map(|h| B256::from_str(&h).map_err(|e| corrupt("block_hash", e)))
            .transpose()?
            .unwrap_or_default(),
        block_number: block_number
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0),
        event_type: r.get(4),
        order_id: r.get(5),
        payload: r.get(6),
        applied: r.get(7),
        rejected_reason: r.get(8),
        at: r.get(9),
    })
}

async fn insert_chain_event(tx: &Transaction<'_>, e: &ChainEventRecord) -> StoreResult<bool> {
    let n = tx
        .exec(
            "INSERT INTO chain_event (txn_hash, log_index, block_hash, block_number, event_type, order_id, \
             payload, applied, rejected_reason, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT DO NOTHING",
            &[
                &e.tx_hash.to_string(),
                &i64_of(e.log_index, "log index")?,
                &e.block_hash.to_string(),
                &i64_of(e.block_number, "block number")?,
                &e.event_type,
                &e.order_id,
                &e.payload,
                &e.applied,
                &e.rejected_reason,
                &e.at,
            ],
        )
        .await?;
    Ok(n == 1)
}

async fn forget(tx: &Transaction<'_>, tx_hash: B256, log_index: u64) -> StoreResult<bool> {
    let (hash, index) = (tx_hash.to_string(), i64_of(log_index, "log index")?);
    tx.exec(
        "DELETE FROM payment WHERE txn_hash = $1 AND log_index = $2",
        &[&hash, &index],
    )
    .await?;
    let n = tx
        .exec(
            "DELETE FROM chain_event WHERE txn_hash = $1 AND log_index = $2",
            &[&hash, &index],
        )
        .await?;
    Ok(n == 1)
}

/// Account deletion: the person's unpaid orders are cancelled (nobody can pay to or
/// from someone who is gone), inside the deletion's transaction. Which orders may be
/// cancelled is `OrderStatus::transition`'s answer for `Cancel` with no funds held.
pub(crate) async fn cancel_unpaid_orders_tx(
    tx: &Transaction<'_>,
    person_uuid: Uuid,
) -> StoreResult<u64> {
    let unpaid: Vec<&str> = OrderStatus::ALL
        .iter()
        .filter(|s| {
            !s.holds_funds()
                && s.transition(crate::domain::order::OrderAction::Cancel)
                    == Ok(OrderStatus::Cancelled)
        })
        .map(|s| s.as_str())
        .collect();
    tx.exec(
        "UPDATE orders SET status = $3, version = version + 1, updated_at = now() \
         WHERE (payer_uuid = $1 OR payee_uuid = $1) AND status = ANY($2)",
        &[&person_uuid, &unpaid, &OrderStatus::Cancelled.as_str()],
    )
    .await
}

#[async_trait]
impl OrderLifecycleStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.order_by_uuid")]
    async fn order_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Order>> {
        self.fetch_opt(
            &format!("SELECT {ORDER_COLS} FROM orders WHERE uuid = $1"),
            &[&uuid],
            order_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.order_by_escrow_id")]
    async fn order_by_escrow_id(&self, escrow_order_id: B256) -> StoreResult<Option<Order>> {
        self.fetch_opt(
            &format!("SELECT {ORDER_COLS} FROM orders WHERE escrow_order_id = $1"),
            &[&escrow_order_id.to_string()],
            order_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_orders")]
    async fn list_orders(
        &self,
        query: &OrderQuery,
        page: &PageRequest,
    ) -> StoreResult<Page<Order>> {
        let (as_payer, as_payee) = match query.role {
            None => (true, true),
            Some(OrderRole::Payer) => (true, false),
            Some(OrderRole::Payee) => (false, true),
        };
        let status = query.status.map(OrderStatus::as_str);
        let limit = page.fetch() as i64;
        let rows = self
            .fetch_all(
                &format!(
                    "SELECT {ORDER_COLS} FROM orders \
                     WHERE (($2 AND payer_uuid = $1) OR ($3 AND payee_uuid = $1)) \
                     AND ($4::text IS NULL OR status = $4) AND ($5::bigint IS NULL OR id < $5) \
                     ORDER BY id DESC LIMIT $6"
                ),
                &[
                    &query.person,
                    &as_payer,
                    &as_payee,
                    &status,
                    &page.after,
                    &limit,
                ],
                order_from,
            )
            .await?;
        Ok(Page::from_rows(rows, page, |o| o.id))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.unfinished_orders")]
    async fn unfinished_orders(&self) -> StoreResult<Vec<Order>> {
        self.fetch_all(
            &format!("SELECT {ORDER_COLS} FROM orders WHERE status = ANY($1) ORDER BY id"),
            &[&statuses(&OrderStatus::OPEN)],
            order_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.apply_order_change")]
    async fn apply_order_change(&self, c: &OrderChange) -> StoreResult<OrderChangeOutcome> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let order = tx
            .fetch_opt(
                &format!("SELECT {ORDER_COLS} FROM orders WHERE id = $1 FOR UPDATE"),
                &[&c.order_id],
                order_from,
            )
            .await?
            .ok_or(StoreError::Refused(Refusal::OrderNotFound))?;
        if let ChainTouch::Record(record, _) = &c.chain {
            let seen: bool = tx
                .fetch_one(
                    "SELECT EXISTS (SELECT 1 FROM chain_event WHERE txn_hash = $1 AND log_index = $2)",
                    &[&record.tx_hash.to_string(), &i64_of(record.log_index, "log index")?],
                    |r| Ok(r.get(0)),
                )
                .await?;
            if seen {
                return Ok(OrderChangeOutcome::Replay);
            }
        }
        if order.version != c.expected_version {
            return Err(StoreError::Refused(Refusal::OrderChanged));
        }
        let next = order
            .status
            .transition(c.action)
            .map_err(StoreError::Refused)?;
        let effects = c.action.effects(order.status);
        let listing: Option<(i64, ListingStatus)> = tx
            .fetch_opt(
                "SELECT id, status FROM listing WHERE uuid = $1 FOR UPDATE",
                &[&order.listing_uuid],
                |r| Ok((r.get(0), wire(r, 1, ListingStatus::parse)?)),
            )
            .await?;
        let offer: Option<(i64, OfferStatus, i64)> = tx
            .fetch_opt(
                "SELECT id, status, listing_id FROM offer WHERE uuid = $1 FOR UPDATE",
                &[&order.offer_uuid],
                |r| Ok((r.get(0), wire(r, 1, OfferStatus::parse)?, r.get(2))),
            )
            .await?;
        if let (Some(action), Some((id, status))) = (effects.listing, listing) {
            let to = status.transition(action).map_err(StoreError::Refused)?;
            tx.exec(
                "UPDATE listing SET status = $2, updated_at = $3 WHERE id = $1",
                &[&id, &to.as_str(), &c.at],
            )
            .await?;
        }
        if let (Some(action), Some((id, status, _))) = (effects.offer, offer) {
            let to = status.transition(action).map_err(StoreError::Refused)?;
            tx.exec(
                "UPDATE offer SET status = $2, updated_at = $3 WHERE id = $1",
                &[&id, &to.as_str(), &c.at],
            )
            .await?;
        }
        if effects.cancel_rival_offers
            && let Some((offer_id, _, listing_id)) = offer
        {
            let open: Vec<&str> = OfferStatus::ALL
                .iter()
                .filter(|s| s.is_open())
                .map(|s| s.as_str())
                .collect();
            let cancelled = cancel_rival_offers(&tx, listing_id, offer_id, &open, c.at).await?;
            let events: Vec<EventEnvelope> = cancelled
                .iter()
                .map(|o| OfferChanged::cancelled_by_rival_payment(o, c.at))
                .collect();
            record(&tx, &events).await?;
        }
        let updated = tx
            .fetch_one(
                &format!(
                    "UPDATE orders SET status = $2, version = version + 1, updated_at = $3 \
                     WHERE id = $1 AND version = $4 RETURNING {ORDER_COLS}"
                ),
                &[&c.order_id, &next.as_str(), &c.at, &c.expected_version],
                order_from,
            )
            .await?;
        match &c.chain {
            ChainTouch::None => {}
            ChainTouch::Record(record, payment) => {
                if !insert_chain_event(&tx, record).await? {
                    // Another node recorded it between our check and now (the order lock
                    // serializes steps of one order, so this is a replay): write nothing.
                    return Ok(OrderChangeOutcome::Replay);
                }
                if let Some(p) = payment {
                    tx.exec(
                        "INSERT INTO payment (uuid, txn_hash, orders_id, from_address, to_address, value, kind, \
                         log_index, block_number, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6::text::numeric, $7, $8, $9, $10, $10)",
                        &[
                            &p.uuid,
                            &p.tx_hash.to_string(),
                            &c.order_id,
                            &p.from.to_checksum(None),
                            &p.to.to_checksum(None),
                            &p.value.to_string(),
                            &p.kind.as_str(),
                            &i64_of(p.log_index, "log index")?,
                            &i64_of(p.block_number, "block number")?,
                            &c.at,
                        ],
                    )
                    .await?;
                }
            }
            ChainTouch::Removed { tx_hash, log_index } => {
                forget(&tx, *tx_hash, *log_index).await?;
            }
        }
        let notifications = insert_tx(&tx, &c.notifications).await?;
        record(&tx, &c.events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(OrderChangeOutcome::Applied {
            order: updated,
            notifications,
        })
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.record_chain_event")]
    async fn record_chain_event(
        &self,
        record_: &ChainEventRecord,
        events: &[EventEnvelope],
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        if !insert_chain_event(&tx, record_).await? {
            return Ok(false);
        }
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.forget_chain_event")]
    async fn forget_chain_event(&self, tx_hash: B256, log_index: u64) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let dropped = forget(&tx, tx_hash, log_index).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(dropped)
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.chain_event")]
    async fn chain_event(
        &self,
        tx_hash: B256,
        log_index: u64,
    ) -> StoreResult<Option<ChainEventRecord>> {
        self.fetch_opt(
            &format!(
                "SELECT {CHAIN_EVENT_COLS} FROM chain_event WHERE txn_hash = $1 AND log_index = $2"
            ),
            &[&tx_hash.to_string(), &i64_of(log_index, "log index")?],
            chain_event_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.payments_of")]
    async fn payments_of(&self, order_id: i64) -> StoreResult<Vec<Payment>> {
        self.fetch_all(
            "SELECT uuid, kind, txn_hash, log_index, block_number, from_address, to_address, value::text \
             FROM payment WHERE orders_id = $1 ORDER BY block_number, log_index",
            &[&order_id],
            |r| {
                let value: String = r.get(7);
                let log_index: Option<i64> = r.get(3);
                let block_number: Option<i64> = r.get(4);
                Ok(Payment {
                    uuid: r.get(0),
                    kind: wire(r, 1, PaymentKind::parse)?,
                    tx_hash: b256(r, 2, "txn_hash")?,
                    log_index: log_index.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    block_number: block_number.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    from: address(r, 5)?,
                    to: address(r, 6)?,
                    value: U256::from_str(&value).map_err(|e| corrupt("value", e))?,
                })
            },
        )
        .await
    }
}
