//! Orders on PostgreSQL.

use super::super::{PgStore, Sql, map_err, record};
use super::listings::lock_listing_status;
use super::offers::{listing_id_of_offer, lock_offer};
use super::{address, corrupt, open_order_statuses, wei, wire};
use crate::domain::Timestamp;
use crate::domain::market::Currency;
use crate::domain::money::Fees;
use crate::domain::order::{EscrowQuote, NewOrder, Order, OrderStatus, decide_create};
use crate::domain::wallet::checksummed;
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::OrderStore;
use alloy_primitives::B256;
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use std::str::FromStr;
use tokio_postgres::Row;
use uuid::Uuid;

// --- orders -----------------------------------------------------------------------------

pub(super) const ORDER_COLS: &str = "id, uuid, status, offer_uuid, listing_uuid, listing_title, payer_uuid, payee_uuid, \
     payer_address, payee_address, currency, listing_price::text, total_platform_fee::text, platform_fee_tax::text, \
     order_total::text, chain_id, escrow_contract, escrow_order_id, deadline, quote_signature, version, created_at, updated_at";

pub(super) fn order_from(r: &Row) -> StoreResult<Order> {
    let fees = Fees {
        price: wei(r, 11)?,
        platform_fee: wei(r, 12)?,
        fee_tax: wei(r, 13)?,
        total: wei(r, 14)?,
    };
    let chain_id: i64 = r.get(15);
    let order_id: String = r.get(17);
    let deadline: Timestamp = r.get(18);
    Ok(Order {
        id: r.get(0),
        uuid: r.get(1),
        status: wire(r, 2, OrderStatus::parse)?,
        offer_uuid: r.get(3),
        listing_uuid: r.get(4),
        listing_title: r.get(5),
        payer_uuid: r.get(6),
        payee_uuid: r.get(7),
        currency: wire(r, 10, Currency::parse)?,
        quote: EscrowQuote {
            chain_id: u64::try_from(chain_id).map_err(|e| corrupt("chain_id", e))?,
            contract: address(r, 16)?,
            order_id: B256::from_str(&order_id).map_err(|e| corrupt("escrow_order_id", e))?,
            payer: address(r, 8)?,
            payee: address(r, 9)?,
            amount: fees.total,
            fee: fees.platform_take(),
            deadline: u64::try_from(deadline.timestamp()).map_err(|e| corrupt("deadline", e))?,
        },
        fees,
        quote_signature: r.get(19),
        version: r.get(20),
        created_at: r.get(21),
        updated_at: r.get(22),
    })
}

/// The offer's order that is not final (inside a change's transaction, or on its own).
pub(super) async fn open_order<C: GenericClient>(
    c: &C,
    offer_uuid: Uuid,
) -> StoreResult<Option<Order>> {
    c.fetch_opt(
        &format!("SELECT {ORDER_COLS} FROM orders WHERE offer_uuid = $1 AND status = ANY($2)"),
        &[&offer_uuid, &open_order_statuses()],
        order_from,
    )
    .await
}

#[async_trait]
impl OrderStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_order")]
    async fn insert_order(
        &self,
        order: &NewOrder,
        events: &[EventEnvelope],
    ) -> StoreResult<(Order, bool)> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let listing_id = listing_id_of_offer(&tx, order.offer_uuid).await?;
        let listing_status = lock_listing_status(&tx, listing_id).await?;
        let offer = lock_offer(&tx, order.offer_uuid).await?;
        if let Some(existing) = open_order(&tx, order.offer_uuid).await? {
            tx.commit().await.map_err(map_err)?;
            return Ok((existing, false));
        }
        decide_create(offer.status, listing_status)?;
        let q = &order.quote;
        let chain_id = i64::try_from(q.chain_id)
            .map_err(|_| StoreError::Internal("chain id out of range".into()))?;
        let deadline = crate::domain::order::deadline_timestamp(q.deadline)
            .ok_or_else(|| StoreError::Internal("quote deadline out of range".into()))?;
        let fees = &order.fees;
        let inserted: Option<i64> = tx
            .fetch_opt(
                "INSERT INTO orders (uuid, status, offer_id, offer_uuid, payer_uuid, payee_uuid, payer_address, payee_address, \
                 currency, listing_title, listing_uuid, listing_price, total_platform_fee, platform_fee_tax, order_total, \
                 chain_id, escrow_contract, escrow_order_id, deadline, quote_signature, created_at, updated_at) \
                 VALUES ($1, $21, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::text::numeric, $12::text::numeric, \
                 $13::text::numeric, $14::text::numeric, $15, $16, $17, $18, $19, $20, $20) \
                 ON CONFLICT DO NOTHING RETURNING id",
                &[
                    &order.uuid,
                    &offer.id,
                    &order.offer_uuid,
                    &order.payer_uuid,
                    &order.payee_uuid,
                    &checksummed(&q.payer),
                    &checksummed(&q.payee),
                    &order.currency.as_str(),
                    &order.listing_title,
                    &order.listing_uuid,
                    &fees.price.to_wei_string(),
                    &fees.platform_fee.to_wei_string(),
                    &fees.fee_tax.to_wei_string(),
                    &fees.total.to_wei_string(),
                    &chain_id,
                    &checksummed(&q.contract),
                    &q.order_id.to_string(),
                    &deadline,
                    &order.quote_signature,
                    &order.at,
                    &OrderStatus::AwaitingPayment.as_str(),
                ],
                |r| Ok(r.get(0)),
            )
            .await?;
        let Some(id) = inserted else {
            // Only reachable without the locks above (they serialize every creation for
            // this offer); kept so that the index, not luck, guarantees one open order.
            let existing = open_order(&tx, order.offer_uuid)
                .await?
                .ok_or_else(|| StoreError::Conflict("order creation raced; retry".into()))?;
            tx.commit().await.map_err(map_err)?;
            return Ok((existing, false));
        };
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok((order.stored(id), true))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.open_order_for_offer")]
    async fn open_order_for_offer(&self, offer_uuid: Uuid) -> StoreResult<Option<Order>> {
        let client = self.client().await?;
        open_order(&client, offer_uuid).await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.has_funds_in_escrow")]
    async fn has_funds_in_escrow(&self, person_uuid: Uuid) -> StoreResult<bool> {
        self.fetch_one(
            "SELECT EXISTS (SELECT 1 FROM orders WHERE (payer_uuid = $1 OR payee_uuid = $1) \
             AND status = ANY($2))",
            &[&person_uuid, &funds_held_statuses()],
            |r| Ok(r.get(0)),
        )
        .await
    }
}

/// The statuses of an order whose funds the escrow holds, for `status = ANY($n)`.
pub(crate) fn funds_held_statuses() -> Vec<&'static str> {
    OrderStatus::HOLDING_FUNDS.map(OrderStatus::as_str).to_vec()
}
