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

/// A TCP path to a real server that a test can cut and restore: cutting closes every
/// connection through it and refuses new ones, as a broker that stops does (its peers
/// see their connections drop, then connection refused); restoring listens again on the
/// same port. Lets a test take "the broker" away from one engine without touching the
/// shared broker other tests use.
pub struct TcpCut {
    pub port: u16,
    target: String,
    up: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TcpCut {
    /// Starts forwarding a fresh local port to `target` (`host:port`).
    pub async fn start(target: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (up, _) = tokio::sync::watch::channel(true);
        let mut cut = Self {
            port,
            target: target.to_string(),
            up: std::sync::Arc::new(up),
            task: None,
        };
        cut.task = Some(tokio::spawn(Self::serve(
            listener,
            cut.target.clone(),
            cut.up.clone(),
        )));
        Ok(cut)
    }

    async fn serve(
        listener: tokio::net::TcpListener,
        target: String,
        up: std::sync::Arc<tokio::sync::watch::Sender<bool>>,
    ) {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let target = target.clone();
            let mut down = up.subscribe();
            tokio::spawn(async move {
                let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = down.wait_for(|up| !*up) => {}
                }
            });
        }
    }

    /// Drops every connection and stops listening.
    pub fn cut(&mut self) {
        let _ = self.up.send(false);
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }

    /// Listens again on the same port.
    pub async fn restore(&mut self) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        let (up, _) = tokio::sync::watch::channel(true);
        self.up = std::sync::Arc::new(up);
        self.task = Some(tokio::spawn(Self::serve(
            listener,
            self.target.clone(),
            self.up.clone(),
        )));
        Ok(())
    }
}

impl Drop for TcpCut {
    fn drop(&mut self) {
        self.cut();
    }
}

impl ScratchVhost {
    /// The vhost's URL through a [`TcpCut`] on `port` instead of the broker's own.
    pub fn url_via(&self, port: u16) -> String {
        format!("amqp://guest:guest@127.0.0.1:{port}/{}", self.name)
    }

    /// The names of the vhost's queues, sorted.
    pub fn queues(&self) -> Result<Vec<String>, String> {
        let out = std::process::Command::new("rabbitmqctl")
            .args([
                "-q",
                "list_queues",
                "-p",
                &self.name,
                "name",
                "--no-table-headers",
            ])
            .output()
            .map_err(|e| format!("rabbitmqctl: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect();
        names.sort();
        Ok(names)
    }
}

/// A PostgreSQL server of the test's own (initdb in a temp dir, its own port), for tests
/// that stop or restart the database: the shared server on 5432 serves other tests
/// meanwhile and is never touched. Runs the server as the `postgres` user when the test
/// runs as root (initdb refuses root). Stopped and removed on drop.
pub struct PrivatePostgres {
    pub port: u16,
    pub url: String,
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
}

impl PrivatePostgres {
    fn run(&self, tool: &str, args: &[&str]) -> Result<(), String> {
        Self::run_in(&self.bin, tool, args)
    }

    fn run_in(bin: &std::path::Path, tool: &str, args: &[&str]) -> Result<(), String> {
        let exe = bin.join(tool);
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false);
        let mut cmd = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| format!("{tool}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{tool} {args:?}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// initdb and start on a free port (blocking: call from `spawn_blocking`).
    pub fn start() -> Result<Self, String> {
        let mut versions: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no PostgreSQL server binaries: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").exists())
            .collect();
        versions.sort();
        let bin = versions.pop().ok_or("no initdb found")?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = std::env::temp_dir().join(format!("metmos-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let _ = std::process::Command::new("chown")
            .args(["postgres:postgres", &dir.to_string_lossy()])
            .status();
        let data = dir.to_string_lossy().to_string();
        Self::run_in(
            &bin,
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"],
        )?;
        let pg = Self {
            port,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            bin,
        };
        pg.pg_ctl("start")?;
        Ok(pg)
    }

    fn pg_ctl(&self, action: &str) -> Result<(), String> {
        let data = self.dir.to_string_lossy().to_string();
        let log = self.dir.join("server.log").to_string_lossy().to_string();
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port, data
        );
        match action {
            "stop" => self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]),
            _ => self.run(
                "pg_ctl",
                &["-D", &data, "-o", &opts, "-l", &log, "-w", action],
            ),
        }
    }

    /// Stops the server (fast: open connections are cut), blocking.
    pub fn stop(&self) -> Result<(), String> {
        self.pg_ctl("stop")
    }

    /// Starts it again on the same port, blocking.
    pub fn resume(&self) -> Result<(), String> {
        self.pg_ctl("start")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
