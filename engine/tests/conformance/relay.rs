//! The outbox relay across a broker outage (RabbitMQ behind a [`TcpCut`], so only this
//! engine loses its broker): events committed while the broker is away wait in the
//! outbox and go out, in order, as soon as it is back (not after a backoff sleep).

use metmos_engine::Engine;
use metmos_engine::adapters::bus::rabbitmq::RabbitMqBus;
use metmos_engine::adapters::store::memory::MemoryStore;
use metmos_engine::config::{AmqpSettings, Settings};
use metmos_engine::domain::people::{AccountStatus, NewAccount};
use metmos_engine::domain::time;
use metmos_engine::events::{AccountCreated, Event, EventEnvelope};
use metmos_engine::ports::Bus;
use metmos_engine::testing::{ScratchVhost, TcpCut};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

async fn commit_event(engine: &Engine, n: usize) -> Uuid {
    let account = NewAccount {
        uuid: Uuid::new_v4(),
        cognito_user_id: format!("relay-{n}-{}", Uuid::new_v4()),
        account_status: AccountStatus::Active,
        at: time::now(),
    };
    let e = EventEnvelope::new(
        Event::AccountCreated(AccountCreated {
            account_uuid: account.uuid,
            cognito_user_id: account.cognito_user_id.clone(),
            account_status: "ACTIVE".into(),
        }),
        time::now(),
    );
    engine
        .store
        .insert_account(&account, std::slice::from_ref(&e))
        .await
        .unwrap();
    engine.outbox.nudge();
    e.event_id
}

#[tokio::test]
async fn relay_drains_in_order_as_soon_as_the_broker_is_back() {
    let vhost = ScratchVhost::create().expect("vhost");
    let mut cut = TcpCut::start("127.0.0.1:5672").await.unwrap();
    let settings = AmqpSettings {
        url: Some(vhost.url_via(cut.port)),
        prefetch: 64,
        delivery_limit: 3,
    };
    let bus = Arc::new(RabbitMqBus::new(&vhost.url_via(cut.port), &settings));
    let engine = Engine::assemble(
        Settings::load_with(None, &[]).unwrap(),
        Arc::new(MemoryStore::new()),
        bus.clone(),
    )
    .await
    .unwrap();
    // The integration's queue, straight on the broker (not through the cut).
    let direct = RabbitMqBus::new(&vhost.url, &settings);
    let mut sub = direct.subscribe("integration", "account.*").await.unwrap();
    let first = commit_event(&engine, 0).await;
    let d = tokio::time::timeout(Duration::from_secs(5), sub.deliveries.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.envelope.event_id, first);
    d.ack().await.unwrap();
    // The relay deletes an event's row once the broker confirmed it, which can come
    // after the subscriber already got it: wait for that, or a cut now would leave it
    // (rightly) in the outbox with the 20 below.
    let marked = tokio::time::Instant::now() + Duration::from_secs(5);
    while engine.store.outbox_backlog().await.unwrap() > 0 {
        assert!(
            tokio::time::Instant::now() < marked,
            "the first event never leaves the outbox"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    cut.cut();
    let mut waiting = Vec::new();
    for n in 1..=20 {
        waiting.push(commit_event(&engine, n).await);
    }
    // Long enough for a doubling backoff (0.2 s, 0.4 s, ... from the first failure) to
    // be asleep for 6.4 s when the broker returns: a relay that slept through it would
    // miss the 2 s below.
    tokio::time::sleep(Duration::from_millis(6500)).await;
    assert!(!engine.bus.healthy().await, "the broker is away");
    assert_eq!(
        engine.store.outbox_backlog().await.unwrap(),
        20,
        "the outbox holds them"
    );

    cut.restore().await.unwrap();
    // Well under the old 10 s backoff cap: the relay wakes on the reconnect itself.
    let mut got = Vec::new();
    while got.len() < waiting.len() {
        let d = tokio::time::timeout(Duration::from_secs(2), sub.deliveries.recv())
            .await
            .expect("the backlog drains promptly once the broker is back")
            .unwrap();
        got.push(d.envelope.event_id);
        d.ack().await.unwrap();
    }
    assert_eq!(got, waiting, "all of them, in commit order");
    engine.shutdown();
}
