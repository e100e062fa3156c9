//! Wallets: register a connected address, unregister it, list one's own.

use super::{MarketService, required_enum, required_text};
use crate::domain::market::Currency;
use crate::domain::money::Wei;
use crate::domain::time::{self, Timestamp};
use crate::domain::wallet::{
    Blockchain, NewWallet, Wallet, WalletType, checksummed, parse_wallet_address,
};
use crate::domain::{Page, PageRequest};
use crate::error::{Error, Problems, Result};
use crate::events::{Event, EventEnvelope, WalletChanged};
use crate::services::people::Caller;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

const MAX_NETWORK: usize = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateWalletDto {
    #[schema(required, example = "ETHEREUM")]
    pub chain: Option<String>,
    #[schema(required, example = "METAMASK")]
    pub wallet_type: Option<String>,
    /// Free text: "Ethereum Mainnet", "Sepolia"...
    #[schema(required, example = "Sepolia")]
    pub network: Option<String>,
    /// The balance the app saw, in ETH.
    #[schema(required, example = "0.1897")]
    pub balance: Option<String>,
    #[schema(required, example = "ETH")]
    pub currency: Option<String>,
    /// EIP-55 checksummed, or all lowercase.
    #[schema(required, example = "0x2E2F5B35a9e305bAF5fc5431b55797Ef20721421")]
    pub address: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WalletView {
    pub uuid: Uuid,
    pub person_uuid: Uuid,
    pub chain: Blockchain,
    pub wallet_type: WalletType,
    pub network: String,
    /// ETH, normalised.
    pub balance: Option<String>,
    pub currency: Currency,
    /// EIP-55 checksummed.
    pub address: String,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Wallet> for WalletView {
    fn from(w: &Wallet) -> Self {
        Self {
            uuid: w.uuid,
            person_uuid: w.person_uuid,
            chain: w.chain,
            wallet_type: w.wallet_type,
            network: w.network.clone(),
            balance: w.balance.map(Wei::to_eth_string),
            currency: w.currency,
            address: checksummed(&w.address),
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WalletsPage {
    pub wallets: Vec<WalletView>,
    pub after: Option<i64>,
}

fn wallet_event(w: &Wallet) -> WalletChanged {
    WalletChanged {
        wallet_uuid: w.uuid,
        person_uuid: w.person_uuid,
        address: checksummed(&w.address),
    }
}

impl MarketService {
    /// `POST /wallets`.
    pub async fn add_wallet(&self, caller: &Caller, dto: CreateWalletDto) -> Result<Wallet> {
        let me = caller.person()?;
        let mut problems = Problems::new();
        let chain = problems.check(required_enum(
            "chain",
            dto.chain.as_deref(),
            Blockchain::parse,
        ));
        let wallet_type = problems.check(required_enum(
            "walletType",
            dto.wallet_type.as_deref(),
            WalletType::parse,
        ));
        let network = problems.check(required_text(
            "network",
            dto.network.as_deref(),
            MAX_NETWORK,
        ));
        let balance = match dto.balance.as_deref() {
            None => {
                problems.push("balance should not be empty");
                None
            }
            Some(b) => problems.check(Wei::parse_eth("balance", b).map_err(String::from)),
        };
        let currency = problems.check(required_enum(
            "currency",
            dto.currency.as_deref(),
            Currency::parse,
        ));
        let address = match dto.address.as_deref() {
            None => {
                problems.push("address should not be empty");
                None
            }
            Some(a) => problems.check(parse_wallet_address("address", a)),
        };
        problems.finish()?;
        let (
            Some(chain),
            Some(wallet_type),
            Some(network),
            Some(balance),
            Some(currency),
            Some(address),
        ) = (chain, wallet_type, network, balance, currency, address)
        else {
            return Err(Error::Internal("parsed wallet fields missing".into()));
        };
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
    pub async fn my_wallets(&self, caller: &Caller, page: PageRequest) -> Result<Page<Wallet>> {
        let me = caller.person()?;
        Ok(self.store.list_wallets(me.uuid, &page).await?)
    }
}
