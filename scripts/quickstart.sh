#!/usr/bin/env bash
# README command 1: install dependencies, build, start the embedded local
# control plane (`krt local up`: API server, node, scheduler, controller and
# the built-in bash and python Runtimes), then run two Runs and print their
# output: `echo hello` on bash and a Python one-liner.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "quickstart: building (the first build takes a few minutes on 2 cores)"
BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh
KRT="${BUILD_DIR:-build}/tools/krt/krt"
"$KRT" version
echo "quickstart: starting the local control plane"
"$KRT" local up
export KUBECONFIG
KUBECONFIG=$("$KRT" local kubeconfig)
echo
echo "quickstart: $KRT run -- echo hello"
"$KRT" run -- echo hello
echo
echo "quickstart: $KRT run -r python -- -c 'import platform; print(\"hello from Python\", platform.python_version())'"
"$KRT" run -r python -- -c 'import platform; print("hello from Python", platform.python_version())'
echo
"$KRT" list
echo
echo "quickstart: the control plane keeps running (KUBECONFIG=$KUBECONFIG); stop it with: $KRT local down"
