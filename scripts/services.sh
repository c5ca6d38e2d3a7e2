#!/usr/bin/env bash
# Starts (idempotently) the local services kx-events needs for tests, the demo and benchmarks:
#   - PostgreSQL (the machine's `main` cluster of the newest installed major version, 15 on Debian
#     12; installed when absent) with a password role over TCP on 127.0.0.1
#   - a moto server (SQS, EventBridge, Secrets Manager, SSM, ...) on 127.0.0.1
# and writes their settings to .state/env, which callers `source`.
#
#   scripts/services.sh up      install what is missing, start, write .state/env
#   scripts/services.sh down    stop the moto server this script started
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="$root/.state"
mkdir -p "$state"

PG_USER=${KX_PG_USER:-kx}
PG_PASSWORD=${KX_PG_PASSWORD:-kx}
PG_PORT=${KX_PG_PORT:-5432}
pg_version() {
  local newest
  newest=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | sed 's|/usr/lib/postgresql/||; s|/bin/postgres||' | sort -n | tail -1 || true)
  echo "${KX_PG_VERSION:-${newest:-15}}"
}
MOTO_PORT_FILE="$state/moto.port"

log() { printf '[services] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

install_postgres() {
  if ! command -v pg_ctlcluster >/dev/null || [ ! -x "/usr/lib/postgresql/$(pg_version)/bin/postgres" ]; then
    log "installing PostgreSQL"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql postgresql-client >/dev/null
  fi
  PG_VERSION=$(pg_version)
  if ! pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" '$1==v && $2=="main"' | grep -q .; then
    as_root pg_createcluster "$PG_VERSION" main >/dev/null
  fi
}

start_postgres() {
  if ! pg_lsclusters -h | awk -v v="$PG_VERSION" '$1==v && $2=="main" {print $4}' | grep -q online; then
    log "starting PostgreSQL $PG_VERSION"
    as_root pg_ctlcluster "$PG_VERSION" main start
  fi
  for _ in $(seq 1 50); do
    pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break
    sleep 0.2
  done
  as_root runuser -u postgres -- psql -q -p "$PG_PORT" -v ON_ERROR_STOP=1 -d postgres <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  ELSE
    ALTER ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
}

install_moto() {
  if ! command -v moto_server >/dev/null || ! python3 -c 'import moto, flask' 2>/dev/null; then
    log "installing moto[server]"
    python3 -m pip install -q 'moto[server]>=5,<6'
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_moto() {
  if [ -f "$MOTO_PORT_FILE" ] && [ -f "$state/moto.pid" ] && kill -0 "$(cat "$state/moto.pid")" 2>/dev/null; then
    return
  fi
  local port; port=${KX_MOTO_PORT:-$(free_port)}
  log "starting moto server on 127.0.0.1:$port"
  # Managed IAM policies (AWSLambdaVPCAccessExecutionRole, …) exist only when moto loads them.
  MOTO_IAM_LOAD_MANAGED_POLICIES=true nohup moto_server -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
  echo $! >"$state/moto.pid"
  echo "$port" >"$MOTO_PORT_FILE"
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1 && return
    sleep 0.2
  done
  log "moto server did not start; see $state/moto.log"; exit 1
}

write_env() {
  cat >"$state/env" <<ENV
export KX_TEST_DATABASE_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres
export KX_PG_HOST=127.0.0.1 KX_PG_PORT=$PG_PORT KX_PG_USER=$PG_USER KX_PG_PASSWORD=$PG_PASSWORD
export AWS_ENDPOINT_URL=http://127.0.0.1:$(cat "$MOTO_PORT_FILE")
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
ENV
}

case "${1:-up}" in
  up)
    install_postgres; start_postgres; install_moto; start_moto; write_env
    log "ready: source $state/env" ;;
  down)
    if [ -f "$state/moto.pid" ]; then kill "$(cat "$state/moto.pid")" 2>/dev/null || true; rm -f "$state/moto.pid" "$MOTO_PORT_FILE"; fi ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
