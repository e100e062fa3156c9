//! `/chats`: start a chat, list one's chats, read a chat's history.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid, state};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use metmos_engine::domain::PageRequest;
use metmos_engine::services::chat::{
    ChatView, ChatsPage, CreateChatDto, MessageView, MessagesPage,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(create_chat)
        .service(list_chats)
        .service(list_messages);
}

/// Starts a chat with a contact (CONTACT) or about a listing (LISTING). The pair's
/// existing chat is answered with 200 instead of making a second one.
#[utoipa::path(
    tag = "chats",
    security(("bearer" = []), ("gateway" = [])),
    request_body = CreateChatDto,
    responses(
        (status = 201, description = "Created", body = ChatView),
        (status = 200, description = "The chat the pair already has", body = ChatView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Not a contact", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody)
    )
)]
#[post("/chats")]
async fn create_chat(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    body: web::Json<CreateChatDto>,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    let (summary, created) = state.engine.chat.create(&caller, body.into_inner()).await?;
    let view = ChatView::from(&summary);
    Ok(if created {
        HttpResponse::Created().json(view)
    } else {
        HttpResponse::Ok().json(view)
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct ChatQuery {
    /// CONTACT or LISTING.
    chat_type: Option<String>,
    /// Chats about this listing (its poster sees all of them, an offeror theirs).
    listing_uuid: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// The caller's chats, newest first, each with its participants and last message.
#[utoipa::path(
    tag = "chats",
    security(("bearer" = []), ("gateway" = [])),
    params(ChatQuery),
    responses((status = 200, body = ChatsPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody))
)]
#[get("/chats")]
async fn list_chats(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    query: web::Query<ChatQuery>,
) -> ApiResult<web::Json<ChatsPage>> {
    let state = state(&req)?;
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let page = state
        .engine
        .chat
        .list(
            &caller,
            q.chat_type.as_deref(),
            q.listing_uuid.as_deref(),
            page,
        )
        .await?;
    Ok(web::Json(ChatsPage {
        chats: page.items.iter().map(ChatView::from).collect(),
        after: page.after,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
pub struct MessageQuery {
    /// ISO 8601 date or date-time, inclusive.
    updated_at_start: Option<String>,
    /// ISO 8601 date or date-time, inclusive.
    updated_at_end: Option<String>,
    limit: Option<String>,
    /// The `seq` of the last message already held (the previous page's `after`).
    after: Option<String>,
}

/// A chat's messages, OLDEST first (the app syncs forward from its last `seq`).
/// Participants only: anyone else gets 404.
#[utoipa::path(
    tag = "chats",
    security(("bearer" = []), ("gateway" = [])),
    params(("chatUuid" = String, Path, description = "Chat uuid"), MessageQuery),
    responses(
        (status = 200, body = MessagesPage),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)
    )
)]
#[get("/chats/{chatUuid}/messages")]
async fn list_messages(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    query: web::Query<MessageQuery>,
) -> ApiResult<web::Json<MessagesPage>> {
    let state = state(&req)?;
    let chat_uuid = parse_uuid("chatUuid", &path)?;
    let q = query.into_inner();
    let page = PageRequest::parse_or_400(q.limit.as_deref(), q.after.as_deref())?;
    let page = state
        .engine
        .chat
        .messages(
            &caller,
            chat_uuid,
            q.updated_at_start.as_deref(),
            q.updated_at_end.as_deref(),
            page,
        )
        .await?;
    Ok(web::Json(MessagesPage {
        messages: page.items.iter().map(MessageView::from).collect(),
        after: page.after,
    }))
}
