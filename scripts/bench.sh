#!/usr/bin/env bash
# make bench: every figure of the README's Performance section, printed with how it was measured,
# then one table.
#
#   make bench                  full run (release builds, a few minutes)
#   BENCH_QUICK=1 make bench    short run, as CI does: the benchmarks run, their figures are rough
#   scripts/bench.sh 1 3        only figures 1 and 3 (services must be up: `make bench` does it)
#
# Needs the services of scripts/services.sh (PostgreSQL, moto) and their settings in the
# environment; `make bench` starts them and sources .state/env first. Targets are informational:
# this script fails only when a benchmark cannot run, never on a time or a size.
# BENCH_PROFILE overrides the Cargo profile of the x86_64 builds (default: release; dev when
# BENCH_QUICK=1, whose builds `make test` has already made).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=${BENCH_QUICK:-}
[ "$quick" = 0 ] && quick=
target_dir=${CARGO_TARGET_DIR:-$root/target}
out="$root/.state/bench"
mkdir -p "$out"
log() { printf '[bench] %s\n' "$*" >&2; }

: "${KX_TEST_DATABASE_URL:?run make bench (it starts PostgreSQL and moto and sources .state/env)}"
: "${AWS_ENDPOINT_URL:?run make bench (it starts PostgreSQL and moto and sources .state/env)}"

if [ -n "$quick" ]; then profile=${BENCH_PROFILE:-dev}; else profile=${BENCH_PROFILE:-release}; fi
case "$profile" in dev) profile_dir=debug ;; *) profile_dir=$profile ;; esac
build_label="$profile build, $(uname -m)"

figures=("$@")
wants() { [ ${#figures[@]} -eq 0 ] || [[ " ${figures[*]} " == *" $1 "* ]]; }
failed=0

log "building bootstrap and kx-events-bench ($profile profile)"
cargo build --profile "$profile" -p kx-events-consumer --bin bootstrap -p kx-events-query-api --bin query -p kx-events-bench --bin kx-events-bench

# Figure 4: the arm64 zip of make package (quick mode reads the one `make test` just built).
zip="$root/target/lambda/bootstrap/bootstrap.zip"
package_how="built earlier, read as is"
if wants 4; then
  if [ -z "$quick" ] || [ ! -f "$zip" ]; then
    log "make package (scripts/package.sh)"
    if scripts/package.sh; then package_how="built by make package in this run"; else failed=1; fi
  fi
fi

# Figure 5: the producer's criterion bench, run as it is; kx-events-bench reads its results.
track_log="$out/track.log"
track_since=$(date +%s)
: >"$track_log"
if wants 5; then
  if [ -n "$quick" ]; then
    bench_profile=(--profile "$profile")
    criterion_args=(--warm-up-time 0.5 --measurement-time 1 --sample-size 10)
  else
    bench_profile=()
    [ "$profile" != release ] && bench_profile=(--profile "$profile")
    criterion_args=()
  fi
  log "cargo bench -p kx-events --bench track ${bench_profile[*]} -- ${criterion_args[*]}"
  if ! cargo bench "${bench_profile[@]}" -p kx-events --bench track -- "${criterion_args[@]}" 2>&1 | tee "$track_log"; then
    log "the track bench failed (see $track_log)"
    failed=1
  fi
fi

args=(
  --bootstrap "$target_dir/$profile_dir/bootstrap"
  --query "$target_dir/$profile_dir/query"
  --build "$build_label"
  --zip "$zip" --package-how "$package_how"
  --track-log "$track_log" --track-since "$track_since" --criterion-dir "$target_dir/criterion"
  --json "$out/figures.json"
)
log "kx-events-bench ${figures[*]:-(all figures)}"
if ! "$target_dir/$profile_dir/kx-events-bench" "${args[@]}" "${figures[@]}" 2>&1 | tee "$out/report.txt"; then
  failed=1
fi
log "report: $out/report.txt, rows as JSON: $out/figures.json"
exit "$failed"
