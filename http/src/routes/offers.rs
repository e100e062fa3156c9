//! `/offers`: make, edit, accept, cancel, and the lists.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid, state};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use metmos_engine::domain::money::Wei;
use metmos_engine::domain::offer::Offer;
use metmos_engine::domain::{Page, PageRequest};
use metmos_engine::error::Error;
use metmos_engine::services::market::{CreateOfferDto, OfferView, OffersPage, UpdateOfferDto};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    // `/offers/mine` before `/offers/{uuid}`.
    cfg.service(create)
        .service(list)
        .service(mine)
        .service(update)
        .service(accept)
        .service(cancel);
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct OfferListQuery {
    /// Offers on this listing.
    listing_uuid: Option<String>,
    /// Offers made by this person.
    person_uuid: Option<String>,
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page.
    after: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page.
    after: Option<String>,
}

fn page_of(page: Page<Offer>) -> OffersPage {
    OffersPage {
        offers: page.items.iter().map(OfferView::from).collect(),
        after: page.after,
    }
}

/// Makes an offer on a published listing (not one's own; one open offer per listing).
/// The poster is notified (OFFER_RECEIVED).
#[utoipa::path(
    tag = "offers",
    security(("bearer" = []), ("gateway" = [])),
    request_body = CreateOfferDto,
    responses(
        (status = 201, body = OfferView), (status = 400, body = ErrorBody), (status = 403, description = "Your own listing", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Listing not PUBLISHED, or you have an open offer on it", body = ErrorBody)
    )
)]
#[post("/offers")]
async fn create(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateOfferDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let offer = state
        .engine
        .market
        .create_offer(&caller, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(OfferView::from(&offer)))
}

/// Offers, newest first: the poster sees every offer on their listings, anyone else
/// only their own.
#[utoipa::path(
    tag = "offers",
    security(("bearer" = []), ("gateway" = [])),
    params(OfferListQuery),
    responses((status = 200, body = OffersPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/offers")]
async fn list(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    query: web::Query<OfferListQuery>,
) -> ApiResult<web::Json<OffersPage>> {
    let state = state(&req)?;
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let page = state
        .engine
        .market
        .list_offers(
            &caller,
            q.listing_uuid.as_deref(),
            q.person_uuid.as_deref(),
            page,
        )
        .await?;
    Ok(web::Json(page_of(page)))
}

/// The offers the caller made, newest first.
#[utoipa::path(
    tag = "offers",
    security(("bearer" = []), ("gateway" = [])),
    params(PageQuery),
    responses((status = 200, body = OffersPage), (status = 400, body = ErrorBody))
)]
#[get("/offers/mine")]
async fn mine(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<OffersPage>> {
    let state = state(&req)?;
    let page = PageRequest::parse_or_400(query.limit.as_deref(), query.after.as_deref())?;
    let page = state.engine.market.my_offers(&caller, page).await?;
    Ok(web::Json(page_of(page)))
}

/// The offeror changes price and comment while the offer is OFFERED.
#[utoipa::path(
    tag = "offers",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Offer uuid")),
    request_body = UpdateOfferDto,
    responses(
        (status = 200, body = OfferView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)
    )
)]
#[patch("/offers/{uuid}")]
async fn update(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Json<UpdateOfferDto>,
) -> ApiResult<web::Json<OfferView>> {
    let state = state(&req)?;
    let uuid = parse_uuid("uuid", &path)?;
    let offer = state
        .engine
        .market
        .update_offer(&caller, uuid, body.into_inner())
        .await?;
    Ok(web::Json(OfferView::from(&offer)))
}

/// The optional body of `PATCH /offers/{uuid}/accept`: the price the poster saw.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AcceptOfferDto {
    /// ETH as a decimal string: the offer's price as the poster saw it. If the offeror
    /// changed it since, the accept answers 409 naming the current price.
    #[schema(example = "1.15")]
    pub price: Option<String>,
}

/// The accept body, parsed: none (an empty body, as older clients send) or the price.
fn accepted_price(body: &[u8]) -> Result<Option<Wei>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let dto: AcceptOfferDto = serde_json::from_slice(body)
        .map_err(|e| Error::validation(format!("body does not parse: {e}")))?;
    dto.price
        .map(|p| Wei::parse_price("price", &p).map_err(Error::validation))
        .transpose()
}

/// The poster accepts an offer (OFFERED → ACCEPTED; one accepted offer per listing). The
/// offeror is notified (OFFER_ACCEPTED). With `{"price"}`, the accept binds that price:
/// 409 naming the current price if the offeror changed it.
#[utoipa::path(
    tag = "offers",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Offer uuid")),
    request_body(content = Option<AcceptOfferDto>, description = "Optional: the price the poster saw"),
    responses((status = 200, body = OfferView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
#[patch("/offers/{uuid}/accept")]
async fn accept(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<web::Json<OfferView>> {
    let state = state(&req)?;
    let uuid = parse_uuid("uuid", &path)?;
    let price = accepted_price(&body)?;
    let offer = state
        .engine
        .market
        .accept_offer(&caller, uuid, price)
        .await?;
    Ok(web::Json(OfferView::from(&offer)))
}

/// The offeror withdraws, or the poster declines (OFFERED or ACCEPTED → CANCELLED;
/// refused while an order is open).
#[utoipa::path(
    tag = "offers",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Offer uuid")),
    responses((status = 200, body = OfferView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
#[patch("/offers/{uuid}/cancel")]
async fn cancel(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<OfferView>> {
    let state = state(&req)?;
    let uuid = parse_uuid("uuid", &path)?;
    let offer = state.engine.market.cancel_offer(&caller, uuid).await?;
    Ok(web::Json(OfferView::from(&offer)))
}
