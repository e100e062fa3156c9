//! The harness as its users run it: the real `metmos-load` binary, a short `chat` run and a
//! short `connections` run against its own baseline server, a short `trade` run against the
//! engine's debug binary, their JSON reports checked for
//! honest numbers, and the HTML report opened in a real headless browser (Debian's chromium,
//! which scripts/test installs) to see its charts drawn.
//!
//! No test here judges speed: figures are shown by the harness, never asserted.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_metmos-load")
}

/// Runs metmos-load with `args`; answers (success, stdout, stderr).
fn metmos_load(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .output()
        .expect("metmos-load runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn read_json(prefix: &Path) -> Value {
    let text = std::fs::read_to_string(prefix.with_extension("json")).expect("JSON report");
    serde_json::from_str(&text).expect("the JSON report parses")
}

fn count(run: &Value, name: &str) -> u64 {
    run["counts"][name].as_u64().unwrap_or(0)
}

#[test]
fn a_short_chat_run_against_the_baseline_is_complete_and_its_html_report_renders() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("chat");
    let (ok, stdout, stderr) = metmos_load(&[
        "chat",
        "--baseline",
        "--users",
        "20",
        "--rate",
        "200",
        "--warmup",
        "500ms",
        "--duration",
        "2s",
        "--drain",
        "3s",
        "--quiet",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    assert!(ok, "chat failed\n{stdout}\n{stderr}");
    assert!(stdout.contains("send→deliver"), "{stdout}");
    assert!(stdout.contains("reports:"), "{stdout}");

    let r = read_json(&prefix);
    assert_eq!(r["scenario"], "chat");
    let run = &r["runs"][0];
    assert_eq!(run["target"], "baseline");
    // 200 msg/s over a 2 s window: about 400 scheduled, each acked and delivered once to
    // the other member of its pair, none lost, duplicated or out of order.
    let sent = count(run, "sent");
    assert!((350..=450).contains(&sent), "sent {sent}");
    assert_eq!(count(run, "acked"), sent, "{run}");
    assert_eq!(count(run, "delivered"), sent, "{run}");
    assert_eq!(count(run, "lost (acked, never delivered)"), 0, "{run}");
    assert_eq!(count(run, "unacked (no ack nor error)"), 0, "{run}");
    assert_eq!(count(run, "duplicates"), 0, "{run}");
    assert_eq!(count(run, "out of order"), 0, "{run}");
    assert_eq!(run["errors"], serde_json::json!({}), "{run}");
    let deliver = &run["latencies"]["send→deliver"];
    assert_eq!(deliver["count"].as_u64(), Some(sent));
    let (p50, p99, max) = (
        deliver["p50_ms"].as_f64().unwrap(),
        deliver["p99_ms"].as_f64().unwrap(),
        deliver["max_ms"].as_f64().unwrap(),
    );
    assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{deliver}");
    assert_eq!(run["latencies"]["send→ack"]["count"].as_u64(), Some(sent));
    // Both processes' CPU is measured over the window.
    assert!(run["client_cpu_pct"].as_f64().is_some(), "{run}");
    assert!(run["server_cpu_pct"].as_f64().is_some(), "{run}");
    assert!(!run["timeline"].as_array().unwrap().is_empty());

    assert_charts_render(&prefix.with_extension("html"));
}

#[test]
fn a_short_connections_run_against_the_baseline_pings_every_connection() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("conns");
    let (ok, stdout, stderr) = metmos_load(&[
        "connections",
        "--baseline",
        "--connections",
        "60",
        "--users",
        "10",
        "--connect-rate",
        "300",
        "--per-source-addr",
        "25",
        "--duration",
        "1500ms",
        "--ping-sample",
        "10",
        "--quiet",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    assert!(ok, "connections failed\n{stdout}\n{stderr}");
    let r = read_json(&prefix);
    let run = &r["runs"][0];
    assert_eq!(count(run, "connected"), 60, "{run}");
    assert_eq!(count(run, "final pings answered"), 60, "{run}");
    assert_eq!(count(run, "final pings missing"), 0, "{run}");
    assert_eq!(run["latencies"]["connect"]["count"].as_u64(), Some(60));
    assert!(
        run["latencies"]["ping (sampled)"]["count"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(
        run["extra"]["server KB per connection"].as_f64().is_some(),
        "{run}"
    );
}

/// The engine's debug binary that cargo built for the workspace: `target/debug/metmos`, next
/// to this test's own `target/debug/deps/harness-…`. `CARGO_BIN_EXE_metmos` only exists
/// inside the engine's own package, so it is found from where this test runs.
fn engine_bin() -> PathBuf {
    let me = std::env::current_exe().expect("the test binary's path");
    // target/debug/deps/harness-… → target/debug
    let profile_dir = me
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    let bin = profile_dir.join(format!("metmos{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "no engine binary at {}: build it first with `cargo build -p metmos-http` \
         (`cargo test --workspace` builds it)",
        bin.display()
    );
    bin
}

#[test]
fn a_short_trade_run_against_the_engine_completes_flows_through_the_escrow() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("trade");
    let engine = engine_bin();
    let (ok, stdout, stderr) = metmos_load(&[
        "trade",
        "--engine-bin",
        engine.to_str().unwrap(),
        "--vus",
        "2",
        "--warmup",
        "500ms",
        "--duration",
        "3s",
        "--drain",
        "5s",
        "--quiet",
        "--out",
        prefix.to_str().unwrap(),
    ]);
    assert!(ok, "trade failed\n{stdout}\n{stderr}");
    let r = read_json(&prefix);
    assert_eq!(r["scenario"], "trade");
    let run = &r["runs"][0];
    assert_eq!(run["target"], "engine");
    // Flows went all the way to COMPLETED through the real pay and complete routes: none
    // stopped at the order (the answer to missing escrow routes), none failed.
    let completed = count(run, "flows completed");
    assert!(completed > 0, "no flow completed: {run}");
    assert_eq!(count(run, "flows to the order (no escrow)"), 0, "{run}");
    assert_eq!(run["errors"], serde_json::json!({}), "{run}");
    assert_eq!(run["notes"], serde_json::json!([]), "{run}");
    for step in ["pay → PAID", "complete → COMPLETED", "whole flow"] {
        assert!(
            run["latencies"][step]["count"].as_u64().unwrap_or(0) >= completed,
            "{step} not measured for every completed flow: {run}"
        );
    }
}

#[test]
fn remote_targets_are_refused_unless_allowed() {
    let (ok, _, stderr) = metmos_load(&["chat", "--target", "http://192.0.2.10:8080", "--quiet"]);
    assert!(!ok);
    assert!(stderr.contains("not a loopback address"), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
}

#[test]
fn scenarios_that_need_the_engine_say_so_against_the_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = metmos_load(&[
        "rest",
        "--baseline",
        "--users",
        "2",
        "--listings",
        "1",
        "--quiet",
        "--out",
        dir.path().join("rest").to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("is this the engine?"), "{stderr}");
}

fn browser() -> PathBuf {
    if let Ok(p) = std::env::var("CHROME") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("no headless browser: scripts/test installs Debian's chromium (or set CHROME)");
}

/// Opens the report in headless chromium and reads the DOM after its scripts ran: the
/// report marks how many of its three charts have a drawn, non-empty SVG.
fn assert_charts_render(html: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            // No network is needed: any fetch would fail and show as missing charts.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            &format!("--user-data-dir={}", profile.path().display()),
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("the browser runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains(r#"data-charts-rendered="3""#),
        "charts not rendered; browser stderr:\n{}\nDOM head: {}",
        String::from_utf8_lossy(&out.stderr),
        &dom[..dom.len().min(600)]
    );
    assert!(dom.matches("<path d=\"M").count() >= 3, "no drawn lines");
}
