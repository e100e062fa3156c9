//! PostgreSQL only: the pools of HTTP workers (`database.worker_connections`). The memory
//! store has no pool, so there is nothing to conform to.

use metmos_engine::adapters::store::postgres::PgStore;
use metmos_engine::config::DatabaseSettings;
use metmos_engine::domain::chat::{Chat, MessageInsert, NewMessage};
use metmos_engine::domain::people::Person;
use metmos_engine::ports::{ChatStore, ListingStore, Store};
use metmos_engine::testing::ScratchDatabase;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

/// `max_connections` 4: a main pool of 2 and the two message writers' own connection each.
fn settings(worker_connections: usize) -> DatabaseSettings {
    DatabaseSettings {
        max_connections: 4,
        message_writers: 2,
        worker_connections,
        ..DatabaseSettings::default()
    }
}

/// Runs `f` on a thread of its own with a current-thread runtime, as an actix worker,
/// until that thread ends. The test's runtime keeps running meanwhile: it drives the main
/// pool's connections, which the worker uses when it has no pool of its own.
async fn on_worker_thread<F, Fut>(store: Arc<PgStore>, f: F)
where
    F: FnOnce(Arc<PgStore>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let worker = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(f(store));
    });
    tokio::task::spawn_blocking(move || worker.join())
        .await
        .expect("joined")
        .expect("the worker thread ran");
}

#[tokio::test]
async fn an_attached_worker_queries_through_its_own_pool_others_through_the_main_one() {
    let db = ScratchDatabase::create().await.expect("scratch database");
    let store = Arc::new(PgStore::connect(&db.url, &settings(3)).await.unwrap());
    // `connect` pinged once: the main pool holds one idle connection.
    let before = store.pool_status();
    assert_eq!((before.size, before.max_size), (1, 4));

    on_worker_thread(store.clone(), |store| async move {
        store.attach_worker_thread();
        store.attach_worker_thread(); // a second call keeps the first pool
        store.ping().await.unwrap();
        store.ping().await.unwrap();
        let s = store.pool_status();
        // The main pool's idle connection was not taken: the worker opened its own.
        assert_eq!((s.size, s.max_size), (2, 4 + 3), "{s:?}");
        assert_eq!(s.available, 2, "both idle again: {s:?}");
    })
    .await;

    // The worker's pool went with its thread; a thread that did not attach (actors, the
    // relay) uses the main pool's connection.
    store.ping().await.unwrap();
    let after = store.pool_status();
    assert_eq!((after.size, after.max_size), (1, 4), "{after:?}");
}

#[tokio::test]
async fn with_no_worker_connections_every_thread_shares_the_main_pool() {
    let db = ScratchDatabase::create().await.expect("scratch database");
    let store = Arc::new(PgStore::connect(&db.url, &settings(0)).await.unwrap());
    on_worker_thread(store.clone(), |store| async move {
        store.attach_worker_thread();
        store.ping().await.unwrap();
    })
    .await;
    let s = store.pool_status();
    assert_eq!((s.size, s.max_size), (1, 4), "{s:?}");
}

/// Each message writer opens a connection of its own (out of `max_connections`) on its
/// own thread: chat messages are still stored while reads hold every connection of the
/// main pool.
#[tokio::test]
async fn the_message_writers_store_while_the_main_pool_is_held() {
    let db = ScratchDatabase::create().await.expect("scratch database");
    let settings = DatabaseSettings {
        // Longer than the test waits for the message: a writer waiting for the main
        // pool would be seen waiting, not failing.
        acquire_timeout_secs: 60,
        ..settings(0)
    };
    let store = Arc::new(PgStore::connect(&db.url, &settings).await.unwrap());
    let cancel = CancellationToken::new();
    store.start_tasks(&TaskTracker::new(), &cancel);
    let _stop = cancel.drop_guard();
    let (a, _, chat) = crate::chat::alice_and_bob_chat(store.as_ref()).await;
    assert_eq!(store.pool_status().max_size, 4, "main 2, writers 1 + 1");

    // An operator's lock on `listing` holds two listing reads, one per main connection.
    let mut operator = operator(&db).await;
    let lock = operator.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE listing IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let reads: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.listing_by_uuid(Uuid::new_v4()).await })
        })
        .collect();
    for _ in 0..500 {
        let s = store.pool_status();
        if s.size - s.available >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let s = store.pool_status();
    assert_eq!(s.size - s.available, 2, "both main connections held: {s:?}");

    let mut message = crate::chat::new_message(chat.id, chat.uuid, &a, Uuid::new_v4(), "hi");
    message.asset_uuids.clear();
    let event = crate::chat::sent(&message);
    let stored = tokio::time::timeout(
        Duration::from_secs(10),
        store.insert_messages(vec![(message, vec![event])]),
    )
    .await
    .expect("stored while the main pool is held");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].as_ref().expect("stored").message().seq, 1);

    lock.commit().await.unwrap();
    for read in reads {
        assert!(read.await.expect("joined").expect("read").is_none());
    }
}

/// `n` new messages from `sender` in `chat`, then a resend of each of `resends`, as one
/// writer's batch. The new ones must be stored and the resends answered with their
/// originals; answers the new ones.
async fn store_batch(
    store: &PgStore,
    chat: &Chat,
    sender: &Person,
    n: usize,
    resends: &[NewMessage],
) -> Vec<NewMessage> {
    let new: Vec<NewMessage> = (0..n)
        .map(|i| {
            let mut m = crate::chat::new_message(
                chat.id,
                chat.uuid,
                sender,
                Uuid::new_v4(),
                &format!("m{i}"),
            );
            m.asset_uuids.clear();
            m
        })
        .collect();
    let batch = new
        .iter()
        .chain(resends)
        .map(|m| (m.clone(), vec![crate::chat::sent(m)]))
        .collect();
    let outcomes = store.insert_messages(batch).await;
    for (outcome, m) in outcomes.iter().zip(new.iter().chain(resends)) {
        let stored = outcome.as_ref().expect("stored");
        assert_eq!(stored.message().uuid, m.uuid);
        let is_resend = resends.iter().any(|r| r.uuid == m.uuid);
        assert_eq!(
            matches!(stored, MessageInsert::Existing(_)),
            is_resend,
            "{stored:?}"
        );
    }
    new
}

/// A plain connection to `db`, as an operator's.
async fn operator(db: &ScratchDatabase) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .expect("connects");
    tokio::spawn(conn);
    client
}

/// The index scans of `message_uuid_key` (the resend lookup; the INSERT's unique check is
/// not a scan) once the writer has reported its `batches` commits (each writes one
/// `outbox_batch` row; a failed try writes none). A backend reports at the end of a
/// transaction at most once a second, so the caller's last batch must come a second
/// after the one before.
async fn uuid_lookups(operator: &tokio_postgres::Client, batches: i64) -> i64 {
    let mut stats = (0, 0);
    for _ in 0..200 {
        operator
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
        let row = operator
            .query_one(
                "SELECT (SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'outbox_batch'), \
                 idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'message_uuid_key'",
                &[],
            )
            .await
            .unwrap();
        stats = (row.get::<_, i64>(0), row.get::<_, i64>(1));
        if stats.0 == batches {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stats.0, batches, "every batch was reported");
    stats.1
}

/// A writer looks a batch's uuids up among the stored messages only when its INSERT met
/// one (a resend): the lookup costs the same index descents as the INSERT's own check.
/// And it looks them up through the index even on a table this small, where a plan would
/// otherwise scan it: PostgreSQL's `auto` mode keeps a generic plan from a statement's
/// sixth run on, and one made while `message` was small went on scanning all of it once
/// it had grown (270 ms a batch at 300,000 rows). The writers' connections have
/// `enable_seqscan = off`.
#[tokio::test]
async fn the_message_writers_look_uuids_up_only_for_a_batch_holding_a_resend() {
    let db = ScratchDatabase::create().await.expect("scratch database");
    let store = Arc::new(PgStore::connect(&db.url, &settings(0)).await.unwrap());
    let cancel = CancellationToken::new();
    store.start_tasks(&TaskTracker::new(), &cancel);
    let _stop = cancel.drop_guard();
    let (a, _, chat) = crate::chat::alice_and_bob_chat(store.as_ref()).await;
    let operator = operator(&db).await;

    let first = store_batch(&store, &chat, &a, 10, &[]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store_batch(&store, &chat, &a, 10, &[]).await;
    let lookups = uuid_lookups(&operator, 2).await;
    assert_eq!(lookups, 0, "no resend, no lookup");

    store_batch(&store, &chat, &a, 10, &first[..2]).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    store_batch(&store, &chat, &a, 10, &[]).await;
    let lookups = uuid_lookups(&operator, 4).await;
    assert!(
        lookups > 0,
        "the batch with resends looked its uuids up, through the index"
    );
    let seqs: Vec<i64> = operator
        .query("SELECT seq FROM message ORDER BY seq", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        seqs,
        (1..=40).collect::<Vec<i64>>(),
        "the failed first try left no gap"
    );
}
