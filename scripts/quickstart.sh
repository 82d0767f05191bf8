#!/usr/bin/env bash
# README command 1: install dependencies, build, start the embedded local
# control plane (`krt local up`) and talk to it with kubectl. The Run path
# (`krt run -- echo hello`) arrives with issue #4.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "quickstart: building (the first build takes a few minutes on 2 cores)"
BUILD_DIR=${BUILD_DIR:-build} scripts/build.sh
KRT="${BUILD_DIR:-build}/tools/krt/krt"
"$KRT" version
echo "quickstart: starting the local control plane"
"$KRT" local up
KUBECONFIG_PATH=$("$KRT" local kubeconfig)
if command -v kubectl >/dev/null 2>&1; then
  echo "quickstart: kubectl get namespaces"
  kubectl --kubeconfig "$KUBECONFIG_PATH" get namespaces
else
  echo "quickstart: kubectl is not installed; the control plane answers at $(sed -n 's/ *server: //p' "$KUBECONFIG_PATH")"
fi
echo "quickstart: the control plane keeps running; stop it with: $KRT local down"
