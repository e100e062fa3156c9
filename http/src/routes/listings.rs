//! `/listings`: create, edit, the lifecycle (publish, unpublish, cancel), delete, one
//! listing, search, and the caller's own.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::listing::ListingAction;
use metmos_engine::domain::market::ListingType;
use metmos_engine::error::Error;
use metmos_engine::services::market::{
    CreateListingDto, ListingFilters, ListingView, ListingsPage, UpdateListingDto,
};
use metmos_engine::services::people::Caller;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    // `/listings/mine` before `/listings/{uuid}`: the first matching route wins.
    cfg.service(create)
        .service(search)
        .service(mine)
        .service(find_one)
        .service(update)
        .service(remove)
        .service(publish)
        .service(unpublish)
        .service(cancel);
}

/// The single-valued filters; `listingType` may repeat and is read from the raw query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ListingSearchQuery {
    /// Full-text search on title and description (web search syntax: words, `or`,
    /// `-word`, "quoted phrase").
    q: Option<String>,
    /// The poster (`GET /listings` only).
    person_uuid: Option<String>,
    /// ISO 8601 date or date-time, inclusive.
    updated_at_start: Option<String>,
    /// ISO 8601 date or date-time, inclusive.
    updated_at_end: Option<String>,
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page.
    after: Option<String>,
}

/// Every `listingType` value of the query string (`listingType=ITEM_SALE&listingType=ITEM_PURCHASE`).
fn listing_types(req: &HttpRequest) -> Result<Vec<String>, ApiError> {
    let pairs = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .map_err(|e| ApiError(Error::validation(format!("Invalid query: {e}"))))?;
    Ok(pairs
        .into_inner()
        .into_iter()
        .filter(|(k, _)| k == "listingType" || k == "listingType[]")
        .map(|(_, v)| v)
        .collect())
}

fn filters(
    req: &HttpRequest,
    q: &ListingSearchQuery,
) -> Result<(ListingFilters, PageRequest), ApiError> {
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    Ok((
        ListingFilters {
            q: q.q.clone(),
            listing_types: listing_types(req)?,
            person_uuid: q.person_uuid.clone(),
            updated_at_start: q.updated_at_start.clone(),
            updated_at_end: q.updated_at_end.clone(),
        },
        page,
    ))
}

fn page_of(
    page: metmos_engine::domain::Page<metmos_engine::domain::listing::Listing>,
) -> ListingsPage {
    ListingsPage {
        listings: page.items.iter().map(ListingView::from).collect(),
        after: page.after,
    }
}

/// Creates a listing as a DRAFT. Every field is checked; a 400 lists every problem.
#[utoipa::path(
    tag = "listings",
    security(("bearer" = []), ("gateway" = [])),
    request_body = CreateListingDto,
    responses((status = 201, body = ListingView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[post("/listings")]
async fn create(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateListingDto>,
) -> ApiResult<HttpResponse> {
    let listing = state
        .engine
        .market
        .create_listing(&caller, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(ListingView::from(&listing)))
}

/// Published listings, newest first, matching every filter given.
#[utoipa::path(
    tag = "listings",
    security(("bearer" = []), ("gateway" = [])),
    params(
        ListingSearchQuery,
        ("listingType" = Option<Vec<ListingType>>, Query, description = "Any of these types (repeat the parameter)")
    ),
    responses((status = 200, body = ListingsPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/listings")]
async fn search(
    req: HttpRequest,
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<ListingSearchQuery>,
) -> ApiResult<web::Json<ListingsPage>> {
    let (filters, page) = filters(&req, &query)?;
    let page = state
        .engine
        .market
        .search_listings(&caller, &filters, page)
        .await?;
    Ok(web::Json(page_of(page)))
}

/// The caller's listings in every status, newest first (`personUuid` is ignored).
#[utoipa::path(
    tag = "listings",
    security(("bearer" = []), ("gateway" = [])),
    params(
        ListingSearchQuery,
        ("listingType" = Option<Vec<ListingType>>, Query, description = "Any of these types (repeat the parameter)")
    ),
    responses((status = 200, body = ListingsPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/listings/mine")]
async fn mine(
    req: HttpRequest,
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<ListingSearchQuery>,
) -> ApiResult<web::Json<ListingsPage>> {
    let (filters, page) = filters(&req, &query)?;
    let page = state
        .engine
        .market
        .my_listings(&caller, &filters, page)
        .await?;
    Ok(web::Json(page_of(page)))
}

/// A listing. Every signed-in user sees every listing except others' drafts.
#[utoipa::path(
    tag = "listings",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Listing uuid")),
    responses((status = 200, body = ListingView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/listings/{uuid}")]
async fn find_one(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ListingView>> {
    let uuid = parse_uuid("uuid", &path)?;
    let listing = state.engine.market.listing(&caller, uuid).await?;
    Ok(web::Json(ListingView::from(&listing)))
}

/// Edits the owner's listing (title, description, price, additionalFields, location)
/// while DRAFT, PUBLISHED or PAUSED and no order is open.
#[utoipa::path(
    tag = "listings",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Listing uuid")),
    request_body = UpdateListingDto,
    responses(
        (status = 200, body = ListingView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "Not editable in its status, or an order is open", body = ErrorBody)
    )
)]
#[patch("/listings/{uuid}")]
async fn update(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Json<UpdateListingDto>,
) -> ApiResult<web::Json<ListingView>> {
    let uuid = parse_uuid("uuid", &path)?;
    let listing = state
        .engine
        .market
        .update_listing(&caller, uuid, body.into_inner())
        .await?;
    Ok(web::Json(ListingView::from(&listing)))
}

/// Deletes the owner's listing with its offers (refused while an order is open).
#[utoipa::path(
    tag = "listings",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Listing uuid")),
    responses(
        (status = 204, description = "Successfully deleted the listing"), (status = 403, body = ErrorBody),
        (status = 404, description = "Listing not found", body = ErrorBody), (status = 409, body = ErrorBody)
    )
)]
#[delete("/listings/{uuid}")]
async fn remove(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let uuid = parse_uuid("uuid", &path)?;
    state.engine.market.delete_listing(&caller, uuid).await?;
    Ok(HttpResponse::NoContent().finish())
}

async fn transition(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    action: ListingAction,
) -> ApiResult<web::Json<ListingView>> {
    let uuid = parse_uuid("uuid", raw)?;
    let listing = state
        .engine
        .market
        .transition_listing(caller, uuid, action)
        .await?;
    Ok(web::Json(ListingView::from(&listing)))
}

/// DRAFT or PAUSED → PUBLISHED.
#[utoipa::path(
    tag = "listings",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Listing uuid")),
    responses((status = 200, body = ListingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
#[patch("/listings/{uuid}/publish")]
async fn publish(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ListingView>> {
    transition(&state, &caller, &path, ListingAction::Publish).await
}

/// PUBLISHED → PAUSED (refused while an order is open).
#[utoipa::path(
    tag = "listings",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Listing uuid")),
    responses((status = 200, body = ListingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
#[patch("/listings/{uuid}/unpublish")]
async fn unpublish(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ListingView>> {
    transition(&state, &caller, &path, ListingAction::Unpublish).await
}

/// DRAFT, PUBLISHED or PAUSED → CANCELLED, with its open offers (refused while an order
/// is open).
#[utoipa::path(
    tag = "listings",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Listing uuid")),
    responses((status = 200, body = ListingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody))
)]
#[patch("/listings/{uuid}/cancel")]
async fn cancel(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ListingView>> {
    transition(&state, &caller, &path, ListingAction::Cancel).await
}
