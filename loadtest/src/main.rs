//! `metmos-load`: see `metmos-load --help` and the README's "Performance" section.

use anyhow::Context;
use clap::Parser;
use metmos_load::cli::{Cli, Command, Common};
use metmos_load::progress::Progress;
use metmos_load::report::{self, Machine, Report, Run};
use metmos_load::scenario::{chat, connections, rest, trade};
use metmos_load::target::Target;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("metmos-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metmos-load: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::BaselineServer(a) => {
            let listener = tokio::net::TcpListener::bind((a.host, a.port))
                .await
                .with_context(|| format!("binding {}:{}", a.host, a.port))?;
            metmos_load::procinfo::raise_nofile_limit();
            // The parent reads this line to learn the port.
            println!("listening on {}", listener.local_addr()?);
            std::io::stdout().flush()?;
            metmos_load::baseline::serve(listener, a.queue as usize).await?;
            Ok(())
        }
        Command::Chat(a) => {
            let progress = Progress::new(a.common.quiet);
            let params = params(&[
                ("users", a.users.into()),
                ("group_size", a.group_size.into()),
                ("rate", a.rate.into()),
                ("message_bytes", a.message_bytes.into()),
            ]);
            if a.compare {
                // The baseline first, then the engine: same scenario, same machine, one run.
                let b = Target::baseline(None).await?;
                let base = chat::run(&b, &a, &progress).await;
                b.stop().await;
                let base = base?;
                let e = Target::engine(&a.common, &chat::engine_env(&a)).await?;
                let eng = chat::run(&e, &a, &progress).await;
                e.stop().await;
                let eng = eng?;
                let ratios = report::ratios(&eng, &base);
                finish(&a.common, "chat", params, vec![eng, base], ratios)
            } else {
                let t = target(&a.common, &chat::engine_env(&a)).await?;
                let r = chat::run(&t, &a, &progress).await;
                t.stop().await;
                finish(&a.common, "chat", params, vec![r?], BTreeMap::new())
            }
        }
        Command::Connections(a) => {
            let progress = Progress::new(a.common.quiet);
            let params = params(&[
                ("connections", a.connections.into()),
                ("users", a.users.into()),
                ("connect_rate", a.connect_rate.into()),
                ("ping_sample", a.ping_sample.into()),
            ]);
            let t = target(&a.common, &connections::engine_env(&a)).await?;
            let r = connections::run(&t, &a, &progress).await;
            t.stop().await;
            finish(&a.common, "connections", params, vec![r?], BTreeMap::new())
        }
        Command::Rest(a) => {
            let progress = Progress::new(a.common.quiet);
            let params = params(&[
                ("listings", a.listings.into()),
                ("users", a.users.into()),
                ("rate", a.rate.map_or(Value::Null, Value::from)),
                (
                    "workers",
                    if a.rate.is_some() {
                        Value::Null
                    } else {
                        a.workers.into()
                    },
                ),
                ("mix", format!("{:?}", a.mix).into()),
            ]);
            let t = target(&a.common, &rest::engine_env(&a)).await?;
            let r = rest::run(&t, &a, &progress).await;
            t.stop().await;
            finish(&a.common, "rest", params, vec![r?], BTreeMap::new())
        }
        Command::Trade(a) => {
            let progress = Progress::new(a.common.quiet);
            let params = params(&[("vus", a.vus.into())]);
            let t = target(&a.common, &trade::engine_env(&a)).await?;
            let r = trade::run(&t, &a, &progress).await;
            t.stop().await;
            finish(&a.common, "trade", params, vec![r?], BTreeMap::new())
        }
    }
}

/// The baseline server with `--baseline`, else the engine (started or at --target).
async fn target(common: &Common, env: &[(&str, String)]) -> anyhow::Result<Target> {
    if common.baseline {
        Target::baseline(None).await
    } else {
        Target::engine(common, env).await
    }
}

fn params(kv: &[(&str, Value)]) -> BTreeMap<String, Value> {
    kv.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn finish(
    common: &Common,
    scenario: &str,
    mut params: BTreeMap<String, Value>,
    runs: Vec<Run>,
    ratios: BTreeMap<String, f64>,
) -> anyhow::Result<()> {
    params.insert("warmup_secs".into(), common.warmup.as_secs_f64().into());
    params.insert("window_secs".into(), common.duration.as_secs_f64().into());
    params.insert("drain_secs".into(), common.drain.as_secs_f64().into());
    let r = Report {
        tool: format!("metmos-load {}", env!("CARGO_PKG_VERSION")),
        scenario: scenario.to_string(),
        started_at: report::now_rfc3339(),
        command: report::command_line(),
        machine: Machine::current(),
        params,
        runs,
        ratios,
        notes: vec![
            "figures from a shared machine are noisy: read the engine beside the baseline of the same run (chat --compare), not as absolute times".into(),
        ],
    };
    print!("{}", report::table(&r));
    let (json, html) = report::write(&r, &common.out)
        .with_context(|| format!("writing the reports at {}", common.out.display()))?;
    println!("\nreports: {} and {}", json.display(), html.display());
    Ok(())
}
