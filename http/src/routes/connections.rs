//! `/connections`: connection requests (send, list, accept, reject) and contacts (list,
//! remove).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid};
use crate::state::AppState;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::connections::{ConnectionEntry, ConnectionStatus, RequestConnection};
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::error::Error;
use metmos_engine::services::people::{Closeness, PersonView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    // The literal `/connections/contacts` routes before the `{uuid}` ones.
    cfg.service(request)
        .service(list)
        .service(contacts)
        .service(remove_contact)
        .service(accept)
        .service(reject);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestConnectionDto {
    /// The person the request is sent to.
    pub person_uuid: String,
}

impl TryFrom<RequestConnectionDto> for RequestConnection {
    type Error = Error;
    fn try_from(dto: RequestConnectionDto) -> Result<Self, Error> {
        let person_uuid = Uuid::parse_str(dto.person_uuid.trim())
            .map_err(|_| Error::validation("personUuid must be a UUID"))?;
        Ok(Self { person_uuid })
    }
}

/// A connection request as either side sees it. `personUuid` sent it to
/// `connectionPersonUuid`; `otherPerson` is whoever of the two the caller is not, as
/// anyone signed in may see them.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub uuid: Uuid,
    /// The requester.
    pub person_uuid: Uuid,
    /// The target.
    pub connection_person_uuid: Uuid,
    pub status: ConnectionStatus,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    /// The other side's public profile (no email or contact number).
    pub other_person: PersonView,
}

impl From<&ConnectionEntry> for ConnectionView {
    fn from(e: &ConnectionEntry) -> Self {
        let c = &e.connection;
        Self {
            uuid: c.uuid,
            person_uuid: c.person_uuid,
            connection_person_uuid: c.connection_person_uuid,
            status: c.status,
            requested_at: c.requested_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
            other_person: PersonView::public(&e.other),
        }
    }
}

/// `{"connections": [...], "after": cursor}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionsPage {
    pub connections: Vec<ConnectionView>,
    pub after: Option<i64>,
}

/// `{"contacts": [...], "after": cursor}`: people, with what contacts see of each other.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContactsPage {
    pub contacts: Vec<PersonView>,
    pub after: Option<i64>,
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    body: web::Json<RequestConnectionDto>,
) -> ApiResult<HttpResponse> {
    let cmd = RequestConnection::try_from(body.into_inner())?;
    let entry = state.engine.connections.request(&caller, cmd).await?;
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<ConnectionQuery>,
) -> ApiResult<web::Json<ConnectionsPage>> {
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(raw) => Some(ConnectionStatus::parse(raw).map_err(Error::validation)?),
    };
    let page = state.engine.connections.list(&caller, status, page).await?;
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<ContactQuery>,
) -> ApiResult<web::Json<ContactsPage>> {
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ConnectionView>> {
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
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
) -> ApiResult<web::Json<ConnectionView>> {
    let uuid = parse_uuid("uuid", &path)?;
    let entry = state.engine.connections.reject(&caller, uuid).await?;
    Ok(web::Json(ConnectionView::from(&entry)))
}
