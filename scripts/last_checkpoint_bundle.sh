#!/usr/bin/env bash
# A classifier run's last checkpoint as a bundle folder, for reading what training reached when
# early stopping kept an earlier epoch (an inner validation too small to rank a rare finding).
# The calibration is set to the identity (scale 1, bias 0): the checkpoint has none of its own,
# and the best epoch's Platt fit belongs to other weights. Rank measures (AUC) and paired
# responses read it; thresholded ones do not mean anything.
# Usage: scripts/last_checkpoint_bundle.sh RUN OUT
# then:  build/spinescan evaluate classifier --data DIR --split S --fold K --model OUT --out EVAL
set -euo pipefail
run=${1:?usage: scripts/last_checkpoint_bundle.sh RUN OUT}
out=${2:?usage: scripts/last_checkpoint_bundle.sh RUN OUT}
[[ -f "$run/checkpoints/last.json" && -f "$run/best/manifest.json" ]] || { echo "$run: not a classifier run with a checkpoint" >&2; exit 1; }
last=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['folder'])" "$run/checkpoints/last.json")
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
cp "$run/checkpoints/$last/model.pt" "$out.tmp/classifier.pt"
python3 - "$run/best/manifest.json" "$out.tmp/manifest.json" "$last" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["classifier"]["calibration"] = {"scale": 1.0, "bias": 0.0}
m["classifier"]["weights"] = "classifier.pt"
m["classifier"]["provenance"]["checkpoint"] = sys.argv[3] + " (last; calibration set to the identity)"
json.dump(m, open(sys.argv[2], "w"), indent=2)
PY
rm -rf "$out" && mv "$out.tmp" "$out"
echo "$out: $run's $last"
