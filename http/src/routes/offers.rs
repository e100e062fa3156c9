//! `/offers`: make, edit, accept, cancel, and the lists.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid};
use crate::state::AppState;
use actix_web::{HttpResponse, get, patch, post, web};
use metmos_engine::domain::fields::{non_blank, optional_text, parse_uuid_field};
use metmos_engine::domain::money::Wei;
use metmos_engine::domain::offer::{MAX_COMMENT, MakeOffer, Offer, OfferPatch, OfferStatus};
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::domain::{Page, PageRequest};
use metmos_engine::error::{Error, Problems};
use metmos_engine::services::double_option;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    // `/offers/mine` before `/offers/{uuid}`.
    cfg.service(create)
        .service(list)
        .service(mine)
        .service(update)
        .service(accept)
        .service(cancel);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateOfferDto {
    #[schema(required, example = "fba47127-5281-48ae-ac95-49606560c0e4")]
    pub listing_uuid: Option<String>,
    /// ETH as a decimal string (the listing's currency), greater than 0.
    #[schema(required, example = "1.2")]
    pub price: Option<String>,
    /// A message from the offeror; empty means none.
    pub comment: Option<String>,
}

impl TryFrom<CreateOfferDto> for MakeOffer {
    type Error = Error;
    fn try_from(dto: CreateOfferDto) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let listing_uuid = match non_blank(dto.listing_uuid.as_deref()) {
            None => {
                problems.push("listingUuid should not be empty");
                None
            }
            Some(raw) => problems.check(parse_uuid_field("listingUuid", raw)),
        };
        let price = match dto.price.as_deref() {
            None => {
                problems.push("price should not be empty");
                None
            }
            Some(p) => problems.check(Wei::parse_price("price", p).map_err(String::from)),
        };
        let comment = problems.check(optional_text(
            "comment",
            dto.comment.as_deref(),
            MAX_COMMENT,
        ));
        let cmd = match (listing_uuid, price, comment) {
            (Some(listing_uuid), Some(price), Some(comment)) => Some(MakeOffer {
                listing_uuid,
                price,
                comment,
            }),
            _ => None,
        };
        problems.finish_with(cmd)
    }
}

/// Price and comment of an offer still OFFERED. An absent field is left alone;
/// `comment: ""` or `null` clears the comment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateOfferDto {
    #[schema(example = "1.15")]
    pub price: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, example = "My final offer")]
    pub comment: Option<Option<String>>,
}

impl TryFrom<UpdateOfferDto> for OfferPatch {
    type Error = Error;
    fn try_from(dto: UpdateOfferDto) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let patch = OfferPatch {
            price: dto
                .price
                .as_deref()
                .and_then(|p| problems.check(Wei::parse_price("price", p).map_err(String::from))),
            comment: dto.comment.map(|c| {
                problems
                    .check(optional_text("comment", c.as_deref(), MAX_COMMENT))
                    .flatten()
            }),
        };
        problems.finish_with(Some(patch))
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OfferView {
    pub uuid: Uuid,
    /// The offeror.
    pub person_uuid: Uuid,
    pub listing_uuid: Uuid,
    /// ETH, normalised.
    #[schema(example = "1.15")]
    pub price: String,
    pub comment: Option<String>,
    pub status: OfferStatus,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Offer> for OfferView {
    fn from(o: &Offer) -> Self {
        Self {
            uuid: o.uuid,
            person_uuid: o.person_uuid,
            listing_uuid: o.listing_uuid,
            price: o.price.to_eth_string(),
            comment: o.comment.clone(),
            status: o.status,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OffersPage {
    pub offers: Vec<OfferView>,
    pub after: Option<i64>,
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateOfferDto>,
) -> ApiResult<HttpResponse> {
    let cmd = MakeOffer::try_from(body.into_inner())?;
    let offer = state.engine.market.create_offer(&caller, cmd).await?;
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<OfferListQuery>,
) -> ApiResult<web::Json<OffersPage>> {
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let mut problems = Problems::new();
    let listing_uuid = non_blank(q.listing_uuid.as_deref())
        .and_then(|l| problems.check(parse_uuid_field("listingUuid", l)));
    let person_uuid = non_blank(q.person_uuid.as_deref())
        .and_then(|p| problems.check(parse_uuid_field("personUuid", p)));
    problems.finish()?;
    let page = state
        .engine
        .market
        .list_offers(&caller, listing_uuid, person_uuid, page)
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<PageQuery>,
) -> ApiResult<web::Json<OffersPage>> {
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Json<UpdateOfferDto>,
) -> ApiResult<web::Json<OfferView>> {
    let uuid = parse_uuid("uuid", &path)?;
    let patch = OfferPatch::try_from(body.into_inner())?;
    let offer = state
        .engine
        .market
        .update_offer(&caller, uuid, patch)
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<web::Json<OfferView>> {
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<OfferView>> {
    let uuid = parse_uuid("uuid", &path)?;
    let offer = state.engine.market.cancel_offer(&caller, uuid).await?;
    Ok(web::Json(OfferView::from(&offer)))
}
