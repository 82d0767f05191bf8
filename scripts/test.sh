#!/usr/bin/env bash
# The whole test suite (README command 2; CI runs it through .ci/run):
#   1. dependencies (scripts/install-deps.sh; a quick check when present)
#   2. a -Werror build in build-test/ and every test (unit, integration, e2e)
#   3. the same suite under AddressSanitizer (GCC, the compiler we ship with,
#      so its miscompilations show up) and under ThreadSanitizer+UBSan (clang),
#      unless --quick
# The last line is the plain summary "N passed, N failed" (test cases,
# counted over all configurations); the exit status is non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      echo "Options: --quick  skip the sanitizer configurations"
      exit 0 ;;
    *) echo "test.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

JOBS=${JOBS:-$(nproc)}
total_passed=0
total_failed=0
start=$(date +%s)

if ! scripts/install-deps.sh; then
  echo "0 passed, 1 failed"
  exit 1
fi

# Set by the caller of run_config: extra `meson test` arguments, and a
# function run between the build and the tests (its failure counts once).
TEST_ARGS=()
BEFORE_TESTS=

# run_config NAME BUILD_DIR [ENV=VALUE ...] -- [meson setup options ...]
run_config() {
  local name=$1 dir=$2
  shift 2
  local envs=()
  while [[ $# -gt 0 && $1 != -- ]]; do envs+=("$1"); shift; done
  [[ ${1:-} == -- ]] && shift
  local t0
  t0=$(date +%s)
  echo "== $name: configuring and building in $dir"
  if [[ ! -f "$dir/build.ninja" ]]; then
    if ! env "${envs[@]}" meson setup "$dir" -Dwerror=true "$@" >"$dir.setup.log" 2>&1; then
      tail -n 30 "$dir.setup.log"
      echo "== $name: meson setup failed"
      total_failed=$((total_failed + 1))
      return
    fi
  fi
  if ! ninja -C "$dir" -j "$JOBS" >"$dir.build.log" 2>&1; then
    grep -E 'error|FAILED' -A5 "$dir.build.log" | head -n 60
    echo "== $name: build failed (full log: $dir.build.log)"
    total_failed=$((total_failed + 1))
    return
  fi
  local t1
  t1=$(date +%s)
  echo "== $name: built in $((t1 - t0))s"
  if [[ -n $BEFORE_TESTS ]] && ! "$BEFORE_TESTS" "$dir"; then
    total_failed=$((total_failed + 1))
  fi
  t1=$(date +%s)
  echo "== $name: running tests"
  env "${envs[@]}" meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "$JOBS" "${TEST_ARGS[@]}" \
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
# prebuilt stage: nothing is compiled twice) that the `containers` suite runs
# as podman containers. scripts/build-images.sh alone builds them from source.
build_images() {
  local dir=$1 t0
  t0=$(date +%s)
  echo "== images: scripts/build-images.sh --binaries $dir"
  if ! scripts/build-images.sh --binaries "$dir" >"$dir.images.log" 2>&1; then
    tail -n 30 "$dir.images.log"
    echo "== images: build failed (full log: $dir.images.log)"
    return 1
  fi
  grep -A12 '^IMAGE\|^image' "$dir.images.log" | head -n 14 || true
  echo "== images: built in $(( $(date +%s) - t0 ))s"
}

BEFORE_TESTS=build_images
run_config "release checks (gcc, -Werror)" build-test -- --buildtype=debugoptimized
BEFORE_TESTS=
# The images hold release binaries: the sanitizer builds run everything else.
TEST_ARGS=(--no-suite containers)

if [[ $QUICK -eq 0 ]]; then
  SAN_OPTS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
  # GCC's UBSan quadruples compile time (measured), so UBSan rides with clang.
  run_config "AddressSanitizer (gcc)" build-asan \
    "ASAN_OPTIONS=detect_leaks=1:$SAN_OPTS" \
    -- --buildtype=debug -Doptimization=1 -Db_sanitize=address -Db_lundef=false -Dbenchmarks=disabled
  run_config "ThreadSanitizer+UBSan (clang)" build-tsan \
    "CXX=ccache clang++" "UBSAN_OPTIONS=$SAN_OPTS" \
    "TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/test/tsan.supp" \
    -- --buildtype=debug -Doptimization=1 -Db_sanitize=thread -Dubsan=true -Db_lundef=false -Dbenchmarks=disabled
fi

echo "== total time $(( $(date +%s) - start ))s"
echo "$total_passed passed, $total_failed failed"
[[ $total_failed -eq 0 ]]
