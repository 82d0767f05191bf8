#!/usr/bin/env bash
# README command 1: install dependencies, build, and run the main job.
# Today the main job is `krt version` (the Run path arrives with issue #4, at
# which point this becomes `krt local up && krt run -- echo hello`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "quickstart: building (the first build takes a few minutes on 2 cores)"
BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh
echo "quickstart: running krt"
"${BUILD_DIR:-build}/tools/krt/krt" version
