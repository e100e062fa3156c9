//! The WebSocket channel (API.md "WebSocket"), on actix-ws.
//!
//! The upgrade at `/` and `/ws` authenticates like REST (`Authorization` raw or Bearer,
//! or `?token=` for browsers), checks the Origin allowlist when one is configured,
//! records the `ws_connection` row (CONNECTED, this node's id) and registers the socket
//! with Presence. Then one task per socket:
//! - reads client frames (at most `ws.max_frame_bytes`), rate-limits them per connection
//!   (token bucket: an error frame, then a close after `ws.rate_limit_strikes` refusals
//!   in a row), answers `ping`, posts `sendMessage` to its chat's room, and hands
//!   `markRead` and `typing` to [`crate::ws_actions`];
//! - stops reading while `ws.max_in_flight` of its messages await their ack or error
//!   (ingress backpressure: the engine admits what it can do, TCP pushes back on a client
//!   that sends faster, and nobody is closed for it);
//! - writes what its bounded queue (`ws.send_queue`) holds: frames for the person and
//!   the outcome (ack or error) of its own messages;
//! - pings every `ws.heartbeat_secs` and closes after `ws.client_timeout_secs` without
//!   any frame from the client;
//! - closes (1013) a client that stopped reading: a write stuck for
//!   `ws.slow_reader_secs`, or its kill switch (queue full; or the account
//!   is gone), even while a write is stuck on a full socket.
//!
//! Bad input (malformed JSON, unknown action, invalid fields) is answered with an error
//! frame and the connection stays open. On close the row becomes DISCONNECTED.

use crate::conn::{CLOSE_GRACE, ConnSocket};
use crate::error::{ApiError, ApiResult, ErrorBody, public_message, status_of};
use crate::extract::{authenticate_with, state};
use crate::routes::chats::{CreateMessageDto, message_draft};
use crate::state::AppState;
use crate::telemetry::redacted_target;
use crate::ws_actions;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, get, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use futures_util::StreamExt;
use metmos_actors::frames::{Frame, ServerFrame};
use metmos_actors::outbound::{self, OutboundReceiver};
use metmos_actors::presence::{Connect, Disconnect};
use metmos_actors::room_registry::{Post, Reply};
use metmos_actors::user_session::{
    ConnHandle, ConnId, KillReason, KillSwitch, Origin, Outbound, Posted,
};
use metmos_engine::domain::chat::MessageDraft;
use metmos_engine::domain::people::Person;
use metmos_engine::domain::people::PersonIds;
use metmos_engine::domain::text;
use metmos_engine::error::Error;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};
use tracing_actix_web::RequestId;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;
use uuid::Uuid;

/// A client frame with its `data` left as text until the action says what it is.
#[derive(Deserialize)]
struct ClientFrame<'a> {
    #[serde(borrow)]
    action: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    data: Option<&'a serde_json::value::RawValue>,
}

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(ws_root).service(ws_path);
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct WsQuery {
    /// The access token, for clients that cannot set `Authorization` on an upgrade.
    token: Option<String>,
}

/// Opens the realtime channel (as `wscat -c wss://host/` in the overview). Client
/// actions: `{"action": "sendMessage", "data": {chatUuid, uuid, messageContent,
/// assetUuids}}`, `{"action": "markRead", "data": {chatUuid, seq}}`, `{"action":
/// "typing", "data": {chatUuid}}`, `{"action": "ping"}`. Server frames: `chatMessage`,
/// `ack`, `notification`, `read` {chatUuid, personUuid, seq}, `typing` {chatUuid,
/// personUuid} (show it for 5 s), `error`, `pong`.
#[utoipa::path(
    tag = "realtime",
    security(("bearer" = []), ("gateway" = [])),
    params(WsQuery),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open"),
        (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Origin not allowed", body = ErrorBody)
    )
)]
#[get("/")]
async fn ws_root(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<WsQuery>,
) -> ApiResult<HttpResponse> {
    upgrade(req, body, query.into_inner()).await
}

/// The same channel at `/ws`.
#[utoipa::path(
    tag = "realtime",
    security(("bearer" = []), ("gateway" = [])),
    params(WsQuery),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open"),
        (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Origin not allowed", body = ErrorBody)
    )
)]
#[get("/ws")]
async fn ws_path(
    req: HttpRequest,
    body: web::Payload,
    query: web::Query<WsQuery>,
) -> ApiResult<HttpResponse> {
    upgrade(req, body, query.into_inner()).await
}

/// The close reason of a socket refused by `ws.max_connections_per_person`.
pub const TOO_MANY_SOCKETS: &str = "too many open connections for this person";

/// Open sockets per person on this node (`ws.max_connections_per_person`).
#[derive(Default)]
pub struct SocketCounts(Mutex<HashMap<Uuid, usize>>);

impl SocketCounts {
    /// Counts one more socket for `person`, unless `max` are open already.
    fn try_open(&self, person: Uuid, max: usize) -> bool {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let open = counts.entry(person).or_default();
        if *open >= max {
            return false;
        }
        *open += 1;
        true
    }

    fn close(&self, person: Uuid) {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = counts.get_mut(&person) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                counts.remove(&person);
            }
        }
    }
}

/// Browsers send `Origin`; native apps do not, so a missing header passes.
fn check_origin(req: &HttpRequest, allowed: &[String]) -> ApiResult<()> {
    if allowed.is_empty() {
        return Ok(());
    }
    match req.headers().get("origin").and_then(|v| v.to_str().ok()) {
        None => Ok(()),
        Some(origin)
            if allowed.iter().any(|a| {
                a.trim_end_matches('/')
                    .eq_ignore_ascii_case(origin.trim_end_matches('/'))
            }) =>
        {
            Ok(())
        }
        Some(origin) => {
            tracing::info!(%origin, "websocket refused: origin not allowed");
            Err(ApiError(Error::forbidden("Origin not allowed")))
        }
    }
}

/// The handshake. It has no request span (see `telemetry::MetmosRootSpan`: one would
/// live as long as the socket), so its lines carry the request id themselves.
async fn upgrade(req: HttpRequest, body: web::Payload, query: WsQuery) -> ApiResult<HttpResponse> {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(ToString::to_string)
        .unwrap_or_default();
    // The path and the query with its values redacted (`?token=` is a credential).
    let target = redacted_target(req.path(), req.query_string());
    let opened = open(req, body, query, &request_id, &target).await;
    if let Err(e) = &opened {
        tracing::info!(%request_id, http.target = %target, status = e.status_code().as_u16(), error = %e.0, "websocket refused");
    }
    opened
}

async fn open(
    req: HttpRequest,
    body: web::Payload,
    query: WsQuery,
    request_id: &str,
    target: &str,
) -> ApiResult<HttpResponse> {
    let state = state(&req)?;
    check_origin(&req, &state.engine.settings.ws.allowed_origins)?;
    let header_token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let caller = authenticate_with(&req, header_token.or(query.token.as_deref())).await?;
    let person = caller.person()?.clone();
    let (response, session, stream) = actix_ws::handle(&req, body)
        .map_err(|_| ApiError(Error::validation("Expected a WebSocket upgrade")))?;
    let counts = req
        .app_data::<web::Data<SocketCounts>>()
        .cloned()
        .unwrap_or_default();
    let max = state.engine.settings.ws.max_connections_per_person;
    if !counts.try_open(person.uuid, max) {
        // Refused after the upgrade, so that every client (browsers cannot read the
        // status of a failed upgrade) reads why; the sockets already open are kept.
        tracing::info!(%request_id, person = %person.uuid, max, "websocket refused: too many open");
        actix_web::rt::spawn(async move {
            let reason = CloseReason {
                code: CloseCode::Policy,
                description: Some(TOO_MANY_SOCKETS.into()),
            };
            let _ = tokio::time::timeout(CLOSE_GRACE, session.close(Some(reason))).await;
            drop(stream);
        });
        return Ok(response);
    }
    let tcp = ConnSocket::of(&req);

    let conn = ConnId(Uuid::new_v4());
    let ws_conn_id = conn.0.to_string();
    if let Err(e) = state.engine.ws_connections.open(&person, &ws_conn_id).await {
        counts.close(person.uuid);
        return Err(e.into());
    }
    let (tx, rx) = outbound::queue(state.engine.settings.ws.send_queue);
    let handle = ConnHandle {
        id: conn,
        tx,
        kill: Arc::new(KillSwitch::default()),
    };
    let origin = Origin::of(&handle, person.uuid);
    let connect = Connect {
        person: person.clone(),
        conn: handle,
    };
    let person = match state.realtime.presence.send(connect).await {
        Ok(shared) => shared,
        Err(e) => {
            counts.close(person.uuid);
            let _ = state.engine.ws_connections.close(&ws_conn_id).await;
            return Err(ApiError(Error::Unavailable(format!("presence: {e}"))));
        }
    };
    state.metrics.ws_connections.inc();
    tracing::info!(%request_id, http.target = %target, person = %person.uuid, conn = %ws_conn_id, "websocket connected");
    let socket = Socket {
        state: state.clone(),
        person,
        origin,
        counts,
        tcp,
    };
    actix_web::rt::spawn(socket.run(session, stream, rx));
    Ok(response)
}

/// Per-connection token bucket: `burst` frames at once, refilled at `per_second`.
#[derive(Debug)]
struct RateLimiter {
    capacity: f64,
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    fn new(per_second: u32, burst: u32, now: Instant) -> Self {
        let capacity = f64::from(burst.max(1));
        Self {
            capacity,
            per_second: f64::from(per_second.max(1)),
            tokens: capacity,
            last: now,
        }
    }

    fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Socket {
    state: web::Data<AppState>,
    /// The person as of their latest sign-in on this node, shared with their other
    /// sockets (Presence hands it out): one copy per person, not per socket.
    person: Arc<Person>,
    /// This connection as the sender of messages: its id, where their outcomes go, and
    /// its kill switch.
    origin: Arc<Origin>,
    counts: web::Data<SocketCounts>,
    /// This connection's TCP socket, to abort it when the close frame cannot be sent.
    tcp: Option<ConnSocket>,
}

/// actix-ws reports a message split into continuation frames past its limit only as
/// this I/O error; it deserves the same 1009 as a single frame too large.
fn continuation_overflow(e: &ProtocolError) -> bool {
    matches!(e, ProtocolError::Io(io) if io.to_string().contains("maximum continuation size"))
}

/// What became of a text frame.
enum Handed {
    /// Answered at once (pong, error frame).
    Answered,
    /// A message posted to its chat's room: its ack or error comes through the queue.
    ToRoom,
}

/// Why the read loop ended.
enum End {
    /// The client closed, or the TCP connection went away.
    Gone(Option<CloseReason>),
    /// The server closes, with this reason.
    Close(CloseCode, &'static str),
}

/// The client actions, as error messages list them.
const ACTIONS: &str = "sendMessage, markRead, typing or ping";

fn error_frame(status: u16, message: impl Into<String>, reference: Option<Uuid>) -> String {
    ServerFrame::Error {
        status_code: status,
        message: message.into(),
        reference,
    }
    .to_frame()
    .to_string()
}

/// An engine error as an error frame (validation problems joined into one message).
fn engine_error_frame(e: &Error, reference: Option<Uuid>) -> String {
    let message = match public_message(e) {
        serde_json::Value::String(s) => s,
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    };
    error_frame(status_of(e).as_u16(), message, reference)
}

impl Socket {
    async fn run(
        self,
        mut session: Session,
        stream: actix_ws::MessageStream,
        mut queue: OutboundReceiver,
    ) {
        // Fields, not a clone of the settings (their lists would be copied per socket).
        let ws = &self.state.engine.settings.ws;
        let rate_limit_strikes = ws.rate_limit_strikes;
        let mut stream = stream
            .max_frame_size(ws.max_frame_bytes)
            .aggregate_continuations()
            .max_continuation_size(ws.max_frame_bytes);
        let mut heartbeat = tokio::time::interval(Duration::from_secs(ws.heartbeat_secs.max(1)));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let timeout = Duration::from_secs(ws.client_timeout_secs);
        let mut last_seen = Instant::now();
        let mut limiter = RateLimiter::new(ws.messages_per_second, ws.burst, Instant::now());
        let mut strikes = 0u32;
        let max_in_flight = ws.max_in_flight.max(1);
        // This connection's messages posted to their rooms and not yet answered.
        let mut in_flight = 0usize;

        let end = loop {
            tokio::select! {
                biased;
                reason = self.origin.kill.tripped() => break kill_end(reason),
                out = queue.recv() => {
                    let Some(out) = out else { break End::Gone(None) };
                    if matches!(out, Outbound::Posted(_)) {
                        in_flight = in_flight.saturating_sub(1);
                    }
                    if let Err(end) = self.write(&mut session, render(out)).await {
                        break end;
                    }
                }
                // Backpressure: no frame is read while the engine still works on
                // `max_in_flight` of this connection's messages.
                msg = stream.next(), if in_flight < max_in_flight => {
                    let msg = match msg {
                        None => break End::Gone(None),
                        Some(Err(ProtocolError::Overflow)) => break End::Close(CloseCode::Size, "frame too large"),
                        Some(Err(e)) if continuation_overflow(&e) => break End::Close(CloseCode::Size, "message too large"),
                        Some(Err(e)) => {
                            tracing::debug!(conn = %self.origin.id.0, error = %e, "websocket protocol error");
                            break End::Close(CloseCode::Protocol, "protocol error");
                        }
                        Some(Ok(msg)) => msg,
                    };
                    last_seen = Instant::now();
                    let step = match msg {
                        AggregatedMessage::Text(text) => {
                            if limiter.take(Instant::now()) {
                                strikes = 0;
                                // Boxed: its state (the parsed JSON, the draft) is large
                                // and would otherwise be part of every idle socket's task.
                                match Box::pin(self.on_text(&mut session, &text)).await {
                                    Ok(Handed::ToRoom) => {
                                        in_flight += 1;
                                        Ok(())
                                    }
                                    Ok(Handed::Answered) => Ok(()),
                                    Err(end) => Err(end),
                                }
                            } else {
                                strikes += 1;
                                if strikes >= rate_limit_strikes {
                                    tracing::info!(person = %self.person.uuid, conn = %self.origin.id.0, "websocket closed: rate limit abused");
                                    break End::Close(CloseCode::Policy, "rate limit exceeded");
                                }
                                self.write(&mut session, error_frame(429, "Too many messages; slow down", None)).await
                            }
                        }
                        AggregatedMessage::Binary(_) => {
                            self.write(&mut session, error_frame(400, "Binary frames are not supported; send JSON text", None)).await
                        }
                        AggregatedMessage::Ping(bytes) => self.guarded(session.pong(&bytes)).await,
                        AggregatedMessage::Pong(_) => Ok(()),
                        AggregatedMessage::Close(reason) => break End::Gone(reason),
                    };
                    if let Err(end) = step {
                        break end;
                    }
                }
                _ = heartbeat.tick() => {
                    if in_flight >= max_in_flight {
                        // Not reading is the server's choice: the client is not silent.
                        last_seen = Instant::now();
                    }
                    if last_seen.elapsed() > timeout {
                        break End::Close(CloseCode::Away, "heartbeat timeout");
                    }
                    if let Err(end) = self.guarded(session.ping(b"")).await {
                        break end;
                    }
                }
            }
        };
        // Boxed for the same reason: it runs once, at the end.
        Box::pin(self.finish(session, end)).await;
    }

    fn ids(&self) -> PersonIds {
        PersonIds {
            id: self.person.id,
            uuid: self.person.uuid,
        }
    }

    /// Writes one text frame (see [`Socket::guarded`]).
    async fn write(&self, session: &mut Session, text: impl Into<Frame>) -> Result<(), End> {
        self.guarded(session.text(text.into())).await
    }

    /// Runs one write, giving up when the kill switch trips meanwhile or when the write
    /// stays stuck for `ws.slow_reader_secs`: a client that stopped reading leaves it
    /// stuck on a full socket, and only such a client (a busy engine slows writes down,
    /// it does not stop them for seconds).
    async fn guarded(
        &self,
        write: impl Future<Output = Result<(), actix_ws::Closed>>,
    ) -> Result<(), End> {
        let mut write = std::pin::pin!(write);
        // The common write completes at once and costs no timer. The timer is boxed, made
        // only for a write that waits: inline, it was part of every socket task's state
        // for the socket's whole life (issue 14's bytes per idle connection).
        if let Poll::Ready(sent) = futures_util::poll!(write.as_mut()) {
            return sent.map_err(|_| End::Gone(None));
        }
        let slow_reader = Duration::from_secs(self.state.engine.settings.ws.slow_reader_secs);
        let stuck = Box::pin(tokio::time::sleep(slow_reader));
        tokio::select! {
            biased;
            reason = self.origin.kill.tripped() => Err(kill_end(reason)),
            sent = write => sent.map_err(|_| End::Gone(None)),
            () = stuck => {
                tracing::info!(person = %self.person.uuid, conn = %self.origin.id.0, "client not reading (write stuck); closing its connection");
                Err(kill_end(KillReason::TooSlow))
            }
        }
    }

    /// Answers one text frame; says whether a message went to its room (whose
    /// outcome will come back through the queue).
    async fn on_text(&self, session: &mut Session, text: &str) -> Result<Handed, End> {
        if let Some(handed) = self.on_plain_send(text) {
            return Ok(handed);
        }
        let mut value: serde_json::Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                return self
                    .answer(
                        session,
                        error_frame(400, format!("Malformed JSON: {e}"), None),
                    )
                    .await;
            }
        };
        // The one text rule (no control characters) for every string of every frame.
        if let Err(message) = text::check_json(&value) {
            let reference = value
                .pointer("/data/uuid")
                .and_then(serde_json::Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok());
            return self
                .answer(session, error_frame(400, message, reference))
                .await;
        }
        // The action's `data` (null when absent: its parse says what is missing), taken
        // out rather than cloned, as each message carries one.
        let data = value
            .get_mut("data")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        match value.get("action").and_then(serde_json::Value::as_str) {
            Some("ping") => self.answer(session, ServerFrame::Pong.to_frame()).await,
            Some("sendMessage") => {
                let reference = data
                    .get("uuid")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|s| Uuid::parse_str(s).ok());
                let dto: CreateMessageDto = match serde_json::from_value(data) {
                    Ok(dto) => dto,
                    Err(e) => {
                        return self
                            .answer(
                                session,
                                error_frame(400, format!("Invalid data: {e}"), reference),
                            )
                            .await;
                    }
                };
                match message_draft(&dto, self.state.engine.settings.ws.max_message_chars) {
                    Ok(draft) => {
                        self.post(draft);
                        Ok(Handed::ToRoom)
                    }
                    Err(e) => {
                        self.answer(session, engine_error_frame(&e, reference))
                            .await
                    }
                }
            }
            Some("markRead") => {
                let done =
                    ws_actions::mark_read(&self.state, self.ids(), self.origin.id, data).await;
                self.answer_action(session, done).await
            }
            Some("typing") => {
                let done = ws_actions::typing(&self.state, self.ids(), data).await;
                self.answer_action(session, done).await
            }
            Some(other) => {
                let message = format!("Unknown action {other}; expected {ACTIONS}");
                self.answer(session, error_frame(400, message, None)).await
            }
            None => {
                let message = format!("action is required ({ACTIONS})");
                self.answer(session, error_frame(400, message, None)).await
            }
        }
    }

    /// The hot path: a well-formed `sendMessage` that cannot hold a control character,
    /// parsed straight into its DTO, without the `serde_json::Value` tree (a map, a
    /// `String` per key and per value) and the walk over it that every other frame gets.
    /// `None` (nothing done) for anything else, which `on_text` then handles in full, so
    /// every refusal and its wording come from one place.
    fn on_plain_send(&self, text: &str) -> Option<Handed> {
        if text::may_hold_control(text) || !text.trim_start().starts_with('{') {
            return None;
        }
        let frame: ClientFrame<'_> = serde_json::from_str(text).ok()?;
        if frame.action != "sendMessage" {
            return None;
        }
        let dto: CreateMessageDto = serde_json::from_str(frame.data?.get()).ok()?;
        let draft = message_draft(&dto, self.state.engine.settings.ws.max_message_chars).ok()?;
        self.post(draft);
        Some(Handed::ToRoom)
    }

    /// Posts a message straight to its chat's room, whose outcome comes back through
    /// this connection's queue.
    fn post(&self, draft: MessageDraft) {
        let reply = Reply::to_conn(self.origin.clone(), draft.uuid);
        self.state.realtime.rooms.post(
            draft.chat_uuid,
            Post {
                sender: self.person.clone(),
                origin: Some(self.origin.id),
                draft,
                reply,
            },
        );
    }

    /// Answers a frame at once (no message for a room).
    async fn answer(&self, session: &mut Session, text: impl Into<Frame>) -> Result<Handed, End> {
        self.write(session, text).await.map(|()| Handed::Answered)
    }

    /// Nothing to say when an action went through; its error as an error frame if not.
    async fn answer_action(
        &self,
        session: &mut Session,
        done: Result<(), Error>,
    ) -> Result<Handed, End> {
        match done {
            Ok(()) => Ok(Handed::Answered),
            Err(e) => self.answer(session, engine_error_frame(&e, None)).await,
        }
    }

    async fn finish(self, session: Session, end: End) {
        let (reason, why) = match end {
            End::Gone(reason) => (reason, "client closed"),
            End::Close(code, description) => (
                Some(CloseReason {
                    code,
                    description: Some(description.to_string()),
                }),
                description,
            ),
        };
        // The close frame may not fit when the client stopped reading: try it for a
        // bounded time, then abort the TCP connection, since otherwise actix keeps it
        // (fd and kernel buffers) for as long as the client keeps it open.
        // A client too slow to read its frames will not read the close frame either
        // (1013 is only ever the kill switch's "too slow"): it is aborted in any case.
        let too_slow = reason.as_ref().is_some_and(|r| r.code == CloseCode::Again);
        let closed = tokio::time::timeout(CLOSE_GRACE, session.close(reason))
            .await
            .is_ok_and(|r| r.is_ok());
        if (too_slow || !closed)
            && let Some(tcp) = &self.tcp
        {
            tracing::info!(person = %self.person.uuid, conn = %self.origin.id.0, "websocket aborted: close frame not taken");
            tcp.abort();
        }
        self.counts.close(self.person.uuid);
        self.state.realtime.presence.do_send(Disconnect {
            person_uuid: self.person.uuid,
            conn: self.origin.id,
        });
        self.state.metrics.ws_connections.dec();
        let ws_conn_id = self.origin.id.0.to_string();
        if let Err(e) = self.state.engine.ws_connections.close(&ws_conn_id).await {
            tracing::warn!(conn = %ws_conn_id, error = %e, "ws_connection row not closed");
        }
        tracing::info!(person = %self.person.uuid, conn = %ws_conn_id, reason = why, "websocket closed");
    }
}

fn kill_end(reason: KillReason) -> End {
    match reason {
        KillReason::TooSlow => End::Close(
            CloseCode::Again,
            "too slow: frames dropped; resync with GET /chats/{chatUuid}/messages",
        ),
        KillReason::AccountGone => End::Close(CloseCode::Policy, "account deleted"),
    }
}

/// A shared frame goes out as it is (no copy per receiver).
fn render(out: Outbound) -> Frame {
    match out {
        Outbound::Frame(frame) => frame,
        Outbound::Posted(posted) => match *posted {
            Posted {
                result: Ok(stored), ..
            } => ServerFrame::ack(stored.message()).to_frame(),
            Posted {
                message_uuid,
                result: Err(e),
            } => engine_error_frame(&e, Some(message_uuid)).into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(2, 3, t0);
        assert!(r.take(t0) && r.take(t0) && r.take(t0));
        assert!(!r.take(t0), "burst spent");
        assert!(!r.take(t0 + Duration::from_millis(400)), "0.8 token");
        assert!(
            r.take(t0 + Duration::from_millis(500)),
            "one token back after 1/rate"
        );
        assert!(r.take(t0 + Duration::from_secs(60)));
        assert!(r.take(t0 + Duration::from_secs(60)));
        assert!(r.take(t0 + Duration::from_secs(60)));
        assert!(
            !r.take(t0 + Duration::from_secs(60)),
            "refill caps at the burst"
        );
    }
}
