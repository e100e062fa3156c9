//! `/wallets`: the caller's connected crypto addresses.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid, state};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::services::market::{CreateWalletDto, WalletView, WalletsPage};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create).service(mine).service(remove);
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateWalletDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let wallet = state
        .engine
        .market
        .add_wallet(&caller, body.into_inner())
        .await?;
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<WalletsPage>> {
    let state = state(&req)?;
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let uuid = parse_uuid("uuid", &path)?;
    state.engine.market.remove_wallet(&caller, uuid).await?;
    Ok(HttpResponse::NoContent().finish())
}
