//! PostgreSQL only: the pools of HTTP workers (`database.worker_connections`). The memory
//! store has no pool, so there is nothing to conform to.

use metmos_engine::adapters::store::postgres::PgStore;
use metmos_engine::config::DatabaseSettings;
use metmos_engine::ports::Store;
use metmos_engine::testing::ScratchDatabase;
use std::sync::Arc;

fn settings(worker_connections: usize) -> DatabaseSettings {
    DatabaseSettings {
        max_connections: 4,
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

    // The worker's pool went with its thread; a thread that did not attach (actors,
    // writers) uses the main pool's connection.
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
