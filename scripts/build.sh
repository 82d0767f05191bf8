#!/usr/bin/env bash
# Configures (once) and builds kruntimes into build/ (or $BUILD_DIR).
# Usage: scripts/build.sh [extra meson setup options...]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  meson setup "$BUILD_DIR" --buildtype=debugoptimized "$@" >/dev/null
fi
ninja -C "$BUILD_DIR"
