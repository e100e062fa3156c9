//! `POST /orders`: the payer's order for an accepted offer, with its escrow quote.
//! (`PATCH /orders/{uuid}/complete|cancel` come with the escrow lifecycle.)

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, state};
use actix_web::{HttpRequest, HttpResponse, post, web};
use metmos_engine::services::market::{CreateOrderDto, OrderView};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create);
}

/// Creates the order of an ACCEPTED offer, right before payment; only the payer may
/// (ITEM_SALE / SERVICE_SALE: the offeror; ITEM_PURCHASE / SERVICE_PURCHASE: the
/// poster). Both parties need a wallet. Asking again answers the open order (200).
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
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateOrderDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let (order, created) = state
        .engine
        .market
        .create_order(&caller, body.into_inner())
        .await?;
    let view = OrderView::from(&order);
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}
