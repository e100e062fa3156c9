//! `/orders`: the payer's order for an accepted offer with its escrow quote, then its
//! lifecycle: complete (release to the payee) and cancel (refund, or just cancel when
//! unpaid), both through the offer's OrderActor; and the parties' reads.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid};
use crate::state::AppState;
use actix_web::{HttpResponse, get, patch, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::fields::{non_blank, parse_uuid_field};
use metmos_engine::domain::market::Currency;
use metmos_engine::domain::order::{CreateOrder, Order};
use metmos_engine::domain::order::{OrderAction, OrderQuery, OrderRole, OrderStatus};
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::domain::wallet::checksummed;
use metmos_engine::error::Error;
use metmos_engine::error::Problems;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOrderDto {
    #[schema(required, example = "08fef2af-a1ed-465a-b6b3-da53425f83de")]
    pub offer_uuid: Option<String>,
    /// One of the payer's wallets to pay from; default: their most recently added.
    pub payer_wallet_uuid: Option<String>,
}

/// The quote the payer's wallet sends to the escrow contract:
/// `pay(orderId, payee, fee, deadline, signature)` with `value = amount`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EscrowView {
    pub chain_id: u64,
    /// The escrow contract.
    pub contract: String,
    /// bytes32: the order uuid's 16 bytes right-aligned.
    pub order_id: String,
    pub payee: String,
    /// The order total, in wei.
    #[schema(example = "120750000000000000")]
    pub amount: String,
    /// What the platform keeps on release (fee and its tax), in wei.
    #[schema(example = "5750000000000000")]
    pub fee: String,
    /// Unix seconds.
    pub deadline: u64,
    /// The platform's quote signature (65 bytes hex).
    pub signature: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub uuid: Uuid,
    pub status: OrderStatus,
    pub offer_uuid: Uuid,
    pub listing_uuid: Uuid,
    pub listing_title: String,
    pub payer_uuid: Uuid,
    pub payee_uuid: Uuid,
    pub payer_address: String,
    pub payee_address: String,
    pub currency: Currency,
    /// The agreed price (the accepted offer's), ETH.
    #[schema(example = "0.115")]
    pub listing_price: String,
    #[schema(example = "0.00575")]
    pub total_platform_fee: String,
    #[schema(example = "0")]
    pub platform_fee_tax: String,
    /// What the payer pays: price + fee + tax, ETH.
    #[schema(example = "0.12075")]
    pub order_total: String,
    pub escrow: EscrowView,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Order> for OrderView {
    fn from(o: &Order) -> Self {
        let q = &o.quote;
        Self {
            uuid: o.uuid,
            status: o.status,
            offer_uuid: o.offer_uuid,
            listing_uuid: o.listing_uuid,
            listing_title: o.listing_title.clone(),
            payer_uuid: o.payer_uuid,
            payee_uuid: o.payee_uuid,
            payer_address: checksummed(&q.payer),
            payee_address: checksummed(&q.payee),
            currency: o.currency,
            listing_price: o.fees.price.to_eth_string(),
            total_platform_fee: o.fees.platform_fee.to_eth_string(),
            platform_fee_tax: o.fees.fee_tax.to_eth_string(),
            order_total: o.fees.total.to_eth_string(),
            escrow: EscrowView {
                chain_id: q.chain_id,
                contract: checksummed(&q.contract),
                order_id: q.order_id.to_string(),
                payee: checksummed(&q.payee),
                amount: q.amount.to_wei_string(),
                fee: q.fee.to_wei_string(),
                deadline: q.deadline,
                signature: o.quote_signature.clone(),
            },
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

impl TryFrom<CreateOrderDto> for CreateOrder {
    type Error = Error;
    fn try_from(dto: CreateOrderDto) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let offer_uuid = match non_blank(dto.offer_uuid.as_deref()) {
            None => {
                problems.push("offerUuid should not be empty");
                None
            }
            Some(raw) => problems.check(parse_uuid_field("offerUuid", raw)),
        };
        let payer_wallet_uuid = non_blank(dto.payer_wallet_uuid.as_deref())
            .and_then(|raw| problems.check(parse_uuid_field("payerWalletUuid", raw)));
        problems.finish_with(offer_uuid.map(|offer_uuid| CreateOrder {
            offer_uuid,
            payer_wallet_uuid,
        }))
    }
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create)
        .service(list)
        .service(get_one)
        .service(complete)
        .service(cancel);
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrdersPage {
    pub orders: Vec<OrderView>,
    /// Cursor of the next page; null on the last.
    pub after: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct OrderListQuery {
    /// `payer` or `payee`; both when absent.
    role: Option<String>,
    /// One order status (AWAITING_PAYMENT, PAID, RELEASING, COMPLETED, REFUNDING,
    /// CANCELLED, EXPIRED).
    status: Option<String>,
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page.
    after: Option<String>,
}

/// `GET /orders` as a command: whose orders, which ones, which page.
struct ListOrders {
    query: OrderQuery,
    page: PageRequest,
}

impl ListOrders {
    fn parse(me: Uuid, raw: OrderListQuery) -> Result<Self, Error> {
        let mut problems = Vec::new();
        let present = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let role = present(&raw.role)
            .and_then(|r| OrderRole::parse(&r).map_err(|e| problems.push(e)).ok());
        let status = present(&raw.status)
            .and_then(|s| OrderStatus::parse(&s).map_err(|e| problems.push(e)).ok());
        let page = PageRequest::parse(raw.limit.as_deref(), raw.after.as_deref())
            .map_err(|p| problems.extend(p))
            .ok();
        match page {
            Some(page) if problems.is_empty() => Ok(Self {
                query: OrderQuery {
                    person: me,
                    role,
                    status,
                },
                page,
            }),
            _ => Err(Error::Validation(problems)),
        }
    }
}

/// Creates the order of an ACCEPTED offer, right before payment; only the payer may
/// (ITEM_SALE / SERVICE_SALE: the offeror; ITEM_PURCHASE / SERVICE_PURCHASE: the
/// poster). Both parties need a wallet. Asking again answers the open order (200).
/// Unpaid at its quote's `deadline` (`orders.payment_timeout_secs`), it becomes EXPIRED.
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("gateway" = [])),
    request_body = CreateOrderDto,
    responses(
        (status = 201, description = "A new order", body = OrderView),
        (status = 200, description = "The offer's open order, created before", body = OrderView),
        (status = 400, description = "Bad body, or a party without a wallet", body = ErrorBody),
        (status = 403, description = "Not the payer", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Offer not ACCEPTED, or listing not PUBLISHED", body = ErrorBody)
    )
)]
#[post("/orders")]
async fn create(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateOrderDto>,
) -> ApiResult<HttpResponse> {
    let (order, created) = state
        .engine
        .market
        .create_order(&caller, CreateOrder::try_from(body.into_inner())?)
        .await?;
    let view = OrderView::from(&order);
    if created {
        // Its offer's actor arms the expiry timer.
        state.orders.track(order);
    }
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

/// The caller's orders, newest first: as payer, as payee, or both; optionally of one
/// status.
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("gateway" = [])),
    params(OrderListQuery),
    responses((status = 200, body = OrdersPage), (status = 400, body = ErrorBody))
)]
#[get("/orders")]
async fn list(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<OrderListQuery>,
) -> ApiResult<web::Json<OrdersPage>> {
    let me = caller.person()?.uuid;
    let cmd = ListOrders::parse(me, query.into_inner())?;
    let page = state
        .engine
        .market
        .list_orders(&cmd.query, &cmd.page)
        .await?;
    Ok(web::Json(OrdersPage {
        orders: page.items.iter().map(OrderView::from).collect(),
        after: page.after,
    }))
}

/// One order, for its payer or payee (anyone else: 404).
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Order uuid")),
    responses((status = 200, body = OrderView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/orders/{uuid}")]
async fn get_one(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<OrderView>> {
    let uuid = parse_uuid("uuid", &path)?;
    let order = state
        .engine
        .market
        .order_for(caller.person()?.uuid, uuid)
        .await?;
    Ok(web::Json(OrderView::from(&order)))
}

async fn payer_command(
    state: &AppState,
    caller: &metmos_engine::services::people::Caller,
    raw: &str,
    action: OrderAction,
) -> Result<web::Json<OrderView>, ApiError> {
    let uuid = parse_uuid("uuid", raw)?;
    let order = state
        .orders
        .command(caller.person()?.uuid, uuid, action)
        .await?;
    Ok(web::Json(OrderView::from(&order)))
}

/// The payer confirms delivery: PAID → RELEASING, answered at once; the operator then
/// releases the escrow (payee gets the price, the platform its fee) and, once the
/// `FundReleased` event is confirmed, order, offer and listing are COMPLETED and both
/// parties get LISTING_COMPLETED.
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Order uuid")),
    responses(
        (status = 200, description = "RELEASING", body = OrderView),
        (status = 403, description = "Not the payer", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not PAID", body = ErrorBody)
    )
)]
#[patch("/orders/{uuid}/complete")]
async fn complete(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<OrderView>> {
    payer_command(&state, &caller, &path, OrderAction::Complete).await
}

/// The payer cancels. Unpaid: CANCELLED at once, no chain call (the offer stays
/// ACCEPTED). Paid: REFUNDING, answered at once; the operator refunds the payer in full
/// and, once `Refunded` is confirmed, order and offer are CANCELLED, the listing is
/// PUBLISHED again and both parties get ORDER_CANCELLED.
#[utoipa::path(
    tag = "orders",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Order uuid")),
    responses(
        (status = 200, description = "CANCELLED (unpaid) or REFUNDING", body = OrderView),
        (status = 403, description = "Not the payer", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Neither AWAITING_PAYMENT nor PAID", body = ErrorBody)
    )
)]
#[patch("/orders/{uuid}/cancel")]
async fn cancel(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<OrderView>> {
    payer_command(&state, &caller, &path, OrderAction::Cancel).await
}
