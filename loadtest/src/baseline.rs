//! The baseline server: the least work a WebSocket chat relay can do on this machine. In
//! memory, no auth (a token is the person's uuid), no storage, a per-chat `seq`, one task per
//! connection with a bounded outbound queue (a reader that falls that far behind is closed,
//! as the engine does). It speaks just enough of the engine's protocol for `chat` and
//! `connections`: `POST /dev/users`, `POST /connections`, `PATCH /connections/{uuid}/accept`,
//! `POST /chats` (CONTACT, and GROUP with `participantPersonUuids`), `GET /health`, and the
//! WebSocket at `/` (`sendMessage`, `ping`).
//!
//! Figures from a shared 2-core machine are noisy; the engine's figures read beside this
//! server's in the same run (`chat --compare`) are what mean something.

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

const MAX_HEADER_BYTES: usize = 16 * 1024;
const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Default)]
struct State {
    chats: Mutex<HashMap<String, Arc<Chat>>>,
    /// Online connections by person: their outbound queue and their kill switch.
    online: Mutex<HashMap<String, Vec<Conn>>>,
    next_conn: AtomicU64,
}

struct Chat {
    members: Vec<String>,
    /// Held while a message is numbered and queued to every member, so all see one order.
    seq: Mutex<u64>,
}

#[derive(Clone)]
struct Conn {
    id: u64,
    tx: mpsc::Sender<Utf8Bytes>,
    kill: watch::Sender<bool>,
}

/// Serves until the listener fails; every connection on its own task.
pub async fn serve(listener: TcpListener, queue: usize) -> std::io::Result<()> {
    let state = Arc::new(State::default());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, state.clone(), queue));
    }
}

/// One request as far as the baseline cares.
struct Request {
    method: String,
    path: String,
    query_token: Option<String>,
    authorization: Option<String>,
    upgrade_key: Option<String>,
    content_length: usize,
}

fn parse_head(head: &[u8]) -> Option<Request> {
    let mut headers = [httparse::EMPTY_HEADER; 48];
    let mut req = httparse::Request::new(&mut headers);
    req.parse(head).ok()?;
    let target = req.path?.to_string();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target, None),
    };
    let header = |name: &str| {
        req.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::to_string)
    };
    let is_upgrade = header("upgrade").is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    Some(Request {
        method: req.method?.to_string(),
        query_token: query.and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("token=").map(str::to_string))
        }),
        authorization: header("authorization")
            .map(|a| a.strip_prefix("Bearer ").unwrap_or(&a).to_string()),
        upgrade_key: if is_upgrade {
            header("sec-websocket-key")
        } else {
            None
        },
        content_length: header("content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0),
        path,
    })
}

/// HTTP/1.1 with keep-alive until the connection upgrades or ends.
async fn connection(mut stream: TcpStream, state: Arc<State>, queue: usize) {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > MAX_HEADER_BYTES {
                return;
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let Some(req) = parse_head(&buf[..head_end]) else {
            let _ = respond(&mut stream, 400, &error_body(400, "Bad request")).await;
            return;
        };
        if let Some(key) = &req.upgrade_key {
            let Some(person) = req.authorization.clone().or(req.query_token.clone()) else {
                let _ = respond(&mut stream, 401, &error_body(401, "Unauthorized")).await;
                return;
            };
            let accept = derive_accept_key(key.as_bytes());
            let head = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            // A client sends nothing before the 101, so no bytes are left in `buf`.
            let ws = WebSocketStream::from_raw_socket(stream, Role::Server, None).await;
            websocket(ws, person, state, queue).await;
            return;
        }
        if req.content_length > MAX_BODY_BYTES {
            let _ = respond(&mut stream, 413, &error_body(413, "Payload Too Large")).await;
            return;
        }
        while buf.len() < head_end + req.content_length {
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
        let body: Value = serde_json::from_slice(&buf[head_end..head_end + req.content_length])
            .unwrap_or(Value::Null);
        let (status, answer) = route(&state, &req, &body);
        buf.drain(..head_end + req.content_length);
        if respond(&mut stream, status, &answer).await.is_err() {
            return;
        }
    }
}

fn error_body(status: u16, message: &str) -> Value {
    let error = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        413 => "Payload Too Large",
        _ => "Not Found",
    };
    json!({"statusCode": status, "message": message, "error": error})
}

async fn respond(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        413 => "Payload Too Large",
        _ => "Not Found",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await
}

fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn route(state: &State, req: &Request, body: &Value) -> (u16, Value) {
    let caller = req.authorization.as_deref();
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["health"]) => (
            200,
            json!({"status": "ok", "info": {"baseline": {"status": "up"}}, "error": {}}),
        ),
        ("POST", ["dev", "users"]) => {
            let person = new_uuid();
            (
                201,
                json!({"accountUuid": new_uuid(), "personUuid": person,
                       "cognitoUserId": new_uuid(), "accessToken": person}),
            )
        }
        ("POST", ["connections"]) if caller.is_some() => {
            (201, json!({"uuid": new_uuid(), "status": "PENDING"}))
        }
        ("PATCH", ["connections", uuid, "accept"]) if caller.is_some() => {
            (200, json!({"uuid": uuid, "status": "ACCEPTED"}))
        }
        ("POST", ["chats"]) => {
            let Some(caller) = caller else {
                return (401, error_body(401, "Unauthorized"));
            };
            let mut members = vec![caller.to_string()];
            match body["chatType"].as_str() {
                Some("CONTACT") => match body["receiverPersonUuid"].as_str() {
                    Some(r) => members.push(r.to_string()),
                    None => return (400, error_body(400, "receiverPersonUuid is required")),
                },
                Some("GROUP") => match body["participantPersonUuids"].as_array() {
                    Some(list) => members.extend(
                        list.iter()
                            .filter_map(|v| v.as_str())
                            .filter(|p| *p != caller)
                            .map(str::to_string),
                    ),
                    None => {
                        return (400, error_body(400, "participantPersonUuids is required"));
                    }
                },
                _ => return (400, error_body(400, "chatType must be CONTACT or GROUP")),
            }
            let uuid = new_uuid();
            let chat = Arc::new(Chat {
                members,
                seq: Mutex::new(0),
            });
            lock(&state.chats).insert(uuid.clone(), chat);
            (201, json!({"uuid": uuid, "chatType": body["chatType"]}))
        }
        (m, _) => (404, error_body(404, &format!("Cannot {m} {}", req.path))),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One connection: reads frames, relays messages, and writes its queue, on one task.
async fn websocket(
    mut ws: WebSocketStream<TcpStream>,
    person: String,
    state: Arc<State>,
    queue: usize,
) {
    let id = state.next_conn.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel::<Utf8Bytes>(queue);
    let (kill, mut killed) = watch::channel(false);
    lock(&state.online)
        .entry(person.clone())
        .or_default()
        .push(Conn {
            id,
            tx: tx.clone(),
            kill,
        });
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    let reply = handle_frame(&state, &person, id, t.as_str());
                    if let Some(r) = reply
                        && tx.try_send(r).is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            out = rx.recv() => match out {
                Some(text) => {
                    // Batch whatever else is queued into one flush.
                    if ws.feed(Message::Text(text)).await.is_err() {
                        break;
                    }
                    let mut ok = true;
                    while let Ok(more) = rx.try_recv() {
                        if ws.feed(Message::Text(more)).await.is_err() {
                            ok = false;
                            break;
                        }
                    }
                    if !ok || ws.flush().await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = killed.changed() => break,
        }
    }
    {
        let mut online = lock(&state.online);
        if let Some(list) = online.get_mut(&person) {
            list.retain(|c| c.id != id);
            if list.is_empty() {
                online.remove(&person);
            }
        }
    }
    let _ = ws.close(None).await;
}

/// The answer to the sender (ack, pong, error), after queueing deliveries to the others.
fn handle_frame(state: &State, person: &str, conn: u64, text: &str) -> Option<Utf8Bytes> {
    let v: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return Some(error_frame(400, "frames are JSON", None)),
    };
    match v["action"].as_str() {
        Some("ping") => Some(Utf8Bytes::from_static(r#"{"type":"pong"}"#)),
        Some("sendMessage") => {
            let d = &v["data"];
            let (Some(chat_uuid), Some(uuid)) = (d["chatUuid"].as_str(), d["uuid"].as_str()) else {
                return Some(error_frame(400, "chatUuid and uuid are required", None));
            };
            let chat = lock(&state.chats).get(chat_uuid).cloned();
            let Some(chat) = chat.filter(|c| c.members.iter().any(|m| m == person)) else {
                return Some(error_frame(404, "Chat not found", Some(uuid)));
            };
            let mut seq = lock(&chat.seq);
            *seq += 1;
            let created_at = chrono::Utc::now()
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string();
            let frame: Utf8Bytes = json!({
                "type": "chatMessage", "chatUuid": chat_uuid, "senderPersonUuId": person,
                "messageUuid": uuid, "messageContent": d["messageContent"],
                "assetUuids": d["assetUuids"], "seq": *seq, "createdAt": created_at
            })
            .to_string()
            .into();
            let online = lock(&state.online);
            for member in &chat.members {
                for c in online.get(member).into_iter().flatten() {
                    if c.id != conn && c.tx.try_send(frame.clone()).is_err() {
                        // Too slow to keep up: closed, never allowed to hold up the others.
                        let _ = c.kill.send(true);
                    }
                }
            }
            drop(online);
            let ack =
                json!({"type": "ack", "messageUuid": uuid, "chatUuid": chat_uuid, "seq": *seq});
            Some(ack.to_string().into())
        }
        _ => Some(error_frame(400, "unknown action", None)),
    }
}

fn error_frame(status: u16, message: &str, r: Option<&str>) -> Utf8Bytes {
    json!({"type": "error", "statusCode": status, "message": message, "ref": r})
        .to_string()
        .into()
}
