//! `/connections`: connection requests (send, list, accept, reject) and contacts (list,
//! remove).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid, state};
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::services::connections::{
    ConnectionView, ConnectionsPage, ContactsPage, RequestConnectionDto,
};
use metmos_engine::services::people::{Closeness, PersonView};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    // The literal `/connections/contacts` routes before the `{uuid}` ones.
    cfg.service(request)
        .service(list)
        .service(contacts)
        .service(remove_contact)
        .service(accept)
        .service(reject);
}

/// Sends a connection request to `personUuid` (PENDING); the target gets a
/// CONNECTION_REQUEST notification.
#[utoipa::path(
    tag = "connections",
    security(("bearer" = []), ("gateway" = [])),
    request_body = RequestConnectionDto,
    responses(
        (status = 201, body = ConnectionView),
        (status = 400, description = "Bad uuid, or a request to oneself", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 409, description = "A pending or accepted connection already joins the two, in either direction", body = ErrorBody)
    )
)]
#[post("/connections")]
async fn request(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    body: web::Json<RequestConnectionDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let entry = state
        .engine
        .connections
        .request(&caller, body.into_inner())
        .await?;
    Ok(HttpResponse::Created().json(ConnectionView::from(&entry)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ConnectionQuery {
    /// PENDING, ACCEPTED or REJECTED.
    status: Option<String>,
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page (absent, -1 or 0: first page).
    after: Option<String>,
}

/// Connection requests the caller sent or received, newest first.
#[utoipa::path(
    tag = "connections",
    security(("bearer" = []), ("gateway" = [])),
    params(ConnectionQuery),
    responses((status = 200, body = ConnectionsPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/connections")]
async fn list(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    query: web::Query<ConnectionQuery>,
) -> ApiResult<web::Json<ConnectionsPage>> {
    let state = state(&req)?;
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let page = state
        .engine
        .connections
        .list(&caller, q.status.as_deref(), page)
        .await?;
    Ok(web::Json(ConnectionsPage {
        connections: page.items.iter().map(ConnectionView::from).collect(),
        after: page.after,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ContactQuery {
    /// Names and username by substring; email and contact number by exact match.
    q: Option<String>,
    /// 1 to 100, default 10.
    limit: Option<String>,
    /// Cursor from the previous page (absent, -1 or 0: first page).
    after: Option<String>,
}

/// The caller's contacts (accepted connections, either direction), most recent first.
/// Contacts see each other's email and contact number.
#[utoipa::path(
    tag = "connections",
    security(("bearer" = []), ("gateway" = [])),
    params(ContactQuery),
    responses((status = 200, body = ContactsPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/connections/contacts")]
async fn contacts(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    query: web::Query<ContactQuery>,
) -> ApiResult<web::Json<ContactsPage>> {
    let state = state(&req)?;
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let page = state
        .engine
        .connections
        .contacts(&caller, q.q, page)
        .await?;
    Ok(web::Json(ContactsPage {
        contacts: page
            .items
            .iter()
            .map(|p| PersonView::new(p, Closeness::Contact))
            .collect(),
        after: page.after,
    }))
}

/// Removes a contact (either side may). A new request between the two works afterwards.
#[utoipa::path(
    tag = "connections",
    security(("bearer" = []), ("gateway" = [])),
    params(("personUuid" = String, Path, description = "The contact's person uuid")),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Not a contact of the caller", body = ErrorBody)
    )
)]
#[delete("/connections/contacts/{personUuid}")]
async fn remove_contact(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let person_uuid = parse_uuid("personUuid", &path)?;
    state
        .engine
        .connections
        .remove_contact(&caller, person_uuid)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Accepts a request the caller received; the requester gets CONNECTION_ACCEPTED.
#[utoipa::path(
    tag = "connections",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Connection uuid")),
    responses(
        (status = 200, body = ConnectionView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The caller sent this request", body = ErrorBody),
        (status = 404, description = "No such connection involving the caller", body = ErrorBody),
        (status = 409, description = "Not PENDING", body = ErrorBody)
    )
)]
#[patch("/connections/{uuid}/accept")]
async fn accept(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ConnectionView>> {
    let state = state(&req)?;
    let uuid = parse_uuid("uuid", &path)?;
    let entry = state.engine.connections.accept(&caller, uuid).await?;
    Ok(web::Json(ConnectionView::from(&entry)))
}

/// Rejects a request the caller received.
#[utoipa::path(
    tag = "connections",
    security(("bearer" = []), ("gateway" = [])),
    params(("uuid" = String, Path, description = "Connection uuid")),
    responses(
        (status = 200, body = ConnectionView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "The caller sent this request", body = ErrorBody),
        (status = 404, description = "No such connection involving the caller", body = ErrorBody),
        (status = 409, description = "Not PENDING", body = ErrorBody)
    )
)]
#[patch("/connections/{uuid}/reject")]
async fn reject(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ConnectionView>> {
    let state = state(&req)?;
    let uuid = parse_uuid("uuid", &path)?;
    let entry = state.engine.connections.reject(&caller, uuid).await?;
    Ok(web::Json(ConnectionView::from(&entry)))
}
