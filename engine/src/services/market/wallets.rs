//! Wallets: register a connected address, unregister it, list one's own.

use super::MarketService;
use crate::domain::time;
use crate::domain::wallet::{AddWallet, NewWallet, Wallet, checksummed};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Result};
use crate::events::{Event, EventEnvelope, WalletChanged};
use crate::services::people::Caller;
use uuid::Uuid;

// The wire types (`CreateWalletDto`, `WalletView`, `WalletsPage`) live in
// `metmos-http`'s `routes/wallets.rs`.

fn wallet_event(w: &Wallet) -> WalletChanged {
    WalletChanged {
        wallet_uuid: w.uuid,
        person_uuid: w.person_uuid,
        address: checksummed(&w.address),
    }
}

impl MarketService {
    /// `POST /wallets`.
    #[tracing::instrument(skip_all)]
    pub async fn add_wallet(&self, caller: &Caller, cmd: AddWallet) -> Result<Wallet> {
        let me = caller.person()?;
        let AddWallet {
            chain,
            wallet_type,
            network,
            balance,
            currency,
            address,
        } = cmd;
        let at = time::now();
        let new = NewWallet {
            uuid: Uuid::new_v4(),
            person_uuid: me.uuid,
            chain,
            wallet_type,
            network,
            balance: Some(balance),
            currency,
            address,
            at,
        };
        let event = EventEnvelope::new(Event::WalletAdded(wallet_event(&new.stored(0))), at);
        let wallet = self.store.insert_wallet(&new, &[event]).await?;
        self.outbox.nudge();
        tracing::info!(wallet = %wallet.uuid, person = %me.uuid, "wallet added");
        Ok(wallet)
    }

    /// `DELETE /wallets/{uuid}`: the owner's only; anyone else's does not exist for them.
    #[tracing::instrument(skip_all, fields(uuid = %uuid))]
    pub async fn remove_wallet(&self, caller: &Caller, uuid: Uuid) -> Result<()> {
        let me = caller.person()?;
        let wallet = match self.store.wallet_by_uuid(uuid).await? {
            Some(w) if w.person_uuid == me.uuid => w,
            _ => return Err(Error::not_found("Wallet not found")),
        };
        let event = EventEnvelope::new(Event::WalletRemoved(wallet_event(&wallet)), time::now());
        self.store.delete_wallet(uuid, &[event]).await?;
        self.outbox.nudge();
        tracing::info!(wallet = %uuid, person = %me.uuid, "wallet removed");
        Ok(())
    }

    /// `GET /wallets/mine`: most recently added first.
    #[tracing::instrument(skip_all)]
    pub async fn my_wallets(&self, caller: &Caller, page: PageRequest) -> Result<Page<Wallet>> {
        let me = caller.person()?;
        Ok(self.store.list_wallets(me.uuid, &page).await?)
    }
}
