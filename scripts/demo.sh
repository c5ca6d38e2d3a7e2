#!/usr/bin/env bash
# make demo: the whole kx-events pipeline on this machine, with no AWS account.
#
#   scripts/demo.sh        install what is missing, start PostgreSQL and moto, build, apply
#                          terraform/examples/local against moto, run the local event-source-mapping
#                          runner with the real consumer `bootstrap`, tell the producer's story,
#                          read the subscriber's queue and the DLQ, print the summary; then stop
#                          what it started. The last line says whether every event is accounted
#                          for (exit status 0) or not (exit status 1).
#   scripts/demo.sh down   stop whatever a demo left running, drop its database, forget its state.
#
# Settings (environment): KX_DEMO_TIMEOUT_S (how long the reporter waits for the pipeline,
# default 120), KX_DEMO_KEEP=1 (leave moto and the runner's resources up after the summary),
# CARGO_TARGET_DIR (where cargo builds; default ./target).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state="$root/.state/demo"
example="$root/terraform/examples/local"
db_name=kx_demo
mkdir -p "$state"
# The resources' names carry a suffix kept with the Terraform state: should that state ever be
# lost while moto keeps its resources, the next run creates fresh ones instead of colliding.
[ -s "$state/name_prefix" ] || echo "kx-demo-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')" >"$state/name_prefix"
name_prefix=$(cat "$state/name_prefix")

if [ -t 1 ]; then bold=$'\033[1m'; dim=$'\033[2m'; red=$'\033[31m'; green=$'\033[32m'; off=$'\033[0m'
else bold=; dim=; red=; green=; off=; fi
started_at=$(date +%s)
step() { printf '\n%s==> %s%s %s(%ss)%s\n' "$bold" "$*" "$off" "$dim" "$(( $(date +%s) - started_at ))" "$off"; }
note() { printf '    %s\n' "$*"; }
die() { printf '%sdemo: %s%s\n' "$red" "$*" "$off" >&2; exit 1; }

runner_pid_file="$state/runner.pid"
moto_marker="$state/moto.started-by-demo"
tfstate="$state/terraform.tfstate"
export TF_DATA_DIR="$state/tf-data"
export TF_IN_AUTOMATION=1
# Terraform warns when TF_CLI_CONFIG_FILE/~/.terraformrc is missing: give it an empty one of ours.
[ -f "$state/terraformrc" ] || : >"$state/terraformrc"
export TF_CLI_CONFIG_FILE="$state/terraformrc"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_runner() {
  if alive "$runner_pid_file"; then
    local pid; pid=$(cat "$runner_pid_file")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$runner_pid_file"
}

moto_identity() { printf '%s pid %s' "${AWS_ENDPOINT_URL:-?}" "$(cat "$root/.state/moto.pid" 2>/dev/null || echo -)"; }

# Stops the moto server if a demo started it; its resources vanish with it, so does our state.
stop_moto_if_ours() {
  if [ -f "$moto_marker" ] && [ "$(cat "$moto_marker")" = "$(moto_identity)" ]; then
    scripts/services.sh down
    rm -f "$tfstate" "$tfstate.backup" "$state/moto.identity"
  fi
  rm -f "$moto_marker"
}

psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql "$KX_TEST_DATABASE_URL" -v ON_ERROR_STOP=1 -q "$@"; }

tf_vars() {
  printf '%s\n' -var "aws_endpoint_url=$AWS_ENDPOINT_URL" -var "region=$AWS_REGION" \
    -var "name_prefix=$name_prefix" -var "service_name=$name_prefix" \
    -var "db_host=$KX_PG_HOST" -var "db_port=$KX_PG_PORT" -var "db_name=$db_name" \
    -var "db_username=$KX_PG_USER" -var "db_password=$KX_PG_PASSWORD" \
    -var "consumer_package_path=$state/placeholder.zip"
}

down() {
  stop_runner
  if [ -f "$root/.state/env" ]; then
    # shellcheck disable=SC1091
    source "$root/.state/env"
    if pg_isready -q -h "$KX_PG_HOST" -p "$KX_PG_PORT" 2>/dev/null; then
      psql_admin -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    # A moto server the demo did not start keeps running: remove the demo's resources from it.
    if [ ! -f "$moto_marker" ] && [ -s "$tfstate" ] && alive "$root/.state/moto.pid" \
      && [ "$(cat "$state/moto.identity" 2>/dev/null)" = "$(moto_identity)" ]; then
      echo "demo: terraform destroy of the demo's resources in moto (the provider waits ~25 s per queue policy)"
      mapfile -t vars < <(tf_vars)
      terraform -chdir="$example" destroy -input=false -no-color -auto-approve -state="$tfstate" "${vars[@]}" \
        >"$root/.state/demo-destroy.log" 2>&1 || echo "demo: destroy failed (log: .state/demo-destroy.log); moto forgets everything when it stops"
    fi
    stop_moto_if_ours
  fi
  rm -rf "$state"
  echo "demo: stopped; state removed"
}

if [ "${1:-up}" = down ]; then down; exit 0; fi
[ "${1:-up}" = up ] || die "usage: $0 [up|down]"

# ---------------------------------------------------------------------------------------------
step "Checking tools"
command -v cargo >/dev/null || die "cargo is missing: install Rust from https://rustup.rs"
command -v python3 >/dev/null || die "python3 is missing (moto runs on it): apt-get install python3 python3-pip"
command -v terraform >/dev/null || die "terraform is missing: install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install)"
note "cargo $(cargo --version | cut -d' ' -f2), $(terraform version | head -1), python $(python3 -c 'import sys; print(sys.version.split()[0])')"

step "Starting PostgreSQL and the moto server (scripts/services.sh up)"
moto_was_up=0
if alive "$root/.state/moto.pid"; then moto_was_up=1; fi
scripts/services.sh up
# shellcheck disable=SC1091
source "$root/.state/env"
if [ "$moto_was_up" = 0 ]; then moto_identity >"$moto_marker"; fi
note "PostgreSQL on $KX_PG_HOST:$KX_PG_PORT, moto on $AWS_ENDPOINT_URL"
# Terraform state describes resources in one moto process: a new moto means a fresh start.
if [ "$(cat "$state/moto.identity" 2>/dev/null)" != "$(moto_identity)" ]; then
  rm -f "$tfstate" "$tfstate.backup"
  moto_identity >"$state/moto.identity"
fi

step "Building the consumer (bootstrap), the local runner and the demo producer (a first build takes minutes)"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin="$CARGO_TARGET_DIR/debug"
cargo build --quiet -p kx-events-consumer --bin bootstrap -p kx-events-local --bin kx-events-local \
  -p kx-events-demo --bin kx-events-demo -p kx-events-cli --bin kx
for b in bootstrap kx-events-local kx-events-demo kx; do [ -x "$bin/$b" ] || die "missing $bin/$b after the build"; done
note "$bin/{bootstrap,kx-events-local,kx-events-demo,kx}"

step "Creating the demo database $db_name"
psql_admin -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" -c "CREATE DATABASE $db_name" >/dev/null
note "postgres://$KX_PG_USER@$KX_PG_HOST:$KX_PG_PORT/$db_name (the consumer creates its tables at cold start)"

step "Applying terraform/examples/local against moto"
# moto stores the function's zip but never runs it (the runner runs bootstrap itself): any zip does.
# Byte-for-byte the same zip every run, so that a re-run does not update the function.
python3 - "$state/placeholder.zip" <<'PY'
import sys, zipfile
info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
info.external_attr = 0o755 << 16
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr(info, "#!/bin/sh\n# placeholder: the local runner runs the real bootstrap\nexit 1\n")
PY
init_args=(-input=false -no-color)
if [ -d /opt/tf-plugins ]; then init_args+=(-plugin-dir=/opt/tf-plugins); fi
terraform -chdir="$example" init "${init_args[@]}" >"$state/terraform-init.log" 2>&1 \
  || { tail -20 "$state/terraform-init.log"; die "terraform init failed (log: $state/terraform-init.log)"; }
mapfile -t vars < <(tf_vars)
note "(the AWS provider waits ~25 s on each SQS queue and queue policy: about 2.5 min from scratch)"
# Progress: one line per resource as Terraform finishes it; the whole output goes to the log.
set +e
terraform -chdir="$example" apply -input=false -no-color -auto-approve -state="$tfstate" "${vars[@]}" 2>&1 \
  | tee "$state/terraform-apply.log" | while IFS= read -r line; do
    case "$line" in
      *": Creation complete after "* | *": Modifications complete after "* | *": Destruction complete after "*)
        what=${line%%: *}; how=${line#*: }; how=${how%% \[id=*}; after=${how##* after }
        case "$how" in Creation*) how=created ;; Modifications*) how=updated ;; *) how=destroyed ;; esac
        printf '    %s%-72s %s after %s%s\n' "$dim" "$what" "$how" "$after" "$off" ;;
      "Apply complete!"*) note "$line" ;;
    esac
  done
apply_status=${PIPESTATUS[0]}
set -e
[ "$apply_status" = 0 ] \
  || { tail -30 "$state/terraform-apply.log"; die "terraform apply failed (log: $state/terraform-apply.log)"; }
terraform -chdir="$example" output -state="$tfstate" -json >"$state/outputs.json"

# Reads the outputs: shell variables, the consumer's environment file, the producer's.
eval "$(python3 - "$state/outputs.json" "$state" <<'PY'
import json, shlex, sys
out = {k: v["value"] for k, v in json.load(open(sys.argv[1])).items()}
state = sys.argv[2]
for key in ("queue_url", "dead_letter_queue_url", "subscriber_queue_url", "event_bus_name",
            "subscriber_rule_name", "consumer_batch_size",
            "consumer_maximum_batching_window_in_seconds"):
    print(f"tf_{key}={shlex.quote(str(out.get(key, '')))}")
with open(f"{state}/consumer.env", "w") as f:
    for k, v in sorted(out["consumer_environment"].items()):
        f.write(f"{k}={v}\n")
with open(f"{state}/producer.env", "w") as f:
    for k, v in sorted(out["producer_environment"].items()):
        f.write(f"{k}={v}\n")
PY
)"
note "events queue      $tf_queue_url"
note "dead-letter queue $tf_dead_letter_queue_url"
note "event bus         $tf_event_bus_name  →  rule $tf_subscriber_rule_name  →  $tf_subscriber_queue_url"
note "consumer environment (the module's consumer_environment output):"
sed 's/^/      /' "$state/consumer.env"

# A re-run against the same moto reuses the resources: start from empty queues.
python3 - "$tf_queue_url" "$tf_dead_letter_queue_url" "$tf_subscriber_queue_url" <<'PY'
import sys, boto3
sqs = boto3.client("sqs")
for url in sys.argv[1:]:
    sqs.purge_queue(QueueUrl=url)
PY

step "Starting the local event-source-mapping runner (kx-events-local run) with the real bootstrap"
stop_runner
trap stop_runner EXIT
{
  cat "$state/consumer.env"
  echo "AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL"
  echo "AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID"
  echo "AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY"
  echo "AWS_REGION=$AWS_REGION"
  echo "RUST_LOG=${RUST_LOG:-info}"
} >"$state/bootstrap.env"
runner_args=(run --queue-url "$tf_queue_url" --bootstrap "$bin/bootstrap" --env-file "$state/bootstrap.env"
  --idle-exit-s 600)
[ -n "$tf_consumer_batch_size" ] && runner_args+=(--batch-size "$tf_consumer_batch_size")
[ -n "$tf_consumer_maximum_batching_window_in_seconds" ] \
  && runner_args+=(--window-ms "$(( tf_consumer_maximum_batching_window_in_seconds * 1000 ))")
"$bin/kx-events-local" "${runner_args[@]}" >"$state/runner.log" 2>&1 &
echo $! >"$runner_pid_file"
note "kx-events-local ${runner_args[*]}"
note "pid $(cat "$runner_pid_file"), log $state/runner.log"

step "Producing the story (kx-events-demo produce)"
set -a
# shellcheck disable=SC1091
source "$state/producer.env"
set +a
# The consumer is the outbox that puts events on the bus; the producer's direct (real-time) put is
# left off so that the demo shows that path. Set KX_DEMO_REALTIME=1 to keep it.
[ "${KX_DEMO_REALTIME:-0}" = 1 ] || unset EVENT_BUS_NAME
"$bin/kx-events-demo" produce --manifest "$state/manifest.json" | sed 's/^/    /'
alive "$runner_pid_file" || { tail -30 "$state/runner.log"; die "the runner stopped (log: $state/runner.log)"; }

step "Watching the pipeline, then reading PostgreSQL, the subscriber's queue and the DLQ"
set +e
"$bin/kx-events-demo" report --manifest "$state/manifest.json" \
  --database-url "postgres://$KX_PG_USER:$KX_PG_PASSWORD@$KX_PG_HOST:$KX_PG_PORT/$db_name" \
  --subscriber-queue-url "$tf_subscriber_queue_url" --dead-letter-queue-url "$tf_dead_letter_queue_url" \
  --events-queue-url "$tf_queue_url" --runner-log "$state/runner.log" \
  --timeout-s "${KX_DEMO_TIMEOUT_S:-120}" | tee "$state/report.txt"
status=${PIPESTATUS[0]}
set -e

if [ "$status" = 0 ]; then
  step "Reading it back with the kx CLI (the query library the query API serves)"
  export KX_DATABASE_URL="postgres://$KX_PG_USER:$KX_PG_PASSWORD@$KX_PG_HOST:$KX_PG_PORT/$db_name"
  root_id=$(psql -tA "$KX_DATABASE_URL" -c "SELECT p.event_id FROM events p WHERE p.previous_event_id IS NULL
    AND EXISTS (SELECT 1 FROM events c WHERE c.previous_event_id = p.event_id) ORDER BY p.occurred_at LIMIT 1")
  {
    echo "\$ kx events --limit 5"; "$bin/kx" events --limit 5
    if [ -n "$root_id" ]; then echo "\$ kx chain $root_id"; "$bin/kx" chain "$root_id"; fi
    echo "\$ kx analytics"; "$bin/kx" analytics
  } 2>&1 | sed 's/^/    /' || { echo "    kx failed"; status=1; }
  unset KX_DATABASE_URL
fi

step "Stopping what the demo started"
stop_runner
note "the runner and its bootstrap: stopped (their log: $state/runner.log)"
stats=$(grep -E '^kx-events-local: ' "$state/runner.log" | tail -1 || true)
[ -n "$stats" ] && note "runner counters: ${stats#kx-events-local: }"
if [ "${KX_DEMO_KEEP:-0}" = 1 ]; then
  note "KX_DEMO_KEEP=1: moto and its resources stay up; make demo-down stops them"
else
  if [ -f "$moto_marker" ]; then
    note "moto server: stopped (the demo started it; its resources went with it)"
  else
    note "moto server: left running (it was up before the demo); the demo's resources stay in it for a"
    note "faster re-run (terraform state in $state)"
  fi
  stop_moto_if_ours
fi
note "database $db_name kept for a look: psql \"postgres://$KX_PG_USER:$KX_PG_PASSWORD@$KX_PG_HOST:$KX_PG_PORT/$db_name\" -c 'table events'"
note "make demo-down drops it and forgets the demo's state"
note "demo took $(( $(date +%s) - started_at )) s"

verdict=$(grep -E '^(ACCOUNTED|NOT ACCOUNTED)' "$state/report.txt" | tail -1)
echo
if [ "$status" = 0 ]; then
  printf '%s%s%s\n' "$green" "${verdict:-every event is accounted for}" "$off"
else
  printf '%s%s%s\n' "$red" "${verdict:-NOT ACCOUNTED: the report failed (status $status); see above}" "$off"
fi
exit "$status"
