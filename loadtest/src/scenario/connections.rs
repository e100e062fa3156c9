//! `connections`: ramp to N idle authenticated WebSockets at a given rate (from addresses
//! spread over 127.0.0.0/8), hold them while pinging a sample each second and reading the
//! server's memory, then ping every one of them a last time.

use crate::cli::ConnectionsArgs;
use crate::procinfo::rss_kb;
use crate::progress::Progress;
use crate::report::Run;
use crate::stats::Recorder;
use crate::target::Target;
use crate::ws::{self, Socket};
use anyhow::Context;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Clone, Copy)]
enum Ping {
    Sample,
    Final,
}

#[derive(Default)]
struct Counters {
    final_answered: AtomicU64,
    closed: AtomicU64,
}

/// The engine's cap on sockets per person (`ws.max_connections_per_person`) when the
/// branch that adds it is in.
pub const ENGINE_DEFAULT_SOCKETS_PER_PERSON: u32 = 10;

/// Engine settings for N sockets over `users`: the per-person socket cap raised when each
/// user holds more than the default, and room for creating the users.
pub fn engine_env(a: &ConnectionsArgs) -> Vec<(&'static str, String)> {
    let mut env = crate::target::setup_env(a.users);
    let per_person = a.connections.div_ceil(a.users.min(a.connections).max(1));
    if per_person > ENGINE_DEFAULT_SOCKETS_PER_PERSON {
        env.push((
            "METMOS__WS__MAX_CONNECTIONS_PER_PERSON",
            per_person.to_string(),
        ));
    }
    env
}

pub async fn run(target: &Target, a: &ConnectionsArgs, progress: &Progress) -> anyhow::Result<Run> {
    let c = &a.common;
    let api = target.api().for_setup();
    let limit = crate::procinfo::raise_nofile_limit();
    progress.note(&format!(
        "connections on the {} at {}: {} sockets at {}/s, held {:?} (open-file limit {limit})",
        target.kind.label(),
        target.url,
        a.connections,
        a.connect_rate,
        c.duration
    ));
    let n_users = a.users.min(a.connections);
    let bar = progress.count("users", u64::from(n_users));
    let tag = crate::api::run_tag();
    let users = api
        .users(&format!("lt{tag}n"), n_users, c.setup_concurrency, &|| {
            bar.inc(1)
        })
        .await
        .context("creating users")?;
    bar.finish();

    let rec = Arc::new(Recorder::new());
    let counters = Arc::new(Counters::default());
    let loopback = target.url.host_str().is_some_and(|h| {
        h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|i| i.is_loopback())
    });
    let rss_before = target.pid.and_then(rss_kb);
    let ws_url = api.ws_url();
    let (stop_tx, stop_rx) = watch::channel(false);

    // Ramp: one connection every 1/rate, each on its own task once open.
    let bar = progress.count("ramp", u64::from(a.connections));
    let start = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / a.connect_rate);
    let mut opening = tokio::task::JoinSet::new();
    for i in 0..a.connections {
        tokio::time::sleep_until(start + interval * i).await;
        let user = &users[(i % n_users) as usize];
        let source = loopback.then(|| ws::source_addr(i / a.per_source_addr));
        let (url, token, rec, bar) = (ws_url.clone(), user.token.clone(), rec.clone(), bar.clone());
        opening.spawn(async move {
            let t0 = Instant::now();
            let r = ws::connect(&url, &token, source).await;
            bar.inc(1);
            match r {
                Ok(s) => {
                    rec.latency("connect", t0.elapsed(), None);
                    rec.count("connected", 1, None);
                    Some(s)
                }
                Err(e) => {
                    rec.error(format!("connect: {}", e.cause()), None);
                    None
                }
            }
        });
    }
    let mut pingers = Vec::new();
    let mut holders = Vec::new();
    while let Some(r) = opening.join_next().await {
        if let Ok(Some(socket)) = r {
            let (tx, rx) = mpsc::channel(4);
            pingers.push(tx);
            holders.push(tokio::spawn(hold(
                socket,
                rx,
                rec.clone(),
                counters.clone(),
                stop_rx.clone(),
                start,
            )));
        }
    }
    bar.finish();
    let ramp_secs = start.elapsed().as_secs_f64();

    // Hold: a sample pinged each second, the server's memory read.
    let hold_bar = progress.timed("hold", c.duration);
    let hold_start = Instant::now();
    let client_cpu = crate::procinfo::CpuMeter::start(std::process::id());
    let server_cpu = target.pid.and_then(crate::procinfo::CpuMeter::start);
    let mut rss_max = 0u64;
    let mut rss_samples = Vec::new();
    while hold_start.elapsed() < c.duration {
        tokio::time::sleep(
            Duration::from_secs(1).min(c.duration.saturating_sub(hold_start.elapsed())),
        )
        .await;
        if let Some(kb) = target.pid.and_then(rss_kb) {
            rss_max = rss_max.max(kb);
            rss_samples.push(kb);
        }
        for _ in 0..a.ping_sample.min(pingers.len() as u32) {
            let i = rand::random_range(0..pingers.len());
            let _ = pingers[i].try_send(Ping::Sample);
        }
        hold_bar.set_position(hold_start.elapsed().as_millis() as u64);
        hold_bar.set_message(format!(
            "{} open, {} closed by the server{}",
            pingers.len() as u64 - counters.closed.load(Ordering::Relaxed),
            counters.closed.load(Ordering::Relaxed),
            rss_samples
                .last()
                .map_or(String::new(), |kb| format!(", server RSS {} MB", kb / 1024))
        ));
    }
    hold_bar.finish();
    let (client_cpu, server_cpu) = (
        client_cpu.and_then(|m| m.percent()),
        server_cpu.and_then(|m| m.percent()),
    );

    // A last ping on every connection: each one must still answer.
    let bar = progress.count("final ping", pingers.len() as u64);
    for p in &pingers {
        let _ = p.send(Ping::Final).await;
    }
    let deadline = Instant::now() + c.drain.max(Duration::from_secs(1));
    while Instant::now() < deadline {
        let done = counters.final_answered.load(Ordering::Relaxed);
        bar.set_position(done);
        if done + counters.closed.load(Ordering::Relaxed) >= pingers.len() as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bar.finish();
    let _ = stop_tx.send(true);
    for h in holders {
        let _ = h.await;
    }

    let answered = counters.final_answered.load(Ordering::Relaxed);
    rec.count("final pings answered", answered, None);
    rec.count(
        "final pings missing",
        pingers.len() as u64 - answered.min(pingers.len() as u64),
        None,
    );
    let mut run = Run::from_snapshot(
        target.kind.label(),
        target.url.as_str(),
        target.settings.clone(),
        c.duration.as_secs_f64(),
        "ping (sampled)",
        rec.snapshot(),
    );
    // CPU while holding idle sockets (and answering the sampled pings).
    run.client_cpu_pct = client_cpu;
    run.server_cpu_pct = server_cpu;
    run.extra.insert("ramp seconds".into(), ramp_secs);
    run.extra
        .insert("connections held".into(), pingers.len() as f64);
    if let Some(before) = rss_before {
        run.extra
            .insert("server RSS before (KB)".into(), before as f64);
        if let Some(&last) = rss_samples.last() {
            run.extra
                .insert("server RSS holding (KB)".into(), last as f64);
            run.extra
                .insert("server RSS max (KB)".into(), rss_max as f64);
            if !pingers.is_empty() {
                run.extra.insert(
                    "server KB per connection".into(),
                    last.saturating_sub(before) as f64 / pingers.len() as f64,
                );
            }
        }
    } else {
        run.notes.push(
            "no server pid (--engine-pid, or --engine-bin to have the harness start it): memory not reported"
                .into(),
        );
    }
    let per_person = a.connections.div_ceil(n_users.max(1));
    if target.kind == crate::target::Kind::Engine
        && per_person > ENGINE_DEFAULT_SOCKETS_PER_PERSON
        && !target
            .settings
            .contains_key("METMOS__WS__MAX_CONNECTIONS_PER_PERSON")
    {
        run.notes.push(format!(
            "each user holds {per_person} sockets: an engine capping sockets per person ({ENGINE_DEFAULT_SOCKETS_PER_PERSON} by default) needs METMOS__WS__MAX_CONNECTIONS_PER_PERSON raised, or pass more --users"
        ));
    }
    if let Some(kb) = rss_kb(std::process::id()) {
        run.extra.insert("client RSS (KB)".into(), kb as f64);
    }
    Ok(run)
}

/// Holds one connection: reads (so the server's pings get their pongs), pings on request.
async fn hold(
    mut ws: Socket,
    mut pings: mpsc::Receiver<Ping>,
    rec: Arc<Recorder>,
    counters: Arc<Counters>,
    mut stop: watch::Receiver<bool>,
    start: Instant,
) {
    let mut waiting: Option<(Instant, Ping)> = None;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            p = pings.recv(), if waiting.is_none() => {
                let Some(p) = p else { break };
                waiting = Some((Instant::now(), p));
                if ws.send(Message::text(r#"{"action":"ping"}"#)).await.is_err() {
                    counters.closed.fetch_add(1, Ordering::Relaxed);
                    rec.error("ping send failed", None);
                    return;
                }
            }
            f = ws.next() => match f {
                Some(Ok(Message::Text(t))) if t.as_str().contains(r#""pong""#) => {
                    if let Some((t0, kind)) = waiting.take() {
                        let rtt = t0.elapsed();
                        match kind {
                            Ping::Sample => rec.latency(
                                "ping (sampled)",
                                rtt,
                                Some((Instant::now() - start).as_secs()),
                            ),
                            Ping::Final => {
                                rec.latency("ping (final, every connection)", rtt, None);
                                counters.final_answered.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    counters.closed.fetch_add(1, Ordering::Relaxed);
                    rec.error("closed by the server while idle", None);
                    return;
                }
                Some(Ok(_)) => {}
            }
        }
    }
    let _ = ws.close(None).await;
}
