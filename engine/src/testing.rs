//! Support for tests that need a real PostgreSQL: each gets a database of its own,
//! created from a migrated template (fast: a file copy, not a migration run) and dropped
//! when the guard goes out of scope. Used by this crate's and `metmos-http`'s tests.

pub mod local_chain;

use crate::adapters::store::postgres::PgStore;
use crate::config::DatabaseSettings;
use crate::domain::people::{AccountStatus, Email, NewAccount, Person, PersonFields, Username};
use crate::domain::time;
use crate::error::StoreError;
use crate::ports::Store;
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

/// Runs a tool the tests drive (rabbitmqctl, pg_ctl, ...): `Ok` on exit 0, else an error
/// naming the tool and its arguments with what it printed.
fn run_tool(mut cmd: std::process::Command, tool: &str, args: &[&str]) -> Result<(), String> {
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

fn rabbitmqctl(args: &[&str]) -> Result<(), String> {
    run_tool(
        std::process::Command::new("rabbitmqctl"),
        "rabbitmqctl",
        args,
    )
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
        Ok(self
            .list_queues()?
            .into_iter()
            .map(|(name, _)| name)
            .collect())
    }

    /// The names of the vhost's queues that have a consumer, sorted: a queue is bound
    /// before its consumer starts, so these receive what is published to them.
    pub fn consumed_queues(&self) -> Result<Vec<String>, String> {
        Ok(self
            .list_queues()?
            .into_iter()
            .filter(|(_, consumers)| *consumers > 0)
            .map(|(name, _)| name)
            .collect())
    }

    /// Each queue's name and consumer count, sorted by name.
    fn list_queues(&self) -> Result<Vec<(String, u32)>, String> {
        let out = std::process::Command::new("rabbitmqctl")
            .args([
                "-q",
                "list_queues",
                "-p",
                &self.name,
                "name",
                "consumers",
                "--no-table-headers",
            ])
            .output()
            .map_err(|e| format!("rabbitmqctl: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let mut queues: Vec<(String, u32)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut fields = l.split_whitespace();
                let name = fields.next()?.to_string();
                let consumers = fields.next().and_then(|c| c.parse().ok()).unwrap_or(0);
                Some((name, consumers))
            })
            .collect();
        queues.sort();
        Ok(queues)
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
        let cmd = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            std::process::Command::new(&exe)
        };
        run_tool(cmd, tool, args)
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

/// A RabbitMQ node of the test's own (its own node name, AMQP and distribution ports,
/// data and log dirs in a temp dir), for tests that stop or restart the broker: the
/// shared broker on 5672 serves other tests meanwhile and is never touched. Its config
/// file replaces /etc/rabbitmq/rabbitmq.conf, which pins the listener to 5672 (already
/// taken); no plugins, so management's 15672 is not bound either. Stopped and its dirs
/// removed on drop.
pub struct PrivateRabbit {
    pub port: u16,
    /// `amqp://guest:guest@127.0.0.1:<port>/%2f` (guest may log in from loopback).
    pub url: String,
    pub node: String,
    dir: std::path::PathBuf,
}

impl PrivateRabbit {
    fn free_port() -> Result<u16, String> {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| e.to_string())
    }

    fn listening(port: u16) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }

    /// The last lines of the node's log, for error messages.
    fn log_tail(&self) -> String {
        let log = self.dir.join("log").join(format!("{}.log", self.node));
        let text = std::fs::read_to_string(&log).unwrap_or_else(|e| format!("{log:?}: {e}"));
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn ctl(&self, args: &[&str]) -> Result<(), String> {
        rabbitmqctl(&[&["-n", self.node.as_str()], args].concat())
    }

    fn wait_for(&self, up: bool) -> Result<(), String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while Self::listening(self.port) != up {
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "node {} port {} not {} after 60 s; log:\n{}",
                    self.node,
                    self.port,
                    if up { "up" } else { "down" },
                    self.log_tail()
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Ok(())
    }

    /// Starts the node and waits for its AMQP port (blocking, ~15 s: call from
    /// `spawn_blocking`).
    pub fn start() -> Result<Self, String> {
        let port = Self::free_port()?;
        let dist = Self::free_port()?;
        let id = Uuid::new_v4().simple().to_string();
        let node = format!("metmos_t{}@localhost", &id[..12]);
        let dir = std::env::temp_dir().join(format!("metmos-rabbit-{id}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join("enabled_plugins"), "[].\n").map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
        )
        .map_err(|e| e.to_string())?;
        // Run as root, the packaged `rabbitmq-server` re-executes itself as the
        // `rabbitmq` user (keeping the environment), which must own the node's dirs:
        // a root-owned dir is why the node used to die at start-up, before any log.
        let _ = std::process::Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq", &dir.to_string_lossy()])
            .status();
        let rabbit = Self {
            port,
            url: format!("amqp://guest:guest@127.0.0.1:{port}/%2f"),
            node,
            dir,
        };
        let path = |p: &str| rabbit.dir.join(p).to_string_lossy().into_owned();
        let out = std::process::Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_NODENAME", &rabbit.node)
            .env("RABBITMQ_NODE_PORT", port.to_string())
            .env("RABBITMQ_DIST_PORT", dist.to_string())
            .env("RABBITMQ_MNESIA_BASE", path("mnesia"))
            .env("RABBITMQ_LOG_BASE", path("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", path("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", path("pid"))
            .env("RABBITMQ_CONFIG_FILE", path("rabbitmq.conf"))
            .output()
            .map_err(|e| format!("rabbitmq-server: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "rabbitmq-server -detached: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        rabbit.wait_for(true)?;
        Ok(rabbit)
    }

    /// `rabbitmqctl stop_app`: the broker closes every connection and its port, the
    /// node (and its durable queues) stays. Blocking.
    pub fn stop_app(&self) -> Result<(), String> {
        self.ctl(&["stop_app"])?;
        self.wait_for(false)
    }

    /// `rabbitmqctl start_app`, then waits for the port. Blocking.
    pub fn start_app(&self) -> Result<(), String> {
        self.ctl(&["start_app"])?;
        self.wait_for(true)
    }
}

impl Drop for PrivateRabbit {
    fn drop(&mut self) {
        let _ = self.ctl(&["stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A person with an active account, stored directly (no service, no events), as store
/// tests and benches make them. `name` must be a valid username; the account's subject is
/// unique per call.
pub async fn stored_person(store: &dyn Store, name: &str) -> Person {
    let at = time::now();
    let account = NewAccount {
        uuid: Uuid::new_v4(),
        cognito_user_id: format!("sub-{name}-{}", Uuid::new_v4()),
        account_status: AccountStatus::Active,
        at,
    };
    let person = PersonFields::named(
        Username::parse(name).expect("a valid username"),
        Email::parse(&format!("{name}@example.com")).expect("a valid email"),
    )
    .into_new(account.uuid, at);
    store
        .insert_account_with_person(&account, &person, &[])
        .await
        .expect("person stored")
        .1
}
