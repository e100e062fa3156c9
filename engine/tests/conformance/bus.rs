//! The Bus conformance suite: the same tests on the in-process bus and on RabbitMQ (a
//! virtual host of its own per test).

use metmos_engine::adapters::bus::inprocess::InProcessBus;
use metmos_engine::adapters::bus::rabbitmq::{RabbitMqBus, UNROUTED};
use metmos_engine::config::AmqpSettings;
use metmos_engine::domain::time;
use metmos_engine::events::{AccountCreated, Event, EventEnvelope, PersonChanged};
use metmos_engine::ports::{Bus, Delivery, Subscription};
use metmos_engine::testing::ScratchVhost;
use std::time::Duration;
use uuid::Uuid;

const LIMIT: u32 = 3;

enum Subject {
    InProcess(InProcessBus),
    Rabbit(Box<RabbitMqBus>, ScratchVhost),
}

impl Subject {
    fn bus(&self) -> &dyn Bus {
        match self {
            Subject::InProcess(b) => b,
            Subject::Rabbit(b, _) => b.as_ref(),
        }
    }

    /// What the adapter kept of events no binding matched.
    async fn unrouted(&self) -> Vec<EventEnvelope> {
        match self {
            Subject::InProcess(b) => b.unrouted(),
            Subject::Rabbit(_, vhost) => drain(&vhost.url, UNROUTED).await,
        }
    }

    async fn dead_letters(&self, queue: &str) -> Vec<EventEnvelope> {
        match self {
            Subject::InProcess(b) => b.dead_letters(),
            Subject::Rabbit(_, vhost) => drain(&vhost.url, &format!("{queue}.dead")).await,
        }
    }
}

/// Reads everything in a RabbitMQ queue (basic.get until empty).
async fn drain(url: &str, queue: &str) -> Vec<EventEnvelope> {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let mut out = Vec::new();
    // Dead-lettering is asynchronous in the broker: give it a moment.
    for _ in 0..40 {
        while let Some(msg) = channel
            .basic_get(
                queue.into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap()
        {
            out.push(serde_json::from_slice(&msg.delivery.data).unwrap());
        }
        if !out.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    out
}

fn in_process() -> Subject {
    Subject::InProcess(InProcessBus::with_delivery_limit(LIMIT))
}

fn rabbit() -> Subject {
    let vhost = ScratchVhost::create().expect("RabbitMQ vhost");
    let settings = AmqpSettings {
        url: Some(vhost.url.clone()),
        prefetch: 16,
        delivery_limit: LIMIT,
    };
    Subject::Rabbit(Box::new(RabbitMqBus::new(&vhost.url, &settings)), vhost)
}

fn account_event() -> EventEnvelope {
    EventEnvelope::new(
        Event::AccountCreated(AccountCreated {
            account_uuid: Uuid::new_v4(),
            cognito_user_id: "s".into(),
            account_status: "ACTIVE".into(),
        }),
        time::now(),
    )
}

fn person_event() -> EventEnvelope {
    EventEnvelope::new(
        Event::PersonCreated(PersonChanged {
            person_uuid: Uuid::new_v4(),
            account_uuid: Uuid::new_v4(),
            username: "p".into(),
        }),
        time::now(),
    )
}

async fn next(sub: &mut Subscription) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), sub.deliveries.recv())
        .await
        .expect("delivered in time")
        .expect("open")
}

async fn nothing(sub: &mut Subscription) {
    let got = tokio::time::timeout(Duration::from_millis(300), sub.deliveries.recv()).await;
    assert!(got.is_err(), "nothing more expected");
}

macro_rules! bus_conformance {
    ($(async fn $name:ident($subject:ident) $body:block)*) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test]
                async fn in_process() {
                    let $subject = super::in_process();
                    $body
                }
                #[tokio::test]
                async fn rabbitmq() {
                    let $subject = super::rabbit();
                    $body
                }
            }
        )*
    };
}

bus_conformance! {
    async fn routes_by_topic_binding(subject) {
        let bus = subject.bus();
        let mut accounts = bus.subscribe("accounts", "account.*").await.unwrap();
        let mut everything = bus.subscribe("everything", "#").await.unwrap();
        let a = account_event();
        let p = person_event();
        bus.publish(&a).await.unwrap();
        bus.publish(&p).await.unwrap();
        let d = next(&mut accounts).await;
        assert_eq!(d.envelope, a, "the envelope arrives exactly");
        assert!(!d.redelivered);
        d.ack().await.unwrap();
        nothing(&mut accounts).await;
        let first = next(&mut everything).await;
        let second = next(&mut everything).await;
        assert_eq!((first.envelope.event_id, second.envelope.event_id), (a.event_id, p.event_id), "in order");
        first.ack().await.unwrap();
        second.ack().await.unwrap();
        assert!(bus.healthy().await);
    }

    async fn events_nobody_binds_are_kept(subject) {
        let bus = subject.bus();
        let _accounts = bus.subscribe("accounts", "account.*").await.unwrap();
        let p = person_event();
        bus.publish(&p).await.unwrap();
        let kept = subject.unrouted().await;
        assert_eq!(kept.iter().map(|e| e.event_id).collect::<Vec<_>>(), vec![p.event_id]);
    }

    async fn nack_redelivers_then_dead_letters_at_the_limit(subject) {
        let bus = subject.bus();
        let mut sub = bus.subscribe("flaky", "account.*").await.unwrap();
        let a = account_event();
        bus.publish(&a).await.unwrap();
        let d = next(&mut sub).await;
        assert!(!d.redelivered);
        d.nack(true).await.unwrap();
        for _ in 0..LIMIT {
            let again = next(&mut sub).await;
            assert!(again.redelivered, "a requeued delivery says so");
            assert_eq!(again.envelope.event_id, a.event_id);
            again.nack(true).await.unwrap();
        }
        nothing(&mut sub).await;
        let dead = subject.dead_letters("flaky").await;
        assert_eq!(dead.iter().map(|e| e.event_id).collect::<Vec<_>>(), vec![a.event_id], "dead-lettered after {LIMIT} requeues");
    }

    async fn nack_without_requeue_dead_letters_at_once(subject) {
        let bus = subject.bus();
        let mut sub = bus.subscribe("poison", "#").await.unwrap();
        let a = account_event();
        bus.publish(&a).await.unwrap();
        next(&mut sub).await.nack(false).await.unwrap();
        nothing(&mut sub).await;
        assert_eq!(subject.dead_letters("poison").await.len(), 1);
    }
}

/// RabbitMQ only: a consumer that dies before acking does not lose the event.
#[tokio::test]
async fn unacked_events_survive_a_consumer_crash() {
    let subject = rabbit();
    let bus = subject.bus();
    let sub = bus.subscribe("crashy", "account.*").await.unwrap();
    let a = account_event();
    bus.publish(&a).await.unwrap();
    drop(sub); // the consumer goes away holding the unacked delivery
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = bus.subscribe("crashy", "account.*").await.unwrap();
    let d = next(&mut again).await;
    assert_eq!(d.envelope.event_id, a.event_id);
    d.ack().await.unwrap();
}

/// The broker down: publish fails with Unavailable (the outbox keeps the event), health
/// says down, and nothing panics.
#[tokio::test]
async fn broker_down_is_unavailable_not_fatal() {
    let settings = AmqpSettings {
        url: None,
        prefetch: 8,
        delivery_limit: 3,
    };
    let bus = RabbitMqBus::new("amqp://guest:guest@127.0.0.1:9/%2f", &settings);
    assert!(!bus.healthy().await);
    let err = bus.publish(&account_event()).await.unwrap_err();
    assert!(
        matches!(err, metmos_engine::ports::BusError::Unavailable(_)),
        "{err:?}"
    );
}
