#!/usr/bin/env bash
# libFuzzer runs of the readers and JSON/CSV parsers (fuzz/, docs/reliability.md).
#   scripts/fuzz.sh TARGET SECONDS [RUNS]  run one target (read_nifti, read_nifti_gz,
#                                    read_metaimage, read_nrrd, read_dicom_file, read_dicom_folder,
#                                    dataset, splits, bundle_manifest) for SECONDS, or until it
#                                    has run RUNS inputs when that comes first
#   scripts/fuzz.sh --smoke RUNS     every target for RUNS inputs, from its seeds and kept inputs
#                                    only, with a fixed random seed: the same inputs every time,
#                                    so a pass here is a pass in CI (what .ci/run does)
#   scripts/fuzz.sh --unit-tests     the unit tests of the same code (readers, file checks,
#                                    dataset, splits, atomic files, logging) built in build-fuzz/
#                                    under AddressSanitizer, UndefinedBehaviorSanitizer and leak
#                                    checks, without libFuzzer (what .ci/run does too)
#   scripts/fuzz.sh --list           the targets
# Builds build-fuzz/ with clang-14 (AddressSanitizer, UndefinedBehaviorSanitizer, leak checks);
# needs the ordinary build in build/ (scripts/setup.sh) for the seed writer and for the libtorch
# half that fuzz_bundle_manifest links. The corpus grows in build-fuzz/corpus/TARGET from the
# seeds (build-fuzz/seeds/TARGET, written from phantoms) and the kept inputs of
# fuzz/regressions/TARGET; a crashing input lands in build-fuzz/crashes/TARGET/ and the script
# exits 1. Each run ends with one line: executions, coverage (edges, features), corpus size.
set -euo pipefail
cd "$(dirname "$0")/.."

targets=(read_nifti read_nifti_gz read_metaimage read_nrrd read_dicom_file read_dicom_folder dataset splits bundle_manifest)
usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
if [ "$1" = "--list" ]; then printf '%s\n' "${targets[@]}"; exit 0; fi
unit_tests=false
if [ "$1" = "--unit-tests" ]; then
  [ $# -eq 1 ] || usage
  unit_tests=true
elif [ $# -ne 2 ] && [ $# -ne 3 ]; then
  usage
fi
smoke=false seconds=1 runs=0
if [ "$1" = "--smoke" ]; then
  [ $# -eq 2 ] || usage
  smoke=true seconds=600 runs=$2
elif ! $unit_tests; then
  seconds=$2 runs=${3:--1}
fi
[[ "$runs" =~ ^-?[0-9]+$ ]] || { echo "fuzz.sh: RUNS must be a whole number" >&2; exit 2; }
[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -ge 1 ] || { echo "fuzz.sh: SECONDS must be a whole number >= 1" >&2; exit 2; }
if $smoke; then
  run=("${targets[@]}")
elif $unit_tests; then
  run=()
else
  printf '%s\n' "${targets[@]}" | grep -qx -- "$1" || { echo "fuzz.sh: unknown target '$1' (--list)" >&2; exit 2; }
  run=("$1")
fi

command -v clang++-14 >/dev/null || { echo "fuzz.sh: clang++-14 is missing (apt install clang-14 libclang-rt-14-dev)" >&2; exit 1; }
[ -f build/libspinescan_torch.a ] || { echo "fuzz.sh: build/ is not built; run scripts/setup.sh first" >&2; exit 1; }
cmake --build build --target spinescan_fuzz_seeds >/dev/null
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPINESCAN_FUZZ=ON \
    -DSPINESCAN_PREBUILT_DIR="$PWD/build" >/dev/null
fi
# A build that fails stops here (a stale binary from an earlier build would otherwise run).
build_fuzz() {
  local out
  if ! out=$(cmake --build build-fuzz -j "$(nproc)" --target "$@" 2>&1); then
    printf '%s\n' "$out" | grep -v '^\[' >&2
    echo "fuzz.sh: the build of build-fuzz/ failed" >&2
    exit 1
  fi
}
if $unit_tests; then
  build_fuzz spinescan_sanitized_unit_tests
  # A sanitizer report fails the test it happens in and ends the program (exit non-zero).
  ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp UBSAN_OPTIONS=print_stacktrace=1 \
    build-fuzz/spinescan_sanitized_unit_tests --gtest_brief=1
  exit
fi
build_fuzz $(printf 'fuzz_%s ' "${run[@]}")
# Seeds are written again only when their writer changed (several runs may share them).
if [ ! build-fuzz/seeds/.written -nt build/spinescan_fuzz_seeds ]; then
  rm -rf build-fuzz/seeds && build/spinescan_fuzz_seeds build-fuzz/seeds . && touch build-fuzz/seeds/.written
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/spinescan-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
status=0
for t in "${run[@]}"; do
  corpus=build-fuzz/corpus/$t crashes=build-fuzz/crashes/$t seed=()
  if $smoke; then corpus=$scratch/corpus/$t seed=(-seed=1); fi
  mkdir -p "$corpus" "$crashes"
  dirs=("$corpus" "build-fuzz/seeds/$t")
  [ -d "fuzz/regressions/$t" ] && dirs+=("fuzz/regressions/$t")
  log=build-fuzz/$t.log
  rc=0
  # One ITK thread: the inputs are small, and threads only add start-up cost per input.
  # -close_fd_mask=2: libFuzzer and the sanitizers report on their own copy of stderr, and
  # descriptor 2 is discarded; the study readers redirect descriptor 2 while they run
  # (LibraryOutputToLog), which would otherwise swallow a crash report made inside them.
  TMPDIR=$scratch ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=1 ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp \
    "build-fuzz/fuzz_$t" "${dirs[@]}" -max_total_time="$seconds" -runs="$runs" "${seed[@]}" -timeout=20 -rss_limit_mb=3072 -close_fd_mask=2 \
    -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]* corp: [0-9]*' "$log" | tail -1 || true)
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "$t: FAILED (exit $rc) after ${execs:-?} executions; input in $crashes/, log $log:"
    grep -m 5 -E 'ERROR|runtime error|deadly signal|uncaught|terminate|timeout|out-of-memory' "$log" || tail -5 "$log"
  else
    took=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | tail -1 | awk '{print $5}' || true)
    echo "$t: ${execs:-?} executions in ${took:-$seconds} s, 0 crashes; ${cov:-no coverage line} (edges, features, corpus inputs)"
  fi
done
exit $status
