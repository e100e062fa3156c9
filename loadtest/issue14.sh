#!/usr/bin/env bash
# Every figure of issue 14's table, three runs each (median and spread), printed as the
# Markdown the README's "Performance" section quotes. Needs release builds and, for the
# PostgreSQL rows, the server on 127.0.0.1:5432 (each run makes and drops its database).
#
#   cargo build --release --workspace
#   loadtest/issue14.sh [ROW...] > issue14.md      # rows: chat pg conn rest rest200k
#
# The REST rows run with database.generic_plans on (the seeded tables are established
# before the clock starts; see the README). Run it on a quiet machine: the client, the engine and PostgreSQL share its cores, and
# anything else running shows up in every figure.
set -euo pipefail
cd "$(dirname "$0")/.."
L=target/release/metmos-load
E=target/release/metmos
PG=postgres://postgres@127.0.0.1:5432/postgres
R="python3 loadtest/repeat.py -n ${RUNS:-3}"
rows=("$@")
[[ ${#rows[@]} -gt 0 ]] || rows=(chat pg conn rest rest200k)

for row in "${rows[@]}"; do
  case $row in
    chat)
      $R --label "embedded, 20k msg/s" -- $L chat --compare --engine-bin $E --users 200 --rate 20000 --warmup 3s --duration 10s
      # Above what this machine carries too: the drain lets the client's queued sends finish.
      $R --label "embedded, 100k msg/s offered" -- $L chat --compare --engine-bin $E --users 200 --rate 100000 --warmup 3s --duration 10s --drain 30s
      # Overload: offered above what this machine's client and engine can carry. The
      # drain is long enough for the backlog the client could not send in the window.
      $R --label "embedded, 150k msg/s offered (overload)" -- $L chat --compare --engine-bin $E --users 200 --rate 150000 --warmup 3s --duration 10s --drain 30s
      ;;
    pg)
      for rate in 10000 20000; do
        $R --label "PostgreSQL, ${rate} msg/s" -- $L chat --compare --engine-bin $E --engine-postgres $PG --users 200 --rate $rate --warmup 3s --duration 10s
      done
      ;;
    conn)
      $R --label "idle sockets, engine" -- $L connections --engine-bin $E --connections 19500 --users 1950 --connect-rate 500 --duration 10s
      $R --label "idle sockets, baseline" -- $L connections --baseline --connections 19500 --users 1950 --connect-rate 500 --duration 10s
      ;;
    rest)
      for mix in search browse people chats history; do
        $R --label "PostgreSQL, $mix alone, 5,000 listings, 2,000 messages" -- $L rest --engine-bin $E --engine-postgres $PG --engine-env METMOS__DATABASE__GENERIC_PLANS=true --listings 5000 --chat-messages 2000 --workers 64 --mix $mix=100 --warmup 3s --duration 10s
      done
      ;;
    rest200k)
      for mix in chats history; do
        $R --label "PostgreSQL, $mix alone, 200,000 messages" -- $L rest --engine-bin $E --engine-postgres $PG --engine-env METMOS__DATABASE__GENERIC_PLANS=true --listings 500 --chat-messages 200000 --workers 64 --mix $mix=100 --warmup 3s --duration 10s
      done
      ;;
    *) echo "unknown row: $row (chat pg conn rest rest200k)" >&2; exit 2 ;;
  esac
done
