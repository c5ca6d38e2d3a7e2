#!/usr/bin/env bash
# Smoke test of the real arm64 artifact: unpacks the zip that `make package` built, runs its
# `bootstrap` under qemu-aarch64 behind the local Lambda Runtime API (kx-events-local), feeds it
# one SQS batch from a moto queue, and checks that the event was stored in PostgreSQL and
# deleted from the queue; then runs the query API's read-route test (tests/tests/query_api/read_routes.rs)
# against the arm64 `query` of target/lambda/query/bootstrap.zip under qemu. Needs
# `scripts/services.sh up` and `source .state/env` first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
: "${AWS_ENDPOINT_URL:?run scripts/services.sh up && source .state/env first}"
: "${KX_TEST_DATABASE_URL:?run scripts/services.sh up && source .state/env first}"
zip=target/lambda/bootstrap/bootstrap.zip
[ -f "$zip" ] || { echo "missing $zip: run make package" >&2; exit 1; }
qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64 || true)
[ -n "$qemu" ] || { echo "qemu-aarch64 not found: apt-get install qemu-user" >&2; exit 1; }
[ -d /usr/aarch64-linux-gnu/lib ] || { echo "arm64 libc not found: apt-get install libc6-arm64-cross" >&2; exit 1; }

work=$(mktemp -d /tmp/kx-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
python3 -m zipfile -e "$zip" "$work/fn"
chmod +x "$work/fn/bootstrap"
python3 -c 'import sys; h=open(sys.argv[1],"rb").read(20); sys.exit(0 if h[:4]==b"\x7fELF" and int.from_bytes(h[18:20],"little")==183 else 1)' "$work/fn/bootstrap" \
  || { echo "bootstrap in $zip is not an arm64 (aarch64) ELF binary" >&2; exit 1; }

suffix=$(date +%s)-$$
db="kx_smoke_${suffix//-/_}"
psql -q "$KX_TEST_DATABASE_URL" -c "CREATE DATABASE $db" >/dev/null
cleanup_db() { psql -q "$KX_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true; rm -rf "$work"; }
trap cleanup_db EXIT

event_id=$(python3 -c 'import uuid; print(uuid.uuid4())')
python3 - "$suffix" "$event_id" "$work/env" <<'PY'
import json, os, sys, boto3
suffix, event_id, env_path = sys.argv[1:]
kw = dict(endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
sqs, events, sm = boto3.client("sqs", **kw), boto3.client("events", **kw), boto3.client("secretsmanager", **kw)
dlq = sqs.create_queue(QueueName=f"smoke-dlq-{suffix}")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
q = sqs.create_queue(QueueName=f"smoke-q-{suffix}", Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "3"})})["QueueUrl"]
bus = events.create_event_bus(Name=f"smoke-bus-{suffix}")["EventBusArn"].split("/")[-1]
secret = sm.create_secret(Name=f"smoke-db-{suffix}", SecretString=json.dumps(
    {"username": os.environ["KX_PG_USER"], "password": os.environ["KX_PG_PASSWORD"]}))["ARN"]
sqs.send_message(QueueUrl=q, MessageBody=json.dumps({
    "eventId": event_id, "clientId": "smoke", "previousEventId": None, "entityType": "smoke",
    "eventType": "arm64_checked", "occurredAt": "2024-01-15T10:30:00.000Z"}))
with open(env_path, "w") as f:
    f.write(f"QUEUE_URL={q}\nDB_SECRET_ARN={secret}\nEVENT_BUS_NAME={bus}\nDEAD_LETTER_QUEUE_URL={dlq}\n")
PY
queue_url=$(grep '^QUEUE_URL=' "$work/env" | cut -d= -f2-)
sed -i '/^QUEUE_URL=/d' "$work/env"
cat >>"$work/env" <<ENV
DB_HOST=${KX_PG_HOST:-127.0.0.1}
DB_PORT=${KX_PG_PORT:-5432}
DB_NAME=$db
DB_SSLMODE=require
MAX_RECEIVE_COUNT=3
ENV

local_bin=${CARGO_TARGET_DIR:-$root/target}/debug/kx-events-local
[ -x "$local_bin" ] || cargo build -q -p kx-events-local --bin kx-events-local
echo "[smoke] running the arm64 bootstrap under $qemu"
"$local_bin" run --queue-url "$queue_url" --bootstrap "$work/fn/bootstrap" \
  --wrapper "$qemu -L /usr/aarch64-linux-gnu" --init-timeout-s 120 --timeout-s 120 \
  --env-file "$work/env" --batch-size 10 --window-ms 200 --idle-exit-s 3 | tee "$work/stats"

stored=$(psql -tA "${KX_TEST_DATABASE_URL%/*}/$db" -c "SELECT count(*) FROM events WHERE event_id = '$event_id' AND published_at IS NOT NULL")
if [ "$stored" != 1 ]; then
  echo "[smoke] FAILED: event $event_id was not stored and published by the arm64 bootstrap" >&2
  exit 1
fi
echo "[smoke] OK: the arm64 bootstrap stored and published event $event_id"

query_zip=target/lambda/query/bootstrap.zip
[ -f "$query_zip" ] || { echo "missing $query_zip: run make package" >&2; exit 1; }
python3 -m zipfile -e "$query_zip" "$work/query"
chmod +x "$work/query/bootstrap"
python3 -c 'import sys; h=open(sys.argv[1],"rb").read(20); sys.exit(0 if h[:4]==b"\x7fELF" and int.from_bytes(h[18:20],"little")==183 else 1)' "$work/query/bootstrap" \
  || { echo "bootstrap in $query_zip is not an arm64 (aarch64) ELF binary" >&2; exit 1; }
echo "[smoke] running the arm64 query API under $qemu (every read route)"
KX_QUERY_BOOTSTRAP="$work/query/bootstrap" KX_QUERY_WRAPPER="$qemu -L /usr/aarch64-linux-gnu" \
  cargo test -q -p kx-events-tests --test query_api every_read_route_answers_through_the_real_binary
echo "[smoke] OK: the arm64 query API answered every read route"
