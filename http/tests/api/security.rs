//! The security review's findings (issue 9): secrets, input that must not be a 500,
//! logs, rate limits, operator surfaces and sockets that must be released.

use crate::harness::{Backend, TestApp};
use crate::on_both_stores;
use crate::ws_client::WsClient;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("upgrade");
    use futures_util::SinkExt;
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
    assert!(!logs.contains("secretsearchterm"), "the search leaked: {logs}");
}
