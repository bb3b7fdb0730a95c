#!/usr/bin/env bash
# The PACS worker beside a real Orthanc, measured in one run on this machine:
#   - Orthanc's REST round trip (GET /system, median of 20);
#   - per series, from "stable" to "results stored", split into the worker's fetch, analysis
#     and store (its own log line) and the wait for its next look at the change log;
#   - throughput: N series uploaded at once, analysed back to back (studies per hour).
# Usage: bench/run_pacs_bench.sh [N_SERIES=6] [POLL_SECONDS=1]
# Needs build/spinescan, build/bench/spinescan_write_dicom_series, Debian's orthanc + orthanc-dicomweb, curl and python3 (setup installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-6}
poll=${2:-1}
bin=${SPINESCAN_BIN:-build/spinescan}
work=$(mktemp -d /tmp/spinescan-pacs-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; scripts/pacs/local_orthanc.sh stop "$work/orthanc"; rm -rf "$work"' EXIT
stable_age=1
url=$(scripts/pacs/local_orthanc.sh start "$work/orthanc" "$stable_age")
echo "== Orthanc REST round trip (GET /system, 20 times)"
for _ in $(seq 20); do curl -s -o /dev/null -w '%{time_total}\n' "$url/system"; done |
  python3 -c 'import sys,statistics as s;v=[float(x)*1000 for x in sys.stdin];print(f"median {s.median(v):.2f} ms, max {max(v):.2f} ms")'

# N sagittal DICOM series of the bundled example, one study each.
build/bench/spinescan_write_dicom_series examples/phantom_study.nii.gz "$work/series" "$n"

"$bin" --threads 2 worker --orthanc "$url" --state "$work/state" --poll-seconds "$poll" > "$work/worker.log" 2>&1 &
for _ in $(seq 100); do grep -q "worker: watching" "$work/worker.log" && break; sleep 0.2; done

count_sr() { curl -s "$url/tools/find" -d '{"Level":"Series","Query":{"Modality":"SR"}}' | python3 -c 'import json,sys;print(len(json.load(sys.stdin)))'; }

echo "== one series at a time (worker warm, idle between series)"
for i in 1 2 3; do
  before=$(count_sr)
  t0=$(date +%s.%N)
  for f in "$work/series/$i"/*.dcm; do curl -s -X POST "$url/instances" --data-binary @"$f" > /dev/null; done
  t_uploaded=$(date +%s.%N)
  while [ "$(count_sr)" -le "$before" ]; do sleep 0.05; done
  t_done=$(date +%s.%N)
  python3 -c "print(f'series $i: upload {($t_uploaded-$t0)*1000:.0f} ms; uploaded -> stored {($t_done-$t_uploaded):.2f} s, of which Orthanc StableAge $stable_age s')"
  grep "analysed:" "$work/worker.log" | tail -n 1 | sed 's/^/  worker: /'
done

echo "== throughput: $((n - 3)) series uploaded at once"
before=$(count_sr)
t0=$(date +%s.%N)
for i in $(seq 4 "$n"); do for f in "$work/series/$i"/*.dcm; do curl -s -X POST "$url/instances" --data-binary @"$f" > /dev/null; done; done
t_uploaded=$(date +%s.%N)
while [ "$(count_sr)" -lt $((before + n - 3)) ]; do sleep 0.1; done
t_done=$(date +%s.%N)
python3 -c "m=$n-3; d=$t_done-$t_uploaded; print(f'{m} series stored {d:.1f} s after the upload ended: {m/d*3600:.0f} studies per hour (StableAge $stable_age s included once)')"
grep -c "analysed:" "$work/worker.log" | sed 's/^/series analysed in all: /'
