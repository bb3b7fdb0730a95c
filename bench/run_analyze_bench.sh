#!/usr/bin/env bash
# `spinescan analyze` as a user runs it, beside its reference, in one run of this script:
# - cold: one process per study (process start, model load, reading, all stages, report),
#   median wall time and peak memory over RUNS runs, the stage split from the program's own
#   timing line;
# - warm: the same study RUNS+1 times in one process; the median whole-study time of the
#   second and later ones (no process start, no model load: the PACS worker's case);
# - reference: torchvision's RetinaNet-ResNet18-FPN forward + post-processing alone on as many
#   256x256 slices as the real study has (one call, median over RUNS), and the ratio of the
#   whole spinescan study to it;
# - the process start alone (`spinescan --version`: loading libtorch and its libraries);
# - when the build runs against its trimmed copy of libtorch_cpu (cmake/trim_libtorch.cmake),
#   the process start and the last study cold again with Debian's library as installed.
# Studies: the bundled example phantom and, when the real data is beside the checkout, the
# first SPIDER case. Each study row runs once per detector precision in PRECISIONS (default
# "fp32 int8": float, and 8-bit integers from the ranges the bundle stores), one after the other.
# Usage: [SPINESCAN_BIN=path/to/spinescan] bench/run_analyze_bench.sh [THREADS] [RUNS]   (build first: scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SPINESCAN_BIN:-build/spinescan}  # another build to compare: SPINESCAN_BIN=path/to/spinescan
threads=${1:-2}
runs=${2:-5}
read -r -a precisions <<<"${PRECISIONS:-fp32 int8}"
studies=(examples/phantom_study.nii.gz)
real=${SPINESCAN_REAL_DATA:-../shared/data/spine-mri}
real_study=""
if [ -d "$real/cases" ]; then
  first_spider=$(ls "$real/cases" | grep '^spider_' | sort | head -n 1)
  [ -n "$first_spider" ] && real_study="$real/cases/$first_spider/image.nii.gz" && studies+=("$real_study")
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
label() { echo "$(basename "$(dirname "$1")")/$(basename "$1")"; }
slices_of() { "$bin" info "$1" | sed -n 's/^canonical sagittal: \([0-9]*\) slices.*/\1/p'; }
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
echo "| run | threads | median wall s | peak RSS MiB | stages (last run) |"
echo "|---|---|---|---|---|"
declare -A cold
for study in "${studies[@]}"; do
  for precision in "${precisions[@]}"; do
    measure "$bin" --threads "$threads" --detector-precision "$precision" analyze "$study" --out "$out/report"
    cold[$study,$precision]=$median
    stages=$(grep -o 'timing:.*' "$out/log" | sed 's/timing: //')
    echo "| cold, $precision: $(label "$study") ($(slices_of "$study") slices) | $threads | $median | $rss_mib | $stages |"
  done
done
for study in "${studies[@]}"; do
  # The same file under RUNS+1 names (analyze refuses a study given twice); both studies
  # here are .nii.gz.
  rm -rf "$out/copies" "$out/batch" && mkdir "$out/copies"
  copies=()
  for ((i = 0; i <= runs; i++)); do
    ln -s "$(realpath "$study")" "$out/copies/copy_$i.nii.gz"
    copies+=("$out/copies/copy_$i.nii.gz")
  done
  for precision in "${precisions[@]}"; do
    rm -rf "$out/batch"
    /usr/bin/time -f "%e %M" -o "$out/time" "$bin" --threads "$threads" --detector-precision "$precision" analyze "${copies[@]}" \
      --out "$out/batch" >/dev/null 2>"$out/log"
    read -r _ kib <"$out/time"
    warm=$(grep -o 'total [0-9]* ms' "$out/log" | awk 'NR > 1 {print $2 / 1000}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    stages=$(grep -o 'timing:.*' "$out/log" | tail -n 1 | sed 's/timing: //')
    echo "| warm, $precision: $(label "$study"), studies 2-$((runs + 1)) of one process | $threads | $warm | $((kib / 1024)) | $stages |"
  done
done
if [ -n "$real_study" ]; then
  n=$(slices_of "$real_study")
  ref=$(/usr/bin/python3 bench/torchvision_retinanet.py --size 256 --slices "$n" --threads "$threads" --iterations "$runs" --warmup 1)
  ref_s=$(/usr/bin/python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["median_ms"] / 1000, 2))' "$ref")
  echo "| reference: torchvision RetinaNet-ResNet18-FPN forward + post-processing only, $n slices at 256x256 | $threads | $ref_s | | |"
  echo
  for precision in "${precisions[@]}"; do
    /usr/bin/python3 -c 'import sys; p = sys.argv[1]; c, r = map(float, sys.argv[2:]); print(f"whole spinescan study (cold, {p}) / torchvision detector only on the same slices: {c / r:.2f}x")' \
      "$precision" "${cold[$real_study,$precision]}" "$ref_s"
  done
  echo
fi
measure "$bin" --version
echo "| process start only (spinescan --version) | - | $median | $rss_mib | |"
if [ -d "$(dirname "$bin")/trimmed-libs" ]; then
  # LD_LIBRARY_PATH is searched before the build's run path: the system library is loaded.
  stock=(env LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu)
  measure "${stock[@]}" "$bin" --version
  echo "| process start, Debian's libtorch_cpu as installed | - | $median | $rss_mib | |"
  last_study=${studies[-1]}
  measure "${stock[@]}" "$bin" --threads "$threads" analyze "$last_study" --out "$out/report"
  echo "| cold: $(label "$last_study"), Debian's libtorch_cpu as installed | $threads | $median | $rss_mib | $(grep -o 'timing:.*' "$out/log" | sed 's/timing: //') |"
fi
