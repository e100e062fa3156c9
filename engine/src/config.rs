//! Configuration: one place that knows every key.
//!
//! Layers, later wins: the embedded `config/default.toml`, then an optional file
//! (`--config FILE` or `METMOS_CONFIG`), then environment variables `METMOS__SECTION__KEY`
//! (e.g. `METMOS__HTTP__PORT=9000`, `METMOS__AUTH__COGNITO__USER_POOL_ID=...`).
//! Which adapter each port uses follows from these values alone: `database.url` set means
//! PostgreSQL, unset means the in-memory store, and so on.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;
use uuid::Uuid;

/// The defaults compiled into the binary, so `cargo run` needs no file on disk.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Load(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub http: HttpSettings,
    pub data_dir: PathBuf,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub amqp: AmqpSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub node: NodeSettings,
    pub ws: WsSettings,
    #[serde(default)]
    pub s3: S3Settings,
    #[serde(default)]
    pub pinpoint: PinpointSettings,
    pub market: MarketSettings,
    #[serde(default)]
    pub social: SocialSettings,
    #[serde(default)]
    pub chat: ChatSettings,
    pub orders: OrderSettings,
    #[serde(default)]
    pub chain: ChainSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub rate_limits: RateLimitSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpSettings {
    pub host: String,
    pub port: u16,
    /// Base of absolute URLs the engine hands out (embedded presigned URLs).
    /// Default: `http://{host}:{port}`.
    pub public_url: Option<String>,
    pub max_body_bytes: usize,
    /// Seconds in-flight requests get to finish on shutdown.
    pub shutdown_timeout_secs: u64,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
}

impl HttpSettings {
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{}:{}", self.host, self.port),
        }
    }
}

#[derive(Clone, Deserialize)]
pub struct DatabaseSettings {
    /// `postgres://user@host:port/db`; unset selects the in-memory store.
    pub url: Option<String>,
    /// The main pool and the message writers' own connections together (the HTTP
    /// workers' pools, `worker_connections`, come on top).
    pub max_connections: usize,
    /// Seconds to wait for a pooled connection before answering 503.
    pub acquire_timeout_secs: u64,
    /// Apply migrations at start (always true in production; `metmos migrate` does it too).
    pub migrate_on_start: bool,
    /// Group commit of chat messages: at most this many jobs (one chat room's queued
    /// messages each, at most 256) per transaction. A writer takes whatever queued
    /// while its previous batch committed (no waiting).
    #[serde(default = "default_message_batch_max")]
    pub message_batch_max: usize,
    /// Writer tasks committing message batches in parallel, each on a connection of its
    /// own (out of `max_connections`); chats are spread over them by id.
    #[serde(default = "default_message_writers")]
    pub message_writers: usize,
    /// Jobs waiting for the writers, shared out among them; a full queue makes chat
    /// rooms wait (backpressure).
    #[serde(default = "default_message_queue")]
    pub message_queue: usize,
    /// Plan each prepared statement once (`plan_cache_mode = force_generic_plan` on every
    /// pooled connection). PostgreSQL otherwise re-plans a statement at each run while it
    /// judges a custom plan cheaper: for the REST reads planning was about 40 % of the
    /// database's CPU, and `true` made `GET /chats` 1.6× faster (issue 14). Off by
    /// default: a generic plan is made once per connection from the statistics of the
    /// moment, so on a young database (tables not analyzed yet, growing fast: the outbox,
    /// messages) a plan made on near-empty tables stays until auto-analyze replaces it (chat
    /// at 10k msg/s went from p99 51 ms to seconds, until the message writers stopped using
    /// sequential scans). Turn it on for a database whose tables are established.
    #[serde(default = "default_generic_plans")]
    pub generic_plans: bool,
    /// Connections of each HTTP worker's own pool (0: the workers share the main pool).
    /// tokio-postgres runs a connection's socket I/O as a task on the thread that opened
    /// it, so a query on a connection another thread opened wakes that thread twice (to
    /// send, then to hand back the rows). With a pool per worker a request's queries stay
    /// on its thread; under a REST read load that hop was about 15 % of the engine's CPU
    /// (issue 14). The main pool (`max_connections`) serves everything else: actors, the
    /// relay.
    #[serde(default = "default_worker_connections")]
    pub worker_connections: usize,
}

fn default_generic_plans() -> bool {
    false
}

fn default_worker_connections() -> usize {
    8
}

fn default_message_batch_max() -> usize {
    512
}

fn default_message_writers() -> usize {
    2
}

fn default_message_queue() -> usize {
    4096
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 16,
            acquire_timeout_secs: 5,
            migrate_on_start: true,
            message_batch_max: default_message_batch_max(),
            message_writers: default_message_writers(),
            message_queue: default_message_queue(),
            generic_plans: default_generic_plans(),
            worker_connections: default_worker_connections(),
        }
    }
}

#[derive(Clone, Deserialize)]
pub struct AmqpSettings {
    /// `amqp://guest:guest@127.0.0.1:5672/%2f`; unset selects the in-process bus.
    pub url: Option<String>,
    /// Unacked deliveries a consumer holds at once.
    #[serde(default = "default_prefetch")]
    pub prefetch: u16,
    /// How often a failed delivery is requeued before the message is dead-lettered
    /// (delivered at most `delivery_limit + 1` times).
    #[serde(default = "default_delivery_limit")]
    pub delivery_limit: u32,
}

impl Default for AmqpSettings {
    fn default() -> Self {
        Self {
            url: None,
            prefetch: default_prefetch(),
            delivery_limit: default_delivery_limit(),
        }
    }
}

/// A connection URL with its password replaced, for `Debug` and logs
/// (`postgres://app:[REDACTED]@db:5432/metmos`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            let redacted = if userinfo.contains(':') {
                format!("{user}:[REDACTED]")
            } else {
                user.to_string()
            };
            format!("{scheme}://{redacted}@{host}{}", &rest[authority_end..])
        }
        None => url.to_string(),
    }
}

impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout_secs", &self.acquire_timeout_secs)
            .field("migrate_on_start", &self.migrate_on_start)
            .field("message_batch_max", &self.message_batch_max)
            .field("message_writers", &self.message_writers)
            .field("message_queue", &self.message_queue)
            .field("generic_plans", &self.generic_plans)
            .field("worker_connections", &self.worker_connections)
            .finish()
    }
}

impl std::fmt::Debug for AmqpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpSettings")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("prefetch", &self.prefetch)
            .field("delivery_limit", &self.delivery_limit)
            .finish()
    }
}

fn default_prefetch() -> u16 {
    64
}

fn default_delivery_limit() -> u32 {
    5
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// HS256 tokens signed with `auth.dev_secret`; dev endpoints enabled.
    Dev,
    /// RS256 Cognito access tokens verified against the pool's JWKS.
    Cognito,
    /// Behind API Gateway's authorizer: trust `x-cognito-user-id`.
    Gateway,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Dev => "dev",
            AuthMode::Cognito => "cognito",
            AuthMode::Gateway => "gateway",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub mode: AuthMode,
    pub dev_secret: SecretString,
    /// Key the sign-up trigger sends in `x-internal-api-key` for INTERNAL endpoints.
    pub internal_api_key: SecretString,
    /// Dev mode (unsigned-by-Cognito tokens, `/dev/*`) on a non-loopback `http.host` is
    /// refused unless this is set explicitly.
    #[serde(default)]
    pub allow_dev_on_public_host: bool,
    /// Lifetime of tokens minted by `POST /dev/users` and `metmos dev-user`.
    pub dev_token_ttl_secs: u64,
    /// How long a resolved caller (account and person) is reused without reading the
    /// store. Changes made through this node apply at once; changes made on another node
    /// or in the database (suspending an account) within this time. `0`: read every time.
    pub caller_cache_ms: u64,
    #[serde(default)]
    pub cognito: CognitoSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CognitoSettings {
    pub region: Option<String>,
    pub user_pool_id: Option<String>,
    pub client_id: Option<String>,
    /// Default: `https://cognito-idp.{region}.amazonaws.com/{user_pool_id}/.well-known/jwks.json`.
    pub jwks_url: Option<String>,
    /// Default: `https://cognito-idp.{region}.amazonaws.com/{user_pool_id}`.
    pub issuer: Option<String>,
}

impl CognitoSettings {
    pub fn issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| {
            format!(
                "https://cognito-idp.{}.amazonaws.com/{}",
                self.region.as_deref().unwrap_or_default(),
                self.user_pool_id.as_deref().unwrap_or_default()
            )
        })
    }
    pub fn jwks_url(&self) -> String {
        self.jwks_url
            .clone()
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", self.issuer()))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeSettings {
    /// This node's id in `ws_connection.node_id` and `node_lease`; default: fresh per start.
    pub id: Option<Uuid>,
    #[serde(default = "default_lease_secs")]
    pub lease_secs: u64,
    /// How long a starting node waits for its own bus queue before it serves anyway
    /// (the broker is away; frames for its persons are pushed until the queue is back).
    #[serde(default = "default_queue_wait_secs")]
    pub queue_wait_secs: u64,
}

fn default_queue_wait_secs() -> u64 {
    10
}

fn default_lease_secs() -> u64 {
    30
}

#[derive(Debug, Clone, Deserialize)]
pub struct WsSettings {
    pub max_frame_bytes: usize,
    pub max_message_chars: usize,
    pub messages_per_second: u32,
    pub burst: u32,
    pub heartbeat_secs: u64,
    pub client_timeout_secs: u64,
    pub send_queue: usize,
    /// A list, or one string of comma-separated origins (as env vars and overrides
    /// give it).
    #[serde(default, deserialize_with = "list_or_csv")]
    pub allowed_origins: Vec<String>,
    /// A chat room with no message for this long stops (it starts again on demand).
    #[serde(default = "default_room_idle_secs")]
    pub room_idle_secs: u64,
    /// Frames refused in a row by the rate limit before the connection is closed.
    #[serde(default = "default_rate_limit_strikes")]
    pub rate_limit_strikes: u32,
    /// Open sockets one person may hold on this node; the next upgrade is refused with
    /// 429 (the open ones keep working).
    #[serde(default = "default_max_connections_per_person")]
    pub max_connections_per_person: usize,
    /// DISCONNECTED `ws_connection` rows older than this are deleted.
    #[serde(default = "default_keep_disconnected_days")]
    pub keep_disconnected_days: u32,
    /// Bytes a client may leave unread in the kernel's send buffer of its socket: the
    /// engine caps `SO_SNDBUF` so that a client that stops reading fills it (and the
    /// bounded queue) within seconds, and is then closed and its connection aborted.
    #[serde(default = "default_send_buffer_bytes")]
    pub send_buffer_bytes: usize,
    /// Threads (actix arbiters) that run the chat rooms and user sessions, each hashed
    /// onto one by uuid; 0 = one per CPU core. One thread for all of them was the
    /// realtime path's ceiling.
    #[serde(default)]
    pub actor_threads: usize,
    /// Messages a connection may have sent and not yet had answered (ack or error frame)
    /// before its socket task stops reading its frames: ingress backpressure, so that
    /// the work admitted is the work the engine can do and TCP pushes back on a sender
    /// that outruns it.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// A write to a connection stuck this long (its socket not writable: the client stopped
    /// reading) closes it (1013), whatever its queue holds.
    #[serde(default = "default_slow_reader_secs")]
    pub slow_reader_secs: u64,
}

fn default_max_in_flight() -> usize {
    32
}

fn default_slow_reader_secs() -> u64 {
    10
}

fn default_max_connections_per_person() -> usize {
    10
}

fn default_keep_disconnected_days() -> u32 {
    7
}

fn default_send_buffer_bytes() -> usize {
    262_144
}

fn list_or_csv<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrCsv {
        List(Vec<String>),
        Csv(String),
    }
    Ok(match ListOrCsv::deserialize(d)? {
        ListOrCsv::List(list) => list,
        ListOrCsv::Csv(csv) => csv
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
    })
}

fn default_room_idle_secs() -> u64 {
    300
}

fn default_rate_limit_strikes() -> u32 {
    10
}

#[derive(Debug, Clone, Deserialize)]
pub struct S3Settings {
    /// Unset selects local blob files under `data_dir`.
    pub bucket: Option<String>,
    pub region: String,
    pub endpoint_url: Option<String>,
    pub force_path_style: bool,
    pub upload_url_secs: u64,
    pub download_url_secs: u64,
    /// Static credentials for an S3-compatible server; unset = the standard AWS chain
    /// (environment, profile, container or instance role).
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    #[serde(default)]
    pub cloudfront: CloudFrontSettings,
}

impl Default for S3Settings {
    fn default() -> Self {
        Self {
            bucket: None,
            region: "ap-southeast-2".into(),
            endpoint_url: None,
            force_path_style: false,
            upload_url_secs: 900,
            download_url_secs: 3600,
            access_key_id: None,
            secret_access_key: None,
            cloudfront: CloudFrontSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct CloudFrontSettings {
    pub domain: Option<String>,
    pub key_pair_id: Option<String>,
    pub private_key_pem: Option<SecretString>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PinpointSettings {
    /// Unset selects the recording pusher (dev: `GET /dev/pushes`).
    pub application_id: Option<String>,
    pub region: String,
    pub endpoint_url: Option<String>,
    pub apns_sandbox: bool,
    pub email_from: Option<String>,
    /// Static credentials (a local stand-in); unset = the standard AWS chain.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
}

impl Default for PinpointSettings {
    fn default() -> Self {
        Self {
            application_id: None,
            region: "ap-southeast-2".into(),
            endpoint_url: None,
            apns_sandbox: false,
            email_from: None,
            access_key_id: None,
            secret_access_key: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct MarketSettings {
    /// Platform fee in basis points of the price (500 = 5%).
    pub fee_bps: u32,
    /// Tax on the fee in basis points of the fee.
    pub fee_tax_bps: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct SocialSettings {
    /// After a rejection, the same requester's new request to the same person is refused
    /// (409) for this many days. 0 turns the cooldown off.
    pub rerequest_cooldown_days: u32,
}

impl Default for SocialSettings {
    fn default() -> Self {
        Self {
            rerequest_cooldown_days: 7,
        }
    }
}

/// Read state of chats (issue 15).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ChatSettings {
    /// Read positions (markRead, and sending, which reads the chat up to one's message)
    /// are kept in memory and written in one batch per this many milliseconds: a burst
    /// of markRead costs one write per chat and person per window.
    pub read_flush_ms: u64,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self { read_flush_ms: 250 }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct OrderSettings {
    pub payment_timeout_secs: u64,
    /// How often every node looks for unpaid orders past their deadline (the OrderActor's
    /// timer does it on time; the sweep covers orders no actor holds).
    #[serde(default = "default_sweep_secs")]
    pub expiry_sweep_secs: u64,
}

fn default_sweep_secs() -> u64 {
    30
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ChainSettings {
    /// Unset selects the simulated escrow ledger.
    pub rpc_url: Option<String>,
    #[serde(default = "default_chain_id")]
    pub chain_id: u64,
    pub contract_address: Option<String>,
    pub operator_key: Option<SecretString>,
    pub quote_signer_key: Option<SecretString>,
    /// A number of blocks, or "finalized".
    pub confirmations: Option<String>,
    pub start_block: Option<u64>,
    pub alchemy_signing_key: Option<SecretString>,
    /// How often the chain watcher polls (it is also woken by the Alchemy webhook), and
    /// how often the Ethereum adapter looks for an operator transaction's receipt.
    #[serde(default = "default_chain_poll_ms")]
    pub poll_ms: u64,
    /// Most blocks one `eth_getLogs` asks for (providers cap the range).
    #[serde(default = "default_chain_log_range")]
    pub log_range: u64,
    /// How many blocks behind the checkpoint the watcher keeps delivered logs, to notice
    /// a reorg that removes them.
    #[serde(default = "default_chain_reorg_window")]
    pub reorg_window: u64,
    /// How long an operator transaction may wait for its receipt before the call answers
    /// `Unavailable` (a retry reads the contract first, so it never settles twice).
    #[serde(default = "default_chain_receipt_timeout_secs")]
    pub receipt_timeout_secs: u64,
}

fn default_chain_id() -> u64 {
    31337
}

fn default_chain_poll_ms() -> u64 {
    2000
}

fn default_chain_log_range() -> u64 {
    2000
}

fn default_chain_reorg_window() -> u64 {
    128
}

fn default_chain_receipt_timeout_secs() -> u64 {
    120
}

use crate::domain::chain_watch::Confirmations;

impl ChainSettings {
    /// `chain.confirmations` parsed: a number of blocks or `finalized`; unset means 0
    /// (the simulated chain and a local node, where nothing reorgs on its own).
    pub fn confirmations(&self) -> Result<Confirmations, ConfigError> {
        match self.confirmations.as_deref().map(str::trim) {
            None | Some("") => Ok(Confirmations::Blocks(0)),
            Some("finalized") => Ok(Confirmations::Finalized),
            Some(n) => n.parse().map(Confirmations::Blocks).map_err(|_| {
                ConfigError::Invalid(
                    "chain.confirmations must be a number of blocks or \"finalized\"".into(),
                )
            }),
        }
    }
}

/// `/metrics` protection: a bearer token, a separate listen address, or both.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MetricsSettings {
    /// When set, `/metrics` answers 401 without `Authorization: Bearer <token>`.
    pub token: Option<SecretString>,
    /// When set (`host:port`), `/metrics` is served there only, not on `http.port`.
    pub bind: Option<String>,
}

/// Token buckets on REST (API.md: 429 with `Retry-After`). Each group is `burst` requests
/// at once, refilled at `per_minute`; keyed by person, or by client address on routes
/// without one. Generous for a person using the app; a script meets 429 within a burst.
#[derive(Debug, Clone, Deserialize)]
pub struct RateLimitSettings {
    pub enabled: bool,
    /// GET and HEAD by a signed-in person.
    pub reads: BucketSettings,
    /// POST, PATCH, PUT and DELETE by a signed-in person.
    pub writes: BucketSettings,
    /// Requests without a person (no or an invalid token, `/dev/users`, INTERNAL), by
    /// client address: where sign-ups and token guessing come from.
    pub anonymous: BucketSettings,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub struct BucketSettings {
    pub per_minute: u32,
    pub burst: u32,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            reads: BucketSettings {
                per_minute: 1200,
                burst: 600,
            },
            writes: BucketSettings {
                per_minute: 600,
                burst: 200,
            },
            anonymous: BucketSettings {
                per_minute: 300,
                burst: 100,
            },
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// `tracing` filter, e.g. `info,metmos=debug`; `RUST_LOG` wins when set.
    pub filter: String,
    /// `pretty` for people, `json` for log shippers.
    pub format: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: "pretty".into(),
        }
    }
}

impl Settings {
    /// Embedded defaults, then `file` (if any), then `METMOS__*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with(file, &[])
    }

    /// As [`Settings::load`], with explicit `key = value` overrides applied last
    /// (tests use these instead of mutating the process environment).
    pub fn load_with(file: Option<&Path>, overrides: &[(&str, &str)]) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULT_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path.to_path_buf()).required(true));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("METMOS")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("ws.allowed_origins"),
        );
        for (key, value) in overrides {
            builder = builder
                .set_override(*key, *value)
                .map_err(|e| ConfigError::Load(e.to_string()))?;
        }
        let settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Rules that serde cannot express. Start-up stops on the first one broken, with a
    /// message that names the key to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        if self.auth.mode == AuthMode::Cognito {
            let c = &self.auth.cognito;
            if c.user_pool_id.as_deref().unwrap_or("").is_empty() {
                return invalid("auth.mode = \"cognito\" needs auth.cognito.user_pool_id");
            }
            if c.region.as_deref().unwrap_or("").is_empty() && c.issuer.is_none() {
                return invalid("auth.mode = \"cognito\" needs auth.cognito.region");
            }
            if c.client_id.as_deref().unwrap_or("").is_empty() {
                return invalid("auth.mode = \"cognito\" needs auth.cognito.client_id");
            }
        }
        if self.auth.mode == AuthMode::Dev && self.auth.dev_secret.expose_secret().len() < 16 {
            return invalid("auth.dev_secret must be at least 16 characters");
        }
        if self.auth.internal_api_key.expose_secret().len() < 16 {
            return invalid("auth.internal_api_key must be at least 16 characters");
        }
        if self.auth.mode != AuthMode::Dev {
            let key = self.auth.internal_api_key.expose_secret();
            if key.len() < 32 {
                return invalid(
                    "auth.internal_api_key must be at least 32 characters outside dev mode",
                );
            }
            if shipped_secrets().any(|shipped| shipped == key) {
                return invalid(
                    "auth.internal_api_key is a value shipped in config/; set your own outside dev mode",
                );
            }
        }
        if self.auth.mode == AuthMode::Dev
            && !self.auth.allow_dev_on_public_host
            && !is_loopback_host(&self.http.host)
        {
            return invalid(
                "auth.mode = \"dev\" refuses a non-loopback http.host unless auth.allow_dev_on_public_host = true",
            );
        }
        if let Some(token) = &self.metrics.token
            && token.expose_secret().len() < 16
        {
            return invalid("metrics.token must be at least 16 characters");
        }
        if let Some(bind) = &self.metrics.bind
            && bind.parse::<std::net::SocketAddr>().is_err()
        {
            return invalid("metrics.bind must be an address such as 127.0.0.1:9090");
        }
        let rl = &self.rate_limits;
        if [rl.reads, rl.writes, rl.anonymous]
            .iter()
            .any(|b| b.per_minute == 0 || b.burst == 0)
        {
            return invalid("rate_limits.*.per_minute and rate_limits.*.burst must be at least 1");
        }
        if self.ws.max_connections_per_person == 0 || self.ws.keep_disconnected_days == 0 {
            return invalid(
                "ws.max_connections_per_person and ws.keep_disconnected_days must be at least 1",
            );
        }
        if self.ws.send_buffer_bytes < 4096 {
            return invalid("ws.send_buffer_bytes must be at least 4096");
        }
        if self.http.max_body_bytes < 1024 {
            return invalid("http.max_body_bytes must be at least 1024");
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            return invalid("database.url must start with postgres:// or postgresql://");
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections must be at least 1");
        }
        let db = &self.database;
        if db.message_batch_max == 0 || db.message_writers == 0 || db.message_queue == 0 {
            return invalid(
                "database.message_batch_max, database.message_writers and database.message_queue must be at least 1",
            );
        }
        if db.message_writers >= db.max_connections {
            return invalid(
                "database.message_writers must be below database.max_connections (requests need connections too)",
            );
        }
        if self.market.fee_bps > 10_000 || self.market.fee_tax_bps > 10_000 {
            return invalid("market.fee_bps and market.fee_tax_bps are basis points (0..=10000)");
        }
        if self.ws.send_queue == 0 || self.ws.messages_per_second == 0 {
            return invalid("ws.send_queue and ws.messages_per_second must be at least 1");
        }
        if self.ws.max_in_flight == 0 || self.ws.slow_reader_secs == 0 {
            return invalid("ws.max_in_flight and ws.slow_reader_secs must be at least 1");
        }
        if self.ws.burst == 0 || self.ws.rate_limit_strikes == 0 || self.ws.room_idle_secs == 0 {
            return invalid(
                "ws.burst, ws.rate_limit_strikes and ws.room_idle_secs must be at least 1",
            );
        }
        if self.ws.max_frame_bytes < 1024 || self.ws.max_message_chars == 0 {
            return invalid(
                "ws.max_frame_bytes must be at least 1024 and ws.max_message_chars at least 1",
            );
        }
        if self.ws.client_timeout_secs <= self.ws.heartbeat_secs {
            return invalid("ws.client_timeout_secs must be longer than ws.heartbeat_secs");
        }
        self.chain.confirmations()?;
        if self.chain.poll_ms == 0 || self.chain.log_range == 0 || self.chain.reorg_window == 0 {
            return invalid(
                "chain.poll_ms, chain.log_range and chain.reorg_window must be at least 1",
            );
        }
        if self.chain.rpc_url.is_some() {
            // The Ethereum adapter needs all of these; name every one that is missing.
            let missing: Vec<&str> = [
                (
                    "chain.contract_address",
                    self.chain.contract_address.as_deref(),
                ),
                (
                    "chain.operator_key",
                    self.chain.operator_key.as_ref().map(|k| k.expose_secret()),
                ),
                (
                    "chain.quote_signer_key",
                    self.chain
                        .quote_signer_key
                        .as_ref()
                        .map(|k| k.expose_secret()),
                ),
            ]
            .into_iter()
            .filter(|(_, v)| v.is_none_or(|v| v.trim().is_empty()))
            .map(|(k, _)| k)
            .collect();
            if !missing.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "chain.rpc_url is set, so {} must be set too",
                    missing.join(", ")
                )));
            }
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return invalid("log.format must be \"pretty\" or \"json\"");
        }
        Ok(())
    }
}

/// Every secret value written in the shipped configuration (the defaults and the
/// production example): anyone can read them, so none may guard a real deployment.
fn shipped_secrets() -> impl Iterator<Item = String> {
    const SHIPPED: [&str; 2] = [
        DEFAULT_TOML,
        include_str!("../../config/production.example.toml"),
    ];
    SHIPPED.into_iter().flat_map(|text| {
        text.lines()
            .filter_map(|line| {
                let line = line.trim_start_matches(['#', ' ']);
                let (key, value) = line.split_once('=')?;
                matches!(key.trim(), "internal_api_key" | "dev_secret")
                    .then(|| value.trim().trim_matches('"').to_string())
            })
            .collect::<Vec<_>>()
    })
}

/// `localhost`, `127.x.x.x` or `::1`: dev mode's tokens are only safe where only this
/// machine can reach them.
fn is_loopback_host(host: &str) -> bool {
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    host.trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_load_and_select_embedded_adapters() {
        let s = Settings::load_with(None, &[]).expect("defaults load");
        assert_eq!(s.http.port, 8080);
        assert_eq!(s.http.host, "127.0.0.1");
        assert!(s.database.url.is_none());
        assert!(s.amqp.url.is_none());
        assert_eq!(s.auth.mode, AuthMode::Dev);
        assert_eq!(s.market.fee_bps, 500);
        assert_eq!(s.http.public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn cognito_without_pool_is_refused_with_the_key_named() {
        let err = Settings::load_with(None, &[("auth.mode", "cognito")]).unwrap_err();
        assert!(
            err.to_string().contains("auth.cognito.user_pool_id"),
            "{err}"
        );
    }

    #[test]
    fn unknown_auth_mode_is_refused() {
        let err = Settings::load_with(None, &[("auth.mode", "basic")]).unwrap_err();
        assert!(err.to_string().contains("auth.mode"), "{err}");
    }

    /// Every key of the embedded defaults is documented in the production example, and the
    /// example itself loads (with its cognito settings).
    #[test]
    fn production_example_documents_every_default_key() {
        fn keys(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
            if let toml::Value::Table(t) = v {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    keys(&key, v, out);
                    if !v.is_table() {
                        out.push(key);
                    }
                }
            }
        }
        let example_text = include_str!("../../config/production.example.toml");
        let defaults: toml::Value = toml::from_str(DEFAULT_TOML).unwrap();
        let example: toml::Value = toml::from_str(example_text).unwrap();
        let (mut want, mut have) = (Vec::new(), Vec::new());
        keys("", &defaults, &mut want);
        keys("", &example, &mut have);
        // Commented-out keys count as documented: they are optional with a default.
        let missing: Vec<_> = want
            .iter()
            .filter(|k| {
                !have.contains(k)
                    && !example_text.contains(&format!("# {} =", k.rsplit('.').next().unwrap_or(k)))
            })
            .collect();
        assert!(missing.is_empty(), "undocumented keys: {missing:?}");
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config/production.example.toml");
        // As shipped, its placeholder key is refused: production must set its own.
        let err = Settings::load_with(Some(&path), &[]).unwrap_err();
        assert!(err.to_string().contains("auth.internal_api_key"), "{err}");
        let loaded = Settings::load_with(
            Some(&path),
            &[
                (
                    "auth.internal_api_key",
                    "a-real-deployment-key-0123456789abcdef",
                ),
                // The operator key comes from the environment in production (never a file).
                (
                    "chain.operator_key",
                    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
                ),
            ],
        )
        .expect("production example loads with its own key");
        assert_eq!(loaded.auth.mode, AuthMode::Cognito);
    }

    #[test]
    fn allowed_origins_take_a_list_or_comma_separated_text() {
        let s = Settings::load_with(
            None,
            &[("ws.allowed_origins", "https://a.io, https://b.io")],
        )
        .expect("loads");
        assert_eq!(s.ws.allowed_origins, ["https://a.io", "https://b.io"]);
        assert!(
            Settings::load_with(None, &[])
                .unwrap()
                .ws
                .allowed_origins
                .is_empty()
        );
    }

    const GATEWAY: (&str, &str) = ("auth.mode", "gateway");

    #[test]
    fn outside_dev_mode_a_shipped_or_short_internal_key_is_refused() {
        let shipped = "metmos-dev-internal-key-change-me";
        let err =
            Settings::load_with(None, &[GATEWAY, ("auth.internal_api_key", shipped)]).unwrap_err();
        assert!(err.to_string().contains("auth.internal_api_key"), "{err}");
        let example = "set-me-from-the-environment-0123456789";
        assert!(example.len() >= 32);
        // The shipped default (long enough, but public) is refused as well.
        let err = Settings::load_with(None, &[GATEWAY]).unwrap_err();
        assert!(err.to_string().contains("shipped"), "{err}");
        let err = Settings::load_with(
            None,
            &[
                GATEWAY,
                ("auth.internal_api_key", "only-twenty-five-chars-xx"),
            ],
        )
        .unwrap_err();
        assert!(err.to_string().contains("32 characters"), "{err}");
        let ok = Settings::load_with(
            None,
            &[
                GATEWAY,
                (
                    "auth.internal_api_key",
                    "a-real-deployment-key-0123456789abcdef",
                ),
            ],
        );
        assert!(ok.is_ok(), "{:?}", ok.err());
        // Dev mode keeps its shipped key: it only ever binds loopback.
        assert!(Settings::load_with(None, &[]).is_ok());
    }

    #[test]
    fn dev_mode_refuses_a_public_host_unless_allowed_explicitly() {
        let err = Settings::load_with(None, &[("http.host", "0.0.0.0")]).unwrap_err();
        assert!(
            err.to_string().contains("auth.allow_dev_on_public_host"),
            "{err}"
        );
        for host in ["127.0.0.1", "localhost", "::1", "127.0.0.2"] {
            assert!(
                Settings::load_with(None, &[("http.host", host)]).is_ok(),
                "{host}"
            );
        }
        let s = Settings::load_with(
            None,
            &[
                ("http.host", "0.0.0.0"),
                ("auth.allow_dev_on_public_host", "true"),
            ],
        )
        .expect("allowed explicitly");
        assert!(s.auth.allow_dev_on_public_host);
    }

    /// `Debug` of the whole settings (what a careless `tracing::debug!(?settings)` would
    /// print) holds no secret and no password of a connection URL.
    #[test]
    fn debug_of_settings_prints_no_secret() {
        let s = Settings::load_with(
            None,
            &[
                ("auth.dev_secret", "dev-secret-AAAAAAAAAAAAAAAA"),
                ("auth.internal_api_key", "internal-key-BBBBBBBBBBBBBBBB"),
                ("chain.operator_key", "0xoperatorCCCCCCCCCCCC"),
                (
                    "chain.quote_signer_key",
                    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
                ),
                ("chain.alchemy_signing_key", "whsec_DDDDDDDDDDDD"),
                ("s3.cloudfront.private_key_pem", "-----BEGIN EEEEEEEEEEEE"),
                ("s3.secret_access_key", "s3secretIIIIIIIIIIII"),
                ("pinpoint.secret_access_key", "ppsecretJJJJJJJJJJJJ"),
                ("metrics.token", "metrics-token-FFFFFFFFFFFF"),
                ("database.url", "postgres://app:pgpassGGGGGG@db:5432/metmos"),
                ("amqp.url", "amqp://app:mqpassHHHHHH@mq:5672/%2f"),
            ],
        )
        .expect("loads");
        let printed = format!("{s:?} {s:#?}");
        for secret in [
            "AAAAAAAAAAAA",
            "BBBBBBBBBBBB",
            "CCCCCCCCCCCC",
            "ff944bacb478",
            "DDDDDDDDDDDD",
            "EEEEEEEEEEEE",
            "FFFFFFFFFFFF",
            "GGGGGG",
            "HHHHHH",
            "IIIIIIIIIIII",
            "JJJJJJJJJJJJ",
        ] {
            assert!(!printed.contains(secret), "{secret} printed: {printed}");
        }
        assert!(
            printed.contains("postgres://app:[REDACTED]@db:5432/metmos"),
            "{printed}"
        );
        assert_eq!(
            s.auth.internal_api_key.expose_secret(),
            "internal-key-BBBBBBBBBBBBBBBB"
        );
    }

    #[test]
    fn urls_lose_only_their_password() {
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h:5432/db"), "postgres://h:5432/db");
        assert_eq!(
            redact_url("amqp://guest:guest@127.0.0.1:5672/%2f"),
            "amqp://guest:[REDACTED]@127.0.0.1:5672/%2f"
        );
    }

    #[test]
    fn overrides_win() {
        let s = Settings::load_with(None, &[("http.port", "9000"), ("market.fee_bps", "250")])
            .expect("loads");
        assert_eq!(s.http.port, 9000);
        assert_eq!(s.market.fee_bps, 250);
    }

    #[test]
    fn an_rpc_url_names_every_missing_chain_key() {
        let err = Settings::load_with(
            None,
            &[
                ("chain.rpc_url", "http://127.0.0.1:8545"),
                ("chain.contract_address", ""),
            ],
        )
        .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "invalid configuration: chain.rpc_url is set, so chain.contract_address, \
             chain.operator_key must be set too"
        );
    }

    #[test]
    fn confirmations_are_blocks_or_finalized() {
        let load = |c: &str| Settings::load_with(None, &[("chain.confirmations", c)]);
        assert_eq!(
            load("12").unwrap().chain.confirmations().unwrap(),
            Confirmations::Blocks(12)
        );
        assert_eq!(
            load("finalized").unwrap().chain.confirmations().unwrap(),
            Confirmations::Finalized
        );
        assert_eq!(
            Settings::load(None).unwrap().chain.confirmations().unwrap(),
            Confirmations::Blocks(0)
        );
        assert!(
            load("soon")
                .err()
                .unwrap()
                .to_string()
                .contains("chain.confirmations")
        );
    }
}
