#!/usr/bin/env bash
# Figure 2 (the handler, batches of 10, PostgreSQL + moto) of this tree side by side with an
# older commit's, in one run: builds that commit's bench binary in a worktree under .state/compare
# (same CARGO_TARGET_DIR, so the dependencies are shared), then runs figure 2 of both,
# alternately, ROUNDS times, and prints every rate and the ratio of the medians.
#
#   scripts/bench-compare.sh COMMIT [ROUNDS]     (services up and .state/env sourced, as for
#                                                scripts/bench.sh; ROUNDS defaults to 5)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
commit=${1:?usage: scripts/bench-compare.sh COMMIT [ROUNDS]}
rounds=${2:-5}
: "${KX_TEST_DATABASE_URL:?source .state/env first (scripts/services.sh up)}"
target_dir=${CARGO_TARGET_DIR:-$root/target}
out="$root/.state/compare"
mkdir -p "$out"
short=$(git rev-parse --short "$commit")
tree="$out/tree-$short"
old_bin="$out/kx-events-bench-$short"
log() { printf '[compare] %s\n' "$*" >&2; }

if [ ! -x "$old_bin" ]; then
  [ -d "$tree" ] || git worktree add --detach "$tree" "$commit" >&2
  # Commits before the binary was renamed kx-events-bench call it kx-bench.
  old_name=kx-events-bench
  grep -q '^name = "kx-bench"' "$tree/bench/Cargo.toml" && old_name=kx-bench
  log "building $old_name of $short (release)"
  (cd "$tree" && cargo build --release -p kx-events-bench --bin "$old_name" >&2)
  cp "$target_dir/release/$old_name" "$old_bin"
fi
log "building kx-events-bench of this tree (release)"
cargo build --release -p kx-events-bench --bin kx-events-bench >&2
new_bin="$out/kx-events-bench-this"
cp "$target_dir/release/kx-events-bench" "$new_bin"

rate() { # the events/s of figure 2's batch-10 moto row in a --json file
  python3 -c 'import json,sys,re
rows=json.load(open(sys.argv[1]))
r=[x for x in rows if x["figure"]==2 and x["what"].startswith("handler, batches of 10: events/s") and "moto" in x["what"]]
print(re.sub(r"[^0-9.]","",r[0]["measured"].split(" ev/s")[0]))' "$1"
}
old_rates=(); new_rates=()
for i in $(seq 1 "$rounds"); do
  "$old_bin" --json "$out/old.json" 2 >"$out/old-$i.txt" 2>&1 || { cat "$out/old-$i.txt"; exit 1; }
  BENCH_BATCH_SIZES=10 "$new_bin" --json "$out/new.json" 2 >"$out/new-$i.txt" 2>&1 || { cat "$out/new-$i.txt"; exit 1; }
  old_rates+=("$(rate "$out/old.json")"); new_rates+=("$(rate "$out/new.json")")
  log "round $i/$rounds: $short ${old_rates[-1]} ev/s, this tree ${new_rates[-1]} ev/s (load $(cut -d' ' -f1-3 /proc/loadavg))"
done
python3 - "${old_rates[*]}" "${new_rates[*]}" "$short" <<'PY'
import statistics, sys
old = [float(x) for x in sys.argv[1].split()]
new = [float(x) for x in sys.argv[2].split()]
mo, mn = statistics.median(old), statistics.median(new)
print(f"figure 2, handler, batches of 10, PostgreSQL + moto, {len(old)} alternating rounds:")
print(f"  {sys.argv[3]}: {', '.join(f'{x:,.0f}' for x in old)} ev/s (median {mo:,.0f})")
print(f"  this tree: {', '.join(f'{x:,.0f}' for x in new)} ev/s (median {mn:,.0f})")
print(f"  ratio of the medians: {mn / mo:.2f}x (target >= 1.3x)")
PY
