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
use metmos_engine::services::ws_connections::{
    CreateWsConnectionDto, UpdateWsConnectionDto, WsConnectionView, WsConnectionsPage,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(list_ws_connections)
        .service(create_ws_connection)
        .service(update_ws_connection)
        .service(send_message);
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
        .record_gateway(&caller, body.into_inner())
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
        .update_gateway(&caller, &path, body.into_inner())
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
