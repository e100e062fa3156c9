//! `/chats`: start a chat, list one's chats, read a chat's history, and read state
//! (issue 15): unread counts and the caller's read position.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{AuthCaller, parse_uuid, state};
use crate::ws_actions;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use metmos_engine::error::Error;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use metmos_engine::domain::PageRequest;
use metmos_engine::services::chat::{
    ChatView, ChatsPage, CreateChatDto, MessageView, MessagesPage,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    // `/chats/unread` before anything under `/chats/{chatUuid}`.
    cfg.service(unread)
        .service(create_chat)
        .service(list_chats)
        .service(list_messages)
        .service(mark_read);
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
    let mut view = ChatView::from(&summary);
    if !created {
        let me = caller.person()?;
        let counts = state
            .engine
            .read_state
            .unread_in(me.id, &[summary.chat.id])
            .await?;
        view.unread_count = counts.first().map_or(0, |c| c.unread);
    }
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
    // Unread counts of the whole page in one store call (O(chats), no message scan).
    let me = caller.person()?;
    let ids: Vec<i64> = page.items.iter().map(|c| c.chat.id).collect();
    let counts = state.engine.read_state.unread_in(me.id, &ids).await?;
    let chats = page
        .items
        .iter()
        .map(|c| {
            let mut view = ChatView::from(c);
            view.unread_count = counts
                .iter()
                .find(|u| u.chat_id == c.chat.id)
                .map_or(0, |u| u.unread);
            view
        })
        .collect();
    Ok(web::Json(ChatsPage {
        chats,
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

// --- read state (issue 15) --------------------------------------------------------------

/// A positive `seq`, or the reason it is not.
fn parse_seq(seq: Option<i64>) -> Result<i64, Error> {
    match seq {
        Some(s) if s >= 1 => Ok(s),
        Some(_) => Err(Error::validation("seq must be a positive integer")),
        None => Err(Error::validation("seq is required")),
    }
}

fn parse_chat_uuid(raw: Option<&str>) -> Result<Uuid, Error> {
    match raw.map(str::trim) {
        None | Some("") => Err(Error::validation("chatUuid is required")),
        Some(raw) => {
            Uuid::parse_str(raw).map_err(|_| Error::validation("chatUuid must be a UUID"))
        }
    }
}

/// `PATCH /chats/{chatUuid}/read` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MarkReadDto {
    /// The highest seq read; beyond the chat's last it reads everything there is.
    #[schema(example = 17, minimum = 1)]
    pub seq: Option<i64>,
}

/// The WebSocket `markRead` action's `data`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkReadActionDto {
    pub chat_uuid: Option<String>,
    pub seq: Option<i64>,
}

/// A parsed markRead: chat and a positive seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkReadAction {
    pub chat_uuid: Uuid,
    pub seq: i64,
}

impl TryFrom<MarkReadActionDto> for MarkReadAction {
    type Error = Error;
    fn try_from(dto: MarkReadActionDto) -> Result<Self, Error> {
        Ok(Self {
            chat_uuid: parse_chat_uuid(dto.chat_uuid.as_deref())?,
            seq: parse_seq(dto.seq)?,
        })
    }
}

/// The WebSocket `typing` action's `data`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TypingActionDto {
    pub chat_uuid: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypingAction {
    pub chat_uuid: Uuid,
}

impl TryFrom<TypingActionDto> for TypingAction {
    type Error = Error;
    fn try_from(dto: TypingActionDto) -> Result<Self, Error> {
        Ok(Self {
            chat_uuid: parse_chat_uuid(dto.chat_uuid.as_deref())?,
        })
    }
}

/// The caller's read position in a chat after a markRead.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadPositionView {
    pub chat_uuid: Uuid,
    /// The position now (unchanged when the request was not ahead of it).
    pub seq: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatUnreadView {
    pub chat_uuid: Uuid,
    pub unread_count: i64,
}

/// `GET /chats/unread`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnreadView {
    /// Unread messages over all the caller's chats (the app's badge).
    pub total: i64,
    /// Only chats with something unread, most unread first.
    pub chats: Vec<ChatUnreadView>,
}

/// Marks the caller's chat read up to `seq` (for clients without a socket; the socket
/// has the `markRead` action). Forward only: a lower seq leaves it; a seq beyond the
/// chat's last is clamped to it. When it moves, the caller's devices and (when both
/// share receipts) the other participants get a `read` frame.
#[utoipa::path(
    tag = "chats",
    security(("bearer" = []), ("gateway" = [])),
    params(("chatUuid" = String, Path, description = "Chat uuid")),
    request_body = MarkReadDto,
    responses(
        (status = 200, body = ReadPositionView),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such chat, or not yours", body = ErrorBody)
    )
)]
#[patch("/chats/{chatUuid}/read")]
async fn mark_read(
    req: HttpRequest,
    AuthCaller(caller): AuthCaller,
    path: web::Path<String>,
    body: web::Json<MarkReadDto>,
) -> ApiResult<web::Json<ReadPositionView>> {
    let state = state(&req)?;
    let chat_uuid = parse_uuid("chatUuid", &path)?;
    let seq = parse_seq(body.into_inner().seq)?;
    let me = caller.person()?;
    let marked = state.engine.read_state.mark_read(me, chat_uuid, seq).await?;
    ws_actions::deliver_read(&state, me, &marked, None);
    Ok(web::Json(ReadPositionView {
        chat_uuid,
        seq: marked.seq,
    }))
}

/// The caller's unread messages: the total, and each chat with any (chats with none are
/// left out). Counted from each chat's last seq and the caller's read position.
#[utoipa::path(
    tag = "chats",
    security(("bearer" = []), ("gateway" = [])),
    responses((status = 200, body = UnreadView), (status = 401, body = ErrorBody))
)]
#[get("/chats/unread")]
async fn unread(req: HttpRequest, AuthCaller(caller): AuthCaller) -> ApiResult<web::Json<UnreadView>> {
    let state = state(&req)?;
    let me = caller.person()?;
    let (total, chats) = state.engine.read_state.unread(me.id).await?;
    Ok(web::Json(UnreadView {
        total,
        chats: chats
            .into_iter()
            .map(|c| ChatUnreadView {
                chat_uuid: c.chat_uuid,
                unread_count: c.unread,
            })
            .collect(),
    }))
}
