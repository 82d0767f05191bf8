#!/usr/bin/env bash
# README command 1: install dependencies, build what it runs (krt, runtimed,
# the Runtime Servers and the services; tests are built by scripts/test.sh),
# start the embedded local control plane (`krt local up`: API server, node,
# scheduler, controller, reaper and the built-in bash and python Runtimes),
# then run two Runs and print their output: `echo hello` on bash and a Python
# one-liner. krt finds the local plane by itself: no KUBECONFIG needed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --build
echo "quickstart: building what krt local up runs (the first build takes about 4 minutes on 2 cores)"
# -Og without debug info, linked by gold: about 40% less time than -O2 (all
# measured), for binaries that are plenty fast to try kruntimes;
# scripts/install.sh and the images build with -O2.
BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh --product -Doptimization=g -Ddebug=false \
  -Dcpp_link_args=-fuse-ld=gold -Dtests=disabled -Dbenchmarks=disabled
KRT="${BUILD_DIR:-build}/tools/krt/krt"
"$KRT" version
echo "quickstart: starting the local control plane"
"$KRT" local up
echo
echo "quickstart: $KRT run -- echo hello"
"$KRT" run -- echo hello
echo
echo "quickstart: $KRT run -r python -- -c 'import platform; print(\"hello from Python\", platform.python_version())'"
"$KRT" run -r python -- -c 'import platform; print("hello from Python", platform.python_version())'
echo
"$KRT" list
echo
echo "quickstart: the control plane keeps running; kubectl works with KUBECONFIG=$("$KRT" local kubeconfig); stop it with: $KRT local down"
