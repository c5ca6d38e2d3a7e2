#!/usr/bin/env bash
# make demo: the whole kx-events pipeline on this machine, with no AWS account.
#   scripts/demo.sh        check the tools, start PostgreSQL and moto, build, then `kx-events-demo up`
#                          (demo/src/driver): Terraform against moto, the local runner with the real
#                          bootstrap, the story, the summary; exit status 0 when every event is
#                          accounted for, 1 otherwise.
#   scripts/demo.sh down   `kx-events-demo down`: stop what a demo left running, forget its state.
# Settings: KX_DEMO_TIMEOUT_S, KX_DEMO_KEEP=1, KX_DEMO_REALTIME=1, RUST_LOG (see the driver),
# CARGO_TARGET_DIR (default ./target).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state="$root/.state/demo"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
bin="$CARGO_TARGET_DIR/debug"
if [ -t 1 ]; then bold=$'\033[1m'; dim=$'\033[2m'; red=$'\033[31m'; off=$'\033[0m'; else bold=; dim=; red=; off=; fi
started_at=$(date +%s)
step() { printf '\n%s==> %s%s %s(%ss)%s\n' "$bold" "$*" "$off" "$dim" "$(( $(date +%s) - started_at ))" "$off"; }
note() { printf '    %s\n' "$*"; }
die() { printf '%sdemo: %s%s\n' "$red" "$*" "$off" >&2; exit 1; }

case "${1:-up}" in
  down) cargo build --quiet -p kx-events-demo --bin kx-events-demo; exec "$bin/kx-events-demo" down ;;
  up) ;;
  *) die "usage: $0 [up|down]" ;;
esac

step "Checking tools"
command -v cargo >/dev/null || die "cargo is missing: install Rust from https://rustup.rs"
command -v python3 >/dev/null || die "python3 is missing (moto runs on it): apt-get install python3 python3-pip"
command -v terraform >/dev/null || die "terraform is missing: install Terraform >= 1.9 (https://developer.hashicorp.com/terraform/install)"
note "cargo $(cargo --version | cut -d' ' -f2), $(TF_CLI_CONFIG_FILE=/dev/null terraform version | head -1), python $(python3 -c 'import sys; print(sys.version.split()[0])')"

step "Starting PostgreSQL and the moto server (scripts/services.sh up)"
moto_was_up=0
if [ -f .state/moto.pid ] && kill -0 "$(cat .state/moto.pid)" 2>/dev/null; then moto_was_up=1; fi
scripts/services.sh up
# shellcheck disable=SC1091
source .state/env
# The driver stops moto at the end only if this marker names the running server (the format of
# driver::moto_identity): a moto that was up before the demo keeps running.
mkdir -p "$state"
if [ "$moto_was_up" = 0 ]; then printf '%s pid %s' "$AWS_ENDPOINT_URL" "$(cat .state/moto.pid)" >"$state/moto.started-by-demo"; fi
note "PostgreSQL on $KX_PG_HOST:$KX_PG_PORT, moto on $AWS_ENDPOINT_URL"

step "Building the consumer (bootstrap), the local runner and the demo producer (a first build takes minutes)"
cargo build --quiet -p kx-events-consumer --bin bootstrap -p kx-events-local --bin kx-events-local \
  -p kx-events-demo --bin kx-events-demo -p kx-events-cli --bin kx
for b in bootstrap kx-events-local kx-events-demo kx; do [ -x "$bin/$b" ] || die "missing $bin/$b after the build"; done
note "$bin/{bootstrap,kx-events-local,kx-events-demo,kx}"

exec "$bin/kx-events-demo" up --started-at "$started_at"
