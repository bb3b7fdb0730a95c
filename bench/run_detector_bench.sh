#!/usr/bin/env bash
# Side-by-side detector inference benchmark, one run: spinescan's detector (C++, libtorch)
# and torchvision's RetinaNet-ResNet18-FPN (Python), same input size and thread count.
# Usage: bench/run_detector_bench.sh [THREADS] [ITERATIONS]   (build first: scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
iterations=${2:-20}
ours_256=$(build/bench/spinescan_bench_detector --size 256 --threads "$threads" --iterations "$iterations")
ref_256=$(/usr/bin/python3 bench/torchvision_retinanet.py --size 256 --threads "$threads" --iterations "$iterations")
ref_512=$(/usr/bin/python3 bench/torchvision_retinanet.py --size 512 --threads "$threads" --iterations "$((iterations / 2 + 1))")
echo "$ours_256"
echo "$ref_256"
echo "$ref_512"
/usr/bin/python3 - "$ours_256" "$ref_256" "$ref_512" <<'PY'
import json, sys
ours, ref, ref512 = (json.loads(a) for a in sys.argv[1:])
print()
print("| model | input | threads | median ms / slice | parameters |")
print("|---|---|---|---|---|")
for r in (ours, ref, ref512):
    print(f"| {r['model']} | {r['size']}x{r['size']} | {r['threads']} | {r['median_ms']:.1f} | {r['parameters'] / 1e6:.2f} M |")
print()
print(f"speed-up at the same size: {ref['median_ms'] / ours['median_ms']:.2f}x; "
      f"against torchvision on a 512x512 slice: {ref512['median_ms'] / ours['median_ms']:.2f}x")
PY
