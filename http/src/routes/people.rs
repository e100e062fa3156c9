//! `/people`: the caller's profile, other people's profiles, search, and the INTERNAL
//! create used by sign-up.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, Internal, parse_uuid, state};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::services::people::{
    Closeness, CreatePersonDto, PeoplePage, PersonView, UpdatePersonDto,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    // `/people/me` before `/people/{uuid}`: the first matching route wins.
    cfg.service(my_person)
        .service(update_my_person)
        .service(create_person)
        .service(search)
        .service(find_one);
}

/// INTERNAL: creates the person of an account (sign-up).
#[utoipa::path(
    tag = "people",
    security(("internal" = [])),
    request_body = CreatePersonDto,
    responses(
        (status = 201, body = PersonView),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No such account", body = ErrorBody),
        (status = 409, description = "Username or email taken, or the account has a person", body = ErrorBody)
    )
)]
#[post("/people")]
async fn create_person(
    req: HttpRequest,
    _: Internal,
    body: web::Json<CreatePersonDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let person = state.engine.people.create_person(body.into_inner()).await?;
    Ok(HttpResponse::Created().json(PersonView::new(&person, Closeness::Myself)))
}

/// The caller's person, every field included.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("gateway" = [])),
    responses((status = 200, body = PersonView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/people/me")]
async fn my_person(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
) -> ApiResult<web::Json<PersonView>> {
    let state = state(&req)?;
    let me = caller.person()?;
    let mut view = PersonView::new(me, Closeness::Myself);
    view.read_receipts = Some(state.engine.read_state.receipts(me.id).await?);
    Ok(web::Json(view))
}

/// Updates the caller's profile. Only the listed fields; `null` clears one; any other
/// field is refused with 400.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("gateway" = [])),
    request_body = UpdatePersonDto,
    responses((status = 200, body = PersonView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[patch("/people/me")]
async fn update_my_person(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    body: web::Json<UpdatePersonDto>,
) -> ApiResult<web::Json<PersonView>> {
    let state = state(&req)?;
    let person = state
        .engine
        .people
        .update_me(&caller, body.into_inner())
        .await?;
    let mut view = PersonView::new(&person, Closeness::Myself);
    view.read_receipts = Some(state.engine.read_state.receipts(person.id).await?);
    Ok(web::Json(view))
}

/// Paging parameters of every list (`after` absent, -1 or 0 = first page).
#[derive(Debug, Deserialize, IntoParams)]
pub struct SearchQuery {
    /// Names and username by substring; email and contact number by exact match.
    q: Option<String>,
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page.
    after: Option<String>,
}

/// Searches people. An exact username match comes first; results never show email or
/// contact number, even when they matched.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("gateway" = [])),
    params(SearchQuery),
    responses((status = 200, body = PeoplePage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/people")]
async fn search(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    query: web::Query<SearchQuery>,
) -> ApiResult<web::Json<PeoplePage>> {
    let state = state(&req)?;
    let query = query.into_inner();
    let page = PageRequest::parse_or_400(query.limit.as_deref(), query.after.as_deref())?;
    let page = state.engine.people.search(&caller, query.q, page).await?;
    Ok(web::Json(PeoplePage {
        people: page.items,
        after: page.after,
    }))
}

/// A person. `email` and `contactNumber` only for the person themself and their contacts.
#[utoipa::path(
    tag = "people",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Person uuid")),
    responses((status = 200, body = PersonView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody))
)]
#[get("/people/{uuid}")]
async fn find_one(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<PersonView>> {
    let state = state(&req)?;
    let uuid = parse_uuid("uuid", &path)?;
    Ok(web::Json(state.engine.people.view(&caller, uuid).await?))
}
