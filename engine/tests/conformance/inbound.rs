//! Inbound messages and cross-node lookups: the store methods they need, on both stores,
//! then the inbound consumer end to end on both stores and on both buses.

use crate::conformance;
use crate::harness::{Subject, person};
use async_trait::async_trait;
use metmos_engine::adapters::bus::inprocess::InProcessBus;
use metmos_engine::adapters::bus::rabbitmq::{EVENTS_EXCHANGE, RabbitMqBus};
use metmos_engine::config::AmqpSettings;
use metmos_engine::domain::PageRequest;
use metmos_engine::domain::escrow::{ChainEvent, EscrowLog};
use metmos_engine::domain::notifications::{NewNotification, NotificationFilter, NotificationType};
use metmos_engine::domain::time;
use metmos_engine::domain::ws_connections::NewWsConnection;
use metmos_engine::events::{AccountCreated, Event, EventEnvelope};
use metmos_engine::ports::{Bus, ChainError, ChainEventSink, Store};
use metmos_engine::services::inbound::{
    ChainEvents, INBOUND_BINDINGS, INBOUND_QUEUE, InboundService, NOTIFICATION_CONSUMER, Outcome,
};
use metmos_engine::services::notifications::Deliverer;
use metmos_engine::testing::ScratchVhost;
use parking_lot::Mutex;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

conformance! {
    async fn inbox_row_and_effect_are_one_change(store) {
        let p = person(store, "inboxed").await;
        let n = NewNotification::new(p.id, p.uuid, NotificationType::PaymentConfirmed, "t", "b", &[], time::now());
        let first = store.insert_notifications_once(NOTIFICATION_CONSUMER, "evt-1", std::slice::from_ref(&n), &[]).await.unwrap();
        assert_eq!(first.map(|v| v.len()), Some(1));
        let again = NewNotification { uuid: Uuid::new_v4(), ..n.clone() };
        let second = store.insert_notifications_once(NOTIFICATION_CONSUMER, "evt-1", &[again], &[]).await.unwrap();
        assert_eq!(second, None, "a redelivery writes nothing");
        let listed = store.list_notifications(p.id, &NotificationFilter::default(), &PageRequest::default()).await.unwrap();
        assert_eq!(listed.items.len(), 1);
        assert!(!store.mark_processed(NOTIFICATION_CONSUMER, "evt-1").await.unwrap(), "the inbox row was written");
        // A failed effect leaves no inbox row: the retry applies it.
        let ghost = NewNotification::new(i64::MAX, Uuid::new_v4(), NotificationType::PaymentConfirmed, "t", "b", &[], time::now());
        let failed = store.insert_notifications_once(NOTIFICATION_CONSUMER, "evt-2", &[ghost], &[]).await;
        if failed.is_err() {
            assert!(store.mark_processed(NOTIFICATION_CONSUMER, "evt-2").await.unwrap(), "no inbox row without its effect");
        }
    }

    async fn nodes_of_persons_lists_other_nodes_connected_rows(store) {
        let p = person(store, "roamer").await;
        let q = person(store, "homebody").await;
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        for (who, node, id) in [(&p, a, "c1"), (&p, b, "c2"), (&q, a, "c3"), (&q, b, "c4")] {
            store.insert_ws_connection(&NewWsConnection { uuid: Uuid::new_v4(), ws_conn_id: id.into(), person_id: who.id, node_id: Some(node), at: time::now() }).await.unwrap();
        }
        store.disconnect_ws_connection("c4", time::now()).await.unwrap();
        let found = store.nodes_of_persons(&[p.uuid, q.uuid], a).await.unwrap();
        assert_eq!(found, vec![(p.uuid, b)], "connected rows of other nodes only");
        assert!(store.nodes_of_persons(&[], a).await.unwrap().is_empty());
    }

    async fn outbox_oldest_pending_is_the_backlog_age(store) {
        assert_eq!(store.outbox_oldest_pending().await.unwrap(), None);
        let at = time::now() - chrono::TimeDelta::seconds(30);
        let e = EventEnvelope::new(Event::AccountCreated(AccountCreated { account_uuid: Uuid::new_v4(), cognito_user_id: "s".into(), account_status: "ACTIVE".into() }), at);
        store.insert_notifications(&[], std::slice::from_ref(&e)).await.unwrap();
        let oldest = store.outbox_oldest_pending().await.unwrap().expect("one waits");
        assert!((oldest - at).num_milliseconds().abs() < 5, "{oldest} vs {at}");
        let pending = store.outbox_pending(10).await.unwrap();
        store.outbox_delete_published(&[pending[0].id]).await.unwrap();
        assert_eq!(store.outbox_oldest_pending().await.unwrap(), None);
    }
}

/// The order handler's stand-in: records what it is handed.
#[derive(Default)]
struct RecordingSink(Mutex<Vec<ChainEvent>>);

#[async_trait]
impl ChainEventSink for RecordingSink {
    async fn on_chain_event(&self, event: ChainEvent) -> Result<(), ChainError> {
        self.0.lock().push(event);
        Ok(())
    }
}

const H: &str = "0x1111111111111111111111111111111111111111111111111111111111111111";
const A: &str = "0x2222222222222222222222222222222222222222";

fn chain_paid() -> serde_json::Value {
    json!({"eventId": Uuid::new_v4(), "type": "chain.escrow", "occurredAt": "2026-12-06T10:00:00.000Z",
           "data": {"contract": A, "txHash": H, "logIndex": 0, "blockNumber": 7, "blockHash": H,
                    "event": "OrderPaid", "orderId": H, "payer": A, "payee": A,
                    "amount": "1050000000000000000", "fee": "50000000000000000"}})
}

fn notify(person: Uuid) -> serde_json::Value {
    json!({"eventId": Uuid::new_v4(), "type": "integration.notification", "occurredAt": "2026-12-06T10:00:00.000Z",
           "data": {"personUuid": person, "notificationType": "PAYMENT_CONFIRMED", "title": "Paid", "body": "Your order is paid",
                    "data": {"orderUuid": Uuid::new_v4()}}})
}

async fn count_notifications(store: &dyn Store, person_id: i64) -> usize {
    store
        .list_notifications(
            person_id,
            &NotificationFilter::default(),
            &PageRequest::default(),
        )
        .await
        .unwrap()
        .items
        .len()
}

async fn applies_once_and_refuses_the_malformed(subject: Subject) {
    let store = subject.store.clone();
    let sink = Arc::new(RecordingSink::default());
    let chain = ChainEvents::default();
    let service = InboundService::new(store.clone(), Deliverer::default(), chain.clone());
    // No handler attached yet: not applied, so not acked.
    assert!(matches!(
        service.apply(chain_paid().to_string().as_bytes()).await,
        Outcome::Retry(_)
    ));
    chain.attach(sink.clone());
    assert_eq!(
        service.apply(chain_paid().to_string().as_bytes()).await,
        Outcome::Applied
    );
    assert!(matches!(sink.0.lock()[0].log, EscrowLog::Paid { .. }));
    let p = person(store.as_ref(), "notified").await;
    let message = notify(p.uuid).to_string();
    assert_eq!(service.apply(message.as_bytes()).await, Outcome::Applied);
    assert_eq!(
        service.apply(message.as_bytes()).await,
        Outcome::Applied,
        "a redelivery is acked"
    );
    assert_eq!(
        count_notifications(store.as_ref(), p.id).await,
        1,
        "and applied once"
    );
    assert!(
        matches!(service.apply(notify(Uuid::new_v4()).to_string().as_bytes()).await, Outcome::Refused(r) if r.contains("not found"))
    );
    assert!(matches!(service.apply(b"{").await, Outcome::Refused(_)));
}

#[tokio::test]
async fn inbound_service_applies_once_memory() {
    applies_once_and_refuses_the_malformed(Subject::memory()).await;
}

#[tokio::test]
async fn inbound_service_applies_once_postgres() {
    applies_once_and_refuses_the_malformed(Subject::postgres().await).await;
}

async fn wait_for(mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not reached in 5 s");
}

/// The consumer dies after the effect committed but before its ack: RabbitMQ redelivers
/// the message to the next consumer, which acks it without applying it again. A poison
/// message lands in `metmos.inbound.dead` with its reason. PostgreSQL store.
#[tokio::test]
async fn rabbitmq_consumer_killed_before_ack_applies_once() {
    let subject = Subject::postgres().await;
    let store = subject.store.clone();
    let vhost = ScratchVhost::create().expect("vhost");
    let settings = AmqpSettings {
        url: Some(vhost.url.clone()),
        prefetch: 4,
        delivery_limit: 3,
    };
    let bus: Arc<dyn Bus> = Arc::new(RabbitMqBus::new(&vhost.url, &settings));
    let service = InboundService::new(store.clone(), Deliverer::default(), ChainEvents::default());
    let p = person(store.as_ref(), "redelivered").await;

    let mut first = bus
        .subscribe_inbound(INBOUND_QUEUE, &INBOUND_BINDINGS)
        .await
        .unwrap();
    publish(
        &vhost.url,
        "integration.notification",
        notify(p.uuid).to_string().as_bytes(),
    )
    .await;
    let m = tokio::time::timeout(Duration::from_secs(5), first.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(service.apply(&m.body).await, Outcome::Applied);
    drop(m); // never acked
    drop(first); // the consumer dies
    assert_eq!(count_notifications(store.as_ref(), p.id).await, 1);

    let (stop, rx) = tokio::sync::broadcast::channel(1);
    tokio::spawn(service.clone().run(bus.clone(), rx));
    wait_for(async || {
        service
            .stats
            .consumed
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    })
    .await;
    assert_eq!(
        count_notifications(store.as_ref(), p.id).await,
        1,
        "the redelivery was not applied again"
    );

    publish(&vhost.url, "chain.escrow", b"{\"not\": \"an envelope\"}").await;
    wait_for(async || {
        service
            .stats
            .dead_lettered
            .load(std::sync::atomic::Ordering::Relaxed)
            == 1
    })
    .await;
    let conn = lapin::Connection::connect(&vhost.url, Default::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    let mut dead = None;
    for _ in 0..40 {
        dead = channel
            .basic_get(
                "metmos.inbound.dead".into(),
                lapin::options::BasicGetOptions { no_ack: true },
            )
            .await
            .unwrap();
        if dead.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = dead.expect("dead-lettered");
    let headers = dead
        .delivery
        .properties
        .headers()
        .clone()
        .unwrap_or_default();
    let reason = match headers.inner().get("x-metmos-reason") {
        Some(lapin::types::AMQPValue::LongString(s)) => s.to_string(),
        other => format!("{other:?}"),
    };
    assert!(
        reason.starts_with("not a JSON envelope: missing field `eventId`"),
        "{reason}"
    );
    assert_eq!(dead.delivery.data, b"{\"not\": \"an envelope\"}");
    let _ = stop.send(());
}

/// What an outside publisher does: a persistent message on `metmos.events`.
async fn publish(url: &str, routing_key: &str, body: &[u8]) {
    let conn = lapin::Connection::connect(url, Default::default())
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

/// The in-process bus runs the same consumer: what an outside publisher sends is applied.
#[tokio::test]
async fn in_process_inbound_queue_feeds_the_service() {
    let subject = Subject::memory();
    let bus = InProcessBus::new();
    let service = InboundService::new(
        subject.store.clone(),
        Deliverer::default(),
        ChainEvents::default(),
    );
    let (stop, rx) = tokio::sync::broadcast::channel(1);
    tokio::spawn(service.clone().run(Arc::new(bus.clone()), rx));
    let p = person(subject.store.as_ref(), "embedded").await;
    wait_for(async || {
        bus.publish_inbound(
            "integration.notification",
            notify(p.uuid).to_string().as_bytes(),
        )
        .await
    })
    .await;
    wait_for(async || count_notifications(subject.store.as_ref(), p.id).await == 1).await;
    bus.publish_inbound("integration.notification", b"garbage")
        .await;
    wait_for(async || bus.inbound_dead_letters().len() == 1).await;
    let _ = stop.send(());
}
