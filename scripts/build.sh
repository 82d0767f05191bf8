#!/usr/bin/env bash
# Configures (once) and builds kruntimes into build/ (or $BUILD_DIR).
# Usage: scripts/build.sh [--product] [extra meson setup options...]
#   --product  build only what `krt local up` runs: krt, runtimed, the two
#              Runtime Servers and the four services (no tests, no benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
PRODUCT_TARGETS=(
  tools/krt/krt sidecar/runtimed servers/bash-runtime servers/python-runtime
  services/scheduler/kruntimes-scheduler services/controller/kruntimes-controller
  services/reaper/kruntimes-reaper services/maintainer/kruntimes-maintainer
)
targets=()
if [[ ${1:-} == --product ]]; then
  targets=("${PRODUCT_TARGETS[@]}")
  shift
fi
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  # debugoptimized unless the options choose the optimization themselves.
  buildtype=(--buildtype=debugoptimized)
  for o in "$@"; do
    case "$o" in -Doptimization=*|--optimization=*|--buildtype=*|-Dbuildtype=*) buildtype=() ;; esac
  done
  meson setup "$BUILD_DIR" "${buildtype[@]}" "$@" >/dev/null
fi
ninja -C "$BUILD_DIR" "${targets[@]}"
