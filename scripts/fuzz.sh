#!/usr/bin/env bash
# Builds the libFuzzer targets of test/fuzz (clang, ASan+UBSan) in build-fuzz/
# and runs each from its seed corpus for a bounded time. A crash, a leak, an
# UBSan report, a timeout (one input over 10 s) or running out of memory
# (2 GiB) fails the target; libFuzzer writes the input that did it to
# build-fuzz/findings/<target>/ (reproduce with build-fuzz/test/fuzz/<target>_fuzz FILE).
#
#   scripts/fuzz.sh [--seconds N] [--build-only] [TARGET...]
#
# --seconds N   time per target (default $FUZZ_SECONDS, else 15)
# --build-only  configure and build, run nothing
# TARGET        json_patch selectors cel schema api_codec watch outputs kubeconfig strings (default: all)
#
# The corpus each target grows is kept in build-fuzz/corpus/<target> (the
# seeds under test/fuzz/corpus are only read), so later runs start further on.
set -uo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${FUZZ_SECONDS:-15}
BUILD_ONLY=0
TARGETS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) SECONDS_PER_TARGET=${2:?--seconds needs a number}; shift 2 ;;
    --build-only) BUILD_ONLY=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    *) TARGETS+=("$1"); shift ;;
  esac
done
ALL=(json_patch selectors cel schema api_codec watch outputs kubeconfig strings)
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL[@]}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL[*]} " == *" $t "* ]] || { echo "fuzz.sh: unknown target $t (one of: ${ALL[*]})" >&2; exit 2; }
done

if ! command -v clang++ >/dev/null; then
  echo "fuzz.sh: clang++ is needed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
DIR=build-fuzz
CXX_CMD="clang++"
command -v ccache >/dev/null && CXX_CMD="ccache clang++"
if [[ ! -f $DIR/build.ninja ]]; then
  # Only the libraries the targets link are built (the fuzz-targets alias);
  # tests and benchmarks are not configured.
  if ! CXX="$CXX_CMD" meson setup "$DIR" -Dwerror=true -Dfuzzing=true -Db_sanitize=address,undefined \
      -Db_lundef=false -Dtests=disabled -Dbenchmarks=disabled --buildtype=debug -Doptimization=1 \
      >"$DIR.setup.log" 2>&1; then
    tail -n 30 "$DIR.setup.log"
    echo "fuzz.sh: meson setup failed (full log: $DIR.setup.log)" >&2
    exit 1
  fi
fi
t0=$(date +%s)
if ! ninja -C "$DIR" fuzz-targets >"$DIR.build.log" 2>&1; then
  grep -E 'error|FAILED' -A5 "$DIR.build.log" | head -n 60
  echo "fuzz.sh: build failed (full log: $DIR.build.log)" >&2
  exit 1
fi
echo "fuzz: built ${#ALL[@]} targets in $(( $(date +%s) - t0 ))s ($DIR)"
[[ $BUILD_ONLY -eq 1 ]] && exit 0

export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
failed=0
for t in "${TARGETS[@]}"; do
  corpus=$DIR/corpus/$t findings=$DIR/findings/$t log=$DIR/fuzz-$t.log
  mkdir -p "$corpus" "$findings"
  "$DIR/test/fuzz/${t}_fuzz" "$corpus" "test/fuzz/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$findings/" \
    >"$log" 2>&1
  rc=$?
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -o 'cov: [0-9]*' | awk '{print $2}')
  if [[ $rc -ne 0 ]]; then
    failed=$((failed + 1))
    grep -E 'ERROR:|SUMMARY:|runtime error|Test unit written' "$log" | head -n 10
    echo "fuzz: $t FAILED (exit $rc; log $log, input in $findings/)"
  else
    echo "fuzz: $t ok: ${execs:-?} runs, coverage ${cov:-?} edges, corpus $(ls "$corpus" | wc -l) inputs in ${SECONDS_PER_TARGET}s"
  fi
done
echo "fuzz: $(( ${#TARGETS[@]} - failed )) passed, $failed failed"
[[ $failed -eq 0 ]]
