#!/usr/bin/env bash
# `spinescan analyze` of one study, as a user runs it (process start, model loading, reading,
# all stages, report): median wall time and peak memory over N runs, on THREADS threads,
# for the bundled example phantom and, when the real data is beside the checkout, a real
# SPIDER case. The stage split comes from the program's own timing line. Two more rows: the
# process start alone (`spinescan --version`: loading libtorch and its libraries, no model),
# and all the studies in one `analyze` run (one start and one model load for all).
# Usage: bench/run_analyze_bench.sh [THREADS] [RUNS]   (build first: scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
runs=${2:-5}
studies=(examples/phantom_study.nii.gz)
real=${SPINESCAN_REAL_DATA:-../shared/data/spine-mri}
if [ -d "$real/cases" ]; then
  first_spider=$(ls "$real/cases" | grep '^spider_' | sort | head -n 1)
  [ -n "$first_spider" ] && studies+=("$real/cases/$first_spider/image.nii.gz")
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
echo "| study | threads | median wall s | peak RSS MiB | stages (last run) |"
echo "|---|---|---|---|---|"
# Runs a command $runs times (stdout dropped, stderr to $out/log, a previous $out/report
# and $out/batch removed first); sets `median` (wall seconds) and `rss_mib` (peak).
measure() {
  local walls=() wall kib rss=0
  for ((i = 0; i < runs; i++)); do
    rm -rf "$out/report" "$out/batch"
    /usr/bin/time -f "%e %M" -o "$out/time" "$@" >/dev/null 2>"$out/log"
    read -r wall kib <"$out/time"
    walls+=("$wall")
    ((kib > rss)) && rss=$kib
  done
  median=$(printf '%s\n' "${walls[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  rss_mib=$((rss / 1024))
}
for study in "${studies[@]}"; do
  measure build/spinescan --threads "$threads" analyze "$study" --out "$out/report"
  stages=$(grep -o 'timing:.*' "$out/log" | sed 's/timing: //')
  echo "| $(basename "$(dirname "$study")")/$(basename "$study") | $threads | $median | $rss_mib | $stages |"
done
measure build/spinescan --version
echo "| process start only (spinescan --version) | - | $median | $rss_mib | |"
if ((${#studies[@]} > 1)); then
  measure build/spinescan --threads "$threads" analyze "${studies[@]}" --out "$out/batch"
  echo "| all ${#studies[@]} studies above in one analyze run | $threads | $median | $rss_mib | |"
fi
