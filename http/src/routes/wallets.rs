//! `/wallets`: the caller's connected crypto addresses.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::fields::{required_enum, required_text};
use metmos_engine::domain::market::Currency;
use metmos_engine::domain::money::Wei;
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::domain::wallet::{
    AddWallet, Blockchain, MAX_NETWORK, Wallet, WalletType, checksummed, parse_wallet_address,
};
use metmos_engine::error::{Error, Problems};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create).service(mine).service(remove);
}

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

impl TryFrom<CreateWalletDto> for AddWallet {
    type Error = Error;
    fn try_from(dto: CreateWalletDto) -> Result<Self, Error> {
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
        let cmd = match (chain, wallet_type, network, balance, currency, address) {
            (
                Some(chain),
                Some(wallet_type),
                Some(network),
                Some(balance),
                Some(currency),
                Some(address),
            ) => Some(AddWallet {
                chain,
                wallet_type,
                network,
                balance,
                currency,
                address,
            }),
            _ => None,
        };
        problems.finish_with(cmd)
    }
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

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page.
    after: Option<String>,
}

/// Registers a connected wallet. The address is checked (EIP-55 when mixed case) and
/// unique across all wallets, whatever its case.
#[utoipa::path(
    tag = "wallets",
    security(("bearer" = []), ("gateway" = [])),
    request_body = CreateWalletDto,
    responses((status = 201, body = WalletView), (status = 400, body = ErrorBody), (status = 409, description = "Address already registered", body = ErrorBody))
)]
#[post("/wallets")]
async fn create(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateWalletDto>,
) -> ApiResult<HttpResponse> {
    let cmd = AddWallet::try_from(body.into_inner())?;
    let wallet = state.engine.market.add_wallet(&caller, cmd).await?;
    Ok(HttpResponse::Created().json(WalletView::from(&wallet)))
}

/// The caller's wallets, most recently added first (orders use the first).
#[utoipa::path(
    tag = "wallets",
    security(("bearer" = []), ("gateway" = [])),
    params(PageQuery),
    responses((status = 200, body = WalletsPage), (status = 400, body = ErrorBody))
)]
#[get("/wallets/mine")]
async fn mine(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<WalletsPage>> {
    let page = PageRequest::parse_or_400(query.limit.as_deref(), query.after.as_deref())?;
    let page = state.engine.market.my_wallets(&caller, page).await?;
    Ok(web::Json(WalletsPage {
        wallets: page.items.iter().map(WalletView::from).collect(),
        after: page.after,
    }))
}

/// Unregisters one of the caller's wallets.
#[utoipa::path(
    tag = "wallets",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Wallet uuid")),
    responses((status = 204, description = "Successfully unregistered the wallet"), (status = 404, description = "Wallet not found", body = ErrorBody))
)]
#[delete("/wallets/{uuid}")]
async fn remove(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid("uuid", &path)?;
    state.engine.market.remove_wallet(&caller, uuid).await?;
    Ok(HttpResponse::NoContent().finish())
}
