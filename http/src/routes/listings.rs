//! `/listings`: create, edit, the lifecycle (publish, unpublish, cancel), delete, one
//! listing, search, and the caller's own.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::fields::{
    non_blank, optional_text, parse_uuid_field, required_enum, required_text,
};
use metmos_engine::domain::listing::{
    AdditionalFields, CreateListing, Listing, ListingAction, ListingEdit, ListingPatch,
    ListingQuery, ListingStatus, Location, parse_service_date,
};
use metmos_engine::domain::market::{Currency, CurrencyType, ListingType, ServiceDelivery};
use metmos_engine::domain::money::Wei;
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::error::{Error, Problems};
use metmos_engine::services::people::Caller;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

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

const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 5000;
const MAX_CONDITION: usize = 100;
const MAX_PLACE_FIELD: usize = 200;
const MAX_QUERY: usize = 200;

/// CreateLocationDto / UpdateLocationDto: `suburb`, `state_region` and `country` are
/// required; the rest of the data model's fields are optional.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocationDto {
    #[schema(required, example = "Sunnyvale")]
    pub suburb: Option<String>,
    #[serde(rename = "state_region")]
    #[schema(required, example = "California")]
    pub state_region: Option<String>,
    #[schema(required, example = "USA")]
    pub country: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub postal_code: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub place_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdditionalFieldsDto {
    /// SERVICE listings: a date (`2023-12-14`) or a date-time.
    #[schema(example = "2023-12-14")]
    pub service_date: Option<String>,
    /// ITEM listings: the item's condition.
    pub condition: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateListingDto {
    #[schema(required, example = "SERVICE_SALE")]
    pub listing_type: Option<String>,
    /// SERVICE listings only: IN_PERSON or ONLINE.
    pub service_delivery: Option<String>,
    #[schema(required, example = "Painting")]
    pub title: Option<String>,
    #[schema(required)]
    pub description: Option<String>,
    /// ETH as a decimal string, at most 18 decimals, greater than 0.
    #[schema(required, example = "0.0000002")]
    pub price: Option<String>,
    #[schema(required, example = "CRYPTO")]
    pub currency_type: Option<String>,
    #[schema(required, example = "ETH")]
    pub currency: Option<String>,
    /// A category of the listing's kind (ITEM for ITEM_*, SERVICE for SERVICE_*).
    #[schema(required, example = "49f72173-9c44-427c-80d6-9f7f8a65116f")]
    pub category_uuid: Option<String>,
    pub additional_fields: Option<AdditionalFieldsDto>,
    /// Where an in-person listing is.
    pub location: Option<LocationDto>,
}

/// The editable fields; anything else in the body is refused. `location: null` removes
/// the location; `additionalFields` replaces the whole object.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateListingDto {
    pub title: Option<String>,
    pub description: Option<String>,
    pub price: Option<String>,
    pub additional_fields: Option<AdditionalFieldsDto>,
    #[serde(default, deserialize_with = "metmos_engine::services::double_option")]
    #[schema(value_type = Option<LocationDto>)]
    pub location: Option<Option<LocationDto>>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListingView {
    pub uuid: Uuid,
    /// The poster.
    pub person_uuid: Uuid,
    pub listing_type: ListingType,
    pub title: String,
    pub description: String,
    /// ETH, normalised.
    #[schema(example = "0.0000002")]
    pub price: String,
    pub currency_type: CurrencyType,
    pub currency: Currency,
    pub status: ListingStatus,
    pub category_uuid: Uuid,
    pub additional_fields: AdditionalFields,
    pub location: Option<Location>,
    pub service_delivery: Option<ServiceDelivery>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&Listing> for ListingView {
    fn from(l: &Listing) -> Self {
        Self {
            uuid: l.uuid,
            person_uuid: l.person_uuid,
            listing_type: l.listing_type,
            title: l.title.clone(),
            description: l.description.clone(),
            price: l.price.to_eth_string(),
            currency_type: l.currency_type,
            currency: l.currency,
            status: l.status,
            category_uuid: l.category_uuid,
            additional_fields: l.additional_fields.clone(),
            location: l.location.clone(),
            service_delivery: l.service_delivery,
            created_at: l.created_at,
            updated_at: l.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ListingsPage {
    pub listings: Vec<ListingView>,
    pub after: Option<i64>,
}

// --- parsing ----------------------------------------------------------------------------

fn parse_location(problems: &mut Problems, dto: &LocationDto, at: Timestamp) -> Option<Location> {
    let mut place = |field: &str, raw: &Option<String>| {
        problems.check(optional_text(
            &format!("location.{field}"),
            raw.as_deref(),
            MAX_PLACE_FIELD,
        ))
    };
    let address = place("address", &dto.address);
    let city = place("city", &dto.city);
    let postal_code = place("postalCode", &dto.postal_code);
    let place_id = place("placeId", &dto.place_id);
    let mut required = |field: &str, raw: &Option<String>| {
        problems.check(required_text(
            &format!("location.{field}"),
            raw.as_deref(),
            MAX_PLACE_FIELD,
        ))
    };
    let suburb = required("suburb", &dto.suburb);
    let state_region = required("state_region", &dto.state_region);
    let country = required("country", &dto.country);
    let latitude = problems.check(match dto.latitude {
        Some(l) if !(-90.0..=90.0).contains(&l) => {
            Err("location.latitude must be between -90 and 90".to_string())
        }
        l => Ok(l),
    });
    let longitude = problems.check(match dto.longitude {
        Some(l) if !(-180.0..=180.0).contains(&l) => {
            Err("location.longitude must be between -180 and 180".to_string())
        }
        l => Ok(l),
    });
    Some(Location {
        uuid: Uuid::new_v4(),
        address: address?,
        suburb: suburb?,
        city: city?,
        state_region: state_region?,
        country: country?,
        postal_code: postal_code?,
        latitude: latitude?,
        longitude: longitude?,
        place_id: place_id?,
        created_at: at,
        updated_at: at,
    })
}

/// `serviceDate` belongs to SERVICE listings, `condition` to ITEM listings.
fn parse_additional_fields(
    problems: &mut Problems,
    dto: &AdditionalFieldsDto,
    listing_type: Option<ListingType>,
) -> Option<AdditionalFields> {
    let service_date = match non_blank(dto.service_date.as_deref()) {
        None => Some(None),
        Some(_) if listing_type.is_some_and(|t| !t.is_service()) => {
            problems.push("additionalFields.serviceDate applies only to SERVICE listings");
            None
        }
        Some(raw) => problems.check(parse_service_date(raw)).map(Some),
    };
    let condition = match problems.check(optional_text(
        "additionalFields.condition",
        dto.condition.as_deref(),
        MAX_CONDITION,
    )) {
        Some(Some(_)) if listing_type.is_some_and(ListingType::is_service) => {
            problems.push("additionalFields.condition applies only to ITEM listings");
            None
        }
        other => other,
    };
    Some(AdditionalFields {
        service_date: service_date?,
        condition: condition?,
    })
}

fn parse_price(problems: &mut Problems, raw: Option<&str>) -> Option<Wei> {
    match raw {
        None => {
            problems.push("price should not be empty");
            None
        }
        Some(p) => problems.check(Wei::parse_price("price", p).map_err(String::from)),
    }
}

impl TryFrom<CreateListingDto> for CreateListing {
    type Error = Error;
    /// Every field checked, all problems at once (the category's existence is the
    /// service's, against the store).
    fn try_from(dto: CreateListingDto) -> Result<Self, Error> {
        let mut problems = Problems::new();
        let at = time::now();
        let listing_type = problems.check(required_enum(
            "listingType",
            dto.listing_type.as_deref(),
            ListingType::parse,
        ));
        let title = problems.check(required_text("title", dto.title.as_deref(), MAX_TITLE));
        let description = problems.check(required_text(
            "description",
            dto.description.as_deref(),
            MAX_DESCRIPTION,
        ));
        let price = parse_price(&mut problems, dto.price.as_deref());
        let currency_type = problems.check(required_enum(
            "currencyType",
            dto.currency_type.as_deref(),
            CurrencyType::parse_supported,
        ));
        let currency = problems.check(required_enum(
            "currency",
            dto.currency.as_deref(),
            Currency::parse,
        ));
        let service_delivery = match non_blank(dto.service_delivery.as_deref()) {
            None => Some(None),
            Some(_) if listing_type.is_some_and(|t| !t.is_service()) => {
                problems.push("serviceDelivery applies only to SERVICE listings");
                None
            }
            Some(raw) => problems.check(ServiceDelivery::parse(raw)).map(Some),
        };
        let additional_fields = match &dto.additional_fields {
            None => Some(AdditionalFields::default()),
            Some(f) => parse_additional_fields(&mut problems, f, listing_type),
        };
        let location = match &dto.location {
            None => Some(None),
            Some(l) => parse_location(&mut problems, l, at).map(Some),
        };
        let category_uuid = match non_blank(dto.category_uuid.as_deref()) {
            None => {
                problems.push("categoryUuid should not be empty");
                None
            }
            Some(raw) => problems.check(parse_uuid_field("categoryUuid", raw)),
        };
        let cmd = (|| {
            Some(CreateListing {
                listing_type: listing_type?,
                title: title?,
                description: description?,
                price: price?,
                currency_type: currency_type?,
                currency: currency?,
                category_uuid: category_uuid?,
                additional_fields: additional_fields?,
                location: location?,
                service_delivery: service_delivery?,
            })
        })();
        problems.finish_with(cmd)
    }
}

impl From<UpdateListingDto> for ListingEdit {
    /// The body's own problems; those that depend on the stored listing's type are
    /// `edit_problems`', which the service adds.
    fn from(dto: UpdateListingDto) -> Self {
        let at = time::now();
        let mut problems = Problems::new();
        let sets_service_date = dto
            .additional_fields
            .as_ref()
            .is_some_and(|f| non_blank(f.service_date.as_deref()).is_some());
        let patch = ListingPatch {
            title: dto
                .title
                .as_deref()
                .and_then(|t| problems.check(required_text("title", Some(t), MAX_TITLE))),
            description: dto.description.as_deref().and_then(|d| {
                problems.check(required_text("description", Some(d), MAX_DESCRIPTION))
            }),
            price: dto
                .price
                .as_deref()
                .and_then(|p| parse_price(&mut problems, Some(p))),
            additional_fields: dto
                .additional_fields
                .as_ref()
                .and_then(|f| parse_additional_fields(&mut problems, f, None)),
            location: dto.location.as_ref().map(|l| {
                l.as_ref()
                    .and_then(|l| parse_location(&mut problems, l, at))
            }),
        };
        let sets_condition = patch
            .additional_fields
            .as_ref()
            .is_some_and(|f| f.condition.is_some());
        ListingEdit {
            patch,
            problems: problems.into_messages(),
            sets_service_date,
            sets_condition,
        }
    }
}

/// The filters of `GET /listings` and `GET /listings/mine`, parsed (`listingType` may
/// repeat; duplicates are dropped).
fn parse_query(q: &ListingSearchQuery, raw_types: &[String]) -> Result<ListingQuery, Error> {
    let mut problems = Problems::new();
    let text = non_blank(q.q.as_deref()).and_then(|q| {
        if q.chars().count() > MAX_QUERY {
            problems.push(format!("q must be at most {MAX_QUERY} characters"));
            None
        } else {
            Some(q.to_string())
        }
    });
    let mut listing_types = Vec::new();
    for raw in raw_types {
        if let Some(t) = problems.check(ListingType::parse(raw.trim()))
            && !listing_types.contains(&t)
        {
            listing_types.push(t);
        }
    }
    let query = ListingQuery {
        q: text,
        listing_types,
        person_uuid: non_blank(q.person_uuid.as_deref())
            .and_then(|p| problems.check(parse_uuid_field("personUuid", p))),
        updated_at_start: non_blank(q.updated_at_start.as_deref())
            .and_then(|t| problems.check(time::parse("updatedAtStart", t))),
        updated_at_end: non_blank(q.updated_at_end.as_deref())
            .and_then(|t| problems.check(time::parse("updatedAtEnd", t))),
        published_only: true,
    };
    problems.finish_with(Some(query))
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
) -> Result<(ListingQuery, PageRequest), ApiError> {
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    Ok((parse_query(q, &listing_types(req)?)?, page))
}

fn page_of(page: metmos_engine::domain::Page<Listing>) -> ListingsPage {
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
        .create_listing(&caller, body.into_inner().try_into()?)
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
        .search_listings(&caller, filters, page)
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
        .my_listings(&caller, filters, page)
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
        .update_listing(&caller, uuid, body.into_inner().into())
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
