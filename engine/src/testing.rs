//! Support for tests that need a real PostgreSQL: each gets a database of its own,
//! created from a migrated template (fast: a file copy, not a migration run) and dropped
//! when the guard goes out of scope. Used by this crate's and `metmos-http`'s tests.

pub mod local_chain;

use crate::adapters::store::postgres::PgStore;
use crate::config::DatabaseSettings;
use crate::error::StoreError;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The server tests use; `METMOS_TEST_DATABASE_URL` overrides it (its database part is
/// ignored: tests make their own).
pub fn admin_url() -> String {
    std::env::var("METMOS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// The admin URL with its database (whatever follows `scheme://authority`) replaced by `db`.
fn url_for(db: &str) -> String {
    let admin = admin_url();
    let (scheme, rest) = admin
        .split_once("://")
        .unwrap_or(("postgres", admin.as_str()));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}/{db}")
}

async fn admin_client() -> Result<tokio_postgres::Client, StoreError> {
    let (client, conn) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot reach test PostgreSQL at {}: {e}",
                admin_url()
            ))
        })?;
    tokio::spawn(conn);
    Ok(client)
}

static TEMPLATE: OnceCell<String> = OnceCell::const_new();

/// A migrated template database, named after the migrations it holds, so test runs
/// (and concurrent test processes) share it instead of migrating again. It is built
/// under a temporary name and renamed when complete, so nobody copies a half-built one.
async fn template() -> Result<&'static str, StoreError> {
    TEMPLATE
        .get_or_try_init(|| async {
            let name = format!("metmos_tpl_{}", PgStore::migrations_fingerprint());
            let admin = admin_client().await?;
            let internal = |e: tokio_postgres::Error| StoreError::Internal(e.to_string());
            let exists = admin
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                .await
                .map_err(internal)?
                .is_some();
            if exists {
                return Ok(name);
            }
            let building = format!("metmos_build_{}", Uuid::new_v4().simple());
            admin.batch_execute(&format!("CREATE DATABASE {building}")).await.map_err(internal)?;
            let store = PgStore::connect(&url_for(&building), &settings()).await?;
            store.migrate().await?;
            drop(store);
            // The pool's connections must be gone before the database can be renamed.
            admin
                .batch_execute(&format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{building}' AND pid <> pg_backend_pid()"
                ))
                .await
                .map_err(internal)?;
            if admin.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}")).await.is_err() {
                // Another process finished first: use theirs.
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).await;
            }
            Ok::<String, StoreError>(name)
        })
        .await
        .map(String::as_str)
}

fn settings() -> DatabaseSettings {
    DatabaseSettings {
        max_connections: 8,
        ..DatabaseSettings::default()
    }
}

/// A fresh, migrated database; dropped (with its connections) when this is dropped.
pub struct ScratchDatabase {
    pub name: String,
    pub url: String,
}

impl ScratchDatabase {
    pub async fn create() -> Result<Self, StoreError> {
        let template = template().await?;
        let name = format!("metmos_test_{}", Uuid::new_v4().simple());
        let admin = admin_client().await?;
        admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Self {
            url: url_for(&name),
            name,
        })
    }

    pub async fn store(&self) -> Result<PgStore, StoreError> {
        PgStore::connect(&self.url, &settings()).await
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which cannot be blocked on; a thread of
        // its own with a small runtime does the DROP and is waited for, so the database
        // is gone when the test ends.
        let name = self.name.clone();
        let handle = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = admin_client().await {
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            });
        });
        let _ = handle.join();
    }
}

/// A RabbitMQ virtual host of its own for one test, so exchanges, bindings and unrouted
/// events of concurrent tests never meet; deleted on drop. Needs `rabbitmqctl` (the test
/// script makes sure RabbitMQ is installed and running).
pub struct ScratchVhost {
    pub name: String,
    /// `amqp://guest:guest@127.0.0.1:5672/<vhost>`
    pub url: String,
}

fn rabbitmqctl(args: &[&str]) -> Result<(), String> {
    let out = std::process::Command::new("rabbitmqctl")
        .args(args)
        .output()
        .map_err(|e| format!("rabbitmqctl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "rabbitmqctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl ScratchVhost {
    pub fn create() -> Result<Self, String> {
        let name = format!("metmos_test_{}", Uuid::new_v4().simple());
        rabbitmqctl(&["-q", "add_vhost", &name])?;
        rabbitmqctl(&[
            "-q",
            "set_permissions",
            "-p",
            &name,
            "guest",
            ".*",
            ".*",
            ".*",
        ])?;
        let host =
            std::env::var("METMOS_TEST_AMQP_HOST").unwrap_or_else(|_| "127.0.0.1:5672".into());
        Ok(Self {
            url: format!("amqp://guest:guest@{host}/{name}"),
            name,
        })
    }
}

impl Drop for ScratchVhost {
    fn drop(&mut self) {
        let _ = rabbitmqctl(&["-q", "delete_vhost", &self.name]);
    }
}
