//! The security review's findings (issue 9): secrets, input that must not be a 500,
//! logs, rate limits, operator surfaces and sockets that must be released.

use crate::cli::free_port;
use crate::harness::{Backend, TestApp, test_settings};
use crate::on_both_stores;
use crate::ws_client::{WsClient, contact_chat, new_uuid, wait_for_ws_statuses};
use futures_util::SinkExt;
use metmos_engine::Engine;
use metmos_http::startup::Application;
use serde_json::{Value, json};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

/// The binary's own log (stderr, info level) of a browser-style `?token=` upgrade and a
/// search never holds the token or the search term. The store plays no part in what the
/// request span records, so this runs on the embedded defaults.
#[actix_web::test]
async fn the_log_of_a_token_upgrade_holds_neither_token_nor_search_term() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_metmos"))
        .env("METMOS__HTTP__PORT", port.to_string())
        .env("METMOS__LOG__FILTER", "info")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "metmos did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signed_up: serde_json::Value = client
        .post(format!("{base}/dev/users"))
        .json(&json!({"username": "loggy", "email": "loggy@example.com"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = signed_up["accessToken"].as_str().unwrap().to_string();
    let url = format!("ws://127.0.0.1:{port}/ws?token={token}");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("upgrade");
    ws.send(tokio_tungstenite::tungstenite::Message::text(
        r#"{"action":"ping"}"#,
    ))
    .await
    .unwrap();
    let _ = ws.close(None).await;
    let r = client
        .get(format!("{base}/people?q=secretsearchterm&limit=5"))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success() || r.status().is_client_error());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "metmos did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        logs.contains("websocket connected"),
        "the upgrade was logged: {logs}"
    );
    assert!(logs.contains("token=[redacted]"), "{logs}");
    let signature = token.rsplit('.').next().unwrap();
    assert!(!logs.contains(signature), "the token leaked: {logs}");
    assert!(
        !logs.contains("secretsearchterm"),
        "the search leaked: {logs}"
    );
}

/// A string no field may hold: NUL and ESC.
const CONTROL: &str = "bad\u{0}value\u{1b}";

/// A uuid-shaped stand-in for every `{param}` of a path.
fn fill_path(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |e| start + e + 1);
        out.push_str("00000000-0000-4000-8000-000000000000");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The JSON schema at `schema`, following one `$ref` into the components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => r
            .trim_start_matches("#/")
            .split('/')
            .fold(doc, |v, part| &v[part]),
        None => schema,
    }
}

/// A body for `schema` with every property a string holding control characters.
fn poisoned_body(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    let mut body = serde_json::Map::new();
    if let Some(props) = schema["properties"].as_object() {
        for (name, prop) in props {
            let prop = resolve(doc, prop);
            let value = if prop["type"] == "array" {
                json!([CONTROL])
            } else if prop["type"] == "object" || prop.get("properties").is_some() {
                json!({"nested": CONTROL})
            } else {
                json!(CONTROL)
            };
            body.insert(name.clone(), value);
        }
    }
    if body.is_empty() {
        body.insert("field".into(), json!(CONTROL));
    }
    Value::Object(body)
}

on_both_stores! {
    // The same bad values to every POST and PATCH body and every query parameter the
    // OpenAPI document lists: control characters are a 400, and impossible dates in the
    // date filters too; never a 5xx.
    async fn control_characters_and_impossible_dates_are_4xx_in_every_body_and_filter(app) {
        let doc = app.get("/openapi.json", None).await.expect(200).body;
        let key = app.internal_key();
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().unwrap() {
                // A fresh person per operation: the test is about input, not rate limits.
                let user = app.user(&format!("u{}", &new_uuid()[..8])).await;
                let url = app.url(&fill_path(path));
                let request = |m: &str| {
                    let m = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).unwrap();
                    app.client
                        .request(m, &url)
                        .header("authorization", &user.token)
                        .header("x-internal-api-key", &key)
                };
                if matches!(method.as_str(), "post" | "patch" | "put") {
                    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
                    let body = poisoned_body(&doc, schema);
                    let r = app.send(request(method).json(&body)).await;
                    assert_eq!(r.status, 400, "{method} {path} with {body}: {}", r.text);
                    assert!(r.message().contains("control characters"), "{method} {path}: {}", r.text);
                    checked += 1;
                }
                for param in op["parameters"].as_array().into_iter().flatten() {
                    if param["in"] != "query" {
                        continue;
                    }
                    let name = param["name"].as_str().unwrap();
                    let r = app.send(request(method).query(&[(name, CONTROL)])).await;
                    assert_eq!(r.status, 400, "{method} {path}?{name}: {}", r.text);
                    checked += 1;
                    let lower = name.to_lowercase();
                    if lower.contains("at") && (lower.ends_with("start") || lower.ends_with("end")) {
                        for date in ["-200000-01-01", "+300000-01-01", "300000-01-01T00:00:00Z"] {
                            let r = app.send(request(method).query(&[(name, date)])).await;
                            assert!((400..500).contains(&r.status), "{method} {path}?{name}={date}: {} {}", r.status, r.text);
                            if !path.contains('{') {
                                assert_eq!(r.status, 400, "{method} {path}?{name}={date}: {}", r.text);
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 40, "only {checked} inputs checked");
        // Free text keeps newline and tab; the values above never reached a store.
        let alice = app.user("alice").await;
        let r = app.patch("/people/me", Some(&alice.token), json!({"bio": "line one\n\tline two"})).await.expect(200);
        assert_eq!(r.body["bio"], "line one\n\tline two");
        let r = app.patch("/people/me", Some(&alice.token), json!({"bio": "nul\u{0}"})).await.expect_error(400);
        assert_eq!(r.message(), "bio must not contain control characters (found U+0000)");
        let r = app.get("/experiences?createdAtStart=-200000-01-01", Some(&alice.token)).await.expect_error(400);
        assert!(r.message().contains("createdAtStart"), "{}", r.text);
    }

    // A WebSocket frame with a control character in any string is an error frame (400)
    // and the socket stays open.
    async fn control_characters_in_websocket_frames_are_400(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let uuid = new_uuid();
        a.send_message(&chat, &uuid, "hi\u{0}there").await;
        let f = a.next_json().await;
        assert_eq!(f["type"], "error", "{f}");
        assert_eq!(f["statusCode"], 400, "{f}");
        assert_eq!(f["ref"], uuid.as_str(), "{f}");
        assert!(f["message"].as_str().unwrap().contains("control characters"), "{f}");
        a.send_json(json!({"action": "ping\u{7}"})).await;
        assert_eq!(a.next_json().await["statusCode"], 400);
        // DEL, which JSON carries unescaped, and a control character in a field no action
        // reads are refused alike.
        let data = |content: &str| json!({"chatUuid": &chat, "uuid": new_uuid(), "messageContent": content});
        a.send_json(json!({"action": "sendMessage", "data": data("del\u{7f}")})).await;
        assert_eq!(a.next_json().await["statusCode"], 400);
        for note in ["\u{7f}", "\u{1}"] {
            a.send_json(json!({"action": "sendMessage", "data": data("fine"), "note": note})).await;
            assert_eq!(a.next_json().await["statusCode"], 400, "note {note:?}");
        }
        // Newlines are message text; the socket still works.
        a.send_message(&chat, &new_uuid(), "two\nlines").await;
        assert_eq!(a.next_json().await["type"], "ack");
        let h = app.get(&format!("/chats/{chat}/messages"), Some(&alice.token)).await.expect(200);
        assert_eq!(h.body["messages"].as_array().unwrap().len(), 1, "{}", h.text);
    }

    // One person flooding writes meets 429 within a few hundred requests, with
    // `Retry-After` and the envelope; someone else is not affected. Failed sign-ins
    // from one address meet the anonymous bucket.
    async fn a_flood_meets_429_with_retry_after(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let mut limited = None;
        for i in 1..=400 {
            let r = app.patch("/people/me", Some(&alice.token), json!({"bio": format!("bio {i}")})).await;
            if r.status == 429 {
                limited = Some((i, r));
                break;
            }
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let (after, r) = limited.expect("no 429 within 400 writes");
        assert!(after > 100, "a person using the app is not limited: 429 after {after}");
        let r = r.expect_error(429);
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry), "Retry-After {retry}");
        assert_eq!(r.message(), format!("Too many requests; retry after {retry} seconds"));
        // Reads have their own bucket; Bob his own.
        app.get("/people/me", Some(&alice.token)).await.expect(200);
        app.patch("/people/me", Some(&bob.token), json!({"bio": "fine"})).await.expect(200);
        // Guessing tokens: 401s until the address's bucket is spent, then 429.
        let mut statuses = Vec::new();
        for _ in 0..200 {
            let r = app.get("/people/me", Some("Bearer not-a-token")).await;
            statuses.push(r.status);
            if r.status == 429 {
                break;
            }
        }
        assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == 401 || *s == 429));
        // Health stays reachable for load balancers.
        app.get("/health", None).await.expect(200);
    }

    // `ws.max_connections_per_person`: one more socket is closed at once (1008, with the
    // documented reason); the open ones are kept; closing one makes room.
    async fn sockets_per_person_are_capped(app) {
        let backend = app.backend;
        drop(app);
        let app = TestApp::spawn_with(backend, &[("ws.max_connections_per_person", "2")]).await;
        let alice = app.user("alice").await;
        let mut first = WsClient::connect(&app, &alice.token).await;
        let second = WsClient::connect(&app, &alice.token).await;
        let mut third = WsClient::connect(&app, &alice.token).await;
        let (close, _) = third.until_closed().await;
        let close = close.expect("a close frame");
        assert_eq!(u16::from(close.code), 1008);
        assert_eq!(close.reason.as_str(), metmos_http::ws::TOO_MANY_SOCKETS);
        first.send_json(json!({"action": "ping"})).await;
        assert_eq!(first.next_json().await, json!({"type": "pong"}));
        wait_for_ws_statuses(&app, &alice, &["CONNECTED", "CONNECTED"]).await;
        second.close().await;
        wait_for_ws_statuses(&app, &alice, &["DISCONNECTED", "CONNECTED"]).await;
        let mut again = WsClient::connect(&app, &alice.token).await;
        again.send_json(json!({"action": "ping"})).await;
        assert_eq!(again.next_json().await, json!({"type": "pong"}));
    }

    // DISCONNECTED rows older than `ws.keep_disconnected_days` are deleted; newer ones
    // and CONNECTED ones stay.
    async fn old_disconnected_rows_are_pruned(app) {
        let alice = app.user("alice").await;
        let gone = WsClient::connect(&app, &alice.token).await;
        gone.close().await;
        wait_for_ws_statuses(&app, &alice, &["DISCONNECTED"]).await;
        let _open = WsClient::connect(&app, &alice.token).await;
        wait_for_ws_statuses(&app, &alice, &["CONNECTED", "DISCONNECTED"]).await;
        let now = metmos_engine::domain::time::now();
        assert_eq!(app.engine.ws_connections.prune_disconnected(now).await, 0, "kept 7 days");
        let later = now + chrono::TimeDelta::days(8);
        assert_eq!(app.engine.ws_connections.prune_disconnected(later).await, 1);
        wait_for_ws_statuses(&app, &alice, &["CONNECTED"]).await;
    }

    // A message split into continuation frames that together pass `ws.max_frame_bytes`
    // closes with 1009, as one frame too large does.
    async fn continuations_past_the_limit_close_with_1009(app) {
        let backend = app.backend;
        drop(app);
        let app = TestApp::spawn_with(backend, &[("ws.max_frame_bytes", "2048")]).await;
        let alice = app.user("alice").await;
        let mut c = WsClient::connect(&app, &alice.token).await;
        let chunk = vec![b'x'; 1500];
        let frames = [
            Frame::message(chunk.clone(), OpCode::Data(Data::Text), false),
            Frame::message(chunk.clone(), OpCode::Data(Data::Continue), false),
            Frame::message(chunk.clone(), OpCode::Data(Data::Continue), false),
            Frame::message(chunk, OpCode::Data(Data::Continue), true),
        ];
        for f in frames {
            if c.stream.send(Message::Frame(f)).await.is_err() {
                break;
            }
        }
        let (close, _) = c.until_closed().await;
        assert_eq!(u16::from(close.expect("a close frame").code), 1009);
    }

    // `DELETE /accounts/{uuid}` of someone else's account is a 404 like a missing one.
    async fn deleting_another_account_is_404(app) {
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let r = app.delete_json(&format!("/accounts/{}", bob.account_uuid), Some(&alice.token),
            json!({"confirm": "Permanently delete my account"})).await.expect_error(404);
        let missing = app.delete_json(&format!("/accounts/{}", new_uuid()), Some(&alice.token),
            json!({"confirm": "Permanently delete my account"})).await.expect_error(404);
        assert_eq!(r.body, missing.body);
        app.get("/accounts/me", Some(&bob.token)).await.expect(200);
    }

    // A raw client that upgrades and then never reads: once its queue and the capped send
    // buffer are full it is closed, and the engine's side of its TCP connection is gone
    // from this process's fds within 5 s of its row turning DISCONNECTED (the bound:
    // `CLOSE_GRACE`, 1 s, plus scheduling).
    async fn a_client_that_never_reads_is_released(app) {
        let backend = app.backend;
        drop(app);
        let app = TestApp::spawn_with(backend, &[
            ("ws.send_queue", "4"),
            ("ws.max_message_chars", "30000"),
            ("ws.messages_per_second", "10000"),
            ("ws.burst", "10000"),
            ("ws.send_buffer_bytes", "16384"),
            // The loop reads Bob's connection rows after every message: on the memory
            // store that outruns the REST read budget long before the socket fills.
            ("rate_limits.reads.per_minute", "100000"),
            ("rate_limits.reads.burst", "100000"),
        ]).await;
        let alice = app.user("alice").await;
        let bob = app.user("bob").await;
        let chat = contact_chat(&app, &alice, &bob).await;
        let mut a = WsClient::connect(&app, &alice.token).await;
        let (_raw, client_port) = raw_upgrade_never_reading(&app, &bob.token).await;
        wait_for_ws_statuses(&app, &bob, &["CONNECTED"]).await;
        assert!(server_side_fd(app.port, client_port), "the engine holds the socket while open");
        let text = "m".repeat(29_000);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            a.send_message(&chat, &new_uuid(), &text).await;
            assert_eq!(a.next_json().await["type"], "ack");
            let r = app.get("/ws_connections", Some(&bob.token)).await.expect(200);
            if r.body["wsConnections"][0]["status"] == "DISCONNECTED" {
                break;
            }
            assert!(Instant::now() < deadline, "the reader that never reads was never closed");
        }
        let closed_at = Instant::now();
        while server_side_fd(app.port, client_port) {
            assert!(closed_at.elapsed() < Duration::from_secs(5), "the engine still holds the connection");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The others are unharmed.
        a.send_json(json!({"action": "ping"})).await;
        assert_eq!(a.next_json().await, json!({"type": "pong"}));
    }
}

/// Upgrades on a bare TCP socket (4 KiB receive buffer) and reads nothing after the
/// 101 headers. Answers the socket (keep it alive) and its local port.
async fn raw_upgrade_never_reading(app: &TestApp, token: &str) -> (tokio::net::TcpStream, u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket
        .connect(([127, 0, 0, 1], app.port).into())
        .await
        .unwrap();
    let port = tcp.local_addr().unwrap().port();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: {token}\r\n\r\n",
        app.port
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // Read the response headers byte by byte, so that no frame is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tcp.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    (tcp, port)
}

/// Whether this process (the engine runs in it) holds an fd on the TCP connection from
/// `client_port` to the engine's `server_port`: the inode of that connection in
/// /proc/net/tcp, among the process's fds.
fn server_side_fd(server_port: u16, client_port: u16) -> bool {
    let want = format!(":{server_port:04X} ");
    let peer = format!(":{client_port:04X} ");
    let tcp = std::fs::read_to_string("/proc/self/net/tcp").unwrap_or_default();
    let inodes: Vec<String> = tcp
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = format!("{} ", cols.get(1)?);
            let remote = format!("{} ", cols.get(2)?);
            (local.contains(&want) && remote.contains(&peer))
                .then(|| cols.get(9).map(|s| s.to_string()))?
        })
        .filter(|inode| inode != "0")
        .collect();
    if inodes.is_empty() {
        return false;
    }
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.filter_map(Result::ok).any(|e| {
                std::fs::read_link(e.path())
                    .map(|l| {
                        inodes
                            .iter()
                            .any(|i| l.to_string_lossy() == format!("socket:[{i}]"))
                    })
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

/// `/metrics` with `metrics.token`: 401 without the bearer token, 200 with it.
#[actix_web::test]
async fn metrics_require_the_token_when_one_is_set() {
    let app = TestApp::spawn_with(
        Backend::Memory,
        &[("metrics.token", "metrics-token-0123456789")],
    )
    .await;
    let r = app.get("/metrics", None).await.expect_error(401);
    assert_eq!(r.message(), "Invalid metrics token");
    app.get("/metrics", Some("Bearer wrong-token-0123456789"))
        .await
        .expect_error(401);
    let r = app
        .get("/metrics", Some("Bearer metrics-token-0123456789"))
        .await
        .expect(200);
    assert!(r.text.contains("metmos_http_requests_total"), "{}", r.text);
}

/// `/metrics` with `metrics.bind`: served there, and not on the API's port.
#[actix_web::test]
async fn metrics_move_to_their_own_address() {
    let settings = test_settings(&[("metrics.bind", "127.0.0.1:0")]);
    let engine = Engine::start(settings).await.unwrap();
    let app = Application::build(engine.clone()).await.unwrap();
    let (port, metrics_port) = (app.port(), app.metrics_port().expect("a metrics listener"));
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let r = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("metmos_ws_connections_open")
    );
    let r = client
        .get(format!("http://127.0.0.1:{metrics_port}/people/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "only /metrics there");
    handle.stop(true).await;
    engine.shutdown();
}

/// `/health` with the broker up (a real RabbitMQ vhost) and down (nothing listening):
/// `bus` is under `info` both times, with its status; the answer stays 200. (The
/// database down: `errors::health_reports_the_store_and_bus`.)
#[actix_web::test]
async fn health_keeps_the_bus_under_info_and_echoes_no_error_text() {
    let vhost = metmos_engine::testing::ScratchVhost::create().expect("rabbitmq vhost");
    let up = TestApp::spawn_with(Backend::Memory, &[("amqp.url", vhost.url.as_str())]).await;
    let r = up.get("/health", None).await.expect(200);
    assert_eq!(r.body["info"]["bus"], json!({"status": "up"}), "{}", r.text);
    assert_eq!(r.body["error"], json!({}));

    let closed = format!("amqp://guest:guest@127.0.0.1:{}/%2f", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    });
    for backend in [Backend::Memory, Backend::Postgres] {
        // A node whose broker is away serves anyway, after waiting this long for its queue.
        let down = TestApp::spawn_with(
            backend,
            &[("amqp.url", closed.as_str()), ("node.queue_wait_secs", "1")],
        )
        .await;
        let r = down.get("/health", None).await.expect(200);
        assert_eq!(r.body["status"], "ok", "{}", r.text);
        assert_eq!(
            r.body["info"]["bus"],
            json!({"status": "down"}),
            "{}",
            r.text
        );
        assert_eq!(
            r.body["details"]["bus"],
            json!({"status": "down"}),
            "{}",
            r.text
        );
        assert_eq!(r.body["error"], json!({}), "{}", r.text);
    }
}
