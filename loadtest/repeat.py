#!/usr/bin/env python3
"""Runs one `metmos-load` command several times and prints the median of each figure with
its spread (min–max), as issue 14 asks ("run each figure at least three times and report
the median with the spread").

    loadtest/repeat.py [-n 3] [--label NAME] -- target/release/metmos-load chat --compare ...

Each run writes its own JSON report (`--out` is set here, under a temporary directory, and
`--quiet`); the figures are read from those reports, never from the terminal. The summary
is printed as Markdown, one line per target (engine, baseline) and figure, plus the exact
command, the date and the machine, ready for the README.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone

# The latency percentiles and counts worth a line; everything else stays in the reports.
PERCENTILES = ("p50_ms", "p99_ms", "max_ms")
COUNTS = ("lost", "duplicate", "out of order", "unacked", "closed", "late", "connected",
          "answered", "missing")
# The engine ÷ baseline ratios worth a line.
RATIOS = ("send→deliver p50", "send→deliver p99", "delivered/s", "server cpu")


def spread(values, unit=""):
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{fmt(med)}{unit}"
    return f"{fmt(med)}{unit} ({fmt(min(values))}–{fmt(max(values))})"


def fmt(v):
    if float(v).is_integer():
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def figures(run):
    """The figures of one run of one target, as name -> number."""
    out = {}
    main = run.get("main_latency")
    for name, summary in run.get("latencies", {}).items():
        if name != main and not name.startswith(("send", "GET", "POST", "connect", "ping")):
            continue
        for p in PERCENTILES:
            out[f"{name} {p[:-3]} (ms)"] = summary.get(p)
    for name, rate in run.get("throughput", {}).items():
        out[name] = rate
    # The harness's delivered/s counts the window's messages, deliveries during the
    # drain included. What was carried while the load was offered is every delivery
    # made during the window ("carried", whatever the message's schedule), per second.
    window = run.get("window_secs") or 0
    seconds = [t.get("rates", {}).get("carried", 0) for t in run.get("timeline", [])]
    seconds = seconds[: int(window)] if window else seconds
    if any(seconds):
        out["carried/s while offered (every delivery in the window)"] = sum(seconds) / len(seconds)
        out["carried in the window's slowest second"] = min(seconds)
    for name, n in run.get("counts", {}).items():
        if any(c in name for c in COUNTS):
            out[name] = n
    out["errors"] = sum(run.get("errors", {}).values())
    for key in ("server_cpu_pct", "client_cpu_pct"):
        if run.get(key) is not None:
            out[key.replace("_pct", " %")] = run[key]
    for name, v in run.get("extra", {}).items():
        out[name] = v
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=3, help="runs (default 3)")
    ap.add_argument("--label", default="", help="a heading for the summary")
    ap.add_argument("command", nargs=argparse.REMAINDER, help="-- metmos-load ...")
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("give the metmos-load command after --")
    tmp = tempfile.mkdtemp(prefix="metmos-repeat-")
    reports = []
    started = datetime.now(timezone.utc)
    for i in range(args.n):
        prefix = os.path.join(tmp, f"run{i}")
        print(f"[repeat] run {i + 1}/{args.n}: {' '.join(command)}", file=sys.stderr)
        done = subprocess.run(command + ["--quiet", "--out", prefix])
        if done.returncode != 0:
            sys.exit(f"[repeat] run {i + 1} failed (exit {done.returncode}); reports in {tmp}")
        with open(prefix + ".json") as f:
            reports.append(json.load(f))
    machine = reports[0].get("machine", {})
    print(f"### {args.label or ' '.join(command[1:3])}\n")
    print(f"`{' '.join(command)}`, {args.n} runs, median (min–max); "
          f"{started:%Y-%m-%d %H:%M} UTC, {machine.get('cpus')} × {machine.get('cpu_model')}, "
          f"kernel {machine.get('kernel')}; reports in `{tmp}`\n")
    targets = [r["target"] for r in reports[0]["runs"]]
    print("| figure | " + " | ".join(targets) + " |")
    print("|---|" + "---|" * len(targets))
    per_target = {t: [figures(next(r for r in rep["runs"] if r["target"] == t)) for rep in reports]
                  for t in targets}
    names = []
    for t in targets:
        for f in per_target[t]:
            for name in f:
                if name not in names:
                    names.append(name)
    for name in names:
        cells = [spread([f.get(name) for f in per_target[t]]) for t in targets]
        print(f"| {name} | " + " | ".join(cells) + " |")
    ratios = [rep.get("ratios", {}) for rep in reports]
    if any(ratios):
        print()
        for key in (k for k in ratios[0] if k in RATIOS):
            print(f"- engine ÷ baseline {key}: {spread([r.get(key) for r in ratios], '×')}")


if __name__ == "__main__":
    main()
