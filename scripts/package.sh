#!/usr/bin/env bash
# Builds the Lambda functions for arm64 (provided.al2023) as zips with cargo-lambda and prints
# their sizes:
#   target/lambda/bootstrap/bootstrap.zip   the consumer (and its migrate mode): consumer_package_path
#   target/lambda/query/bootstrap.zip       the query API: query_package_path
# Installs cargo-lambda and ziglang with pip if missing.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if ! command -v cargo-lambda >/dev/null 2>&1; then
  echo "[package] installing cargo-lambda and ziglang (pip)" >&2
  python3 -m pip install -q cargo-lambda ziglang
fi
rustup target list --installed 2>/dev/null | grep -q aarch64-unknown-linux-gnu \
  || rustup target add aarch64-unknown-linux-gnu
target_dir=${CARGO_TARGET_DIR:-$root/target}
for spec in kx-events-consumer:bootstrap kx-events-query-api:query; do
  package=${spec%%:*} bin=${spec##*:}
  cargo lambda build --release --arm64 --output-format zip -p "$package" --bin "$bin"
  zip="$target_dir/lambda/$bin/bootstrap.zip"
  out="$root/target/lambda/$bin/bootstrap.zip"
  if [ "$zip" != "$out" ]; then
    mkdir -p "$(dirname "$out")"
    cp "$zip" "$out"
  fi
  bytes=$(stat -c %s "$out")
  python3 - "$out" "$bytes" <<'PY'
import sys, zipfile
path, size = sys.argv[1], int(sys.argv[2])
binary = sum(i.file_size for i in zipfile.ZipFile(path).infolist())
print(f"[package] {path}: zip {size/1e6:.2f} MB ({size} bytes), bootstrap {binary/1e6:.2f} MB unpacked")
PY
done
