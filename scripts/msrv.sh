#!/usr/bin/env bash
# Checks that the `rust-version` of the published crate `kx-events` is true:
# 1. it is the highest `rust-version` among the crates it builds on (Cargo.lock, all features),
#    so it is neither below what a dependency requires nor above what the crate needs;
# 2. the crate builds with exactly that toolchain (installed with rustup when missing).
# Set MSRV_SKIP_BUILD=1 to run the first check alone.
set -euo pipefail
cd "$(dirname "$0")/.."

metadata=$(cargo metadata --format-version 1 --all-features --locked --filter-platform "$(rustc -vV | sed -n 's/^host: //p')")
read -r declared needed by < <(python3 -c '
import json, sys
m = json.load(sys.stdin)
pkgs = {p["id"]: p for p in m["packages"]}
nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
root = next(i for i, p in pkgs.items() if p["name"] == "kx-events" and p["source"] is None)
def key(v):
    return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])
seen, todo = set(), [root]
while todo:
    i = todo.pop()
    if i in seen:
        continue
    seen.add(i)
    for d in nodes[i]["deps"]:
        # Normal and build dependencies: what a user of the crate compiles (not dev-dependencies).
        if any(k["kind"] in (None, "build") for k in d["dep_kinds"]):
            todo.append(d["pkg"])
deps = [pkgs[i] for i in seen if i != root and pkgs[i].get("rust_version")]
top = max(deps, key=lambda p: key(p["rust_version"]))
print(pkgs[root]["rust_version"], top["rust_version"], top["name"])
' <<<"$metadata")

echo "kx-events rust-version: $declared; highest among its dependencies: $needed ($by)"
if [ "$declared" != "$needed" ]; then
  echo "rust-version must be $needed (what $by requires), not $declared" >&2
  exit 1
fi

[ "${MSRV_SKIP_BUILD:-0}" = 1 ] && exit 0
if ! rustup run "$declared" rustc --version >/dev/null 2>&1; then
  rustup toolchain install "$declared" --profile minimal
fi
# The library with every feature, as a user builds it (dev-dependencies are not part of the promise).
cargo "+$declared" check --locked -p kx-events --all-features
echo "kx-events builds with Rust $declared"
