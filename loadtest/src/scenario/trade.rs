//! `trade`: per virtual user (a poster and a buyer, each with a wallet of its own), the whole commerce
//! path over and over: listing → offer → accept → order → pay (`POST /dev/chain/pay`, the
//! simulated chain) → PAID → complete → COMPLETED. Flows per second and each step's latency.
//!
//! An engine without the escrow capability answers 404 to the pay (or complete) route: the
//! scenario then stops each flow after the order and says so in the report.

use super::{Clock, RateMeter, timed_phases};
use crate::api::{Api, ApiError, User, random_address};
use crate::cli::TradeArgs;
use crate::progress::Progress;
use crate::report::Run;
use crate::stats::Recorder;
use crate::target::Target;
use anyhow::Context;
use futures_util::{StreamExt, stream};
use reqwest::StatusCode;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

struct Vu {
    poster: User,
    buyer: User,
}

struct Shared {
    api: Api,
    clock: Clock,
    rec: Recorder,
    category: String,
    pay_timeout: Duration,
    /// Set when the engine answers 404 to the escrow routes: flows stop after the order.
    no_escrow: AtomicBool,
    flows: AtomicU64,
    errors: AtomicU64,
    running: AtomicU64,
}

/// How far a flow got.
enum Reached {
    Completed,
    Ordered,
}

/// Engine settings for this load: each flow is 7 writes and a few polls per virtual user,
/// above the per-person REST buckets (`rate_limits.writes` 600/min, `reads` 1200/min), so an
/// engine the harness starts gets them raised; and room for creating the users.
pub fn engine_env(a: &TradeArgs) -> Vec<(&'static str, String)> {
    let mut env = crate::target::setup_env(a.vus * 2);
    env.extend([
        ("METMOS__RATE_LIMITS__WRITES__PER_MINUTE", "600000".into()),
        ("METMOS__RATE_LIMITS__WRITES__BURST", "10000".into()),
        ("METMOS__RATE_LIMITS__READS__PER_MINUTE", "600000".into()),
        ("METMOS__RATE_LIMITS__READS__BURST", "10000".into()),
    ]);
    env
}

pub async fn run(target: &Target, a: &TradeArgs, progress: &Progress) -> anyhow::Result<Run> {
    let c = &a.common;
    let setup = target.api().for_setup();
    progress.note(&format!(
        "trade on the {} at {}: {} virtual users for {:?} after {:?} of warm-up",
        target.kind.label(),
        target.url,
        a.vus,
        c.duration,
        c.warmup
    ));
    let tag = crate::api::run_tag();
    let bar = progress.count("users", u64::from(a.vus) * 2);
    let users = setup
        .users(
            &format!("lt{tag}t"),
            a.vus * 2,
            c.setup_concurrency,
            &|| bar.inc(1),
        )
        .await
        .context("creating users")?;
    bar.finish();
    let bar = progress.count("wallets", u64::from(a.vus));
    let vus: Vec<Vu> = stream::iter(users.chunks(2).map(|p| (p[0].clone(), p[1].clone())))
        .map(|(poster, buyer)| {
            let (api, bar) = (&setup, bar.clone());
            async move {
                api.wallet(&poster, &random_address()).await?;
                api.wallet(&buyer, &random_address()).await?;
                bar.inc(1);
                Ok::<_, ApiError>(Vu { poster, buyer })
            }
        })
        .buffered(c.setup_concurrency as usize)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .context("registering wallets")?;
    bar.finish();
    let category = setup.item_category(&vus[0].poster).await?;

    let shared = Arc::new(Shared {
        api: target.api(),
        clock: Clock::starting_soon(c.warmup, c.duration, c.drain),
        rec: Recorder::new(),
        category,
        pay_timeout: a.pay_timeout,
        no_escrow: AtomicBool::new(false),
        flows: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        running: AtomicU64::new(vus.len() as u64),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for vu in vus {
        let shared = shared.clone();
        tasks.spawn(async move {
            tokio::time::sleep_until(shared.clock.epoch).await;
            while Instant::now() < shared.clock.window_end() {
                let start = Instant::now();
                let in_window = start >= shared.clock.window_start();
                match flow(&shared, &vu, in_window).await {
                    Ok(reached) => {
                        shared.flows.fetch_add(1, Ordering::Relaxed);
                        if in_window {
                            let second = shared.clock.second(Instant::now());
                            let name = match reached {
                                Reached::Completed => "flows completed",
                                Reached::Ordered => "flows to the order (no escrow)",
                            };
                            shared.rec.count(name, 1, second);
                            shared.rec.latency("whole flow", start.elapsed(), second);
                        }
                    }
                    Err(e) => {
                        shared.errors.fetch_add(1, Ordering::Relaxed);
                        if in_window {
                            shared.rec.error(e, shared.clock.second(Instant::now()));
                        }
                        // Do not spin on a failing server.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
            shared.running.fetch_sub(1, Ordering::Relaxed);
        });
    }
    let meter = RateMeter::new(2);
    let live = || {
        let r = meter.rates(&[
            shared.flows.load(Ordering::Relaxed),
            shared.errors.load(Ordering::Relaxed),
        ]);
        format!("{:.1} flows/s  errors {:.1}/s", r[0], r[1])
    };
    let drained = || shared.running.load(Ordering::Relaxed) == 0;
    let cpu = timed_phases(progress, &shared.clock, target.pid, &live, &drained).await;
    // Flows still running after the drain are cut off; they were started in the window.
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}

    let mut run = Run::from_snapshot(
        target.kind.label(),
        target.url.as_str(),
        target.settings.clone(),
        shared.clock.window_secs(),
        "whole flow",
        shared.rec.snapshot(),
    );
    run.client_cpu_pct = cpu.client;
    run.server_cpu_pct = cpu.server;
    if shared.no_escrow.load(Ordering::Relaxed) {
        run.notes.push(
            "this engine has no escrow yet (POST /dev/chain/pay or PATCH /orders/{uuid}/complete answered 404): each flow stopped after the order; pay and complete are not measured"
                .into(),
        );
    }
    Ok(run)
}

/// Times `step` under `name` (when in the window); an error names the step and its cause.
async fn step<T>(
    shared: &Shared,
    name: &'static str,
    in_window: bool,
    f: impl std::future::Future<Output = Result<T, ApiError>>,
) -> Result<T, String> {
    let t0 = Instant::now();
    let r = f.await;
    if in_window && r.is_ok() {
        shared.rec.latency(name, t0.elapsed(), None);
    }
    r.map_err(|e| format!("{name}: {}", e.cause()))
}

fn is_missing_route(e: &ApiError) -> bool {
    e.status() == Some(StatusCode::NOT_FOUND)
}

async fn flow(shared: &Shared, vu: &Vu, in_window: bool) -> Result<Reached, String> {
    let api = &shared.api;
    let listing = step(
        shared,
        "listing (create + publish)",
        in_window,
        api.published_listing(
            &vu.poster,
            &shared.category,
            "Load test bike",
            "A bike sold again and again by the load harness",
            "0.115",
        ),
    )
    .await?;
    let offer = step(
        shared,
        "offer",
        in_window,
        api.post(
            "/offers",
            &vu.buyer.token,
            json!({"listingUuid": listing, "price": "0.115", "comment": "Can pick up today"}),
        ),
    )
    .await?;
    let offer = offer["uuid"].as_str().unwrap_or_default().to_string();
    step(
        shared,
        "accept",
        in_window,
        api.patch(&format!("/offers/{offer}/accept"), &vu.poster.token, None),
    )
    .await?;
    let order = step(
        shared,
        "order",
        in_window,
        api.post("/orders", &vu.buyer.token, json!({"offerUuid": offer})),
    )
    .await?;
    let order = order["uuid"].as_str().unwrap_or_default().to_string();
    if shared.no_escrow.load(Ordering::Relaxed) {
        return Ok(Reached::Ordered);
    }

    let t0 = Instant::now();
    match api
        .post(
            "/dev/chain/pay",
            &vu.buyer.token,
            json!({"orderUuid": order}),
        )
        .await
    {
        // The simulated chain answers 200 for a payment the escrow reverted (its reason in
        // `reverted`, no `txHash`): the order would never become PAID, so fail now rather
        // than wait out --pay-timeout.
        Ok(v) if v["reverted"].is_string() => {
            // Counted by cause like every other error, so the reason (free text) stays out.
            return Err("pay: reverted".into());
        }
        Ok(_) => {
            if in_window {
                shared.rec.latency("pay (accepted)", t0.elapsed(), None);
            }
        }
        Err(e) if is_missing_route(&e) => {
            shared.no_escrow.store(true, Ordering::Relaxed);
            return Ok(Reached::Ordered);
        }
        Err(e) => return Err(format!("pay: {}", e.cause())),
    }
    wait_status(
        shared,
        &vu.buyer,
        &order,
        &["PAID"],
        t0,
        "pay → PAID",
        in_window,
    )
    .await?;

    let t1 = Instant::now();
    match api
        .patch(&format!("/orders/{order}/complete"), &vu.buyer.token, None)
        .await
    {
        Ok(_) => {
            if in_window {
                shared
                    .rec
                    .latency("complete (accepted)", t1.elapsed(), None);
            }
        }
        Err(e) if is_missing_route(&e) => {
            shared.no_escrow.store(true, Ordering::Relaxed);
            return Ok(Reached::Ordered);
        }
        Err(e) => return Err(format!("complete: {}", e.cause())),
    }
    wait_status(
        shared,
        &vu.buyer,
        &order,
        &["COMPLETED"],
        t1,
        "complete → COMPLETED",
        in_window,
    )
    .await?;
    Ok(Reached::Completed)
}

/// Polls the order until it reaches one of `want` (or a dead end, or the timeout).
async fn wait_status(
    shared: &Shared,
    user: &User,
    order: &str,
    want: &[&str],
    since: Instant,
    name: &'static str,
    in_window: bool,
) -> Result<(), String> {
    let deadline = since + shared.pay_timeout;
    loop {
        let v = shared
            .api
            .get(&format!("/orders/{order}"), &user.token)
            .await
            .map_err(|e| format!("{name}: GET /orders/{{uuid}} {}", e.cause()))?;
        let status = v["status"].as_str().unwrap_or_default();
        if want.contains(&status) {
            if in_window {
                shared.rec.latency(name, since.elapsed(), None);
            }
            return Ok(());
        }
        if matches!(status, "CANCELLED" | "EXPIRED") {
            return Err(format!("{name}: the order became {status}"));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{name}: still {status} after {:?}",
                shared.pay_timeout
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
