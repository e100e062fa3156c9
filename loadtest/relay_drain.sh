#!/usr/bin/env bash
# How fast the outbox relay drains a backlog to RabbitMQ: N `message.sent` rows are
# inserted by SQL into a fresh database, then the engine starts with a scratch vhost and
# the clock runs until the outbox is empty. Nothing else runs, so the figure is the
# relay's (and the broker's) own. Needs PostgreSQL and RabbitMQ on their usual ports and
# rabbitmqctl; makes and drops its database and vhost.
#
#   cargo build --release -p metmos-http
#   loadtest/relay_drain.sh [N=100000] [ENGINE_BIN=target/release/metmos]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
BIN=${2:-target/release/metmos}
DB=metmos_relay_drain_$$
VHOST=metmos-relay-drain-$$
psql() { command psql -qtA -h 127.0.0.1 -U postgres "$@"; }
cleanup() {
  [[ -n "${PID:-}" ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  psql -c "DROP DATABASE IF EXISTS $DB" postgres >/dev/null
  rabbitmqctl delete_vhost "$VHOST" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql -c "CREATE DATABASE $DB" postgres >/dev/null
rabbitmqctl add_vhost "$VHOST" >/dev/null
rabbitmqctl set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null
URL=postgres://postgres@127.0.0.1:5432/$DB
METMOS__DATABASE__URL=$URL "$BIN" migrate >/dev/null 2>&1
psql "$DB" -c "INSERT INTO outbox (event_id, event_type, payload, occurred_at)
  SELECT e, 'message.sent', jsonb_build_object('eventId', e, 'type', 'message.sent',
    'occurredAt', '2026-12-07T10:00:00.000Z', 'data', jsonb_build_object(
      'messageUuid', gen_random_uuid(), 'chatUuid', gen_random_uuid(),
      'senderPersonUuid', gen_random_uuid(), 'assetCount', 0)), now()
  FROM (SELECT gen_random_uuid() AS e FROM generate_series(1, $N)) g" >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start=$(date +%s.%N)
METMOS__DATABASE__URL=$URL METMOS__AMQP__URL="amqp://guest:guest@127.0.0.1:5672/$VHOST" \
  METMOS__HTTP__PORT=$PORT METMOS__LOG__FILTER=warn "$BIN" >/dev/null 2>&1 &
PID=$!
until [[ "$(psql "$DB" -c 'SELECT count(*) = 0 FROM outbox')" == "t" ]]; do sleep 0.1; done
end=$(date +%s.%N)
queued=$(rabbitmqctl list_queues -p "$VHOST" name messages 2>/dev/null | awk '$1=="metmos.unrouted"{print $2}')
python3 -c "n=$N; s=$end-$start; print(f'{n} events drained in {s:.2f} s ({n/s:,.0f} events/s, engine start included); metmos.unrouted holds $queued')"
