#![allow(dead_code)] // shared helpers; not every test module uses every one
//! A real WebSocket client (tokio-tungstenite) for the realtime tests, plus helpers to
//! set up two contacts with a chat.

use crate::harness::{TestApp, TestUser};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a test waits for a frame that must come.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct WsClient {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How an upgrade was refused: the HTTP status and the envelope.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

impl WsClient {
    /// Connects to `path` with the token in `Authorization` (raw, as the app sends it).
    pub async fn connect(app: &TestApp, token: &str) -> Self {
        Self::try_connect(app, "/ws", &[("authorization", token)])
            .await
            .expect("websocket upgrade")
    }

    /// Connects to the node listening on `port` (another engine process).
    pub async fn connect_port(port: u16, token: &str) -> Self {
        Self::try_connect_port(port, "/ws", &[("authorization", token)])
            .await
            .expect("websocket upgrade")
    }

    pub async fn try_connect(
        app: &TestApp,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Self, Refused> {
        Self::try_connect_port(app.port, path, headers).await
    }

    pub async fn try_connect_port(
        port: u16,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Self, Refused> {
        let mut req = format!("ws://127.0.0.1:{port}{path}")
            .into_client_request()
            .expect("request");
        for (k, v) in headers {
            req.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
                    .expect("header name"),
                HeaderValue::from_str(v).expect("header value"),
            );
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((stream, _)) => Ok(Self { stream }),
            Err(WsError::Http(resp)) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_ref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err(Refused { status, body })
            }
            Err(e) => panic!("websocket connect failed: {e}"),
        }
    }

    /// Connects on a socket with a small receive buffer, so that a client that stops
    /// reading fills up quickly.
    pub async fn connect_small_buffer(app: &TestApp, token: &str) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let tcp = socket
            .connect(([127, 0, 0, 1], app.port).into())
            .await
            .expect("tcp connect");
        let mut req = format!("ws://127.0.0.1:{}/ws", app.port)
            .into_client_request()
            .expect("request");
        req.headers_mut()
            .insert("authorization", HeaderValue::from_str(token).unwrap());
        let (stream, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(tcp))
            .await
            .expect("websocket upgrade");
        Self { stream }
    }

    pub async fn send_json(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::text(text.to_string()))
            .await
            .expect("frame sent");
    }

    /// `sendMessage` as the overview shows it.
    pub async fn send_message(&mut self, chat_uuid: &str, uuid: &str, content: &str) {
        self.send_json(json!({"action": "sendMessage", "data": {
            "chatUuid": chat_uuid, "uuid": uuid, "messageContent": content, "assetUuids": []
        }}))
        .await;
    }

    /// The next text frame as JSON (control frames are skipped); panics after `WAIT`.
    pub async fn next_json(&mut self) -> Value {
        match self.next_within(WAIT).await {
            Some(v) => v,
            None => panic!("no frame within {WAIT:?}"),
        }
    }

    /// The next text frame within `wait`, or `None`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Err(_) => return None,
                Ok(None) => panic!("connection ended while a frame was awaited"),
                Ok(Some(Err(e))) => panic!("connection failed while a frame was awaited: {e}"),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some(serde_json::from_str(t.as_str()).expect("frames are JSON"));
                }
                Ok(Some(Ok(Message::Close(c)))) => {
                    panic!("connection closed while a frame was awaited: {c:?}")
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Asserts that no text frame arrives for `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Some(v) = self.next_within(wait).await {
            panic!("expected no frame, got {v}");
        }
    }

    /// Reads until the server closes; answers the close frame (None: the TCP connection
    /// ended without one) and how many text frames came before it.
    pub async fn until_closed(&mut self) -> (Option<CloseFrame>, usize) {
        let mut texts = 0;
        loop {
            match tokio::time::timeout(WAIT, self.stream.next()).await {
                Err(_) => panic!("connection not closed within {WAIT:?} ({texts} frames read)"),
                Ok(None) | Ok(Some(Err(_))) => return (None, texts),
                Ok(Some(Ok(Message::Close(c)))) => return (c, texts),
                Ok(Some(Ok(Message::Text(_)))) => texts += 1,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}

/// Two contacts and their CONTACT chat; answers the chat uuid.
pub async fn contact_chat(app: &TestApp, a: &TestUser, b: &TestUser) -> String {
    crate::connections::connect(app, a, b).await;
    let r = app
        .post(
            "/chats",
            Some(&a.token),
            json!({"chatType": "CONTACT", "receiverPersonUuid": b.person_uuid}),
        )
        .await
        .expect(201);
    r.body["uuid"].as_str().expect("chat uuid").to_string()
}

pub fn new_uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Polls `GET /ws_connections` until the caller's rows have these statuses (newest
/// first), or panics after `WAIT`.
pub async fn wait_for_ws_statuses(app: &TestApp, user: &TestUser, want: &[&str]) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let r = app
            .get("/ws_connections?limit=100", Some(&user.token))
            .await
            .expect(200);
        let got: Vec<String> = r.body["wsConnections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["status"].as_str().unwrap_or_default().to_string())
            .collect();
        if got == want {
            return r.body;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("ws_connections statuses {got:?}, wanted {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
