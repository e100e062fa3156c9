//! Wallets on PostgreSQL.

use super::super::{PgStore, Sql, map_err, record};
use super::{address, corrupt, wire};
use crate::domain::market::Currency;
use crate::domain::money::Wei;
use crate::domain::refusal::Refusal;
use crate::domain::wallet::{Blockchain, NewWallet, Wallet, WalletType, checksummed};
use crate::domain::{Page, PageRequest};
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::WalletStore;
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

// --- wallets ----------------------------------------------------------------------------

const WALLET_COLS: &str = "id, uuid, person_uuid, chain, wallet_type, network, balance::text, currency, address, created_at, updated_at";

fn wallet_from(r: &Row) -> StoreResult<Wallet> {
    let balance: Option<String> = r.get(6);
    Ok(Wallet {
        id: r.get(0),
        uuid: r.get(1),
        person_uuid: r.get(2),
        chain: wire(r, 3, Blockchain::parse)?,
        wallet_type: wire(r, 4, WalletType::parse)?,
        network: r.get(5),
        balance: balance
            .map(|b| Wei::parse_wei(&b).map_err(|e| corrupt("balance", e)))
            .transpose()?,
        currency: wire(r, 7, Currency::parse)?,
        address: address(r, 8)?,
        created_at: r.get(9),
        updated_at: r.get(10),
    })
}

#[async_trait]
impl WalletStore for PgStore {
    #[tracing::instrument(level = "debug", skip_all, name = "pg.insert_wallet")]
    async fn insert_wallet(
        &self,
        wallet: &NewWallet,
        events: &[EventEnvelope],
    ) -> StoreResult<Wallet> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        let id = tx
            .fetch_one(
                "INSERT INTO wallet (uuid, person_uuid, chain, wallet_type, network, balance, currency, address, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6::text::numeric, $7, $8, $9, $9) RETURNING id",
                &[
                    &wallet.uuid,
                    &wallet.person_uuid,
                    &wallet.chain.as_str(),
                    &wallet.wallet_type.as_str(),
                    &wallet.network,
                    &wallet.balance.map(Wei::to_wei_string),
                    &wallet.currency.as_str(),
                    &checksummed(&wallet.address),
                    &wallet.at,
                ],
                |r| Ok(r.get(0)),
            )
            .await?;
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(wallet.stored(id))
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.wallet_by_uuid")]
    async fn wallet_by_uuid(&self, uuid: Uuid) -> StoreResult<Option<Wallet>> {
        self.fetch_opt(
            &format!("SELECT {WALLET_COLS} FROM wallet WHERE uuid = $1"),
            &[&uuid],
            wallet_from,
        )
        .await
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.delete_wallet")]
    async fn delete_wallet(&self, uuid: Uuid, events: &[EventEnvelope]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_err)?;
        if tx
            .exec("DELETE FROM wallet WHERE uuid = $1", &[&uuid])
            .await?
            == 0
        {
            return Err(StoreError::Refused(Refusal::WalletNotFound));
        }
        record(&tx, events).await?;
        tx.commit().await.map_err(map_err)?;
        Ok(())
    }

    #[tracing::instrument(level = "debug", skip_all, name = "pg.list_wallets")]
    async fn list_wallets(
        &self,
        person_uuid: Uuid,
        page: &PageRequest,
    ) -> StoreResult<Page<Wallet>> {
        let limit = page.fetch() as i64;
        let items = self
            .fetch_all(
                &format!(
                    "SELECT {WALLET_COLS} FROM wallet WHERE person_uuid = $1 AND ($2::bigint IS NULL OR id < $2) \
                     ORDER BY id DESC LIMIT $3"
                ),
                &[&person_uuid, &page.after, &limit],
                wallet_from,
            )
            .await?;
        Ok(Page::from_rows(items, page, |w| w.id))
    }
}
