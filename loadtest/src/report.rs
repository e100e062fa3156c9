//! What a run reports: the summary table on stdout, a JSON report, and a self-contained HTML
//! report (data inlined, charts drawn as SVG by an inlined script: no network needed).

use crate::stats::{Snapshot, Summary, TimelinePoint};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: String,
    pub scenario: String,
    pub started_at: String,
    pub command: String,
    pub machine: Machine,
    pub params: BTreeMap<String, Value>,
    pub runs: Vec<Run>,
    /// engine ÷ baseline for each figure both runs have (`chat --compare`).
    pub ratios: BTreeMap<String, f64>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub hostname: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
}

impl Machine {
    pub fn current() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Machine {
            hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: read("/proc/cpuinfo")
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
                .unwrap_or_default(),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        }
    }
}

/// One scenario run against one target.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// "engine" or "baseline".
    pub target: String,
    pub url: String,
    pub settings: BTreeMap<String, String>,
    pub window_secs: f64,
    /// The latency the charts over time show.
    pub main_latency: String,
    pub latencies: BTreeMap<String, Summary>,
    pub distributions: BTreeMap<String, Vec<(f64, f64)>>,
    /// Events per second over the window.
    pub throughput: BTreeMap<String, f64>,
    pub counts: BTreeMap<String, u64>,
    pub errors: BTreeMap<String, u64>,
    /// Percent of one core, over the window.
    pub client_cpu_pct: Option<f64>,
    pub server_cpu_pct: Option<f64>,
    /// Other figures (memory, per-connection cost).
    pub extra: BTreeMap<String, f64>,
    pub timeline: Vec<TimelinePoint>,
    pub notes: Vec<String>,
}

impl Run {
    /// A run from what the recorder holds; throughput is each timed count over the window.
    pub fn from_snapshot(
        target: &str,
        url: &str,
        settings: BTreeMap<String, String>,
        window_secs: f64,
        main_latency: &str,
        snap: Snapshot,
    ) -> Self {
        let w = window_secs.max(1e-9);
        Run {
            target: target.to_string(),
            url: url.to_string(),
            settings,
            window_secs,
            main_latency: main_latency.to_string(),
            latencies: snap
                .latencies
                .iter()
                .map(|(k, v)| (k.clone(), v.summary()))
                .collect(),
            distributions: snap
                .latencies
                .iter()
                .map(|(k, v)| (k.clone(), v.distribution()))
                .collect(),
            // Rates of the series counted over time (delivered, acked, requests...), not of
            // judgements made at the end (lost, late sends), which read better as counts.
            throughput: snap
                .counts
                .iter()
                .filter(|(k, _)| snap.timeline.iter().any(|t| t.rates.contains_key(*k)))
                .map(|(k, v)| (format!("{k}/s"), *v as f64 / w))
                .collect(),
            counts: snap.counts,
            errors: snap.errors,
            client_cpu_pct: None,
            server_cpu_pct: None,
            extra: BTreeMap::new(),
            // The window's whole seconds only: a drain second is partial and would read as
            // a collapse of throughput.
            timeline: snap
                .timeline
                .into_iter()
                .filter(|t| (t.t as f64) < window_secs.ceil())
                .collect(),
            notes: Vec::new(),
        }
    }
}

/// engine ÷ baseline for every latency percentile, throughput and CPU figure both have.
pub fn ratios(engine: &Run, baseline: &Run) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut put = |k: String, e: f64, b: f64| {
        if b > 0.0 && e.is_finite() {
            out.insert(k, e / b);
        }
    };
    for (k, e) in &engine.latencies {
        if let Some(b) = baseline.latencies.get(k) {
            put(format!("{k} p50"), e.p50_ms, b.p50_ms);
            put(format!("{k} p99"), e.p99_ms, b.p99_ms);
            put(format!("{k} max"), e.max_ms, b.max_ms);
        }
    }
    for (k, e) in &engine.throughput {
        if let Some(b) = baseline.throughput.get(k) {
            put(k.clone(), *e, *b);
        }
    }
    if let (Some(e), Some(b)) = (engine.server_cpu_pct, baseline.server_cpu_pct) {
        put("server cpu".into(), e, b);
    }
    if let (Some(e), Some(b)) = (engine.client_cpu_pct, baseline.client_cpu_pct) {
        put("client cpu".into(), e, b);
    }
    out
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The summary table, as printed at the end of a run.
pub fn table(r: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nmetmos-load {} on {} ({} cpus, {}), {}",
        r.scenario, r.machine.hostname, r.machine.cpus, r.machine.cpu_model, r.started_at
    );
    for run in &r.runs {
        let _ = writeln!(
            s,
            "\n== {} ({}), window {:.1}s",
            run.target, run.url, run.window_secs
        );
        for (k, v) in &run.settings {
            let _ = writeln!(s, "   setting  {k} = {v}");
        }
        let _ = writeln!(
            s,
            "   {:<34} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  (ms)",
            "latency", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        for (k, l) in &run.latencies {
            let _ = writeln!(
                s,
                "   {:<34} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
                k,
                l.count,
                ms(l.p50_ms),
                ms(l.p90_ms),
                ms(l.p99_ms),
                ms(l.p999_ms),
                ms(l.max_ms)
            );
        }
        for (k, v) in &run.throughput {
            let _ = writeln!(s, "   {k:<34} {v:>10.1}");
        }
        for (k, v) in &run.counts {
            let _ = writeln!(s, "   {:<34} {v:>10}", format!("{k} (count)"));
        }
        if run.errors.is_empty() {
            let _ = writeln!(s, "   {:<34} {:>10}", "errors", 0);
        }
        for (k, v) in &run.errors {
            let _ = writeln!(s, "   {:<34} {v:>10}", format!("error: {k}"));
        }
        let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{v:.0}%"));
        let _ = writeln!(
            s,
            "   {:<34} client {}  server {}",
            "cpu (% of one core)",
            pct(run.client_cpu_pct),
            pct(run.server_cpu_pct)
        );
        for (k, v) in &run.extra {
            let _ = writeln!(s, "   {k:<34} {v:>10.1}");
        }
        for n in &run.notes {
            let _ = writeln!(s, "   note: {n}");
        }
    }
    if !r.ratios.is_empty() {
        let _ = writeln!(s, "\n== engine ÷ baseline (same machine, same run)");
        for (k, v) in &r.ratios {
            let _ = writeln!(s, "   {k:<32} {v:>8.2}×");
        }
    }
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    s
}

/// Writes PREFIX.json and PREFIX.html; answers their paths.
pub fn write(r: &Report, prefix: &Path) -> std::io::Result<(PathBuf, PathBuf)> {
    let json_path = prefix.with_extension("json");
    let html_path = prefix.with_extension("html");
    if let Some(dir) = json_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_string_pretty(r).map_err(std::io::Error::other)?;
    std::fs::write(&json_path, json)?;
    std::fs::write(&html_path, html(r))?;
    Ok((json_path, html_path))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML report: tables rendered here (readable without scripts), charts drawn by the
/// inlined script from the inlined JSON.
pub fn html(r: &Report) -> String {
    // `</` inside a script element would end it: JSON allows escaping the slash.
    let data = serde_json::to_string(r)
        .unwrap_or_else(|_| "{}".into())
        .replace("</", "<\\/");
    let mut tables = String::new();
    for run in &r.runs {
        let _ = write!(
            tables,
            "<section><h2>{} <small>{}</small></h2><table><tr><th>latency (ms)</th><th>count</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>",
            esc(&run.target),
            esc(&run.url)
        );
        for (k, l) in &run.latencies {
            let _ = write!(
                tables,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(k),
                l.count,
                ms(l.p50_ms),
                ms(l.p90_ms),
                ms(l.p99_ms),
                ms(l.p999_ms),
                ms(l.max_ms)
            );
        }
        tables.push_str("</table><table><tr><th>figure</th><th>value</th></tr>");
        let mut row = |k: &str, v: String| {
            let _ = write!(tables, "<tr><td>{}</td><td>{}</td></tr>", esc(k), esc(&v));
        };
        for (k, v) in &run.throughput {
            row(k, format!("{v:.1}"));
        }
        for (k, v) in &run.counts {
            row(&format!("{k} (count)"), v.to_string());
        }
        for (k, v) in &run.errors {
            row(&format!("error: {k}"), v.to_string());
        }
        row(
            "client cpu (% of one core)",
            run.client_cpu_pct
                .map_or("n/a".into(), |v| format!("{v:.0}")),
        );
        row(
            "server cpu (% of one core)",
            run.server_cpu_pct
                .map_or("n/a".into(), |v| format!("{v:.0}")),
        );
        for (k, v) in &run.extra {
            row(k, format!("{v:.1}"));
        }
        for (k, v) in &run.settings {
            row(&format!("setting {k}"), v.clone());
        }
        tables.push_str("</table>");
        for n in &run.notes {
            let _ = write!(tables, "<p class=note>{}</p>", esc(n));
        }
        tables.push_str("</section>");
    }
    if !r.ratios.is_empty() {
        tables.push_str("<section><h2>engine ÷ baseline</h2><table>");
        for (k, v) in &r.ratios {
            let _ = write!(tables, "<tr><td>{}</td><td>{v:.2}×</td></tr>", esc(k));
        }
        tables.push_str("</table></section>");
    }
    let notes: String = r
        .notes
        .iter()
        .map(|n| format!("<p class=note>{}</p>", esc(n)))
        .collect();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>metmos-load {scenario} {started}</title>
<style>
body{{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1d2330;max-width:1100px}}
h1{{font-size:20px}} h2{{font-size:16px;margin-top:28px}} small{{color:#667;font-weight:normal}}
table{{border-collapse:collapse;margin:8px 0}} td,th{{padding:3px 10px;border-bottom:1px solid #e3e6ee;text-align:right}}
td:first-child,th:first-child{{text-align:left}} .note{{color:#8a5a00}}
.chart{{border:1px solid #e3e6ee;border-radius:6px;margin:10px 0;background:#fff}}
.meta{{color:#556}}
</style></head>
<body>
<h1>metmos-load {scenario}</h1>
<p class=meta>{started} · {host} · {cpus} cpus · {cpu} · <code>{command}</code></p>
{notes}
<h2>Latency distribution</h2><svg id="chart-distribution" class="chart" width="1000" height="320"></svg>
<h2>Throughput over time</h2><svg id="chart-throughput" class="chart" width="1000" height="320"></svg>
<h2>Latency over time (p50, p99)</h2><svg id="chart-latency" class="chart" width="1000" height="320"></svg>
{tables}
<script id="report-data" type="application/json">{data}</script>
<script>
(function(){{
var R=JSON.parse(document.getElementById('report-data').textContent);
var NS='http://www.w3.org/2000/svg', COLORS=['#2563eb','#dc2626','#059669','#d97706','#7c3aed','#0891b2','#be185d','#4d7c0f'];
function el(n,a,p){{var e=document.createElementNS(NS,n);for(var k in a)e.setAttribute(k,a[k]);if(p)p.appendChild(e);return e;}}
function text(p,x,y,s,anchor){{var t=el('text',{{x:x,y:y,'font-size':11,fill:'#445','text-anchor':anchor||'start'}},p);t.textContent=s;return t;}}
function fmt(v){{return Math.abs(v)>=100?v.toFixed(0):Math.abs(v)>=10?v.toFixed(1):v.toFixed(2);}}
function chart(id,series,xlabel,ylabel,xfmt){{
  var svg=document.getElementById(id);var W=+svg.getAttribute('width'),H=+svg.getAttribute('height');
  var L=60,Rm=190,T=14,B=36,pw=W-L-Rm,ph=H-T-B;
  var pts=[];series.forEach(function(s){{pts=pts.concat(s.points);}});
  if(!pts.length){{text(svg,W/2,H/2,'no data','middle');return;}}
  var x0=Math.min.apply(null,pts.map(function(p){{return p[0];}})),x1=Math.max.apply(null,pts.map(function(p){{return p[0];}}));
  var y1=Math.max.apply(null,pts.map(function(p){{return p[1];}}));if(x1===x0)x1=x0+1;if(!(y1>0))y1=1;y1*=1.08;
  var sx=function(x){{return L+(x-x0)/(x1-x0)*pw;}},sy=function(y){{return T+ph-(y/y1)*ph;}};
  for(var i=0;i<=4;i++){{var yv=y1*i/4;el('line',{{x1:L,x2:L+pw,y1:sy(yv),y2:sy(yv),stroke:'#eef0f5'}},svg);text(svg,L-6,sy(yv)+4,fmt(yv),'end');}}
  for(var j=0;j<=5;j++){{var xv=x0+(x1-x0)*j/5;text(svg,sx(xv),T+ph+16,xfmt?xfmt(xv):fmt(xv),'middle');}}
  el('line',{{x1:L,x2:L,y1:T,y2:T+ph,stroke:'#99a'}},svg);el('line',{{x1:L,x2:L+pw,y1:T+ph,y2:T+ph,stroke:'#99a'}},svg);
  text(svg,L+pw/2,H-4,xlabel,'middle');var yl=text(svg,12,T+ph/2,ylabel,'middle');yl.setAttribute('transform','rotate(-90 12 '+(T+ph/2)+')');
  series.forEach(function(s,k){{
    if(!s.points.length)return;var c=COLORS[k%COLORS.length];
    var d=s.points.map(function(p,i){{return (i?'L':'M')+sx(p[0]).toFixed(1)+' '+sy(p[1]).toFixed(1);}}).join(' ');
    el('path',{{d:d,fill:'none',stroke:c,'stroke-width':2,'stroke-dasharray':s.dash||''}},svg);
    el('rect',{{x:L+pw+12,y:T+k*16,width:10,height:10,fill:c}},svg);text(svg,L+pw+26,T+k*16+9,s.name);
  }});
}}
// Percentiles on a log scale of 1/(1-p): the tail gets the room it deserves.
function nines(p){{return -Math.log10(Math.max(1e-6,1-p/100));}}
var dist=[],thr=[],lat=[];
R.runs.forEach(function(run){{
  var d=run.distributions[run.main_latency]||[];
  dist.push({{name:run.target+' '+run.main_latency,points:d.map(function(q){{return [nines(q[0]),q[1]];}})}});
  var names={{}};run.timeline.forEach(function(t){{for(var k in t.rates)names[k]=1;}});
  Object.keys(names).forEach(function(k){{thr.push({{name:run.target+' '+k+'/s',points:run.timeline.map(function(t){{return [t.t,t.rates[k]||0];}})}});}});
  lat.push({{name:run.target+' p50',points:run.timeline.map(function(t){{return [t.t,t.p50_ms];}})}});
  lat.push({{name:run.target+' p99',dash:'5 3',points:run.timeline.map(function(t){{return [t.t,t.p99_ms];}})}});
}});
chart('chart-distribution',dist,'percentile','ms',function(x){{return (100-100*Math.pow(10,-x)).toPrecision(x>3?6:3)+'%';}});
chart('chart-throughput',thr,'seconds into the window','per second');
chart('chart-latency',lat,'seconds into the window','ms');
var ok=0;['chart-distribution','chart-throughput','chart-latency'].forEach(function(id){{
  var svg=document.getElementById(id),b=svg.getBBox(),paths=svg.querySelectorAll('path');
  if(b.width>0&&b.height>0&&paths.length>0)ok++;}});
document.documentElement.setAttribute('data-charts-rendered',String(ok));
}})();
</script>
</body></html>
"#,
        scenario = esc(&r.scenario),
        started = esc(&r.started_at),
        host = esc(&r.machine.hostname),
        cpus = r.machine.cpus,
        cpu = esc(&r.machine.cpu_model),
        command = esc(&r.command),
        notes = notes,
        tables = tables,
        data = data,
    )
}

/// The command line as typed, for the report.
pub fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Recorder;
    use std::time::Duration;

    pub(crate) fn sample_report() -> Report {
        let mk = |label: &str, base_ms: u64| {
            let rec = Recorder::new();
            for s in 0..5u64 {
                for i in 0..100u64 {
                    rec.latency(
                        "send→deliver",
                        Duration::from_micros(base_ms * 1000 + i * 37),
                        Some(s),
                    );
                    rec.count("delivered", 1, Some(s));
                }
            }
            rec.error("ws error frame 429", Some(2));
            let mut run = Run::from_snapshot(
                label,
                "http://127.0.0.1:1",
                BTreeMap::from([("ws.burst".to_string(), "40".to_string())]),
                5.0,
                "send→deliver",
                rec.snapshot(),
            );
            run.server_cpu_pct = Some(base_ms as f64 * 10.0);
            run.client_cpu_pct = Some(20.0);
            run
        };
        let (e, b) = (mk("engine", 4), mk("baseline", 1));
        Report {
            tool: "metmos-load test".into(),
            scenario: "chat".into(),
            started_at: now_rfc3339(),
            command: "metmos-load chat --compare </script>".into(),
            machine: Machine::current(),
            params: BTreeMap::from([("rate".to_string(), Value::from(100))]),
            ratios: ratios(&e, &b),
            runs: vec![e, b],
            notes: vec!["a <note>".into()],
        }
    }

    #[test]
    fn runs_carry_throughput_over_the_window_and_ratios_divide_engine_by_baseline() {
        let r = sample_report();
        let e = &r.runs[0];
        assert_eq!(e.counts["delivered"], 500);
        assert_eq!(e.throughput["delivered/s"], 100.0);
        assert_eq!(e.errors["ws error frame 429"], 1);
        assert_eq!(e.timeline.len(), 5);
        assert_eq!(r.ratios["delivered/s"], 1.0);
        assert_eq!(r.ratios["server cpu"], 4.0);
        let p50 = r.ratios["send→deliver p50"];
        assert!(p50 > 2.0 && p50 < 4.0, "{p50}");
    }

    #[test]
    fn the_table_shows_percentiles_errors_cpu_and_ratios() {
        let t = table(&sample_report());
        assert!(t.contains("send→deliver"), "{t}");
        assert!(t.contains("error: ws error frame 429"), "{t}");
        assert!(t.contains("client 20%  server 40%"), "{t}");
        assert!(t.contains("engine ÷ baseline"), "{t}");
        assert!(t.contains("setting  ws.burst = 40"), "{t}");
    }

    #[test]
    fn the_json_and_html_reports_are_written_and_self_contained() {
        let dir = tempfile::tempdir().unwrap();
        let (j, h) = write(&sample_report(), &dir.path().join("sub/run1")).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(j).unwrap()).unwrap();
        assert_eq!(v["scenario"], "chat");
        assert_eq!(v["runs"][0]["latencies"]["send→deliver"]["count"], 500);
        assert_eq!(v["runs"][1]["target"], "baseline");
        assert!(v["ratios"]["server cpu"].as_f64().unwrap() > 3.9);
        let html = std::fs::read_to_string(h).unwrap();
        // No fetches of anything: everything inline.
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "external resource"
        );
        // Text from the report cannot break out of the script or the markup.
        assert!(!html.contains("--compare </script>"));
        assert!(html.contains("a &lt;note&gt;"));
        assert_eq!(html.matches("<svg id=\"chart-").count(), 3);
    }
}
