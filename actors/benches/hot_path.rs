//! Micro-benchmarks of the chat hot path (issue 14), so that a regression in it shows in
//! `cargo bench` without a full load run:
//!
//! - frame serialization: what is rendered once per chat message (the `chatMessage`
//!   frame every receiver shares, the sender's `ack`) and per read receipt.
//! - fan-out: how a chat room hands one serialized frame to N persons online here
//!   (`Delivery::send`: the sessions map lookup, each person's connection table under its
//!   lock, the push into each connection's bounded queue), timed until every queue
//!   holds the frame, with the sessions Presence placed as the server does.
//!
//! Everything runs on the real engine (in-memory store, in-process bus) and actors.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use metmos_actors::Realtime;
use metmos_actors::frames::{ChatSeq, Frame, ServerFrame};
use metmos_actors::notifier::Delivery;
use metmos_actors::outbound::{self, OutboundReceiver};
use metmos_actors::presence;
use metmos_actors::user_session::{ConnHandle, ConnId, KillSwitch};
use metmos_engine::Engine;
use metmos_engine::adapters::bus::inprocess::InProcessBus;
use metmos_engine::adapters::store::memory::MemoryStore;
use metmos_engine::config::Settings;
use metmos_engine::domain::chat::Message;
use metmos_engine::domain::people::{Email, Person, PersonFields, Username};
use metmos_engine::domain::time;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Recipients of one message: a two-person chat (1, or 2 with the sender's other
/// device), a small group, a large one.
const RECIPIENTS: [usize; 4] = [1, 2, 10, 100];

fn message(text: String, asset_uuids: Vec<Uuid>) -> Message {
    let at = time::now();
    Message {
        id: 42,
        uuid: Uuid::new_v4(),
        chat_id: 7,
        chat_uuid: Uuid::new_v4(),
        sender_id: Some(3),
        sender_uuid: Uuid::new_v4(),
        message_content: text,
        asset_uuids,
        seq: 1_234,
        created_at: at,
        updated_at: at,
    }
}

/// About 1 KB of chat text, with what JSON must escape (quotes, newlines) and non-ASCII.
fn kilobyte_text() -> String {
    let line = "The bike is still \"like new\", pickup Saturday near the café?\n";
    line.repeat(1024 / line.len() + 1)
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frames");
    let short = message("See you at the market at 10?".into(), vec![]);
    let kilobyte = message(kilobyte_text(), vec![]);
    let with_assets = message(
        "Photos of the scratches".into(),
        (0..3).map(|_| Uuid::new_v4()).collect(),
    );
    for (name, m) in [
        ("short", &short),
        ("1kb", &kilobyte),
        ("3_assets", &with_assets),
    ] {
        group.bench_with_input(BenchmarkId::new("chat_message", name), m, |b, m| {
            b.iter(|| ServerFrame::chat_message(black_box(m)).to_frame())
        });
    }
    group.bench_function("ack", |b| {
        b.iter(|| ServerFrame::ack(black_box(&short)).to_frame())
    });
    group.bench_function("read", |b| {
        b.iter(|| {
            ServerFrame::Read {
                chat_uuid: black_box(short.chat_uuid),
                person_uuid: black_box(short.sender_uuid),
                seq: black_box(short.seq),
            }
            .to_frame()
        })
    });
    group.finish();
}

/// The persons the frame goes to, and the receiving end of each one's connection (what
/// its socket task drains).
struct Recipients {
    persons: Vec<Uuid>,
    queues: Vec<OutboundReceiver>,
}

/// A connection as the WebSocket layer opens it: a queue of `ws.send_queue` frames.
fn connection(send_queue: usize) -> (ConnHandle, OutboundReceiver) {
    let (tx, rx) = outbound::queue(send_queue);
    let handle = ConnHandle {
        id: ConnId(Uuid::new_v4()),
        tx,
        kill: Arc::new(KillSwitch::default()),
    };
    (handle, rx)
}

async fn people(engine: &Engine, count: usize) -> Vec<Person> {
    let mut people = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("bench{i}");
        let (_, person) = engine
            .people
            .create_dev_user(PersonFields::named(
                Username::parse(&name).expect("username"),
                Email::parse(&format!("{name}@example.com")).expect("email"),
            ))
            .await
            .expect("person stored");
        people.push(person);
    }
    people
}

/// Each person connected once through Presence, as a socket connects.
async fn connect_through_presence(
    realtime: &Realtime,
    people: &[Person],
    send_queue: usize,
) -> Recipients {
    let mut queues = Vec::with_capacity(people.len());
    for person in people {
        let (conn, rx) = connection(send_queue);
        realtime
            .presence
            .send(presence::Connect {
                person: person.clone(),
                conn,
            })
            .await
            .expect("presence answers");
        queues.push(rx);
    }
    Recipients {
        persons: people.iter().map(|p| p.uuid).collect(),
        queues,
    }
}

/// Hands `frame` to the first `n` recipients `rounds` times, each time as the chat's
/// next message, and waits until every one of their queues took it (draining them, so
/// they never fill). Returns the time it took.
async fn fan_out_rounds(
    delivery: &Delivery,
    recipients: &mut Recipients,
    n: usize,
    frame: &Frame,
    order: &mut ChatSeq,
    rounds: u64,
) -> Duration {
    let persons = &recipients.persons[..n];
    let queues = &mut recipients.queues[..n];
    let start = Instant::now();
    for _ in 0..rounds {
        // A new seq each time: sessions drop a frame whose seq they already passed on.
        order.seq += 1;
        delivery.send(persons.iter().copied(), frame, None, Some(*order), || None);
        for queue in queues.iter_mut() {
            let delivered = queue
                .recv()
                .await
                .expect("the session keeps the connection");
            black_box(delivered);
        }
    }
    start.elapsed()
}

/// One round, bounded in time: checks in setup that every recipient gets the frame, so
/// that a broken setup fails instead of hanging the measurement.
async fn check_every_queue_gets_it(
    delivery: &Delivery,
    recipients: &mut Recipients,
    frame: &Frame,
    order: &mut ChatSeq,
) {
    let all = recipients.persons.len();
    let round = fan_out_rounds(delivery, recipients, all, frame, order, 1);
    tokio::time::timeout(Duration::from_secs(10), round)
        .await
        .expect("every recipient's queue got the frame");
}

fn fan_out(c: &mut Criterion) {
    let system = actix::System::new();
    let max = RECIPIENTS.iter().copied().max().unwrap_or(1);
    let (engine, realtime, mut recipients) = system.block_on(async {
        let settings = Settings::load_with(None, &[]).expect("default settings");
        let send_queue = settings.ws.send_queue;
        let engine = Engine::assemble(
            settings,
            Arc::new(MemoryStore::new()),
            Arc::new(InProcessBus::new()),
        )
        .await
        .expect("engine assembled");
        let realtime = Realtime::start(engine.clone());
        let people = people(&engine, max).await;
        let recipients = connect_through_presence(&realtime, &people, send_queue).await;
        (engine, realtime, recipients)
    });
    let chat_message = message("See you at the market at 10?".into(), vec![]);
    let frame = ServerFrame::chat_message(&chat_message).to_frame();
    let mut order = ChatSeq {
        chat: chat_message.chat_uuid,
        seq: 0,
    };
    system.block_on(check_every_queue_gets_it(
        &realtime.delivery,
        &mut recipients,
        &frame,
        &mut order,
    ));

    let mut group = c.benchmark_group("fan_out");
    for n in RECIPIENTS {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("queues", n), |b| {
            b.iter_custom(|rounds| {
                system.block_on(fan_out_rounds(
                    &realtime.delivery,
                    &mut recipients,
                    n,
                    &frame,
                    &mut order,
                    rounds,
                ))
            })
        });
    }
    group.finish();
    engine.shutdown();
}

criterion_group!(benches, frames, fan_out);
criterion_main!(benches);
