//! The command line: one subcommand per scenario, options shared by all of them, and the
//! checks that keep a load run where it belongs (loopback unless `--allow-remote`).

use clap::{Args, Parser, Subcommand};
use reqwest::Url;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "metmos-load",
    version,
    about = "Load-test harness for the Metmos engine: WebSocket chat, idle connections, REST browsing, the trade flow",
    long_about = "Load-test harness for the Metmos engine. Every scenario creates its fixtures \
                  before the clock starts, runs a warm-up, a measured window and a drain, then \
                  prints a summary table and writes a JSON and a self-contained HTML report. It \
                  speaks only HTTP and WebSocket, so it runs against any engine (loopback unless \
                  --allow-remote) and against its own baseline server."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// N users over WebSocket in chats, open-loop at a total message rate.
    Chat(ChatArgs),
    /// Ramp to N idle authenticated WebSockets, hold them and sample pings and memory.
    Connections(ConnectionsArgs),
    /// Browse and search listings, search people, read chat history over REST.
    Rest(RestArgs),
    /// listing → offer → accept → order → pay → complete, per virtual user.
    Trade(TradeArgs),
    /// The least work a WebSocket chat relay can do: the yardstick for `chat --compare`.
    BaselineServer(BaselineArgs),
}

/// Where the load goes and how the run is framed; shared by every scenario.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Base URL of a running engine (WebSocket at the same host and port).
    #[arg(
        long,
        default_value = "http://127.0.0.1:8080",
        env = "METMOS_LOAD_TARGET"
    )]
    pub target: Url,
    /// Allow a target that is not a loopback address (staging). Off by default so that a
    /// typo never loads someone else's server.
    #[arg(long)]
    pub allow_remote: bool,
    /// Start the engine from this binary (e.g. target/release/metmos) on a free port with
    /// the embedded defaults, plus the limits the scenario needs, instead of using --target.
    #[arg(long, value_name = "PATH")]
    pub engine_bin: Option<PathBuf>,
    /// With --engine-bin: run the engine on PostgreSQL. The harness creates a fresh
    /// database on this server (e.g. postgres://postgres@127.0.0.1:5432/postgres, which it
    /// connects to for CREATE DATABASE), the engine migrates it at start, and the harness
    /// drops it after the run.
    #[arg(long, value_name = "URL", requires = "engine_bin")]
    pub engine_postgres: Option<String>,
    /// With --engine-bin: more environment for the engine, KEY=VALUE, repeatable (set
    /// after the scenario's own, so it wins), e.g. METMOS__DATABASE__MESSAGE_WRITERS=4.
    #[arg(long, value_name = "KEY=VALUE", requires = "engine_bin", value_parser = parse_env_pair)]
    pub engine_env: Vec<(String, String)>,
    /// Run against the baseline server (started by the harness) instead of the engine.
    #[arg(long, conflicts_with = "engine_bin")]
    pub baseline: bool,
    /// Process id of the engine behind --target, to report its CPU and memory.
    #[arg(long, value_name = "PID")]
    pub engine_pid: Option<u32>,
    /// Warm-up before the measured window (not counted).
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    pub warmup: Duration,
    /// Length of the measured window.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub duration: Duration,
    /// How long to wait after the window for what is still in flight.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub drain: Duration,
    /// Report path prefix: writes PREFIX.json and PREFIX.html.
    #[arg(long, default_value = "metmos-load-report", value_name = "PREFIX")]
    pub out: PathBuf,
    /// Requests in flight while creating fixtures.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub setup_concurrency: u32,
    /// No progress bars (they are hidden anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub common: Common,
    /// Users, one WebSocket each.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(2..=200_000))]
    pub users: u32,
    /// Members per chat: 2 makes CONTACT chats of pairs; more asks for GROUP chats, which
    /// the baseline server has and the engine does not (yet).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub group_size: u32,
    /// Total messages per second over all users (open loop: sent on schedule whatever the
    /// server does).
    #[arg(long, default_value_t = 200.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Bytes of message content (the timestamps plus padding).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(32..=4000))]
    pub message_bytes: u32,
    /// A send this much after its scheduled time counts as late (the client's fault).
    #[arg(long, default_value = "5ms", value_parser = parse_duration)]
    pub late_after: Duration,
    /// Run the same scenario against the baseline server and the engine, and print ratios.
    #[arg(long)]
    pub compare: bool,
    /// Every receiver marks the chat read up to each message it gets (the WebSocket
    /// `markRead` action), as an app with the chat open does (issue 15's cost figure).
    #[arg(long)]
    pub mark_read: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Idle connections to open and hold.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=2_000_000))]
    pub connections: u32,
    /// Users the connections belong to (round robin); each user may hold many sockets.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub users: u32,
    /// New connections per second during the ramp.
    #[arg(long, default_value_t = 500.0, value_parser = parse_rate)]
    pub connect_rate: f64,
    /// Connections per client source address (127.0.0.0/8 is spread so N can exceed one
    /// address's ephemeral ports).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=60_000))]
    pub per_source_addr: u32,
    /// Connections pinged each second while holding.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub ping_sample: u32,
}

#[derive(Debug, Clone, Args)]
pub struct RestArgs {
    #[command(flatten)]
    pub common: Common,
    /// Listings in the seeded catalogue.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub listings: u32,
    /// Users who post the catalogue and browse it.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub users: u32,
    /// Messages in the seeded chat whose history is read (and which `GET /chats` lists):
    /// sent over the WebSocket before the clock starts, up to 256 awaiting their ack.
    #[arg(long, alias = "history-messages", default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub chat_messages: u32,
    /// Open loop: requests per second in total. Without it, closed loop with --workers.
    #[arg(long, value_parser = parse_rate, conflicts_with = "workers")]
    pub rate: Option<f64>,
    /// Closed loop: workers each sending the next request when the last one answered.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub workers: u32,
    /// Weights of the request mix: search, browse, people, chats (`GET /chats`), history.
    #[arg(long, default_value = "search=50,browse=25,people=15,chats=10,history=10", value_parser = parse_mix)]
    pub mix: Mix,
}

#[derive(Debug, Clone, Args)]
pub struct TradeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Virtual users: each is a poster and a buyer running the flow over and over.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub vus: u32,
    /// How long to wait for an order to become PAID after paying.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub pay_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct BaselineArgs {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// 0 picks a free port; the chosen one is printed as `listening on HOST:PORT`.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Outbound frames queued per connection before a reader too slow is closed.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub queue: u32,
}

/// Weights of the REST request mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub search: u32,
    pub browse: u32,
    pub people: u32,
    pub chats: u32,
    pub history: u32,
}

/// `15s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        (s, 1000.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration (e.g. 15s, 500ms, 2m)"))?;
    if !v.is_finite() || v < 0.0 || v * mult_ms > 86_400_000.0 {
        return Err(format!("`{s}` must be between 0 and 24h"));
    }
    Ok(Duration::from_micros((v * mult_ms * 1000.0).round() as u64))
}

/// A positive, finite rate per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 10_000_000.0 => Ok(v),
        _ => Err(format!("`{s}` is not a rate per second above 0")),
    }
}

/// `search=50,browse=25,people=15,chats=10,history=10`; missing names weigh 0, the sum
/// must not.
pub fn parse_mix(s: &str) -> Result<Mix, String> {
    let mut mix = Mix {
        search: 0,
        browse: 0,
        people: 0,
        chats: 0,
        history: 0,
    };
    for part in s.split(',').filter(|p| !p.trim().is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}`: expected NAME=WEIGHT"))?;
        let weight: u32 = weight
            .trim()
            .parse()
            .map_err(|_| format!("`{part}`: the weight is not a whole number"))?;
        let slot = match name.trim() {
            "search" => &mut mix.search,
            "browse" => &mut mix.browse,
            "people" => &mut mix.people,
            "chats" => &mut mix.chats,
            "history" => &mut mix.history,
            other => {
                return Err(format!(
                    "`{other}` is not one of search, browse, people, chats, history"
                ));
            }
        };
        *slot = weight;
    }
    if mix.search + mix.browse + mix.people + mix.chats + mix.history == 0 {
        return Err("the mix needs at least one weight above 0".into());
    }
    Ok(mix)
}

/// `KEY=VALUE` for `--engine-env`: a non-empty key without `=` or whitespace.
pub fn parse_env_pair(s: &str) -> Result<(String, String), String> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected KEY=VALUE"))?;
    if k.is_empty() || k.chars().any(char::is_whitespace) {
        return Err(format!("`{s}`: the key must be a non-empty word"));
    }
    Ok((k.to_string(), v.to_string()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error(
        "target {0} is not http:// (use http://host:port; WebSockets go to ws:// on the same host)"
    )]
    Scheme(String),
    #[error("target {0} has no host")]
    NoHost(String),
    #[error(
        "target {0} is not a loopback address: pass --allow-remote to load a remote server on purpose"
    )]
    Remote(String),
}

/// Loopback (127.0.0.0/8, ::1, `localhost`) unless the operator opted in to a remote one.
pub fn check_target(url: &Url, allow_remote: bool) -> Result<(), TargetError> {
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(TargetError::Scheme(url.to_string()));
    }
    let host = url
        .host_str()
        .ok_or_else(|| TargetError::NoHost(url.to_string()))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false);
    if loopback || allow_remote {
        Ok(())
    } else {
        Err(TargetError::Remote(url.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("metmos-load").chain(args.iter().copied()))
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn chat_defaults_and_overrides() {
        let cli = parse(&["chat"]).unwrap();
        let Command::Chat(a) = cli.command else {
            panic!("chat")
        };
        assert_eq!((a.users, a.group_size, a.rate), (100, 2, 200.0));
        assert_eq!(a.common.duration, Duration::from_secs(15));
        assert_eq!(a.common.target.as_str(), "http://127.0.0.1:8080/");
        assert!(!a.compare);

        let cli = parse(&[
            "chat",
            "--users",
            "10",
            "--rate",
            "50.5",
            "--duration",
            "500ms",
            "--compare",
            "--target",
            "http://localhost:9000",
        ])
        .unwrap();
        let Command::Chat(a) = cli.command else {
            panic!("chat")
        };
        assert_eq!((a.users, a.rate, a.compare), (10, 50.5, true));
        assert_eq!(a.common.duration, Duration::from_millis(500));
    }

    #[test]
    fn the_engine_can_run_on_postgresql_with_more_settings() {
        let cli = parse(&[
            "chat",
            "--engine-bin",
            "target/release/metmos",
            "--engine-postgres",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "--engine-env",
            "METMOS__DATABASE__MESSAGE_WRITERS=4",
            "--engine-env",
            "METMOS__LOG__FILTER=info,metmos=debug",
        ])
        .unwrap();
        let Command::Chat(a) = cli.command else {
            panic!("chat")
        };
        assert_eq!(
            a.common.engine_postgres.as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/postgres")
        );
        assert_eq!(
            a.common.engine_env,
            [
                ("METMOS__DATABASE__MESSAGE_WRITERS".into(), "4".into()),
                ("METMOS__LOG__FILTER".into(), "info,metmos=debug".into()),
            ]
        );
        let e = parse(&["chat", "--engine-bin", "x", "--engine-env", "NOVALUE"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected KEY=VALUE"), "{e}");
        // Both only make sense for an engine the harness starts.
        assert!(parse(&["chat", "--engine-env", "A=1"]).is_err());
        assert!(parse(&["chat", "--engine-postgres", "postgres://x@y/z"]).is_err());
    }

    #[test]
    fn bad_arguments_are_refused_with_the_reason() {
        let e = parse(&["chat", "--users", "1"]).unwrap_err().to_string();
        assert!(e.contains("--users"), "{e}");
        let e = parse(&["chat", "--rate", "0"]).unwrap_err().to_string();
        assert!(e.contains("not a rate"), "{e}");
        let e = parse(&["chat", "--duration", "soon"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a duration"), "{e}");
        assert!(parse(&["rest", "--rate", "10", "--workers", "3"]).is_err());
        let e = parse(&["rest", "--mix", "search=1,shop=2"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`shop` is not one of"), "{e}");
        assert!(parse(&["nope"]).is_err());
    }

    #[test]
    fn durations_rates_and_mixes() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("25h").is_err());
        assert!(parse_rate("inf").is_err());
        assert!(parse_rate("NaN").is_err());
        assert_eq!(
            parse_mix("search=3,history=1"),
            Ok(Mix {
                search: 3,
                browse: 0,
                people: 0,
                chats: 0,
                history: 1
            })
        );
        assert_eq!(parse_mix("chats=2").map(|m| m.chats), Ok(2));
        assert!(parse_mix("search=0").is_err());
        assert!(parse_mix("search").is_err());
    }

    #[test]
    fn engine_env_pairs_need_the_engine_bin_and_a_key() {
        let cli = parse(&[
            "rest",
            "--engine-bin",
            "/bin/true",
            "--engine-env",
            "METMOS__DATABASE__URL=postgres://h/db?a=b",
            "--engine-env",
            "EMPTY=",
            "--chat-messages",
            "200000",
        ])
        .unwrap();
        let Command::Rest(a) = cli.command else {
            panic!("rest")
        };
        assert_eq!(
            a.common.engine_env,
            vec![
                (
                    "METMOS__DATABASE__URL".to_string(),
                    "postgres://h/db?a=b".to_string()
                ),
                ("EMPTY".to_string(), String::new())
            ]
        );
        assert_eq!(a.chat_messages, 200_000);
        let old = parse(&["rest", "--history-messages", "7"]).unwrap();
        let Command::Rest(a) = old.command else {
            panic!("rest")
        };
        assert_eq!(a.chat_messages, 7);
        assert!(parse(&["rest", "--engine-env", "A=1"]).is_err());
        let e = parse(&["rest", "--engine-bin", "x", "--engine-env", "novalue"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected KEY=VALUE"), "{e}");
        assert!(parse_env_pair("=v").is_err());
    }

    #[test]
    fn only_loopback_targets_unless_allowed() {
        let ok = |s: &str, remote| check_target(&Url::parse(s).unwrap(), remote);
        assert_eq!(ok("http://127.0.0.1:8080", false), Ok(()));
        assert_eq!(ok("http://127.8.9.10:1", false), Ok(()));
        assert_eq!(ok("http://localhost:8080", false), Ok(()));
        assert_eq!(ok("http://[::1]:8080", false), Ok(()));
        assert!(matches!(
            ok("http://10.0.0.5:8080", false),
            Err(TargetError::Remote(_))
        ));
        assert!(matches!(
            ok("https://staging.example.com", false),
            Err(TargetError::Remote(_))
        ));
        assert_eq!(ok("https://staging.example.com", true), Ok(()));
        assert!(matches!(
            ok("ftp://127.0.0.1", true),
            Err(TargetError::Scheme(_))
        ));
    }
}
