#!/usr/bin/env bash
# The whole test suite (README command 2; CI runs it through .ci/run):
#   1. dependencies (scripts/install-deps.sh; a quick check when present)
#   2. a -Werror build in build-test/, the container images from its binaries
#      (scripts/build-images.sh --binaries), and every test (unit, integration,
#      e2e, and the `containers` suite that installs those images with kubectl
#      on a podman-backed local plane)
#   3. the same suite, except `containers`, under AddressSanitizer (GCC, the
#      compiler we ship with, so its miscompilations show up), and without
#      the k8s, bench and podman suites too under ThreadSanitizer+UBSan
#      (clang), unless --quick; each of these builds compiles at nice 19
#      while the previous configuration's tests run
#   4. the libFuzzer targets (scripts/fuzz.sh), 15 s each, beside the
#      ThreadSanitizer tests, unless --quick
# The last line is the plain summary "N passed, N failed" (test cases,
# counted over all configurations); the exit status is non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help)
      sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
      echo "Options: --quick  skip the sanitizer configurations"
      exit 0 ;;
    *) echo "test.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

JOBS=${JOBS:-$(nproc)}
# ccache across clones: paths under the checkout are hashed relative to it
# and the working directory is not hashed (debug info keeps the first
# clone's directory, which nothing reads), so a fresh clone of the same
# commit elsewhere on this machine compiles from the cache.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}
total_passed=0
total_failed=0
start=$(date +%s)

if ! scripts/install-deps.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi

# ---------------------------------------------------------------- builds
# build_config NAME BUILD_DIR [ENV=VALUE ...] -- [meson setup options ...]
# Configures (once) and builds; returns non-zero on failure (already reported).
build_config() {
  local name=$1 dir=$2
  shift 2
  local envs=()
  while [[ $# -gt 0 && $1 != -- ]]; do envs+=("$1"); shift; done
  [[ ${1:-} == -- ]] && shift
  local t0
  t0=$(date +%s)
  if [[ ! -f "$dir/build.ninja" ]]; then
    if ! env "${envs[@]}" meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1; then
      tail -n 30 "$dir.setup.log"
      echo "== $name: meson setup failed"
      return 1
    fi
  fi
  if ! ninja -C "$dir" -j "$JOBS" >"$dir.build.log" 2>&1; then
    grep -E 'error|FAILED' -A5 "$dir.build.log" | head -n 60
    echo "== $name: build failed (full log: $dir.build.log)"
    return 1
  fi
  echo "== $name: built in $(( $(date +%s) - t0 ))s ($dir)"
}

# Starts build_config in the background at the lowest CPU priority, so it
# uses only what the tests running meanwhile leave idle (they wait on
# processes and sockets much of the time). BG_PID is the job.
BG_PID=
build_in_background() {
  echo "== $1: building in $2 in the background (nice 19) while the tests above run"
  (renice -n 19 -p "$BASHPID" >/dev/null && build_config "$@") &
  BG_PID=$!
}

# ---------------------------------------------------------------- tests
# test_config NAME BUILD_DIR [ENV=VALUE ...] [-- meson test arguments ...]
test_config() {
  local name=$1 dir=$2
  shift 2
  local envs=()
  while [[ $# -gt 0 && $1 != -- ]]; do envs+=("$1"); shift; done
  [[ ${1:-} == -- ]] && shift
  local t1
  t1=$(date +%s)
  echo "== $name: running tests"
  env "${envs[@]}" meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$JOBS" "$@" \
    >"$dir.test.log" 2>&1
  local counts
  counts=$(python3 scripts/test-summary.py "$dir")
  read -r p f s <<<"$counts"
  if [[ $f -gt 0 ]]; then
    grep -E '^(FAILED|.*Failure)|\[  FAILED  \]' "$dir.test.log" | head -n 40
    echo "== $name: see $dir.test.log and $dir/meson-logs/testlog.txt"
  fi
  echo "== $name: $p passed, $f failed, $s skipped ($(( $(date +%s) - t1 ))s)"
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
}

# The release build's binaries become the container images (the Dockerfile's
# prebuilt stage: nothing is compiled twice) that the `containers` and
# `podman` suites run as podman containers. scripts/build-images.sh alone
# builds them from source.
build_images() {
  local dir=$1 t0
  t0=$(date +%s)
  echo "== images: scripts/build-images.sh --binaries $dir"
  if ! scripts/build-images.sh --binaries "$dir" >"$dir.images.log" 2>&1; then
    tail -n 30 "$dir.images.log"
    echo "== images: build failed (full log: $dir.images.log)"
    return 1
  fi
  grep -A12 '^IMAGE' "$dir.images.log" | head -n 14 || true
  echo "== images: built in $(( $(date +%s) - t0 ))s"
}

SAN_OPTS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
ASAN_ENV=("ASAN_OPTIONS=detect_leaks=1:$SAN_OPTS")
# -O0: a third less compile time than -O1 (measured), and this build is on
# the critical path while the release tests run.
ASAN_SETUP=(--buildtype=debug -Doptimization=0 -Db_sanitize=address -Db_lundef=false -Dbenchmarks=disabled)
TSAN_ENV=("UBSAN_OPTIONS=$SAN_OPTS" "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/test/tsan.supp")
TSAN_SETUP=(--buildtype=debug -Doptimization=1 -Db_sanitize=thread -Dubsan=true -Db_lundef=false -Dbenchmarks=disabled)
# The images hold release binaries, so the container end-to-end suite would
# test nothing new under a sanitizer. ASan runs everything else (the podman
# node test too: its node is the sanitized krt). The TSan tests are the last
# thing CI waits for, so they leave out what adds no thread to race: the
# manifests (k8s), krt bench's smoke runs (bench) and the podman runtime,
# which runs on the node's one shard like the process runtime it shares the
# pod model with. The chaos soak (suite soak) runs once, in the release
# configuration: its checks are about lost and repeated Runs, which the
# sanitized builds exercise in e2e-faults already.
ASAN_TESTS=(--no-suite containers --no-suite soak)
TSAN_TESTS=(--no-suite containers --no-suite podman --no-suite k8s --no-suite bench --no-suite soak)

# 1. Release: build, images, tests (while the AddressSanitizer build compiles).
REL="release checks (gcc, -Werror)"
ASAN="AddressSanitizer (gcc)"
# GCC's UBSan quadruples compile time (measured), so UBSan rides with clang.
TSAN="ThreadSanitizer+UBSan (clang)"
if build_config "$REL" build-test -- --buildtype=debugoptimized; then
  [[ $QUICK -eq 0 ]] && build_in_background "$ASAN" build-asan "${ASAN_ENV[@]}" -- "${ASAN_SETUP[@]}"
  build_images build-test || total_failed=$((total_failed + 1))
  test_config "$REL" build-test
else
  total_failed=$((total_failed + 1))
  [[ $QUICK -eq 0 ]] && build_in_background "$ASAN" build-asan "${ASAN_ENV[@]}" -- "${ASAN_SETUP[@]}"
fi

if [[ $QUICK -eq 0 ]]; then
  # 2. AddressSanitizer tests, while the ThreadSanitizer build compiles.
  if wait "$BG_PID"; then
    build_in_background "$TSAN" build-tsan "CXX=ccache clang++" -- "${TSAN_SETUP[@]}"
    test_config "$ASAN" build-asan "${ASAN_ENV[@]}" -- "${ASAN_TESTS[@]}"
  else
    total_failed=$((total_failed + 1))
    build_in_background "$TSAN" build-tsan "CXX=ccache clang++" -- "${TSAN_SETUP[@]}"
  fi
  # 3. ThreadSanitizer tests, while the fuzz targets build and run
  #    (scripts/fuzz.sh: libFuzzer, clang ASan+UBSan, 15 s per target) at
  #    nice 19 on what the tests leave idle.
  TSAN_OK=0
  wait "$BG_PID" && TSAN_OK=1
  echo "== fuzzing: scripts/fuzz.sh in the background (nice 19) while the tests below run"
  (renice -n 19 -p "$BASHPID" >/dev/null && FUZZ_SECONDS=${FUZZ_SECONDS:-15} scripts/fuzz.sh) >build-fuzz.log 2>&1 &
  FUZZ_PID=$!
  if [[ $TSAN_OK -eq 1 ]]; then
    test_config "$TSAN" build-tsan "${TSAN_ENV[@]}" -- "${TSAN_TESTS[@]}"
  else
    total_failed=$((total_failed + 1))
  fi
  wait "$FUZZ_PID"
  fuzz_rc=$?
  grep -E '^fuzz: ' build-fuzz.log | sed 's/^/== /'
  read -r fp ff <<<"$(sed -n 's/^fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' build-fuzz.log)"
  if [[ -z ${fp:-} ]]; then
    tail -n 20 build-fuzz.log
    fp=0 ff=1
  fi
  [[ $fuzz_rc -ne 0 && $ff -eq 0 ]] && ff=1
  total_passed=$((total_passed + fp))
  total_failed=$((total_failed + ff))
fi

echo "== total time $(( $(date +%s) - start ))s"
echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
