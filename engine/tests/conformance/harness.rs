#![allow(dead_code)] // shared helpers; not every module uses every one

use metmos_engine::adapters::store::memory::MemoryStore;
use metmos_engine::domain::people::Person;
use metmos_engine::ports::Store;
use metmos_engine::testing::ScratchDatabase;
use std::sync::Arc;

/// A store under test, with the database it lives in (PostgreSQL) kept alive.
pub struct Subject {
    pub store: Arc<dyn Store>,
    _db: Option<ScratchDatabase>,
    /// Stops the store's own tasks (PostgreSQL's message writers) with the test.
    _tasks: Option<tokio_util::sync::DropGuard>,
}

impl Subject {
    pub fn memory() -> Self {
        Self {
            store: Arc::new(MemoryStore::new()),
            _db: None,
            _tasks: None,
        }
    }

    /// The PostgreSQL database's URL, for tests that check the schema directly.
    pub fn db_url(&self) -> Option<String> {
        self._db.as_ref().map(|d| d.url.clone())
    }

    /// A plain connection to the PostgreSQL database, for tests that write or read it
    /// by SQL as an operator would.
    pub async fn sql(&self) -> tokio_postgres::Client {
        let url = self.db_url().expect("a PostgreSQL subject");
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("connects");
        tokio::spawn(conn);
        client
    }

    pub async fn postgres() -> Self {
        let db = ScratchDatabase::create().await.expect("scratch database");
        let store: Arc<dyn Store> = Arc::new(db.store().await.expect("connects"));
        // As in an engine: messages go through the group-commit writers.
        let cancel = tokio_util::sync::CancellationToken::new();
        store.start_tasks(&tokio_util::task::TaskTracker::new(), &cancel);
        Self {
            store,
            _db: Some(db),
            _tasks: Some(cancel.drop_guard()),
        }
    }
}

/// A new person (with account) stored directly; `name` is the username.
pub async fn person(store: &dyn Store, name: &str) -> Person {
    metmos_engine::testing::stored_person(store, name).await
}

/// Runs each body against both adapters:
///
/// ```ignore
/// conformance! {
///     async fn name(store) { store.ping().await.unwrap(); }
/// }
/// ```
#[macro_export]
macro_rules! conformance {
    ($(async fn $name:ident($store:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                #[tokio::test]
                async fn memory() {
                    let subject = $crate::harness::Subject::memory();
                    let $store: &dyn metmos_engine::ports::Store = subject.store.as_ref();
                    $body
                }
                #[tokio::test]
                async fn postgres() {
                    let subject = $crate::harness::Subject::postgres().await;
                    let $store: &dyn metmos_engine::ports::Store = subject.store.as_ref();
                    $body
                }
            }
        )*
    };
}
