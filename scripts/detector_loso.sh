#!/usr/bin/env bash
# The detector on a scanner it never saw: leave one source out. Trains on every source but
# HELDOUT (its best epoch chosen on inner-validation cases of the training sources) and
# evaluates on HELDOUT's cases, reporting mean IoU and recall at IoU 0.5 for that source.
# Resumes an interrupted training run. Usage:
#   [EPOCHS=16] scripts/detector_loso.sh [HELDOUT (default vb2)] [OUT (default runs/det_loso_HELDOUT)] [DATA] [extra train flags...]
# e.g. scripts/detector_loso.sh vb2 runs/det_loso_vb2_noaug ../shared/data/spine-mri --augment 0
set -euo pipefail
cd "$(dirname "$0")/.."
heldout=${1:-vb2}
out=${2:-runs/det_loso_$heldout}
data=${3:-../shared/data/spine-mri}
shift $(($# < 3 ? $# : 3))
bin=${SPINESCAN:-build/spinescan}
epochs=${EPOCHS:-16}  # the shipped detector had 24
mkdir -p "$out"

"$bin" -q dataset split "$data" --by-source --out "$out/splits_by_source.json"
fold=$(python3 - "$out/splits_by_source.json" "$heldout" <<'EOF'
import json, sys
folds = json.load(open(sys.argv[1]))["folds"]
hits = [i for i, f in enumerate(folds) if f["val"] and all(c.split("_")[0] == sys.argv[2] for c in f["val"])]
if not hits:
    sys.exit(f"no fold holds out source {sys.argv[2]!r}")
print(hits[0])
EOF
)
resume=()
[[ -f "$out/train/checkpoints/last.json" ]] && resume=(--resume)
# The shipped detector's recipe, shortened to 16 epochs unless EPOCHS says otherwise (docs/model_card.md gives both).
"$bin" train detector --data "$data" --split "$out/splits_by_source.json" --fold "$fold" --out "$out/train" \
  --epochs "$epochs" --samples-per-epoch 320 --batch 8 --lr 8e-4 --seed 0 "${resume[@]}" "$@"
"$bin" -q evaluate detector --data "$data" --model "$out/train" --split "$out/splits_by_source.json" --fold "$fold" \
  --out "$out/eval" >/dev/null
python3 - "$out/eval/metrics.json" "$heldout" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
d = m["per_source"][sys.argv[2]]
print(f"held-out source {sys.argv[2]}: {len(m['cases'])} cases, {d['num_bodies']} body instances on slices through bodies")
print(f"  mean IoU {d['mean_iou']:.3f}, recall@0.5 {d['recall_at_50']:.3f}, precision@0.5 {d['precision_at_50']:.3f}, "
      f"AP50 {d['ap50']:.3f}")
if d["num_bodies_pathological"]:
    print(f"  mean IoU on pathological bodies {d['mean_iou_pathological']:.3f} ({d['num_bodies_pathological']} instances)")
worst = sorted(m["per_case"], key=lambda c: c["recall_at_50"])[:3]
print("  lowest recall: " + ", ".join(f"{c['case']} {c['recall_at_50']:.2f}" for c in worst))
EOF
