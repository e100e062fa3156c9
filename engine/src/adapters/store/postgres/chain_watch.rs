use super::{PgStore, Sql, map_err};
use crate::domain::chain_watch::ChainCheckpoint;
use crate::domain::escrow::{ChainEvent, EscrowLog};
use crate::error::{StoreError, StoreResult};
use crate::ports::ChainWatchStore;
use alloy_primitives::{Address, B256, U256};
use async_trait::async_trait;
use serde_json::{Value, json};
use std::str::FromStr;
use tokio_postgres::Row;

#[async_trait]
impl ChainWatchStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.chain_checkpoint")]
    async fn chain_checkpoint(&self, watcher: &str) -> StoreResult<Option<ChainCheckpoint>> {
        self.fetch_opt(
            "SELECT next_block, last_block_number, last_block_hash \
             FROM chain_watch_checkpoint WHERE watcher = $1",
            &[&watcher],
            |r| {
                let last = match (r.get::<_, Option<i64>>(1), r.get::<_, Option<String>>(2)) {
                    (Some(n), Some(h)) => Some((block(n)?, hash(&h)?)),
                    _ => None,
                };
                Ok(ChainCheckpoint {
                    next_block: block(r.get(0))?,
                    last_block: last,
                })
            },
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.chain_recent_logs")]
    async fn chain_recent_logs(&self, watcher: &str) -> StoreResult<Vec<ChainEvent>> {
        self.fetch_all(
            "SELECT txn_hash, log_index, block_number, block_hash, event \
             FROM chain_watch_log WHERE watcher = $1 ORDER BY block_number, log_index",
            &[&watcher],
            event_from_row,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.chain_log_delivered")]
    async fn chain_log_delivered(&self, watcher: &str, event: &ChainEvent) -> StoreResult<()> {
        self.exec(
            "INSERT INTO chain_watch_log \
               (watcher, txn_hash, log_index, block_number, block_hash, event) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (watcher, txn_hash, log_index) DO UPDATE \
             SET block_number = EXCLUDED.block_number, block_hash = EXCLUDED.block_hash, \
                 event = EXCLUDED.event",
            &[
                &watcher,
                &event.tx_hash.to_string(),
                &number(event.log_index)?,
                &number(event.block_number)?,
                &event.block_hash.to_string(),
                &encode(event),
            ],
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.chain_log_removed")]
    async fn chain_log_removed(
        &self,
        watcher: &str,
        tx_hash: B256,
        log_index: u64,
    ) -> StoreResult<()> {
        self.exec(
            "DELETE FROM chain_watch_log WHERE watcher = $1 AND txn_hash = $2 AND log_index = $3",
            &[&watcher, &tx_hash.to_string(), &number(log_index)?],
        )
        .await?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.chain_advance")]
    async fn chain_advance(
        &self,
        watcher: &str,
        checkpoint: &ChainCheckpoint,
        keep_from: u64,
    ) -> StoreResult<()> {
        let (last_number, last_hash) = match checkpoint.last_block {
            Some((n, h)) => (Some(number(n)?), Some(h.to_string())),
            None => (None, None),
        };
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        tx.exec(
            "INSERT INTO chain_watch_checkpoint \
               (watcher, next_block, last_block_number, last_block_hash) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (watcher) DO UPDATE \
             SET next_block = EXCLUDED.next_block, \
                 last_block_number = EXCLUDED.last_block_number, \
                 last_block_hash = EXCLUDED.last_block_hash, updated_at = now()",
            &[
                &watcher,
                &number(checkpoint.next_block)?,
                &last_number,
                &last_hash,
            ],
        )
        .await?;
        tx.exec(
            "DELETE FROM chain_watch_log WHERE watcher = $1 AND block_number < $2",
            &[&watcher, &number(keep_from)?],
        )
        .await?;
        tx.commit().await.map_err(map_err)
    }
}

fn number(n: u64) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Internal(format!("block number {n} out of range")))
}

fn block(n: i64) -> StoreResult<u64> {
    u64::try_from(n).map_err(|_| StoreError::Internal(format!("negative block number {n}")))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Internal(format!("chain_watch_log: {what} does not parse"))
}

fn hash(s: &str) -> StoreResult<B256> {
    B256::from_str(s).map_err(|_| corrupt("a hash"))
}

/// The decoded log as JSON: addresses and hashes in hex, amounts as decimal strings.
fn encode(e: &ChainEvent) -> Value {
    let mut v = match &e.log {
        EscrowLog::Paid {
            order_id,
            payer,
            payee,
            amount,
            fee,
        } => {
            json!({"event": "OrderPaid", "orderId": order_id.to_string(), "payer": payer.to_string(),
                    "payee": payee.to_string(), "amount": amount.to_string(), "fee": fee.to_string()})
        }
        EscrowLog::Released {
            order_id,
            payee,
            payee_amount,
            fee,
        } => {
            json!({"event": "FundReleased", "orderId": order_id.to_string(), "payee": payee.to_string(),
                    "payeeAmount": payee_amount.to_string(), "fee": fee.to_string()})
        }
        EscrowLog::Refunded {
            order_id,
            payer,
            amount,
        } => {
            json!({"event": "Refunded", "orderId": order_id.to_string(), "payer": payer.to_string(),
                    "amount": amount.to_string()})
        }
    };
    v["contract"] = json!(e.contract.to_string());
    v
}

fn event_from_row(r: &Row) -> StoreResult<ChainEvent> {
    let v: Value = r.get(4);
    let text = |k: &str| v.get(k).and_then(Value::as_str).ok_or_else(|| corrupt(k));
    let address = |k: &str| text(k).and_then(|s| Address::from_str(s).map_err(|_| corrupt(k)));
    let amount = |k: &str| text(k).and_then(|s| U256::from_str(s).map_err(|_| corrupt(k)));
    let order_id = text("orderId").and_then(hash)?;
    let log = match text("event")? {
        "OrderPaid" => EscrowLog::Paid {
            order_id,
            payer: address("payer")?,
            payee: address("payee")?,
            amount: amount("amount")?,
            fee: amount("fee")?,
        },
        "FundReleased" => EscrowLog::Released {
            order_id,
            payee: address("payee")?,
            payee_amount: amount("payeeAmount")?,
            fee: amount("fee")?,
        },
        "Refunded" => EscrowLog::Refunded {
            order_id,
            payer: address("payer")?,
            amount: amount("amount")?,
        },
        _ => return Err(corrupt("event")),
    };
    Ok(ChainEvent {
        contract: address("contract")?,
        tx_hash: hash(&r.get::<_, String>(0))?,
        log_index: block(r.get(1))?,
        block_number: block(r.get(2))?,
        block_hash: hash(&r.get::<_, String>(3))?,
        removed: false,
        log,
    })
}
