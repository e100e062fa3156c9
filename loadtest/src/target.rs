//! What a scenario runs against: an engine already running at `--target`, an engine the
//! harness starts itself from `--engine-bin` (with the limits the scenario needs), or the
//! baseline server started as a child process (so its CPU is measured apart from ours).

use crate::api::Api;
use crate::cli::{Common, check_target};
use anyhow::{Context, bail};
use reqwest::Url;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The engine's per-connection WebSocket limits when nobody sets them
/// (config/default.toml `ws.messages_per_second`, `ws.burst`).
pub const ENGINE_DEFAULT_WS_RATE: f64 = 20.0;
pub const ENGINE_DEFAULT_WS_BURST: f64 = 40.0;

/// What every engine the harness starts needs for its fixtures: `POST /dev/users` is
/// anonymous, and the anonymous REST bucket (`rate_limits.anonymous`, 300/min, burst 100 by
/// default) would make creating `users` take minutes. Engines without REST limits ignore
/// these keys.
pub fn setup_env(users: u32) -> Vec<(&'static str, String)> {
    vec![
        ("METMOS__RATE_LIMITS__ANONYMOUS__PER_MINUTE", "60000".into()),
        (
            "METMOS__RATE_LIMITS__ANONYMOUS__BURST",
            (users + 100).max(100).to_string(),
        ),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Engine,
    Baseline,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Engine => "engine",
            Kind::Baseline => "baseline",
        }
    }
}

/// A server under load: its URL, its pid when known, the settings it runs with, and the
/// child process when we started it (killed on drop).
pub struct Target {
    pub kind: Kind,
    pub url: Url,
    pub pid: Option<u32>,
    /// Settings that matter to the figures, as `key = value` (what we set, or what we know).
    pub settings: BTreeMap<String, String>,
    child: Option<Child>,
    /// The fresh database of `--engine-postgres`, dropped once the engine stopped.
    database: Option<FreshDatabase>,
}

impl Target {
    pub fn api(&self) -> Api {
        Api::new(self.url.clone())
    }

    /// Makes the fresh database of `--engine-postgres` look established: `VACUUM ANALYZE`
    /// once the seed is in, as autovacuum does on a live database (whose tables are not
    /// all minutes old). Without statistics PostgreSQL plans for tiny tables (browsing by
    /// type walked all 5,000 listings and sorted them: 1.9 ms instead of 0.02 ms); without
    /// the vacuum no page is marked all-visible, and every index-only scan (the one-word
    /// search's walk of `listing_word`, the browse's page of ids) also fetches each row
    /// from the heap. A run would measure the first minute of a new deployment. No-op
    /// against `--target`.
    pub async fn establish_database(&self) -> anyhow::Result<()> {
        let Some(db) = &self.database else {
            return Ok(());
        };
        let config: tokio_postgres::Config = db.url.parse().context("the run's database URL")?;
        connect(&config)
            .await?
            .batch_execute("VACUUM ANALYZE")
            .await
            .with_context(|| format!("VACUUM ANALYZE in {}", db.name))
    }

    /// The engine at `--target` (checked to be loopback unless allowed) or one started from
    /// `--engine-bin` with `env` set on top of its embedded defaults.
    pub async fn engine(common: &Common, env: &[(&str, String)]) -> anyhow::Result<Self> {
        match &common.engine_bin {
            Some(bin) => {
                let mut env: Vec<(String, String)> = env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect();
                let database = match &common.engine_postgres {
                    Some(server) => {
                        let db = FreshDatabase::create(server).await?;
                        env.push(("METMOS__DATABASE__URL".into(), db.url.clone()));
                        Some(db)
                    }
                    None => None,
                };
                env.extend(common.engine_env.iter().cloned());
                let started = start_engine(bin, &env).await;
                match (started, database) {
                    (Ok(mut t), database) => {
                        t.database = database;
                        Ok(t)
                    }
                    (Err(e), Some(db)) => {
                        db.drop_it().await;
                        Err(e)
                    }
                    (Err(e), None) => Err(e),
                }
            }
            None => {
                check_target(&common.target, common.allow_remote)?;
                let mut settings = BTreeMap::new();
                settings.insert(
                    "started by".into(),
                    "the operator (settings as that engine was configured)".into(),
                );
                let t = Target {
                    kind: Kind::Engine,
                    url: common.target.clone(),
                    pid: common.engine_pid,
                    settings,
                    child: None,
                    database: None,
                };
                t.api()
                    .health()
                    .await
                    .with_context(|| format!("the engine at {} is not answering", t.url))?;
                Ok(t)
            }
        }
    }

    /// The baseline server, started as `metmos-load baseline-server` from this very binary
    /// (or `exe` when given, as tests do).
    pub async fn baseline(exe: Option<&Path>) -> anyhow::Result<Self> {
        let exe = match exe {
            Some(p) => p.to_path_buf(),
            None => std::env::current_exe().context("locating metmos-load")?,
        };
        let mut child = Command::new(&exe)
            .args(["baseline-server", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} baseline-server", exe.display()))?;
        let stdout = child.stdout.take().context("baseline stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("the baseline server did not start within 20 s")??
            .context("the baseline server exited before listening")?;
        let addr = line
            .strip_prefix("listening on ")
            .with_context(|| format!("unexpected baseline output: {line}"))?;
        let url = Url::parse(&format!("http://{addr}"))?;
        let mut settings = BTreeMap::new();
        settings.insert("started by".into(), "metmos-load (child process)".into());
        settings.insert("rate limits".into(), "none".into());
        Ok(Target {
            kind: Kind::Baseline,
            url,
            pid: child.id(),
            settings,
            child: Some(child),
            database: None,
        })
    }

    /// Stops a server we started (a no-op for one the operator runs), then drops the
    /// fresh database it ran on.
    pub async fn stop(mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.start_kill();
            let _ = c.wait().await;
        }
        if let Some(db) = self.database.take() {
            db.drop_it().await;
        }
    }
}

/// A value as the report shows it: the password of a `scheme://user:password@host` URL
/// replaced (reports are shared; a database URL may carry one).
fn redact_url_password(v: &str) -> String {
    match Url::parse(v) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        _ => v.to_string(),
    }
}

/// A database created for one run on the `--engine-postgres` server.
struct FreshDatabase {
    /// The server URL the harness was given (its maintenance database).
    server: tokio_postgres::Config,
    name: String,
    /// The engine's `database.url`.
    url: String,
}

impl FreshDatabase {
    async fn create(server_url: &str) -> anyhow::Result<Self> {
        let server: tokio_postgres::Config = server_url
            .parse()
            .with_context(|| format!("--engine-postgres {server_url} is not a PostgreSQL URL"))?;
        let name = format!(
            "metmos_load_{}_{}",
            std::process::id(),
            chrono::Utc::now().format("%Y%m%d%H%M%S%3f")
        );
        let client = connect(&server).await?;
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("creating database {name}"))?;
        let (scheme, rest) = server_url
            .split_once("://")
            .unwrap_or(("postgres", server_url));
        // Same server and credentials, another database: replace the path, keep the rest.
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let query = rest
            .split_once('?')
            .map(|(_, q)| format!("?{q}"))
            .unwrap_or_default();
        let url = format!("{scheme}://{authority}/{name}{query}");
        Ok(Self { server, name, url })
    }

    /// Best effort: a database left behind is named `metmos_load_*` and says when.
    async fn drop_it(self) {
        match connect(&self.server).await {
            Ok(client) => {
                if let Err(e) = client
                    .batch_execute(&format!(
                        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                        self.name
                    ))
                    .await
                {
                    eprintln!("metmos-load: could not drop database {}: {e}", self.name);
                }
            }
            Err(e) => eprintln!("metmos-load: could not drop database {}: {e}", self.name),
        }
    }
}

async fn connect(config: &tokio_postgres::Config) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .context("connecting to the --engine-postgres server")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// A free port on loopback: bound then released, as test harnesses do.
fn free_port() -> anyhow::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

async fn start_engine(bin: &PathBuf, env: &[(String, String)]) -> anyhow::Result<Target> {
    let port = free_port()?;
    let data_dir = std::env::temp_dir().join(format!("metmos-load-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&data_dir)?;
    // The engine's own log goes to a file: its lines would tear the progress bars.
    let log_path = data_dir.join("engine.log");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let mut cmd = Command::new(bin);
    cmd.env("METMOS__HTTP__PORT", port.to_string())
        .env("METMOS__HTTP__HOST", "127.0.0.1")
        .env("METMOS__DATA_DIR", &data_dir)
        .env("METMOS__LOG__FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    let mut settings = BTreeMap::new();
    settings.insert(
        "started by".into(),
        format!("metmos-load: {} (embedded defaults)", bin.display()),
    );
    let store = if env.iter().any(|(k, _)| k == "METMOS__DATABASE__URL") {
        "postgres"
    } else {
        "memory"
    };
    settings.insert("store".into(), store.into());
    settings.insert("log".into(), log_path.display().to_string());
    for (k, v) in env {
        cmd.env(k, v);
        settings.insert(k.clone(), redact_url_password(v));
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting the engine {}", bin.display()))?;
    let url = Url::parse(&format!("http://127.0.0.1:{port}"))?;
    let api = Api::new(url.clone());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if api.health().await.is_ok() {
            break;
        }
        if let Some(status) = child.try_wait()? {
            bail!(
                "the engine exited during start-up ({status}); its log: {}",
                log_path.display()
            );
        }
        if tokio::time::Instant::now() > deadline {
            let _ = child.start_kill();
            bail!("the engine did not answer /health within 60 s on port {port}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(Target {
        kind: Kind::Engine,
        url,
        pid: child.id(),
        settings,
        child: Some(child),
        database: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_not_reported() {
        assert_eq!(
            redact_url_password("postgres://app:secret@db:5432/metmos"),
            "postgres://app:REDACTED@db:5432/metmos"
        );
        assert_eq!(
            redact_url_password("postgres://postgres@127.0.0.1:5432/m"),
            "postgres://postgres@127.0.0.1:5432/m"
        );
        assert_eq!(redact_url_password("64"), "64");
    }
}
