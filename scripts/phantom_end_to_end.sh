#!/bin/bash
# The whole method trained and measured on phantoms, end to end (docs/analyze.md, "Phantoms"):
# 200 phantoms (seed 21) in 5 folds; a detector on fold 0's training cases (S1 is a labelled
# body in phantoms, unlike SPIDER); five fold classifiers; the aggregator on their
# out-of-fold outputs; then `evaluate` on fold 0's held-out cases and on four sets of new
# phantoms (seeds 12-15) that no model saw. About 2 hours on 2 cores. Steps already
# done are skipped, so an interrupted run continues.
#
#   scripts/phantom_end_to_end.sh OUT_DIR [THREADS]
set -euo pipefail
OUT=${1:?usage: scripts/phantom_end_to_end.sh OUT_DIR [THREADS]}
T=${2:-2}
B=${SPINESCAN:-$(dirname "$0")/../build/spinescan}
mkdir -p "$OUT"
P=$OUT/phantom200
S=$OUT/phantom200_splits.json
# 160 training cases per fold: with 64 (80 phantoms), the classifier missed a third of the
# focal tumours on new phantoms (vertebra F1 0.84-0.94 on ground-truth boxes). 60 epochs:
# after 20 the classifier still missed 27 of 85 tumours on four phantom sets (docs/model_card.md).
[ -d "$P" ] || "$B" --threads "$T" synth --out "$P" --cases 200 --seed 21
[ -f "$S" ] || "$B" dataset split "$P" --folds 5 --seed 0 --out "$S"

# Detector: a half-width ResNet-18 and 64-channel heads are enough for phantoms (600 steps).
[ -f "$OUT/det/best/detector.pt" ] || "$B" --threads "$T" train detector --data "$P" --split "$S" --fold 0 \
  --out "$OUT/det" --epochs 15 --samples-per-epoch 320 --width-divisor 2 --fpn-channels 64 --inner-val-cases 6 --seed 0

for k in 0 1 2 3 4; do
  [ -f "$OUT/cls/fold$k/result.json" ] || "$B" --threads "$T" train classifier --data "$P" --split "$S" --fold $k \
    --out "$OUT/cls/fold$k" --epochs 60 --samples-per-epoch 2048 --preset micro --lr 2e-3 --augment 0.3 \
    --drop-path 0 --patience 60 --inner-val-cases 16 --seed $k
done

BUNDLE=$OUT/bundle
if [ ! -f "$BUNDLE/aggregator.json" ]; then
  "$B" model add-detector "$OUT/det" --bundle "$BUNDLE"
  "$B" model add-classifier "$OUT/cls/fold0" --bundle "$BUNDLE"
  C=$OUT/cls
  "$B" --threads "$T" train aggregator --data "$P" --split "$S" --fold 0 \
    --classifiers "$C/fold0,$C/fold1,$C/fold2,$C/fold3,$C/fold4" --model "$BUNDLE" --out "$OUT/agg"
  "$B" model add-aggregator "$OUT/agg" --bundle "$BUNDLE"
fi
# The level model (phantoms label S1: it learns to count from there); `train levels` is the only
# way one gets into a bundle.
if ! python3 -c 'import json,sys; sys.exit("levels" not in json.load(open(sys.argv[1])))' "$BUNDLE/manifest.json"; then
  "$B" --threads "$T" train levels --data "$P" --split "$S" --fold 0 --model "$BUNDLE" --out "$OUT/levels"
  "$B" model add-levels "$OUT/levels" --bundle "$BUNDLE"
fi

[ -f "$OUT/eval_fold0/metrics.json" ] || "$B" --threads "$T" evaluate --data "$P" --split "$S" --fold 0 \
  --model "$BUNDLE" --out "$OUT/eval_fold0"
for seed in 12 13 14 15; do
  F=$OUT/fresh$seed
  [ -d "$F" ] || "$B" --threads "$T" synth --out "$F" --cases 30 --seed $seed
  [ -f "$OUT/eval_fresh$seed/metrics.json" ] || "$B" --threads "$T" evaluate --data "$F" \
    --cases "$(ls "$F/cases" | paste -sd,)" --model "$BUNDLE" --out "$OUT/eval_fresh$seed"
done
echo "out-of-fold numbers: $OUT/agg/metrics.json; held out: $OUT/eval_fold0, $OUT/eval_fresh{12,13,14,15}"
