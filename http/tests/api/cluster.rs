//! Several engines as one service, and the broker or a node going away. Real engine
//! processes (the `metmos` binary) share PostgreSQL and RabbitMQ (a database and a
//! virtual host of their own per test) with an in-process node; "the broker going away"
//! cuts only this test's TCP path to it ([`TcpCut`]), since the shared broker serves
//! other tests meanwhile; a real broker restart (`stop_app`/`start_app`) happens on a
//! node of the test's own ([`metmos_engine::testing::PrivateRabbit`]).

use crate::harness::{Backend, TestApp, TestUser};
use crate::ws_client::{WsClient, contact_chat, new_uuid, wait_for_ws_statuses};
use metmos_engine::adapters::bus::rabbitmq::{RabbitMqBus, node_queue_name};
use metmos_engine::config::AmqpSettings;
use metmos_engine::ports::Bus;
use metmos_engine::testing::{ScratchDatabase, ScratchVhost, TcpCut};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A `metmos` process on a random port.
struct Node {
    child: Child,
    port: u16,
    id: Uuid,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Node {
    async fn spawn(database_url: Option<&str>, amqp_url: &str) -> Self {
        let port = free_port();
        let id = Uuid::new_v4();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/test.toml");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_metmos"));
        cmd.env_remove("RUST_LOG")
            .env("METMOS_CONFIG", config)
            .env("METMOS__HTTP__PORT", port.to_string())
            .env("METMOS__AMQP__URL", amqp_url)
            .env("METMOS__NODE__ID", id.to_string())
            .env("METMOS__NODE__LEASE_SECS", "3")
            // Bursts here are the test's point, not abuse.
            .env("METMOS__WS__MESSAGES_PER_SECOND", "10000")
            .env("METMOS__WS__BURST", "10000")
            .env("METMOS__LOG__FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.env("METMOS__DATABASE__URL", url);
        }
        let child = cmd.spawn().expect("metmos starts");
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client
                .get(format!("http://127.0.0.1:{port}/health"))
                .send()
                .await
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "metmos node did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, port, id }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    async fn wait_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "metmos did not stop");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn kill(&mut self) {
        self.signal("-KILL");
        self.wait_exit().await;
    }

    async fn stop(&mut self) {
        self.signal("-TERM");
        self.wait_exit().await;
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(Instant::now() < deadline, "not reached in 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn device(app: &TestApp, user: &TestUser) {
    app.post(
        "/devices",
        Some(&user.token),
        json!({"deviceType": "PHONE", "platformType": "IOS", "platformVersion": "iOS 17",
               "modelName": "iPhone 15", "pushToken": format!("tok-{}", new_uuid())}),
    )
    .await
    .expect(201);
}

async fn push_count(app: &TestApp, viewer: &TestUser, person: &TestUser) -> usize {
    app.get(
        &format!("/dev/pushes?personUuid={}", person.person_uuid),
        Some(&viewer.token),
    )
    .await
    .expect(200)
    .body["pushes"]
        .as_array()
        .map_or(0, Vec::len)
}

/// `metmos_cluster_frames_sent_total` as the node's `/metrics` shows it.
async fn frames_sent(app: &TestApp) -> u64 {
    let metrics = app.get("/metrics", None).await.text;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("metmos_cluster_frames_sent_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no frames counter in {metrics}"))
}

/// The next chatMessage frame (acks and other frames skipped).
async fn next_chat(c: &mut WsClient) -> Value {
    loop {
        let f = c.next_json().await;
        if f["type"] == "chatMessage" {
            return f;
        }
    }
}

/// Every message of a chat, through history (what a client resyncs with).
async fn history(app: &TestApp, user: &TestUser, chat: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = 0i64;
    loop {
        let r = app
            .get(
                &format!("/chats/{chat}/messages?limit=100&after={after}"),
                Some(&user.token),
            )
            .await
            .expect(200);
        let page = r.body["messages"].as_array().unwrap().clone();
        all.extend(page);
        match r.body["after"].as_i64() {
            Some(a) => after = a,
            None => return all,
        }
    }
}

/// Alice (node A) and Bob (node B) write at once, so the chat has a room on each node.
/// The store's per-chat seq stays the single authority: every message gets its own seq,
/// no gaps; each receives all of the other's messages, in seq order. Answers the uuids
/// sent.
async fn both_rooms_at_once(
    chat: &str,
    alice: &mut WsClient,
    bob: &mut WsClient,
    n: usize,
) -> Vec<String> {
    let from_alice: Vec<String> = (0..n).map(|_| new_uuid()).collect();
    let from_bob: Vec<String> = (0..n).map(|_| new_uuid()).collect();
    for i in 0..n {
        alice.send_message(chat, &from_alice[i], "a").await;
        bob.send_message(chat, &from_bob[i], "b").await;
    }
    async fn read(c: &mut WsClient, n: usize, mine: &[String]) -> (Vec<String>, Vec<i64>) {
        let (mut frames, mut acks) = (Vec::new(), Vec::new());
        let mut last = 0;
        while frames.len() < n || acks.len() < n {
            let f = c.next_json().await;
            match f["type"].as_str() {
                Some("chatMessage") => {
                    let seq = f["seq"].as_i64().unwrap();
                    assert!(seq > last, "frames in seq order: {seq} after {last}");
                    last = seq;
                    frames.push(f["messageUuid"].as_str().unwrap().to_string());
                }
                Some("ack") if mine.iter().any(|u| f["messageUuid"] == u.as_str()) => {
                    acks.push(f["seq"].as_i64().unwrap())
                }
                _ => {}
            }
        }
        (frames, acks)
    }
    let (bob_got, bob_acks) = read(bob, n, &from_bob).await;
    let (alice_got, alice_acks) = read(alice, n, &from_alice).await;
    assert_eq!(bob_got, from_alice, "Bob got all of Alice's, in order");
    assert_eq!(alice_got, from_bob, "Alice got all of Bob's, in order");
    let mut seqs: Vec<i64> = alice_acks.into_iter().chain(bob_acks).collect();
    seqs.sort_unstable();
    let first = seqs[0];
    assert_eq!(
        seqs,
        (first..first + 2 * n as i64).collect::<Vec<_>>(),
        "one seq per message, no two rooms gave the same one, no gaps"
    );
    from_alice.into_iter().chain(from_bob).collect()
}

/// The embedded adapters hold the same contract: two engines in one process sharing a
/// memory store and an in-process bus are one chat service.
#[actix_web::test]
async fn two_embedded_engines_are_one_chat_service() {
    use metmos_engine::adapters::bus::inprocess::InProcessBus;
    use metmos_engine::adapters::store::memory::MemoryStore;
    use std::sync::Arc;
    let store: Arc<dyn metmos_engine::ports::Store> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let fast = [("ws.messages_per_second", "10000"), ("ws.burst", "10000")];
    let a = TestApp::spawn_sharing(store.clone(), bus.clone(), &fast).await;
    let b = TestApp::spawn_sharing(store, bus, &fast).await;
    assert_ne!(a.engine.node_id, b.engine.node_id);
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    device(&a, &bob).await;
    let chat = contact_chat(&a, &alice, &bob).await;
    let mut alice_a = WsClient::connect(&a, &alice.token).await;
    let mut bob_b = WsClient::connect(&b, &bob.token).await;
    let pushed_before = push_count(&a, &bob, &bob).await;
    let one = new_uuid();
    alice_a.send_message(&chat, &one, "across").await;
    assert_eq!(next_chat(&mut bob_b).await["messageUuid"], one.as_str());
    both_rooms_at_once(&chat, &mut alice_a, &mut bob_b, 50).await;
    assert_eq!(
        push_count(&a, &bob, &bob).await,
        pushed_before,
        "framed, not pushed"
    );
    assert!(
        a.engine
            .bus
            .send_to_node(b.engine.node_id, b"{}")
            .await
            .unwrap()
    );
}

/// A person with a socket on each of two engines (a phone on one, a tablet on the other)
/// gets every frame on both: being online on the room's node does not stop the frame from
/// also going to the other node, and nobody is pushed.
#[actix_web::test]
async fn a_persons_sockets_on_two_engines_each_get_every_frame() {
    use metmos_engine::adapters::bus::inprocess::InProcessBus;
    use metmos_engine::adapters::store::memory::MemoryStore;
    use std::sync::Arc;
    let store: Arc<dyn metmos_engine::ports::Store> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    // Short leases: each node sees the other within a second and a half.
    let settings = [
        ("ws.messages_per_second", "10000"),
        ("ws.burst", "10000"),
        ("node.lease_secs", "3"),
    ];
    let a = TestApp::spawn_sharing(store.clone(), bus.clone(), &settings).await;
    let b = TestApp::spawn_sharing(store, bus, &settings).await;
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    device(&a, &bob).await;
    let chat = contact_chat(&a, &alice, &bob).await;
    let mut alice_a = WsClient::connect(&a, &alice.token).await;
    let mut bob_a = WsClient::connect(&a, &bob.token).await;
    let mut bob_b = WsClient::connect(&b, &bob.token).await;
    let pushed_before = push_count(&a, &bob, &bob).await;
    // Until node a has seen node b's lease, a frame for bob stays on a (as before this
    // change); from then on every message reaches both of bob's sockets.
    let mut sent = Vec::new();
    let mut reached_b = None;
    for i in 0..40 {
        let uuid = new_uuid();
        alice_a.send_message(&chat, &uuid, &format!("m{i}")).await;
        sent.push(uuid.clone());
        if let Some(f) = bob_b.next_within(Duration::from_millis(250)).await
            && f["type"] == "chatMessage"
        {
            reached_b = Some(f["messageUuid"].as_str().unwrap().to_string());
            break;
        }
    }
    let first = reached_b.expect("bob's socket on the other engine gets frames");
    let from = sent.iter().position(|u| *u == first).unwrap();
    for i in 0..5 {
        let uuid = new_uuid();
        alice_a
            .send_message(&chat, &uuid, &format!("after {i}"))
            .await;
        sent.push(uuid);
    }
    for want in &sent[from + 1..] {
        assert_eq!(
            next_chat(&mut bob_b).await["messageUuid"],
            want.as_str(),
            "in order on b"
        );
    }
    for want in &sent {
        assert_eq!(
            next_chat(&mut bob_a).await["messageUuid"],
            want.as_str(),
            "all on a"
        );
    }
    assert_eq!(
        push_count(&a, &bob, &bob).await,
        pushed_before,
        "online: never pushed"
    );
}

#[actix_web::test]
async fn frames_cross_nodes_in_seq_order_and_a_killed_nodes_people_resync_on_the_other() {
    let vhost = ScratchVhost::create().expect("vhost");
    let db = ScratchDatabase::create().await.expect("database");
    let db_url = db.url.clone();
    let a = TestApp::spawn_on(
        Backend::Postgres,
        Some(db),
        &[
            ("database.url", &db_url),
            ("amqp.url", &vhost.url),
            ("node.lease_secs", "3"),
            // Bursts here are the test's point, not abuse.
            ("ws.messages_per_second", "10000"),
            ("ws.burst", "10000"),
        ],
    )
    .await;
    let mut b = Node::spawn(Some(&db_url), &vhost.url).await;
    // B serves only once its own queue is consumed: a frame sent to it before then
    // would find no queue and become a push (a loaded CI machine got there when B
    // answered /health first).
    let b_queue = node_queue_name(b.id);
    assert!(
        vhost.consumed_queues().unwrap().contains(&b_queue),
        "B answers before its queue is consumed"
    );
    let alice = a.user("alice").await;
    let bob = a.user("bob").await;
    device(&a, &bob).await;
    let chat = contact_chat(&a, &alice, &bob).await;
    let mut alice_a = WsClient::connect(&a, &alice.token).await;
    let mut bob_b = WsClient::connect_port(b.port, &bob.token).await;
    // (Bob's device got the connection request as a push while he was offline.)
    let pushed_before = push_count(&a, &bob, &bob).await;
    let mut sent: Vec<String> = Vec::new();

    // Bob is on node B only: each message reaches him as a frame through B's queue.
    let mut latencies = Vec::new();
    for i in 0..50 {
        let uuid = new_uuid();
        let start = Instant::now();
        alice_a
            .send_message(&chat, &uuid, &format!("hop {i}"))
            .await;
        let f = next_chat(&mut bob_b).await;
        latencies.push(start.elapsed());
        assert_eq!(f["messageUuid"], uuid.as_str(), "in order, none missing");
        sent.push(uuid);
    }
    latencies.sort();
    // Shown, not asserted: performance is the load harness's business.
    eprintln!(
        "cross-node frame latency over {} messages: p50 {:?}, p99 {:?}",
        latencies.len(),
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100]
    );
    assert_eq!(
        push_count(&a, &bob, &bob).await,
        pushed_before,
        "framed on B, never pushed"
    );

    // A burst: every frame arrives, seq strictly increasing.
    let burst: Vec<String> = (0..200).map(|_| new_uuid()).collect();
    for (i, uuid) in burst.iter().enumerate() {
        alice_a
            .send_message(&chat, uuid, &format!("burst {i}"))
            .await;
    }
    let mut last_seq = 0;
    for uuid in &burst {
        let f = next_chat(&mut bob_b).await;
        let seq = f["seq"].as_i64().unwrap();
        assert!(seq > last_seq, "seq order kept: {seq} after {last_seq}");
        last_seq = seq;
        assert_eq!(f["messageUuid"], uuid.as_str());
    }
    sent.extend(burst);
    // A counts a batch once the broker confirmed it, which may be after B delivered it.
    until("A counted every frame it sent", async || {
        frames_sent(&a).await >= 250
    })
    .await;
    assert_eq!(
        frames_sent(&a).await,
        250,
        "one frame per message, none twice"
    );
    sent.extend(both_rooms_at_once(&chat, &mut alice_a, &mut bob_b, 50).await);

    // Node B dies. Its queue goes with its connection; a frame for Bob now finds no node
    // and becomes a push.
    b.kill().await;
    until("B's queue deleted", async || {
        !vhost.queues().unwrap().contains(&b_queue)
    })
    .await;
    let lost_socket = new_uuid();
    alice_a
        .send_message(&chat, &lost_socket, "while you were away")
        .await;
    sent.push(lost_socket);
    until("Bob pushed", async || {
        push_count(&a, &bob, &bob).await == pushed_before + 1
    })
    .await;

    // Bob's app reconnects, to A this time, and resyncs by history: nothing lost.
    let mut bob_a = WsClient::connect(&a, &bob.token).await;
    let seen: Vec<String> = history(&a, &bob, &chat)
        .await
        .iter()
        .map(|m| m["uuid"].as_str().unwrap().to_string())
        .collect();
    // (The two-room phase interleaves: compare as sets; history is in seq order.)
    let seen_set: HashSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), sent.len(), "history holds each message once");
    assert!(
        sent.iter().all(|u| seen_set.contains(u)),
        "history holds every message acked to a sender"
    );
    let back = new_uuid();
    alice_a.send_message(&chat, &back, "welcome back").await;
    assert_eq!(next_chat(&mut bob_a).await["messageUuid"], back.as_str());
    // B's rows are closed by A once B's lease (3 s) expired.
    wait_for_ws_statuses(&a, &bob, &["CONNECTED", "DISCONNECTED"]).await;
    drop(vhost);
}

/// A starting node serves only once its own queue is consumed: before, another node
/// could see its sockets and send their frames to a queue not there yet (pushed
/// instead). With its broker away it waits (here up to 30 s), and serves as soon as the
/// broker is back, its queue consumed by then.
#[actix_web::test]
async fn a_starting_node_serves_once_its_queue_is_consumed() {
    let vhost = ScratchVhost::create().expect("vhost");
    let mut cut = TcpCut::start("127.0.0.1:5672").await.unwrap();
    cut.cut();
    let url = vhost.url_via(cut.port);
    let starting = actix_web::rt::spawn(async move {
        TestApp::spawn_with(
            Backend::Memory,
            &[("amqp.url", url.as_str()), ("node.queue_wait_secs", "30")],
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !starting.is_finished(),
        "serves while its queue cannot exist"
    );
    cut.restore().await.unwrap();
    let app = tokio::time::timeout(Duration::from_secs(15), starting)
        .await
        .expect("serves once the broker is back")
        .unwrap();
    assert!(
        vhost
            .consumed_queues()
            .unwrap()
            .contains(&node_queue_name(app.engine.node_id)),
        "its queue is consumed by the time it serves"
    );
    app.get("/health", None).await.expect(200);
}

/// Finding 12: a node's queue lives as long as the node. Three start/stop cycles (the
/// last one a SIGKILL) leave the broker's queue list as it was.
#[actix_web::test]
async fn node_queues_go_with_their_node() {
    let vhost = ScratchVhost::create().expect("vhost");
    // The first start declares the durable topology (unrouted, inbound and its .dead).
    let mut first = Node::spawn(None, &vhost.url).await;
    let q = node_queue_name(first.id);
    until("node queue declared", async || {
        vhost.queues().unwrap().contains(&q)
    })
    .await;
    first.stop().await;
    until("node queue gone", async || {
        !vhost.queues().unwrap().contains(&q)
    })
    .await;
    let baseline = vhost.queues().unwrap();
    assert!(
        baseline.contains(&"metmos.inbound".to_string()),
        "{baseline:?}"
    );
    for cycle in 0..3 {
        let mut node = Node::spawn(None, &vhost.url).await;
        let q = node_queue_name(node.id);
        until("node queue declared", async || {
            vhost.queues().unwrap().contains(&q)
        })
        .await;
        if cycle == 2 {
            node.kill().await;
        } else {
            node.stop().await;
        }
        until("queue list back to the baseline", async || {
            vhost.queues().unwrap() == baseline
        })
        .await;
    }
}

/// The broker goes away in the middle of trades and chats: the API keeps working,
/// `/health` says the bus is down (200, under `info`), the outbox grows, and once the broker is back
/// every event reaches an integration's queue, in commit order (so in order per
/// aggregate), none lost.
#[actix_web::test]
async fn broker_outage_mid_burst_loses_nothing() {
    let vhost = ScratchVhost::create().expect("vhost");
    let mut cut = TcpCut::start("127.0.0.1:5672").await.unwrap();
    let db = ScratchDatabase::create().await.expect("database");
    let db_url = db.url.clone();
    audit_outbox(&db_url).await;
    let via_cut = vhost.url_via(cut.port);
    let app = TestApp::spawn_on(
        Backend::Postgres,
        Some(db),
        &[
            ("database.url", &db_url),
            ("amqp.url", &via_cut),
            ("ws.messages_per_second", "10000"),
            ("ws.burst", "10000"),
        ],
    )
    .await;
    let (integration, mut sub) = integration_queue(&vhost.url).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let chat = contact_chat(&app, &alice, &bob).await;
    let mut ws = WsClient::connect(&app, &alice.token).await;

    let work = async |round: usize, ws: &mut WsClient| {
        let listing = crate::market::published(&app, &alice, json!({})).await;
        crate::market::offer(&app, &bob, &listing, "0.5").await;
        for i in 0..10 {
            ws.send_message(&chat, &new_uuid(), &format!("round {round} msg {i}"))
                .await;
        }
        let mut acks = 0;
        while acks < 10 {
            if ws.next_json().await["type"] == "ack" {
                acks += 1;
            }
        }
    };
    work(0, &mut ws).await;
    cut.cut();
    for round in 1..=3 {
        work(round, &mut ws).await;
    }
    let health = app.get("/health", None).await.expect(200);
    assert_eq!(
        health.body["info"]["bus"]["status"], "down",
        "{}",
        health.text
    );
    assert!(
        app.engine.store.outbox_backlog().await.unwrap() > 0,
        "the outbox grows"
    );
    cut.restore().await.unwrap();
    work(4, &mut ws).await;

    assert_every_event_arrives_in_commit_order(&db_url, &mut sub).await;
    assert!(integration.healthy().await);
}

/// A real broker restart mid-burst (issue 12): a RabbitMQ node of the test's own (the
/// shared one serves other tests) does `stop_app` while trades and chats run, stays down
/// for a few of them, then `start_app`: every event reaches a queue bound on that broker
/// at least once, in per-aggregate order, none lost.
#[actix_web::test]
async fn broker_restart_mid_burst_loses_nothing() {
    use metmos_engine::testing::PrivateRabbit;
    use std::sync::Arc;
    let rabbit = Arc::new(
        tokio::task::spawn_blocking(PrivateRabbit::start)
            .await
            .unwrap()
            .expect("private RabbitMQ node"),
    );
    let db = ScratchDatabase::create().await.expect("database");
    let db_url = db.url.clone();
    audit_outbox(&db_url).await;
    let app = TestApp::spawn_on(
        Backend::Postgres,
        Some(db),
        &[
            ("database.url", &db_url),
            ("amqp.url", &rabbit.url),
            ("ws.messages_per_second", "10000"),
            ("ws.burst", "10000"),
        ],
    )
    .await;
    // Durable quorum queue, bound before the burst: it keeps what it got across the
    // restart, and the subscriber reconnects by itself.
    let (integration, mut sub) = integration_queue(&rabbit.url).await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let chat = contact_chat(&app, &alice, &bob).await;
    let mut ws = WsClient::connect(&app, &alice.token).await;

    let work = async |round: usize, ws: &mut WsClient| {
        let listing = crate::market::published(&app, &alice, json!({})).await;
        crate::market::offer(&app, &bob, &listing, "0.5").await;
        for i in 0..10 {
            ws.send_message(&chat, &new_uuid(), &format!("round {round} msg {i}"))
                .await;
        }
        let mut acks = 0;
        while acks < 10 {
            if ws.next_json().await["type"] == "ack" {
                acks += 1;
            }
        }
    };
    work(0, &mut ws).await;
    // The broker stops while a round is in flight.
    let stopping = {
        let rabbit = rabbit.clone();
        tokio::task::spawn_blocking(move || rabbit.stop_app())
    };
    let (stopped, ()) = tokio::join!(stopping, work(1, &mut ws));
    stopped.unwrap().expect("stop_app");
    for round in 2..=3 {
        work(round, &mut ws).await;
    }
    assert!(
        app.engine.store.outbox_backlog().await.unwrap() > 0,
        "the outbox grows while the broker is down"
    );
    // And starts again while another is in flight.
    let starting = {
        let rabbit = rabbit.clone();
        tokio::task::spawn_blocking(move || rabbit.start_app())
    };
    let (started, ()) = tokio::join!(starting, work(4, &mut ws));
    started.unwrap().expect("start_app");
    work(5, &mut ws).await;

    assert_every_event_arrives_in_commit_order(&db_url, &mut sub).await;
    assert!(integration.healthy().await);
}

/// PostgreSQL restarted under load (a private server: the shared one serves other
/// tests): the engine recovers without a restart of its own, and no message acked to a
/// sender is lost.
#[actix_web::test]
async fn postgres_restart_under_load_loses_no_acked_message() {
    use metmos_engine::testing::PrivatePostgres;
    use std::sync::Arc;
    let pg = Arc::new(
        tokio::task::spawn_blocking(PrivatePostgres::start)
            .await
            .unwrap()
            .expect("private PostgreSQL"),
    );
    let app = TestApp::spawn_on(
        Backend::Postgres,
        None,
        &[
            ("database.url", &pg.url),
            ("ws.messages_per_second", "10000"),
            ("ws.burst", "10000"),
        ],
    )
    .await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let chat = contact_chat(&app, &alice, &bob).await;
    let mut ws = WsClient::connect(&app, &alice.token).await;

    let mut acked: Vec<String> = Vec::new();
    let mut refused = 0;
    let mut outage = None;
    let mut recovered = false;
    for i in 0..400 {
        if i == 40 {
            let pg = pg.clone();
            // Down for a second, then back, while messages keep coming.
            outage = Some(tokio::task::spawn_blocking(move || {
                pg.stop().expect("stop");
                std::thread::sleep(Duration::from_secs(1));
                pg.resume().expect("start");
            }));
        }
        let uuid = new_uuid();
        ws.send_message(&chat, &uuid, &format!("load {i}")).await;
        let f = ws.next_json().await;
        match f["type"].as_str() {
            Some("ack") => {
                assert_eq!(f["messageUuid"], uuid.as_str());
                acked.push(uuid);
            }
            Some("error") => refused += 1,
            other => panic!("unexpected frame {other:?}: {f}"),
        }
        if let Some(o) = &outage
            && o.is_finished()
            && f["type"] == "ack"
            && refused > 0
        {
            recovered = true;
            if acked.len() > 60 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outage.expect("outage ran").await.unwrap();
    assert!(
        refused > 0,
        "the outage was felt (messages refused, not acked)"
    );
    assert!(recovered, "messages are acked again after the restart");
    let health = app.get("/health", None).await.expect(200);
    assert_eq!(health.body["status"], "ok");
    let stored: HashSet<String> = history(&app, &alice, &chat)
        .await
        .iter()
        .map(|m| m["uuid"].as_str().unwrap().to_string())
        .collect();
    let lost: Vec<&String> = acked.iter().filter(|u| !stored.contains(*u)).collect();
    assert!(lost.is_empty(), "acked but not stored: {lost:?}");
    drop(app);
}

/// An integrator's durable queue bound to every event, straight on the broker, with
/// the bus it came from.
async fn integration_queue(amqp_url: &str) -> (RabbitMqBus, metmos_engine::ports::Subscription) {
    let settings = AmqpSettings {
        url: Some(amqp_url.to_string()),
        prefetch: 256,
        delivery_limit: 3,
    };
    let integration = RabbitMqBus::new(amqp_url, &settings);
    let sub = integration.subscribe("integration", "#").await.unwrap();
    (integration, sub)
}

/// The next event on `sub`; after 10 s without one, a failure naming how many of
/// `expected` had arrived.
async fn next_event(
    sub: &mut metmos_engine::ports::Subscription,
    arrived: usize,
    expected: usize,
) -> metmos_engine::ports::Delivery {
    tokio::time::timeout(Duration::from_secs(10), sub.deliveries.recv())
        .await
        .unwrap_or_else(|_| panic!("only {arrived} of {expected} events arrived"))
        .unwrap()
}

async fn connect(db_url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(db_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

/// Every event written so far, in outbox id order (see [`audit_outbox`]).
async fn written_events(client: &tokio_postgres::Client) -> Vec<Uuid> {
    client
        .query("SELECT event_id FROM outbox_audit ORDER BY id, pos", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Keeps every outbox event's `(id, pos, event_id)` in `outbox_audit` as it is written
/// (`pos`: its place in an `outbox_batch` row, which holds a message batch's events): the
/// relay deletes a row once the broker confirmed it, and the test compares what arrived
/// with everything written. Before the app starts (the database comes migrated).
async fn audit_outbox(db_url: &str) {
    connect(db_url)
        .await
        .batch_execute(
            "CREATE TABLE outbox_audit (id BIGINT, pos BIGINT, event_id UUID NOT NULL,
                PRIMARY KEY (id, pos));
             CREATE FUNCTION outbox_audit() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN INSERT INTO outbox_audit VALUES (NEW.id, 1, NEW.event_id); RETURN NEW; END $$;
             CREATE TRIGGER outbox_audit AFTER INSERT ON outbox
               FOR EACH ROW EXECUTE FUNCTION outbox_audit();
             CREATE FUNCTION outbox_batch_audit() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN
                 INSERT INTO outbox_audit SELECT NEW.id, e.pos, (e.envelope->>'eventId')::uuid
                   FROM jsonb_array_elements(NEW.events::jsonb) WITH ORDINALITY AS e(envelope, pos);
                 RETURN NEW;
               END $$;
             CREATE TRIGGER outbox_batch_audit AFTER INSERT ON outbox_batch
               FOR EACH ROW EXECUTE FUNCTION outbox_batch_audit();",
        )
        .await
        .unwrap();
}

/// Every event the outbox committed reaches `sub` at least once, first seen in commit
/// order (so in order per aggregate), none lost; and trades and chats did run.
async fn assert_every_event_arrives_in_commit_order(
    db_url: &str,
    sub: &mut metmos_engine::ports::Subscription,
) {
    let client = connect(db_url).await;
    let committed = written_events(&client).await;
    let mut first_seen: Vec<Uuid> = Vec::new();
    let mut seen = HashSet::new();
    while seen.len() < committed.len() {
        let d = next_event(sub, seen.len(), committed.len()).await;
        if seen.insert(d.envelope.event_id) {
            first_seen.push(d.envelope.event_id);
        }
        d.ack().await.unwrap();
    }
    assert_eq!(first_seen, committed, "all of them, in commit order");
    // The relay deletes what the broker confirmed: nothing stays behind.
    until("the outbox is empty", async || {
        let left: i64 = client
            .query_one(
                "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM outbox_batch)",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        left == 0
    })
    .await;
    assert!(
        committed.len() > 50,
        "trades and chats ran: {}",
        committed.len()
    );
}

/// Engines sharing one database relay its outbox one at a time (the relay lease):
/// with both committing at once, every event reaches the broker once, in commit order,
/// and the outbox ends empty. Before, each engine's relay drained the shared outbox
/// and a burst went out about twice.
#[actix_web::test]
async fn engines_sharing_a_database_publish_each_event_once() {
    use futures_util::future::join_all;
    use std::sync::atomic::Ordering;
    let vhost = ScratchVhost::create().expect("vhost");
    let db = ScratchDatabase::create().await.expect("database");
    let db_url = db.url.clone();
    audit_outbox(&db_url).await;
    let (_integration, mut sub) = integration_queue(&vhost.url).await;
    let overrides = [
        ("database.url", db_url.as_str()),
        ("amqp.url", vhost.url.as_str()),
    ];
    let a = TestApp::spawn_on(Backend::Postgres, Some(db), &overrides).await;
    let b = TestApp::spawn_on(Backend::Postgres, None, &overrides).await;
    let names: Vec<String> = (0..40).map(|i| format!("burst{i}")).collect();
    join_all(names.iter().enumerate().map(|(i, name)| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.user(name)
    }))
    .await;
    // Ids are taken at insert, so transactions committing at once on two engines
    // publish out of id order: what counts here is once each, none lost.
    let committed: HashSet<Uuid> = written_events(&connect(&db_url).await)
        .await
        .into_iter()
        .collect();
    assert!(
        committed.len() >= 80,
        "two events per sign-up: {}",
        committed.len()
    );
    let mut seen = HashSet::new();
    while seen.len() < committed.len() {
        let d = next_event(&mut sub, seen.len(), committed.len()).await;
        assert!(
            seen.insert(d.envelope.event_id),
            "{} went out twice",
            d.envelope.event_id
        );
        d.ack().await.unwrap();
    }
    assert_eq!(seen, committed);
    let again = tokio::time::timeout(Duration::from_secs(1), sub.deliveries.recv()).await;
    assert!(
        again.is_err(),
        "an event went out twice: {:?}",
        again.ok().flatten().map(|d| d.envelope)
    );
    let holders = a.engine.relay_stats.holds_lease.load(Ordering::Relaxed) as u8
        + b.engine.relay_stats.holds_lease.load(Ordering::Relaxed) as u8;
    assert_eq!(holders, 1, "one of the two relays");
    // The holder stops cleanly: it gives the lease back and the other relays at once,
    // not when the lease would have run out (7 to 10 s on).
    let (holder, other) = if a.engine.relay_stats.holds_lease.load(Ordering::Relaxed) {
        (a, b)
    } else {
        (b, a)
    };
    let stopping = holder.engine.clone();
    let _db = holder.stop().await;
    assert!(stopping.stopped(Duration::from_secs(10)).await);
    other.user("after_the_stop").await;
    for _ in 0..2 {
        let d = tokio::time::timeout(Duration::from_secs(4), sub.deliveries.recv())
            .await
            .expect("the other engine took the relay over at once")
            .unwrap();
        assert!(seen.insert(d.envelope.event_id), "a new event");
        d.ack().await.unwrap();
    }
    assert!(other.engine.relay_stats.holds_lease.load(Ordering::Relaxed));
}

/// The caller cache's bound (`auth.caller_cache_ms`): a change made through one engine
/// applies there at once and on another engine within the TTL, never later.
#[actix_web::test]
async fn a_change_on_one_engine_reaches_anothers_cached_caller_within_the_ttl() {
    use metmos_engine::adapters::bus::inprocess::InProcessBus;
    use metmos_engine::adapters::store::memory::MemoryStore;
    use std::sync::Arc;
    let store: Arc<dyn metmos_engine::ports::Store> = Arc::new(MemoryStore::new());
    let bus: Arc<dyn Bus> = Arc::new(InProcessBus::new());
    let ttl = Duration::from_millis(400);
    let settings = [("auth.caller_cache_ms", "400")];
    let a = TestApp::spawn_sharing(store.clone(), bus.clone(), &settings).await;
    let b = TestApp::spawn_sharing(store, bus, &settings).await;
    let alice = a.user("alice").await;
    // Both engines have alice cached.
    a.get("/people/me", Some(&alice.token)).await.expect(200);
    b.get("/people/me", Some(&alice.token)).await.expect(200);

    // A profile edit: at once where it was made, within the TTL elsewhere.
    let edited = Instant::now();
    a.patch(
        "/people/me",
        Some(&alice.token),
        json!({"bio": "edited on a"}),
    )
    .await
    .expect(200);
    let on_a = a.get("/people/me", Some(&alice.token)).await.expect(200);
    assert_eq!(on_a.body["bio"], "edited on a");
    loop {
        let on_b = b.get("/people/me", Some(&alice.token)).await.expect(200);
        if on_b.body["bio"] == "edited on a" {
            break;
        }
        assert!(
            edited.elapsed() < ttl + Duration::from_secs(2),
            "b still shows {}",
            on_b.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The account deleted through a: its token is dead there at once, on b within the TTL.
    b.get("/people/me", Some(&alice.token)).await.expect(200);
    let deleted = Instant::now();
    a.delete_json(
        &format!("/accounts/{}", alice.account_uuid),
        Some(&alice.token),
        json!({"confirm": "Permanently delete my account"}),
    )
    .await
    .expect(204);
    a.get("/people/me", Some(&alice.token))
        .await
        .expect_error(401);
    loop {
        let r = b.get("/people/me", Some(&alice.token)).await;
        if r.status == 401 {
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            deleted.elapsed() < ttl + Duration::from_secs(2),
            "b still accepts the token"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
