//! PostgreSQL only: the pools of HTTP workers (`database.worker_connections`). The memory
//! store has no pool, so there is nothing to conform to.

use metmos_engine::adapters::store::postgres::PgStore;
use metmos_engine::config::DatabaseSettings;
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
    let mut operator = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .map(|(client, conn)| {
            tokio::spawn(conn);
            client
        })
        .expect("connects");
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

/// The message writers find their rows through the indexes whatever size the tables had
/// when their plans were made: PostgreSQL's `auto` mode keeps a generic plan from a
/// statement's sixth run on, and one made while `message` was small scans all of it for
/// each batch's resend check once it has grown.
#[tokio::test]
async fn the_message_writers_use_the_indexes_once_the_tables_have_grown() {
    let db = ScratchDatabase::create().await.expect("scratch database");
    let store = Arc::new(PgStore::connect(&db.url, &settings(0)).await.unwrap());
    let cancel = CancellationToken::new();
    store.start_tasks(&TaskTracker::new(), &cancel);
    let _stop = cancel.drop_guard();
    let (a, _, chat) = crate::chat::alice_and_bob_chat(store.as_ref()).await;
    // A batch of `n` messages, as a busy writer's.
    let send = |n: usize| {
        let batch: Vec<_> = (0..n)
            .map(|i| {
                let mut m = crate::chat::new_message(
                    chat.id,
                    chat.uuid,
                    &a,
                    Uuid::new_v4(),
                    &format!("m{i}"),
                );
                m.asset_uuids.clear();
                let event = crate::chat::sent(&m);
                (m, vec![event])
            })
            .collect();
        let store = store.clone();
        async move {
            for outcome in store.insert_messages(batch).await {
                outcome.expect("stored");
            }
        }
    };
    let operator = {
        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(conn);
        client
    };
    let add_rows = |from: i64, count: i64| {
        let operator = &operator;
        async move {
            operator
                .execute(
                    "INSERT INTO message (uuid, chat_id, sender_id, sender_uuid, seq) \
                     SELECT gen_random_uuid(), $1, $2, $3, i FROM generate_series($4::bigint, $5::bigint) i",
                    &[&chat.id, &a.id, &a.uuid, &from, &(from + count - 1)],
                )
                .await
                .unwrap();
        }
    };
    // Eight batches of 100 while `message` holds a few hundred rows (one writer owns this
    // chat), then the table grows fiftyfold.
    add_rows(1_000_000, 300).await;
    for _ in 0..8 {
        send(100).await;
    }
    add_rows(2_000_000, 50_000).await;
    // Two more batches a second apart: a backend reports its table statistics at the
    // end of a transaction at most once a second, so the second one's commit reports
    // every batch (and the operator's session reports its rows as it polls).
    send(100).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    send(100).await;
    let inserted = 300 + 8 * 100 + 50_000 + 2 * 100;
    let mut stats = (0, 0, 0);
    for _ in 0..200 {
        let row = operator
            .query_one(
                "SELECT n_tup_ins, coalesce(seq_tup_read, 0), coalesce(idx_scan, 0) \
                 FROM pg_stat_user_tables WHERE relname = 'message'",
                &[],
            )
            .await
            .unwrap();
        stats = (
            row.get::<_, i64>(0),
            row.get::<_, i64>(1),
            row.get::<_, i64>(2),
        );
        if stats.0 == inserted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        operator
            .batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
    }
    let (rows, read_by_scans, index_scans) = stats;
    assert_eq!(rows, inserted, "every insert was reported");
    // Each batch since the table grew would have read all of its 50,000 rows.
    assert!(
        read_by_scans < 50_000,
        "no batch scanned all of `message`: {read_by_scans} rows read by sequential scans"
    );
    assert!(index_scans > 0, "the resend checks went through the index");
}
