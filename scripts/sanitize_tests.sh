#!/usr/bin/env bash
# The unit tests under AddressSanitizer and UndefinedBehaviorSanitizer (issue 20): a separate
# build in build-asan/ (-DSPINESCAN_SANITIZE=ON: any undefined behaviour aborts its test), then
# every unit test. Prints the build and test times. About 30 minutes for the build on 2
# cores, 4 for the tests: too long for CI beside the main build, so run it here.
# Usage: scripts/sanitize_tests.sh [extra ctest arguments, e.g. -R BadInput]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
start=$(date +%s)
cmake -S . -B build-asan -G Ninja -DSPINESCAN_SANITIZE=ON -DSPINESCAN_BUILD_BENCH=OFF >/dev/null
ninja -C build-asan spinescan_unit_tests
built=$(date +%s)
# LeakSanitizer is on (the default); libtorch and ITK free what they allocate at exit.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
  ctest --test-dir build-asan -L unit -j "$jobs" --output-on-failure "$@"
done_at=$(date +%s)
echo "sanitizer build $((built - start)) s, unit tests $((done_at - built)) s"
