#!/usr/bin/env bash
# Verdicts on the real, unpainted cases, each fold's held-out cases judged by that fold's bundle
# (e.g. the five bundles of scripts/painted_five_folds.sh), pooled at each fold's threshold: the
# flag rate of each source's healthy-labelled bodies over all cases instead of one fold's few.
# About 3 minutes on 2 cores for the 47 cases.
# Usage: scripts/real_out_of_fold.sh BUNDLE_PREFIX OUT [DATA]   e.g. runs/ivall_ff/bundles/fold runs/real_oof
# (fold k's bundle is BUNDLE_PREFIXk)
set -euo pipefail
cd "$(dirname "$0")/.."
bundles=$1 out=$2 data=${3:-../shared/data/spine-mri}
bin=${SPINESCAN:-build/spinescan}
mkdir -p "$out"
runs=()
for k in 0 1 2 3 4; do
  [[ -f $out/fold$k/metrics.json ]] || "$bin" -q --threads 2 evaluate --data "$data" --split models/default/splits_spine_mri.json \
    --fold "$k" --model "$bundles$k" --out "$out/fold$k" > "$out/fold$k.log" 2>&1
  runs+=("$out/fold$k")
done
"$bin" --threads 2 evaluate pool --per-run-thresholds "${runs[@]}" --out "$out/pool"
