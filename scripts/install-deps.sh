#!/usr/bin/env bash
# Installs what kruntimes needs on Debian 12 (bookworm).
#
# Usage: scripts/install-deps.sh [--build]
#   (default)  everything to build, test and run: compilers (g++ and clang),
#              meson/ninja, Boost 1.81, gRPC/protobuf, simdjson, cxxopts,
#              yaml-cpp, SQLite, OpenSSL, GoogleTest, Google Benchmark, the
#              Python Kubernetes client, and buildah/podman/runc/mmdebstrap
#              for the images and the container node
#   --build    only what building the product needs (g++, meson/ninja and
#              the libraries): scripts/quickstart.sh, scripts/install.sh and
#              the images' build stage use it
#
# Idempotent and quiet: when everything is already installed it only checks
# (well under a second) and says so. Run as root (or with sudo available).
set -euo pipefail

BUILD_PACKAGES=(
  # toolchain (python3 runs a code generator during the build)
  g++ meson ninja-build pkg-config ccache git ca-certificates python3
  # libraries (Boost 1.81 explicitly: the unversioned packages are 1.74)
  libboost1.81-dev libboost-system1.81-dev libboost-filesystem1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc
  libsimdjson-dev libcxxopts-dev libyaml-cpp-dev libsqlite3-dev libssl-dev openssl zlib1g-dev
)
TEST_PACKAGES=(
  # the sanitizer configuration built with clang
  clang libclang-rt-14-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev python3-kubernetes
  # container images and the container-backed local node (scripts/build-images.sh,
  # krt local up --node-runtime podman): no Docker engine needed
  buildah podman runc mmdebstrap
)
case "${1:-}" in
  --build) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  "") PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-deps: unknown option $1 (try --help)" >&2; exit 2 ;;
esac

say() { printf 'install-deps: %s\n' "$*"; }
die() { printf 'install-deps: error: %s\n' "$*" >&2; exit 1; }

if [[ ! -r /etc/debian_version ]] || ! command -v dpkg-query >/dev/null 2>&1; then
  die "this script supports Debian 12 (bookworm); on other systems install the packages listed in $0 by hand"
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  say "all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || die "need root to install: ${missing[*]} (re-run as root)"
  SUDO=(sudo)
fi

say "installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
apt_install() {
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >"$log" 2>&1
}
if ! apt_install; then
  # Stale package lists are the usual cause: refresh once and retry.
  say "install failed; refreshing package lists and retrying"
  if ! "${SUDO[@]}" apt-get update -q >>"$log" 2>&1 || ! apt_install; then
    tail -n 20 "$log" >&2
    die "apt-get could not install: ${missing[*]} (see the output above; check network access to the Debian mirror)"
  fi
fi
say "done"
