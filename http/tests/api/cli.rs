//! The `metmos` binary itself: graceful shutdown on SIGTERM, `dev-user`, `migrate`.

use crate::harness::{Backend, TestApp};
use metmos_engine::testing::ScratchDatabase;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn metmos() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_metmos"));
    c.env("METMOS__LOG__FILTER", "info").env_remove("RUST_LOG");
    c
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[actix_web::test]
async fn serves_then_stops_gracefully_on_sigterm() {
    let port = free_port();
    let mut child = metmos()
        .env("METMOS__HTTP__PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
        {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(Instant::now() < deadline, "metmos did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "metmos did not stop on SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let out = child.wait_with_output().unwrap();
    let logs =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(exit.success(), "exit {exit:?}: {logs}");
    assert!(
        logs.contains("engine adapters") && logs.contains(r#"store="memory""#),
        "start-up names the adapters: {logs}"
    );
    assert!(logs.contains("stopping background tasks"), "{logs}");
    // Shutdown waited for every tracked task (relay, lease, bus bridge) to end.
    assert!(logs.contains("background tasks stopped"), "{logs}");
}

#[actix_web::test]
async fn migrate_and_dev_user_work_against_postgres() {
    // An empty database (not the migrated template): `metmos migrate` builds the schema.
    let (admin, conn) =
        tokio_postgres::connect(&metmos_engine::testing::admin_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
    actix_web::rt::spawn(conn);
    let name = format!("metmos_cli_{}", uuid::Uuid::new_v4().simple());
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
    let out = metmos()
        .arg("migrate")
        .env("METMOS__DATABASE__URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("applied ") && !stdout.starts_with("applied 0 "),
        "{stdout}"
    );
    let again = metmos()
        .arg("migrate")
        .env("METMOS__DATABASE__URL", &url)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "applied 0 migration(s)"
    );

    let test_config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/test.toml");
    let out = metmos()
        .args(["dev-user", "carol", "--config"])
        .arg(&test_config)
        .env("METMOS__DATABASE__URL", &url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let app = TestApp::spawn_on(Backend::Postgres, None, &[("database.url", url.as_str())]).await;
    let me = app.get("/people/me", Some(&token)).await.expect(200);
    assert_eq!(me.body["username"], "carol");
    assert_eq!(me.body["email"], "carol@example.com");
    drop(app);
    admin
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}

#[test]
fn migrate_without_a_database_url_says_so() {
    let out = metmos().arg("migrate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("database.url is not set"));
}

/// Committed changes reach the bus through the outbox, on both stores.
#[actix_web::test]
async fn committed_events_reach_the_bus() {
    for backend in [Backend::Memory, Backend::Postgres] {
        let app = TestApp::spawn(backend).await;
        let mut sub = app
            .engine
            .bus
            .subscribe("test-people", "person.*")
            .await
            .unwrap();
        let alice = app.user("alice").await;
        let delivery = tokio::time::timeout(Duration::from_secs(5), sub.deliveries.recv())
            .await
            .expect("published in time")
            .unwrap();
        let json = delivery.envelope.to_json();
        assert_eq!(json["type"], "person.created");
        assert_eq!(json["data"]["personUuid"], alice.person_uuid.as_str());
        assert!(
            json["data"].get("email").is_none(),
            "events carry no private fields"
        );
        delivery.ack().await.unwrap();
        // Published rows leave the backlog.
        let deadline = Instant::now() + Duration::from_secs(5);
        while app.engine.store.outbox_backlog().await.unwrap() > 0 {
            assert!(Instant::now() < deadline, "outbox drained");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _: Option<ScratchDatabase> = app.stop().await;
    }
}
