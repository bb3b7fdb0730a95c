#!/usr/bin/env bash
# What analyze refuses, measured: every study of `synth off-target` for seeds 1..N must be
# refused (exit 1, "not analysed" or a read error), and no real lumbar study of DATA may be.
# Prints both counts and the column geometry of the real studies beside the bounds of
# pipeline/fitness.h (their margins). Usage:
#   [SPINESCAN=BINARY] scripts/refusal_check.sh [DATA (default ../shared/data/spine-mri)] [SEEDS (default 5)] [OUT (default runs/refusal_check)]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:-../shared/data/spine-mri}
seeds=${2:-5}
out=${3:-runs/refusal_check}
bin=${SPINESCAN:-build/spinescan}  # SPINESCAN=a copied binary, for a run beside a rebuild
rm -rf "$out"
mkdir -p "$out"

off_total=0
off_refused=0
for seed in $(seq 1 "$seeds"); do
  "$bin" -q synth off-target --out "$out/off_target_$seed" --seed "$seed" >/dev/null
  mapfile -t files < <(tail -n +2 "$out/off_target_$seed/off_target.csv" | cut -d, -f1)
  paths=()
  for f in "${files[@]}"; do paths+=("$out/off_target_$seed/$f"); done
  set +e
  "$bin" --threads 2 analyze "${paths[@]}" --keep-identifiers --out "$out/off_target_reports_$seed" >"$out/off_target_$seed.out" 2>"$out/off_target_$seed.err"
  set -e
  analysed=$(sed -n 's/^\([0-9]*\) of [0-9]* studies analysed.*/\1/p' "$out/off_target_$seed.out")
  off_total=$((off_total + ${#files[@]}))
  off_refused=$((off_refused + ${#files[@]} - analysed))
  echo "off-target seed $seed: $((${#files[@]} - analysed)) of ${#files[@]} refused"
  for f in "${files[@]}"; do
    name=${f%.nii.gz}
    report="$out/off_target_reports_$seed/$name/report.json"
    if [ -f "$report" ] && grep -q '"status": "analysed"' "$report"; then
      grep -q '"verdicts_withheld": true' "$report" && echo "  analysed, verdicts withheld: $f" || echo "  analysed, with verdicts: $f"
    fi
  done
done

if [ -d "$data/cases" ]; then
  set +e
  "$bin" --threads 2 analyze "$data"/cases/*/image.nii.gz --keep-identifiers --out "$out/real_reports" >"$out/real.out" 2>"$out/real.err"
  set -e
  python3 - "$out/real_reports" <<'EOF'
import json, pathlib, sys
reports = sorted(pathlib.Path(sys.argv[1]).glob("*/report.json"))
rows = [(p.parent.name, json.loads(p.read_text())) for p in reports]
refused = [(n, r["not_analysed_because"]) for n, r in rows if r["status"] != "analysed"]
withheld = [n for n, r in rows if r.get("out_of_distribution", {}).get("verdicts_withheld")]
print(f"real studies: {len(rows) - len(refused)} of {len(rows)} analysed, {len(refused)} refused, verdicts withheld on {len(withheld)}")
for n, why in refused:
    print(f"  refused {n}: {why}")
checks = sorted(r["timing_ms"].get("fitness_checks", 0) / sum(r["timing_ms"].values()) for _, r in rows)
print(f"  fitness checks: {100 * checks[len(checks) // 2]:.2f} % of the analysis time (median; max {100 * checks[-1]:.2f} %)")
keys = ["num_bodies", "median_body_height_mm", "median_body_depth_mm", "max_step_body_heights", "max_step_angle_deg",
        "max_overlap_fraction", "num_off_column"]
for k in keys:
    vals = sorted(r["column"][k] for _, r in rows if r["column"]["num_bodies"] >= 2)
    print(f"  {k:24s} min {vals[0]:7.2f}  median {vals[len(vals) // 2]:7.2f}  max {vals[-1]:7.2f}")
EOF
else
  echo "no real data at $data: real studies not checked"
fi
echo "off-target: $off_refused of $off_total refused"
