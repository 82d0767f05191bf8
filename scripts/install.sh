#!/usr/bin/env bash
# Installs krt and the binaries `krt local up` runs into PREFIX/bin, so that
# `krt local up && krt run -- echo hi` works from any directory.
#
# Usage: scripts/install.sh [--prefix DIR] [--build-dir DIR] [--no-deps]
#   --prefix DIR     where to install (default /usr/local as root, else ~/.local)
#   --build-dir DIR  the build directory to configure and use (default build-install)
#   --no-deps        do not run scripts/install-deps.sh first
#
# It builds only what it installs (no tests, no benchmarks) with the
# configuration the images use (debugoptimized), then runs `meson install`.
# The manifests `krt local up` applies are compiled into krt.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -eq 0 ]]; then PREFIX=/usr/local; else PREFIX=$HOME/.local; fi
BUILD_DIR=build-install
DEPS=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) PREFIX=${1#*=}; shift ;;
    --build-dir) BUILD_DIR=${2:?--build-dir needs a directory}; shift 2 ;;
    --build-dir=*) BUILD_DIR=${1#*=}; shift ;;
    --no-deps) DEPS=0; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
case "$PREFIX" in /*) ;; *) PREFIX=$PWD/$PREFIX ;; esac

[[ $DEPS -eq 1 ]] && scripts/install-deps.sh --build

[[ -f "$BUILD_DIR/build.ninja" ]] && meson configure "$BUILD_DIR" --prefix "$PREFIX" >/dev/null
echo "install: building into $BUILD_DIR (a few minutes on 2 cores the first time)"
BUILD_DIR=$BUILD_DIR scripts/build.sh --product --prefix "$PREFIX" -Dtests=disabled -Dbenchmarks=disabled
meson install -C "$BUILD_DIR" --no-rebuild --quiet
echo "install: installed into $PREFIX/bin:"
for b in krt runtimed bash-runtime python-runtime kruntimes-scheduler kruntimes-controller \
         kruntimes-reaper kruntimes-maintainer; do
  [[ -x "$PREFIX/bin/$b" ]] || { echo "install: error: $PREFIX/bin/$b is missing after meson install" >&2; exit 1; }
  echo "  $PREFIX/bin/$b"
done
case ":$PATH:" in
  *":$PREFIX/bin:"*) echo "install: try: krt local up && krt run -- echo hi" ;;
  *) echo "install: add $PREFIX/bin to PATH, then: krt local up && krt run -- echo hi" ;;
esac
