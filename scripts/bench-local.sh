#!/usr/bin/env bash
# Measures the local control plane's API server (issue #3): create → watch
# event latency and sustained writes/s with 100 concurrent writers, for both
# durability modes. Builds what it needs into build/ (or $BUILD_DIR).
# Usage: scripts/bench-local.sh [--writes N] [--writers N] [--samples N]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
[[ -f "$BUILD_DIR/build.ninja" ]] || meson setup "$BUILD_DIR" --buildtype=debugoptimized >/dev/null
ninja -C "$BUILD_DIR" tools/krt/krt test/bench/local_apiserver_load >/dev/null
KRT="$BUILD_DIR/tools/krt/krt"
for mode in process fsync; do
  dir=$(mktemp -d /tmp/krt-bench-local.XXXXXX)
  "$KRT" local serve --state-dir "$dir" --port 0 --durability "$mode" >"$dir/apiserver.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do [[ -f "$dir/apiserver.ready" ]] && break; sleep 0.05; done
  echo "== durability=$mode"
  "$BUILD_DIR/test/bench/local_apiserver_load" --kubeconfig "$dir/kubeconfig" "$@" || true
  kill "$pid"; wait "$pid" || true
  rm -rf "$dir"
done
