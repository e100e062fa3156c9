//! The Bus conformance suite: the same tests on the in-process bus and on RabbitMQ (a
//! virtual host of its own per test).

use metmos_engine::adapters::bus::inprocess::InProcessBus;
use metmos_engine::adapters::bus::rabbitmq::{
    EVENTS_EXCHANGE, REASON_HEADER, RabbitMqBus, UNROUTED,
};
use metmos_engine::config::AmqpSettings;
use metmos_engine::domain::time;
use metmos_engine::events::{AccountCreated, Event, EventEnvelope, PersonChanged};
use metmos_engine::ports::{Bus, Delivery, InboundMessage, NodeMessage, Published, Subscription};
use metmos_engine::testing::ScratchVhost;
use std::time::Duration;
use tokio::sync::mpsc;
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

    async fn publish_all_confirms_a_lot_in_order(subject) {
        let bus = subject.bus();
        let mut everything = bus.subscribe("everything", "#").await.unwrap();
        let events: Vec<EventEnvelope> = (0..500)
            .map(|i| if i % 2 == 0 { account_event() } else { person_event() })
            .collect();
        let lot: Vec<&EventEnvelope> = events.iter().collect();
        let published = bus.publish_all(&lot).await;
        assert_eq!(published, Published { confirmed: 500, stopped: None });
        for e in &events {
            let d = next(&mut everything).await;
            assert_eq!(&d.envelope, e, "every one, exactly and in order");
            d.ack().await.unwrap();
        }
        nothing(&mut everything).await;
        assert_eq!(bus.publish_all(&[]).await, Published { confirmed: 0, stopped: None });
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
    let (a, b) = (account_event(), person_event());
    let published = bus.publish_all(&[&a, &b]).await;
    assert_eq!(published.confirmed, 0, "{published:?}");
    assert!(
        matches!(
            published.stopped,
            Some(metmos_engine::ports::BusError::Unavailable(_))
        ),
        "{published:?}"
    );
}

impl Subject {
    /// What an outside publisher does: a raw message with a routing key on
    /// `metmos.events` (where the inbound queue is bound).
    async fn publish_inbound(&self, routing_key: &str, body: &[u8]) {
        match self {
            Subject::InProcess(b) => assert!(b.publish_inbound(routing_key, body).await),
            Subject::Rabbit(_, vhost) => {
                let conn = lapin::Connection::connect(&vhost.url, Default::default())
                    .await
                    .unwrap();
                let channel = conn.create_channel().await.unwrap();
                channel.confirm_select(Default::default()).await.unwrap();
                channel
                    .basic_publish(
                        EVENTS_EXCHANGE.into(),
                        routing_key.into(),
                        Default::default(),
                        body,
                        lapin::BasicProperties::default().with_delivery_mode(2),
                    )
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                let _ = conn.close(200, "done".into()).await;
            }
        }
    }

    /// Inbound messages dead-lettered: (body, reason).
    async fn inbound_dead(&self, queue: &str) -> Vec<(Vec<u8>, String)> {
        match self {
            Subject::InProcess(b) => b
                .inbound_dead_letters()
                .into_iter()
                .map(|d| (d.body, d.reason))
                .collect(),
            Subject::Rabbit(_, vhost) => {
                let conn = lapin::Connection::connect(&vhost.url, Default::default())
                    .await
                    .unwrap();
                let channel = conn.create_channel().await.unwrap();
                let mut out = Vec::new();
                for _ in 0..40 {
                    while let Some(msg) = channel
                        .basic_get(
                            format!("{queue}.dead").as_str().into(),
                            lapin::options::BasicGetOptions { no_ack: true },
                        )
                        .await
                        .unwrap()
                    {
                        let reason = msg
                            .delivery
                            .properties
                            .headers()
                            .as_ref()
                            .and_then(|h| h.inner().get(REASON_HEADER).cloned());
                        let reason = match reason {
                            Some(lapin::types::AMQPValue::LongString(s)) => s.to_string(),
                            other => format!("{other:?}"),
                        };
                        out.push((msg.delivery.data, reason));
                    }
                    if !out.is_empty() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                out
            }
        }
    }
}

async fn next_inbound(rx: &mut mpsc::Receiver<InboundMessage>) -> InboundMessage {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("delivered in time")
        .expect("open")
}

async fn next_node(rx: &mut mpsc::Receiver<NodeMessage>) -> NodeMessage {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("delivered in time")
        .expect("open")
}

bus_conformance! {
    async fn node_messages_reach_only_their_node(subject) {
        let bus = subject.bus();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut node_a = bus.subscribe_node(a, &["account.*"]).await.unwrap();
        let mut node_b = bus.subscribe_node(b, &[]).await.unwrap();
        assert!(bus.send_to_node(a, b"frames for a").await.unwrap());
        assert_eq!(next_node(&mut node_a).await, NodeMessage::Frames(b"frames for a".to_vec()));
        assert!(!bus.send_to_node(Uuid::new_v4(), b"nobody").await.unwrap(), "no such node: returned");
        let e = account_event();
        bus.publish(&e).await.unwrap();
        assert_eq!(next_node(&mut node_a).await, NodeMessage::Event(e));
        let got = tokio::time::timeout(Duration::from_millis(300), node_b.recv()).await;
        assert!(got.is_err(), "node b got nothing");
        // A node that stops takes its queue with it: frames for it come back.
        drop(node_b);
        let mut gone = false;
        for _ in 0..40 {
            if !bus.send_to_node(b, b"late").await.unwrap() { gone = true; break; }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(gone, "the stopped node's queue is gone");
    }

    async fn inbound_acks_requeues_and_dead_letters_with_a_reason(subject) {
        let bus = subject.bus();
        let mut rx = bus.subscribe_inbound("metmos.inbound", &["chain.*", "integration.*"]).await.unwrap();
        subject.publish_inbound("integration.notification", b"first").await;
        let m = next_inbound(&mut rx).await;
        assert_eq!((m.routing_key.as_str(), m.body.as_slice(), m.redelivered), ("integration.notification", &b"first"[..], false));
        m.retry().await.unwrap();
        let again = next_inbound(&mut rx).await;
        assert!(again.redelivered, "a retried message says so");
        again.ack().await.unwrap();
        subject.publish_inbound("chain.escrow", b"not json").await;
        let poison = next_inbound(&mut rx).await;
        assert_eq!(poison.routing_key, "chain.escrow");
        poison.reject("not a JSON envelope").await.unwrap();
        let got = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(got.is_err(), "a rejected message does not come back");
        assert_eq!(subject.inbound_dead("metmos.inbound").await, vec![(b"not json".to_vec(), "not a JSON envelope".to_string())]);
    }

    async fn inbound_dead_letters_after_the_delivery_limit(subject) {
        let bus = subject.bus();
        let mut rx = bus.subscribe_inbound("metmos.inbound", &["integration.*"]).await.unwrap();
        subject.publish_inbound("integration.notification", b"flaky").await;
        for _ in 0..=LIMIT {
            next_inbound(&mut rx).await.retry().await.unwrap();
        }
        let got = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await;
        assert!(got.is_err(), "dead-lettered after {LIMIT} requeues");
        let dead = subject.inbound_dead("metmos.inbound").await;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].0, b"flaky");
    }
}

/// The relay's wait: resolves at once when the broker is there, and a broker that is
/// down keeps it waiting.
#[tokio::test]
async fn wait_connected_follows_the_broker() {
    let subject = rabbit();
    tokio::time::timeout(Duration::from_secs(5), subject.bus().wait_connected())
        .await
        .expect("connected");
    let settings = AmqpSettings {
        url: None,
        prefetch: 8,
        delivery_limit: 3,
    };
    let down = RabbitMqBus::new("amqp://guest:guest@127.0.0.1:9/%2f", &settings);
    let waited = tokio::time::timeout(Duration::from_millis(600), down.wait_connected()).await;
    assert!(waited.is_err(), "no broker, no wake-up");
}
