#!/usr/bin/env bash
# Every case of DATA judged by models that never saw it: each fold's held-out cases evaluated with
# that fold's bundle, then the folds pooled, each body at its own fold's threshold (`evaluate pool
# --per-run-thresholds`). On the real, unpainted cases this gives each source's healthy-labelled
# flag rate over all 47 cases instead of one fold's few; on a painting (DATA holds lesions.csv) the
# pool also reads the lesions and reports recall per lesion type. scripts/painted_five_folds.sh and
# scripts/study_columns_ab.sh end with it. A fold whose OUT/foldK/metrics.json exists is not
# evaluated again. About 3 minutes on 2 cores for the 47 cases.
# Usage: scripts/out_of_fold.sh BUNDLE_PREFIX OUT [DATA]   e.g. runs/ivall_ff/bundles/fold runs/real_oof
# (fold k's bundle is BUNDLE_PREFIXk; DATA defaults to ../shared/data/spine-mri). Writes OUT/foldK
# (each fold's evaluate, its log OUT/foldK.log) and OUT/pool (its printout OUT/pool.log).
# SPLIT: the split file (default models/default/splits_spine_mri.json); FOLDS: how many (default 5);
# EVALUATE_ARGS: more flags for each fold's evaluate (e.g. --reports 0).
set -euo pipefail
cd "$(dirname "$0")/.."
bundles=$1 out=$2 data=${3:-../shared/data/spine-mri}
bin=${SPINESCAN:-build/spinescan}
split=${SPLIT:-models/default/splits_spine_mri.json}
read -r -a evaluate_args <<< "${EVALUATE_ARGS:-}"
lesions=()
[[ -f $data/lesions.csv ]] && lesions=(--data "$data")
mkdir -p "$out"
runs=()
for ((k = 0; k < ${FOLDS:-5}; k++)); do
  [[ -f $out/fold$k/metrics.json ]] || "$bin" -q --threads 2 evaluate --data "$data" --split "$split" --fold "$k" \
    --model "$bundles$k" --out "$out/fold$k" "${evaluate_args[@]}" > "$out/fold$k.log" 2>&1
  runs+=("$out/fold$k")
done
"$bin" --threads 2 evaluate pool --per-run-thresholds "${runs[@]}" "${lesions[@]}" --out "$out/pool" | tee "$out/pool.log"
