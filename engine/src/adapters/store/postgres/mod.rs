//! The PostgreSQL store: deadpool-postgres pool, cached prepared statements, one
//! transaction per change (outbox rows included).
//!
//! Tracing: each store call of the request paths has a `pg.<method>` span at DEBUG
//! level, so it costs one disabled-callsite check under the default `info` filter and
//! shows the database's share of a request when the filter is lowered. The chat
//! message path (`chat.rs`: insert_message and its neighbours) and the outbox relay
//! have none on purpose: at 100k messages/s a span per message is measurable, and the
//! relay polls in a loop.

mod account_deletion;
pub(crate) mod assets;
mod chain_watch;
mod chat;
mod devices;
pub(crate) mod market;
mod message_writer;
pub(crate) mod notifications;
mod outbox;
mod people;
mod read_state;
mod shape;
pub(crate) mod social;
mod ws_connections;

use crate::config::DatabaseSettings;
use crate::domain::refusal::Refusal;
use crate::error::{StoreError, StoreResult};
use crate::events::EventEnvelope;
use crate::ports::{PoolStatus, Store};
use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row, Statement};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

pub struct PgStore {
    /// The main pool: actors, the relay, and the HTTP workers when they have no pool of
    /// their own. `database.max_connections` less one per message writer.
    pool: Pool,
    /// Each message writer's own pool of one connection, without sequential scans (see
    /// `connect`), which the writer opens on its own thread ([`Store::start_tasks`]).
    writer_pools: Vec<Pool>,
    /// Builds each HTTP worker's own pool ([`Store::attach_worker_thread`]); `None` when
    /// `database.worker_connections` is 0.
    worker_pools: Option<WorkerPools>,
    /// The message writers' queues while they run ([`Store::start_tasks`]), one per
    /// writer: a chat's messages always go to the same one.
    writer: parking_lot::Mutex<Option<message_writer::Writers>>,
    message_batch_max: usize,
    message_writers: usize,
    message_queue: usize,
}

impl PgStore {
    /// Builds the pool and checks that the database answers. Migrations are separate
    /// ([`PgStore::migrate`]) so that `metmos migrate` can run them alone.
    pub async fn connect(url: &str, settings: &DatabaseSettings) -> StoreResult<Self> {
        let given: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Internal(format!("database.url does not parse: {e}")))?;
        // See `DatabaseSettings::generic_plans`.
        let pg_config = if settings.generic_plans {
            with_setting(&given, "plan_cache_mode", "force_generic_plan")
        } else {
            given
        };
        // Every statement of a message writer finds its rows by key, in the tables that
        // grow fastest while a database is young (`message`). A plan PostgreSQL keeps can
        // be made while they were tiny (in the default `auto` mode a generic plan from a
        // statement's sixth run on), when scanning a whole table is cheaper than an
        // index: a resend check planned on a `message` of 300 rows went on scanning all
        // of it at 300,000, 270 ms a batch, and one writer fell seconds behind in a load
        // run. Without sequential scans the same plans go through the indexes at any size
        // (planning each run instead costs more than it saves: p99 2× in a load run).
        let writer_config = with_setting(&pg_config, "enable_seqscan", "off");
        let wait = Duration::from_secs(settings.acquire_timeout_secs.max(1));
        let message_writers = settings.message_writers.max(1);
        let writer_pools = (0..message_writers)
            .map(|_| build_pool(writer_config.clone(), 1, wait))
            .collect::<StoreResult<Vec<Pool>>>()?;
        // Configuration keeps `message_writers` below `max_connections`.
        let main_size = settings
            .max_connections
            .saturating_sub(message_writers)
            .max(1);
        let pool = build_pool(pg_config.clone(), main_size, wait)?;
        let worker_pools = (settings.worker_connections > 0).then(|| WorkerPools {
            store_id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            pg_config: pg_config.clone(),
            size: settings.worker_connections,
            wait,
            live: Arc::default(),
        });
        let store = Self {
            pool,
            writer_pools,
            worker_pools,
            writer: parking_lot::Mutex::new(None),
            message_batch_max: settings.message_batch_max.max(1),
            message_writers,
            message_queue: settings.message_queue.max(1),
        };
        store.ping().await?;
        Ok(store)
    }

    /// Applies pending migrations, under an advisory lock so that several nodes starting
    /// together apply each migration once.
    pub async fn migrate(&self) -> StoreResult<usize> {
        let mut client = self.client().await?;
        client
            .execute("SELECT pg_advisory_lock(727274)", &[])
            .await
            .map_err(map_err)?;
        let report = embedded::migrations::runner()
            .run_async(&mut **client)
            .await;
        let _ = client
            .execute("SELECT pg_advisory_unlock(727274)", &[])
            .await;
        let report = report.map_err(|e| StoreError::Internal(format!("migration failed: {e}")))?;
        Ok(report.applied_migrations().len())
    }

    /// A short hash of the embedded migrations (names and checksums): equal for two
    /// builds exactly when they would create the same schema.
    pub fn migrations_fingerprint() -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for m in embedded::migrations::runner().get_migrations() {
            m.name().hash(&mut h);
            m.checksum().hash(&mut h);
        }
        format!("{:016x}", h.finish())
    }

    /// A pooled connection: from this thread's own pool on an HTTP worker that has one,
    /// from the main pool everywhere else.
    pub(crate) async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        let own = self.worker_pools.as_ref().and_then(WorkerPools::current);
        own.as_ref()
            .unwrap_or(&self.pool)
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    // One-statement reads and writes on a connection of their own from the pool. A
    // method that runs several statements takes one client (or transaction) and calls
    // the [`Sql`] methods on it instead, so that it holds a single connection.

    /// [`Sql::fetch_opt`] on a pooled connection.
    pub(crate) async fn fetch_opt<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: impl FnOnce(&Row) -> StoreResult<T> + Send,
    ) -> StoreResult<Option<T>> {
        self.client().await?.fetch_opt(sql, params, map).await
    }

    /// [`Sql::fetch_all`] on a pooled connection.
    pub(crate) async fn fetch_all<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: impl FnMut(&Row) -> StoreResult<T> + Send,
    ) -> StoreResult<Vec<T>> {
        self.client().await?.fetch_all(sql, params, map).await
    }

    /// [`Sql::fetch_one`] on a pooled connection.
    pub(crate) async fn fetch_one<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: impl FnOnce(&Row) -> StoreResult<T> + Send,
    ) -> StoreResult<T> {
        self.client().await?.fetch_one(sql, params, map).await
    }

    /// [`Sql::exec`] on a pooled connection.
    pub(crate) async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        self.client().await?.exec(sql, params).await
    }
}

/// Prepare-(cached)-and-run for a pooled client and a transaction alike (both are a
/// deadpool [`GenericClient`], which has `prepare_cached`): driver errors go through
/// [`map_err`] and rows through `map`, so that a call site says only its SQL, its
/// parameters and how a row becomes a value. A statement run once per item of a loop,
/// or whose errors need another mapping (e.g. a foreign-key refusal that means "not
/// found"), takes [`Sql::statement`] and calls the driver directly.
#[async_trait]
pub(crate) trait Sql {
    /// The cached prepared statement for `sql`.
    async fn statement(&self, sql: &str) -> StoreResult<Statement>;

    /// Zero or one row (more is an error, as `query_opt`), mapped.
    async fn fetch_opt<T, F>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: F,
    ) -> StoreResult<Option<T>>
    where
        F: FnOnce(&Row) -> StoreResult<T> + Send;

    /// Every row, each mapped; the first mapping error wins.
    async fn fetch_all<T, F>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: F,
    ) -> StoreResult<Vec<T>>
    where
        F: FnMut(&Row) -> StoreResult<T> + Send;

    /// Exactly one row (anything else is an error, as `query_one`), mapped.
    async fn fetch_one<T, F>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: F,
    ) -> StoreResult<T>
    where
        F: FnOnce(&Row) -> StoreResult<T> + Send;

    /// Runs a statement and answers how many rows it changed.
    async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64>;
}

#[async_trait]
impl<C: GenericClient> Sql for C {
    async fn statement(&self, sql: &str) -> StoreResult<Statement> {
        self.prepare_cached(sql).await.map_err(map_err)
    }

    async fn fetch_opt<T, F>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: F,
    ) -> StoreResult<Option<T>>
    where
        F: FnOnce(&Row) -> StoreResult<T> + Send,
    {
        let stmt = self.statement(sql).await?;
        self.query_opt(&stmt, params)
            .await
            .map_err(map_err)?
            .map(|r| map(&r))
            .transpose()
    }

    async fn fetch_all<T, F>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: F,
    ) -> StoreResult<Vec<T>>
    where
        F: FnMut(&Row) -> StoreResult<T> + Send,
    {
        let stmt = self.statement(sql).await?;
        self.query(&stmt, params)
            .await
            .map_err(map_err)?
            .iter()
            .map(map)
            .collect()
    }

    async fn fetch_one<T, F>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: F,
    ) -> StoreResult<T>
    where
        F: FnOnce(&Row) -> StoreResult<T> + Send,
    {
        let stmt = self.statement(sql).await?;
        map(&self.query_one(&stmt, params).await.map_err(map_err)?)
    }

    async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<u64> {
        let stmt = self.statement(sql).await?;
        self.execute(&stmt, params).await.map_err(map_err)
    }
}

#[async_trait]
impl Store for PgStore {
    fn adapter_name(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        client.simple_query("SELECT 1").await.map_err(map_err)?;
        Ok(())
    }

    /// The message writers (group commit), `database.message_writers` of them, each
    /// with its own bounded queue (`database.message_queue` shared out). Chats are
    /// spread over them by id, so a chat's jobs are committed in the order they were
    /// queued, and writers never wait on each other's chat rows. Started again (a
    /// restarted engine on the same store), the new queues replace the old ones, whose
    /// writers drain and end on their own cancel.
    ///
    /// Each writer has a pool of one connection, which it opens itself when it first
    /// writes: tokio-postgres runs a connection's I/O on the thread that opened it, so a
    /// batch's three round trips wake no other thread (a connection of the main pool may
    /// have been opened by an actor thread busy with rooms), and no burst of reads
    /// holding the main pool can hold up chat messages.
    fn start_tasks(&self, tasks: &TaskTracker, cancel: &CancellationToken) {
        let per_writer = self.message_queue.div_ceil(self.message_writers).max(1);
        let mut queues = Vec::with_capacity(self.message_writers);
        for own in &self.writer_pools {
            let (tx, rx) = tokio::sync::mpsc::channel(per_writer);
            tasks.spawn(message_writer::run(
                own.clone(),
                rx,
                self.message_batch_max,
                cancel.clone(),
            ));
            queues.push(tx);
        }
        *self.writer.lock() = Some(message_writer::Writers::new(queues));
    }

    fn attach_worker_thread(&self) {
        if let Some(pools) = &self.worker_pools {
            pools.attach();
        }
    }

    /// The main pool, the message writers' and those of the workers alive, together.
    fn pool_status(&self) -> PoolStatus {
        let mut statuses = vec![self.pool.status()];
        statuses.extend(self.writer_pools.iter().map(Pool::status));
        if let Some(pools) = &self.worker_pools {
            statuses.extend(pools.live.lock().iter().map(|(_, pool)| pool.status()));
        }
        statuses
            .iter()
            .fold(PoolStatus::default(), |sum, s| PoolStatus {
                size: sum.size + s.size,
                available: sum.available + s.available,
                max_size: sum.max_size + s.max_size,
            })
    }
}

/// `config` with the server setting `name` set to `value` on its connections, after any
/// `options` the URL carries.
fn with_setting(
    config: &tokio_postgres::Config,
    name: &str,
    value: &str,
) -> tokio_postgres::Config {
    let mut config = config.clone();
    let options = match config.get_options() {
        Some(given) => format!("{given} -c {name}={value}"),
        None => format!("-c {name}={value}"),
    };
    config.options(options);
    config
}

fn build_pool(
    pg_config: tokio_postgres::Config,
    max_size: usize,
    wait: Duration,
) -> StoreResult<Pool> {
    let manager = Manager::from_config(
        pg_config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .timeouts(Timeouts {
            wait: Some(wait),
            create: Some(wait),
            recycle: Some(wait),
        })
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .map_err(|e| StoreError::Internal(e.to_string()))
}

/// Tells the stores of one process apart in [`WORKER_POOLS`] (tests run several engines,
/// on one database or several, in one process), and a store's worker pools apart.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's own pools (one per store it attached to), on HTTP workers.
    static WORKER_POOLS: RefCell<Vec<AttachedPool>> = const { RefCell::new(Vec::new()) };
}

/// A pool per HTTP worker thread (`database.worker_connections`). deadpool opens a
/// connection in the task that asks for it and tokio-postgres spawns the connection's
/// I/O task there, so a pool used only by one worker keeps its connections' I/O on that
/// worker's thread: a query costs no cross-thread wake-up.
struct WorkerPools {
    store_id: u64,
    pg_config: tokio_postgres::Config,
    size: usize,
    wait: Duration,
    /// The pools of the workers alive now, by pool id, for [`Store::pool_status`].
    live: Arc<parking_lot::Mutex<Vec<(u64, Pool)>>>,
}

/// A worker thread's pool; leaves the store's list when the thread ends (its
/// connections' I/O tasks ended with the thread's runtime).
struct AttachedPool {
    store_id: u64,
    pool_id: u64,
    pool: Pool,
    live: Arc<parking_lot::Mutex<Vec<(u64, Pool)>>>,
}

impl Drop for AttachedPool {
    fn drop(&mut self) {
        self.live.lock().retain(|(id, _)| *id != self.pool_id);
    }
}

impl WorkerPools {
    /// Gives the calling thread a pool of its own (once; a second call keeps the first).
    fn attach(&self) {
        if self.current().is_some() {
            return;
        }
        match build_pool(self.pg_config.clone(), self.size, self.wait) {
            Ok(pool) => {
                let pool_id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                self.live.lock().push((pool_id, pool.clone()));
                WORKER_POOLS.with(|pools| {
                    pools.borrow_mut().push(AttachedPool {
                        store_id: self.store_id,
                        pool_id,
                        pool,
                        live: self.live.clone(),
                    });
                });
            }
            // Only a zero size fails to build, which `worker_connections = 0` rules out;
            // the worker would then use the main pool, which still works.
            Err(e) => tracing::warn!(error = %e, "no pool of its own for this worker"),
        }
    }

    fn current(&self) -> Option<Pool> {
        WORKER_POOLS.with(|pools| {
            pools
                .borrow()
                .iter()
                .find(|p| p.store_id == self.store_id)
                .map(|p| p.pool.clone())
        })
    }
}

/// Constraint names (from `migrations/`) and the refusal the memory store gives for the
/// same rule, so that a violation reads the same from both stores. The wallet address is
/// unique per person (`wallet_person_address_key`, V5), not globally.
const CONSTRAINT_REFUSALS: &[(&str, Refusal)] = &[
    ("account_cognito_user_id_key", Refusal::AccountExists),
    ("account_uuid_key", Refusal::AccountExists),
    ("person_account_id_key", Refusal::AccountHasPerson),
    ("person_username_lower_key", Refusal::UsernameTaken),
    ("person_email_lower_key", Refusal::EmailTaken),
    ("connection_live_pair_key", Refusal::ConnectionExists),
    // marketplace
    (
        "offer_one_open_per_person_listing_key",
        Refusal::OpenOfferExists,
    ),
    (
        "offer_one_accepted_per_listing_key",
        Refusal::AcceptedOfferExists,
    ),
    ("wallet_person_address_key", Refusal::WalletAddressTaken),
    // foreign keys: the row referred to is gone (or never was)
    ("listing_person_uuid_fkey", Refusal::PersonNotFound),
    ("offer_person_uuid_fkey", Refusal::PersonNotFound),
    ("wallet_person_uuid_fkey", Refusal::PersonNotFound),
    ("listing_category_id_fkey", Refusal::CategoryNotFound),
    ("offer_listing_id_fkey", Refusal::ListingNotFound),
    ("person_account_id_fkey", Refusal::AccountNotFound),
    // assets
    ("asset_uuid_key", Refusal::AssetExists),
    ("asset_s3_key_key", Refusal::AssetExists),
    ("asset_owner_person_id_fkey", Refusal::PersonNotFound),
    // realtime
    ("message_uuid_key", Refusal::MessageUuidTaken),
    ("ws_connection_ws_conn_id_key", Refusal::WsConnectionExists),
];

/// The refusal of a violated constraint, if it is one a client can cause.
fn constraint_refusal(constraint: &str) -> Option<Refusal> {
    CONSTRAINT_REFUSALS
        .iter()
        .find(|(name, _)| *name == constraint)
        .map(|(_, r)| r.clone())
}

/// Translates a driver error: a violated constraint becomes the refusal the memory store
/// gives for the same rule; lost connections become `Unavailable` (503); anything else,
/// an unmapped constraint included, is internal (logged in full, never shown: no
/// constraint name reaches a response).
pub(crate) fn map_err(e: tokio_postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let constraint = db.constraint().unwrap_or_default();
        let violation = [
            SqlState::UNIQUE_VIOLATION,
            SqlState::EXCLUSION_VIOLATION,
            SqlState::FOREIGN_KEY_VIOLATION,
            SqlState::CHECK_VIOLATION,
        ]
        .contains(db.code());
        if violation {
            return match constraint_refusal(constraint) {
                Some(refusal) => StoreError::Refused(refusal),
                None => StoreError::Internal(format!(
                    "unmapped constraint {constraint}: {}",
                    db.message()
                )),
            };
        }
        if db.code().code().starts_with("08") || db.code().code().starts_with("57") {
            return StoreError::Unavailable(db.message().to_string());
        }
        return StoreError::Internal(format!("{}: {}", db.code().code(), db.message()));
    }
    if e.is_closed() {
        return StoreError::Unavailable("database connection closed".into());
    }
    StoreError::Unavailable(e.to_string())
}

/// Writes `events` to the outbox inside the caller's transaction.
pub(crate) async fn record(
    tx: &deadpool_postgres::Transaction<'_>,
    events: &[EventEnvelope],
) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .statement(
            "INSERT INTO outbox (event_id, event_type, payload, occurred_at) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    for e in events {
        tx.execute(
            &stmt,
            &[&e.event_id, &e.event_type(), &e.to_json(), &e.occurred_at],
        )
        .await
        .map_err(map_err)?;
    }
    Ok(())
}
