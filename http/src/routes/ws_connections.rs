//! `/ws_connections`: the caller's WebSocket connections; and the INTERNAL endpoints an
//! API Gateway WebSocket front calls in `gateway` mode (`$connect`, `$disconnect`, and
//! `sendMessage` as `POST /messages/{wsConnId}`). Those record connections and accept
//! messages as if sent on that connection; frames for sockets the gateway holds are not
//! posted back to it (only this node's own sockets get frames).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, InternalCaller};
use crate::routes::chats::{CreateMessageDto, MessageView, message_draft};
use crate::state::AppState;
use actix_web::{HttpResponse, get, patch, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::time::{self, Timestamp};
use metmos_engine::domain::ws_connections::{
    RecordWsConnection, UpdateWsConnection, WsConnection, WsConnectionStatus, parse_ws_conn_id,
};
use metmos_engine::error::Error;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_ws_connections)
        .service(create_ws_connection)
        .service(update_ws_connection)
        .service(send_message);
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateWsConnectionDto {
    pub ws_conn_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateWsConnectionDto {
    #[schema(example = "DISCONNECTED")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WsConnectionView {
    pub uuid: Uuid,
    pub ws_conn_id: String,
    pub person_uuid: Uuid,
    pub status: WsConnectionStatus,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub connected_at: Timestamp,
    #[serde(with = "time::millis::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub disconnected_at: Option<Timestamp>,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[serde(with = "time::millis")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<&WsConnection> for WsConnectionView {
    fn from(c: &WsConnection) -> Self {
        Self {
            uuid: c.uuid,
            ws_conn_id: c.ws_conn_id.clone(),
            person_uuid: c.person_uuid,
            status: c.status,
            connected_at: c.connected_at,
            disconnected_at: c.disconnected_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WsConnectionsPage {
    pub ws_connections: Vec<WsConnectionView>,
    pub after: Option<i64>,
}

impl TryFrom<CreateWsConnectionDto> for RecordWsConnection {
    type Error = Error;
    fn try_from(dto: CreateWsConnectionDto) -> Result<Self, Error> {
        Ok(Self {
            ws_conn_id: parse_ws_conn_id(&dto.ws_conn_id).map_err(Error::validation)?,
        })
    }
}

impl TryFrom<UpdateWsConnectionDto> for UpdateWsConnection {
    type Error = Error;
    fn try_from(dto: UpdateWsConnectionDto) -> Result<Self, Error> {
        Ok(Self {
            status: dto
                .status
                .as_deref()
                .map(WsConnectionStatus::parse)
                .transpose()
                .map_err(Error::validation)?,
        })
    }
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct WsConnectionQuery {
    /// CONNECTED or DISCONNECTED.
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// The caller's own WebSocket connections, newest first.
#[utoipa::path(
    tag = "ws_connections",
    security(("bearer" = []), ("gateway" = [])),
    params(WsConnectionQuery),
    responses((status = 200, body = WsConnectionsPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/ws_connections")]
async fn list_ws_connections(
    state: web::Data<AppState>,
    AuthCaller(caller): AuthCaller,
    query: web::Query<WsConnectionQuery>,
) -> ApiResult<web::Json<WsConnectionsPage>> {
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let page = state
        .engine
        .ws_connections
        .list(&caller, q.status.as_deref(), page)
        .await?;
    Ok(web::Json(WsConnectionsPage {
        ws_connections: page.items.iter().map(WsConnectionView::from).collect(),
        after: page.after,
    }))
}

/// INTERNAL (API Gateway `$connect`): records a connection of the `x-cognito-user-id`
/// user.
#[utoipa::path(
    tag = "ws_connections",
    security(("internal" = [])),
    request_body = CreateWsConnectionDto,
    responses(
        (status = 201, body = WsConnectionView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 409, description = "wsConnId already exists", body = ErrorBody)
    )
)]
#[post("/ws_connections")]
async fn create_ws_connection(
    state: web::Data<AppState>,
    InternalCaller(caller): InternalCaller,
    body: web::Json<CreateWsConnectionDto>,
) -> ApiResult<HttpResponse> {
    let conn = state
        .engine
        .ws_connections
        .record_gateway(&caller, body.into_inner().try_into()?)
        .await?;
    Ok(HttpResponse::Created().json(WsConnectionView::from(&conn)))
}

/// INTERNAL (API Gateway `$disconnect`): the only field is `status`.
#[utoipa::path(
    tag = "ws_connections",
    security(("internal" = [])),
    params(("wsConnId" = String, Path, description = "The gateway's connection id")),
    request_body = UpdateWsConnectionDto,
    responses(
        (status = 200, body = WsConnectionView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "A closed connection cannot reconnect", body = ErrorBody)
    )
)]
#[patch("/ws_connections/{wsConnId}")]
async fn update_ws_connection(
    state: web::Data<AppState>,
    InternalCaller(caller): InternalCaller,
    path: web::Path<String>,
    body: web::Json<UpdateWsConnectionDto>,
) -> ApiResult<web::Json<WsConnectionView>> {
    let conn = state
        .engine
        .ws_connections
        .update_gateway(&caller, &path, body.into_inner().try_into()?)
        .await?;
    Ok(web::Json(WsConnectionView::from(&conn)))
}

/// INTERNAL (API Gateway `sendMessage`): a message sent on that connection, stored and
/// delivered exactly as one sent on an engine-held socket. 201 when stored, 200 for a
/// resend of a stored one.
#[utoipa::path(
    tag = "ws_connections",
    security(("internal" = [])),
    params(("wsConnId" = String, Path, description = "The gateway's connection id")),
    request_body = CreateMessageDto,
    responses(
        (status = 201, body = MessageView),
        (status = 200, description = "A resend: already stored", body = MessageView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such connection or chat", body = ErrorBody),
        (status = 409, description = "Connection closed, or uuid used by another message", body = ErrorBody)
    )
)]
#[post("/messages/{wsConnId}")]
async fn send_message(
    state: web::Data<AppState>,
    InternalCaller(caller): InternalCaller,
    path: web::Path<String>,
    body: web::Json<CreateMessageDto>,
) -> ApiResult<HttpResponse> {
    state
        .engine
        .ws_connections
        .open_gateway_connection(&caller, &path)
        .await?;
    let draft = message_draft(&body, state.engine.settings.ws.max_message_chars)?;
    let sender = caller.person()?.clone();
    let stored = state.realtime.post(sender, None, draft).await?;
    let view = MessageView::from(stored.message());
    Ok(if stored.is_created() {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}
