use crate::chat::{new_message, sent};
use crate::conformance;
use crate::harness::{Subject, person};
use metmos_engine::adapters::bus::inprocess::InProcessBus;
use metmos_engine::domain::chat::NewChat;
use metmos_engine::domain::outbox::fully_published;
use metmos_engine::domain::people::{AccountStatus, NewAccount};
use metmos_engine::domain::time;
use metmos_engine::events::{AccountCreated, Event, EventEnvelope, OutboxRow};
use metmos_engine::ports::Store;
use metmos_engine::services::outbox::{OutboxRelay, OutboxSignal, RelayStats};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use uuid::Uuid;

fn event(sub: &str) -> EventEnvelope {
    EventEnvelope::new(
        Event::AccountCreated(AccountCreated {
            account_uuid: Uuid::new_v4(),
            cognito_user_id: sub.into(),
            account_status: "ACTIVE".into(),
        }),
        time::now(),
    )
}

/// An account created with its event; the event.
async fn account_with_event(store: &dyn Store, sub: &str) -> EventEnvelope {
    let a = NewAccount {
        uuid: Uuid::new_v4(),
        cognito_user_id: sub.into(),
        account_status: AccountStatus::Active,
        at: time::now(),
    };
    let e = event(sub);
    store
        .insert_account(&a, std::slice::from_ref(&e))
        .await
        .unwrap();
    e
}

/// `n` chat messages stored together, each with its `message.sent` event (on
/// PostgreSQL, one batch: one outbox row, V20); their events in order.
async fn messages_stored_together(store: &dyn Store, n: usize) -> Vec<EventEnvelope> {
    let (alice, bob) = (person(store, "alice").await, person(store, "bob").await);
    let chat = store
        .create_chat(&NewChat::contact(&alice, &bob, time::now()), &[])
        .await
        .unwrap()
        .chat;
    let batch: Vec<_> = (0..n)
        .map(|i| {
            let sender = if i % 2 == 0 { &alice } else { &bob };
            let m = new_message(chat.id, chat.uuid, sender, Uuid::new_v4(), &format!("m{i}"));
            let e = sent(&m);
            (m, vec![e])
        })
        .collect();
    let events = batch.iter().map(|(_, e)| e[0].clone()).collect();
    for outcome in store.insert_messages(batch).await {
        assert!(outcome.unwrap().is_created());
    }
    events
}

conformance! {
    async fn events_are_written_with_their_change_only(store) {
        let a = NewAccount { uuid: Uuid::new_v4(), cognito_user_id: "s1".into(), account_status: AccountStatus::Active, at: time::now() };
        let e1 = event("s1");
        store.insert_account(&a, std::slice::from_ref(&e1)).await.unwrap();
        // A refused change leaves no event behind.
        let e2 = event("s1-again");
        let dup = NewAccount { uuid: Uuid::new_v4(), ..a.clone() };
        assert!(store.insert_account(&dup, &[e2]).await.is_err());
        let pending = store.outbox_pending(10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].envelope, e1, "the envelope comes back exactly");
        assert_eq!(store.outbox_backlog().await.unwrap(), 1);
        store.outbox_mark_failed(pending[0].id, "broker down").await.unwrap();
        assert_eq!(store.outbox_pending(10).await.unwrap()[0].attempts, 1);
        store.outbox_delete_published(&[pending[0].id]).await.unwrap();
        assert!(store.outbox_pending(10).await.unwrap().is_empty());
        assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    }

    async fn one_node_holds_the_outbox_relay_at_a_time(store) {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let at = time::now();
        let until = at + chrono::TimeDelta::seconds(10);
        assert!(store.claim_outbox_relay(a, until, at).await.unwrap(), "nobody held it");
        assert!(!store.claim_outbox_relay(b, until, at).await.unwrap(), "a holds it");
        let later = at + chrono::TimeDelta::seconds(5);
        let renewed = later + chrono::TimeDelta::seconds(10);
        assert!(store.claim_outbox_relay(a, renewed, later).await.unwrap(), "a renews");
        assert!(!store.claim_outbox_relay(b, renewed, until).await.unwrap(), "renewed past the first lease");
        assert!(store.claim_outbox_relay(b, renewed + chrono::TimeDelta::seconds(10), renewed).await.unwrap(), "a's lease ran out");
        store.release_outbox_relay(a).await.unwrap();
        assert!(!store.claim_outbox_relay(a, until, later).await.unwrap(), "only the holder gives it back");
        store.release_outbox_relay(b).await.unwrap();
        assert!(store.claim_outbox_relay(a, until, later).await.unwrap(), "given back: free at once");
    }

    // PostgreSQL writes a message batch's events as one outbox row (V20); the relay
    // still reads one queue of events, in the order they were written, and deletes a
    // row only once all of its events went out.
    async fn a_message_batchs_events_leave_the_outbox_in_order_among_the_others(store) {
        let mut written = vec![account_with_event(store, "before").await];
        written.extend(messages_stored_together(store, 3).await);
        written.push(account_with_event(store, "after").await);
        let envelopes = |rows: &[OutboxRow]| rows.iter().map(|r| r.envelope.clone()).collect::<Vec<_>>();

        let all = store.outbox_pending(100).await.unwrap();
        assert_eq!(envelopes(&all), written, "every event, exactly, in the order written");
        assert_eq!(store.outbox_backlog().await.unwrap(), 5);
        assert_eq!(store.outbox_oldest_pending().await.unwrap(), Some(written[0].occurred_at));
        // A round asked for two: whole rows, so at least two, in order.
        let round = store.outbox_pending(2).await.unwrap();
        assert!(round.len() >= 2);
        assert_eq!(envelopes(&round), written[..round.len()]);

        // The bus confirmed two of them: nothing unconfirmed may leave, and what stays
        // keeps its order.
        let ids: Vec<i64> = all.iter().map(|r| r.id).collect();
        store.outbox_delete_published(&fully_published(&ids, 2).rows).await.unwrap();
        let left = store.outbox_pending(100).await.unwrap();
        assert!((3..=4).contains(&left.len()), "the first went, the unconfirmed stayed: {}", left.len());
        assert_eq!(envelopes(&left), written[5 - left.len()..]);
        store.outbox_mark_failed(left[0].id, "broker down").await.unwrap();
        let retried = store.outbox_pending(100).await.unwrap();
        assert_eq!(retried[0].attempts, 1);
        assert_eq!(retried.last().unwrap().attempts, 0, "only that row");

        let ids: Vec<i64> = retried.iter().map(|r| r.id).collect();
        store.outbox_delete_published(&fully_published(&ids, ids.len()).rows).await.unwrap();
        assert!(store.outbox_pending(100).await.unwrap().is_empty());
        assert_eq!(store.outbox_backlog().await.unwrap(), 0);
        assert_eq!(store.outbox_oldest_pending().await.unwrap(), None);
    }

    async fn processed_keys_deduplicate(store) {
        assert!(store.mark_processed("orders", "evt-1").await.unwrap());
        assert!(!store.mark_processed("orders", "evt-1").await.unwrap(), "redelivery spotted");
        assert!(store.mark_processed("other-consumer", "evt-1").await.unwrap());
    }
}

/// PostgreSQL only: the relay has the store free the space of the rows it deleted, every
/// so many rows, instead of leaving them to autovacuum (which visits a database once a
/// minute at best): each round reads from the oldest id, through every dead row in front.
#[tokio::test]
async fn postgres_the_relay_frees_the_space_of_what_it_published() {
    let subject = Subject::postgres().await;
    let store = subject.store.clone();
    let client = subject.sql().await;
    let vacuums = async || -> i64 {
        client
            .query_one(
                "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'outbox'",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    };
    let before = vacuums().await;
    let stats = Arc::new(RelayStats::default());
    let signal = OutboxSignal::default();
    let relay = OutboxRelay::new(
        Uuid::new_v4(),
        store.clone(),
        Arc::new(InProcessBus::new()),
        signal.clone(),
        stats.clone(),
    )
    .reclaim_after(3);
    let (stop, _) = tokio::sync::broadcast::channel(1);
    let running = tokio::spawn(relay.run(stop.subscribe()));
    // Three chat messages stored together: one outbox row, three events (V20).
    messages_stored_together(store.as_ref(), 3).await;
    for n in 0..4 {
        account_with_event(store.as_ref(), &format!("reclaim-{n}")).await;
        signal.nudge();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stats.published.load(Ordering::Relaxed) < 7 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never published all seven"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(store.outbox_backlog().await.unwrap(), 0);
    assert_eq!(
        stats.published.load(Ordering::Relaxed),
        7,
        "events, not rows"
    );
    assert!(
        vacuums().await > before,
        "three deletions and the outbox was vacuumed"
    );
    let _ = stop.send(());
    running.await.unwrap();
}
