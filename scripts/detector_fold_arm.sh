#!/usr/bin/env bash
# One arm of a detector A/B on a fold of the shipped split: the shipped detector's recipe shortened
# to 12 epochs (best epoch by inner validation), plus the candidate's flags, then `evaluate
# detector` on the fold's held-out cases, printed per source with the recall by cross-section
# (sections through the side of a body are where an unseen scanner's misses are). Resumes an
# interrupted run. The 2.5D context and the side-slice sampling were measured this way
# (docs/model_card.md); about 15 minutes per arm on 2 idle cores.
# Usage: scripts/detector_fold_arm.sh OUT [DATA] [extra train flags...]   (FOLD, default 0)
# e.g.   scripts/detector_fold_arm.sh runs/side/base && scripts/detector_fold_arm.sh runs/side/s30 ../shared/data/spine-mri --side-fraction 0.3
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/detector_fold_arm.sh OUT [DATA] [extra train flags...]}
data=${2:-../shared/data/spine-mri}
shift $(($# < 2 ? $# : 2))
fold=${FOLD:-0}
bin=${SPINESCAN:-build/spinescan}
split=${SPLIT:-models/default/splits_spine_mri.json}
mkdir -p "$out"
if [[ ! -f "$out/train/done" ]]; then
  resume=()
  [[ -f "$out/train/checkpoints/last.json" ]] && resume=(--resume)
  "$bin" train detector --data "$data" --split "$split" --fold "$fold" --out "$out/train" \
    --epochs 12 --samples-per-epoch 320 --batch 8 --lr 8e-4 --seed 0 "${resume[@]}" "$@"
  touch "$out/train/done"
fi
"$bin" -q evaluate detector --data "$data" --model "$out/train" --split "$split" --fold "$fold" --out "$out/eval" >/dev/null
python3 - "$out/eval/metrics.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for source, d in sorted(m["per_source"].items()):
    groups = d.get("by_cross_section", {})
    side = " / ".join(f"{groups[g]['recall_at_50']:.3f}" if g in groups else "-" for g in ("under 25 %", "25-50 %"))
    print(f"{source}: {d['num_bodies']} instances, mean IoU {d['mean_iou']:.3f}, recall@0.5 {d['recall_at_50']:.3f}, "
          f"precision@0.5 {d['precision_at_50']:.3f}, AP50 {d['ap50']:.3f}, "
          f"false positives per slice {d.get('false_positives_per_slice', float('nan')):.2f}, "
          f"recall in sections under 25 % / 25-50 % {side}")
PY
