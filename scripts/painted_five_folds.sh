#!/usr/bin/env bash
# The shipped verdict recipe measured on every case, each judged by models that never saw it:
# paints the real dataset with the eight training seeds and with HELDOUT_SEED, trains the
# painted classifier of each of the five folds and the aggregator of each fold (the recipes of
# docs/model_card.md, "More paintings of each case"; `train aggregator --fold k` fits its trees
# and chooses its threshold without fold k's cases, on records computed once and shared),
# puts fold k's classifier and aggregator into a copy of the bundle and evaluates fold k's
# held-out cases painted with HELDOUT_SEED; then adds up the five evaluations, each at its own
# fold's threshold (scripts/out_of_fold.sh): 343 bodies instead of one fold's 73. The bundle's detector and level model stay: they were
# trained on folds 1-4, so those folds' boxes are better than new data's.
# Each stage is skipped when its output exists, so an interrupted run picks up where it stopped.
# About 80 minutes on 2 cores (paintings 13, classifiers 25, aggregator records 35). The recipe
# shipped since 2026-12-06 (early stopping on all eight paintings' inner-validation cases); the
# one before is this script at git e4ee071 (runs/five_folds in docs/model_card.md).
# Usage: scripts/painted_five_folds.sh [OUT (default runs/five_folds)] [DATA] [HELDOUT_SEED (default 41)]
# CLASSIFIER_ARGS adds flags to each fold's `train classifier` (a candidate recipe, e.g.
# CLASSIFIER_ARGS=--balance-findings); paintings already in OUT/painted are reused. TRAIN_SEEDS
# replaces the eight training paintings (e.g. TRAIN_SEEDS="11 13 14 15 16 17 18 19 81 82 83 84 85
# 86 87 88" for sixteen: about 15 GiB while a classifier trains). AGGREGATOR_SEEDS (default
# TRAIN_SEEDS) are the paintings the aggregators' records are computed on (about 3 minutes per
# painting), e.g. the eight when only the classifiers' paintings are the question.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/five_folds}
data=${2:-../shared/data/spine-mri}
heldout_seed=${3:-41}
bin=${SPINESCAN:-build/spinescan}
read -r -a classifier_args <<< "${CLASSIFIER_ARGS:-}"
bundle=${BUNDLE:-models/default}
split=$bundle/splits_spine_mri.json
mkdir -p "$out/painted" "$out/classifiers" "$out/bundles" "$out/eval"

# TRAIN_SEEDS: the training paintings' seeds, the first one --data, the rest --extra-data.
read -r -a train_seeds <<< "${TRAIN_SEEDS:-11 13 14 15 16 17 18 19}"
for s in "${train_seeds[@]}" "$heldout_seed"; do
  [[ -f "$out/painted/s$s/lesions.csv" ]] && continue
  "$bin" -q synth lesions --data "$data" --out "$out/painted/s$s" --seed "$s" --fraction 0.45 --source-labels healthy --overwrite
done
extra=$(printf "$out/painted/s%s," "${train_seeds[@]:1}")
extra=${extra%,}
read -r -a aggregator_seeds <<< "${AGGREGATOR_SEEDS:-${train_seeds[*]}}"
for s in "${aggregator_seeds[@]}"; do
  [[ " ${train_seeds[*]} " == *" $s "* ]] || { echo "AGGREGATOR_SEEDS: $s is not one of TRAIN_SEEDS" >&2; exit 1; }
done
aggregator_extra=$(printf "$out/painted/s%s," "${aggregator_seeds[@]:1}")
aggregator_extra=${aggregator_extra%,}
for k in 0 1 2 3 4; do
  run=$out/classifiers/fold$k
  [[ -f "$run/done" ]] && continue
  resume=()
  [[ -f "$run/checkpoints/last.json" ]] && resume=(--resume)
  "$bin" --threads 2 train classifier --data "$out/painted/s${train_seeds[0]}" --extra-data "$extra" --split "$split" \
    --fold "$k" --seed "$k" --out "$run" --balance within-source --inner-val-cases 8 --preset micro --lr 2e-3 \
    --augment 0.3 --drop-path 0 --epochs 80 --samples-per-epoch 2048 --patience 20 --inner-val-all-paintings \
    "${classifier_args[@]}" "${resume[@]}"
  touch "$run/done"
done
classifiers=$(printf "$out/classifiers/fold%s," 0 1 2 3 4)
classifiers=${classifiers%,}
mkdir -p "$out/aggregators"
for k in 0 1 2 3 4; do
  agg=$out/aggregators/fold$k
  if [[ ! -f "$agg/aggregator_spec.json" ]]; then
    mkdir -p "$agg"
    # The records (every painting through the five classifiers) do not depend on --fold: computed once.
    [[ $k -gt 0 && ! -f "$agg/records.jsonl" ]] && cp "$out/aggregators/fold0"/records*.jsonl "$agg/"
    "$bin" --threads 2 train aggregator --data "$out/painted/s${aggregator_seeds[0]}" --extra-data "$aggregator_extra" --split "$split" \
      --fold "$k" --model "$bundle" --out "$agg" --classifiers "$classifiers" --max-healthy-flag-rate 0.25 \
      --drop-features focal_bright,focal_dark >/dev/null
  fi
  b=$out/bundles/fold$k
  if [[ ! -f "$b/manifest.json" ]]; then
    rm -rf "$b.tmp" && cp -r "$bundle" "$b.tmp"
    "$bin" -q model add-classifier "$out/classifiers/fold$k" --bundle "$b.tmp" >/dev/null
    "$bin" -q model add-aggregator "$agg" --bundle "$b.tmp" >/dev/null
    mv "$b.tmp" "$b"
  fi
done
# Each fold's bundle on its held-out cases painted with HELDOUT_SEED, pooled at each fold's own
# threshold (the verdicts the five bundles made), with the AUC, calibration and bootstrap intervals
# over all 343 bodies at once: OUT/eval/pool. Each fold's own numbers are in OUT/eval/foldK/metrics.json.
SPINESCAN=$bin SPLIT=$split EVALUATE_ARGS="--reports 0" scripts/out_of_fold.sh "$out/bundles/fold" "$out/eval" "$out/painted/s$heldout_seed"
