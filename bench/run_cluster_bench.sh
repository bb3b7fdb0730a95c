#!/usr/bin/env bash
# An archive of N phantom studies analysed two ways, in one run on this machine:
#   - one process over the whole manifest (models loaded once);
#   - scripts/slurm/analyze_array.sbatch as an array of TASKS shards on a private one-node
#     Slurm (scripts/slurm/local_cluster.sh), each task with CORES/TASKS cores.
# Usage: bench/run_cluster_bench.sh [N=12] [TASKS=2]   (run as root: the private slurmd starts the jobs)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-12}
tasks=${2:-2}
cores=$(nproc)
per_task=$(( cores / tasks > 0 ? cores / tasks : 1 ))
bin=$(realpath "${SPINESCAN_BIN:-build/spinescan}")
work=$(mktemp -d /tmp/spinescan-cluster-bench.XXXXXX)
trap 'scripts/slurm/local_cluster.sh stop "$work/slurm" > /dev/null 2>&1 || true; rm -rf "$work"' EXIT
mkdir -p "$work/archive"
printf 'name\tpath\n' > "$work/archive/studies.tsv"
for i in $(seq -w 1 "$n"); do
  cp examples/phantom_study.nii.gz "$work/archive/case_$i.nii.gz"
  printf 'case_%s\tcase_%s.nii.gz\n' "$i" "$i" >> "$work/archive/studies.tsv"
done

echo "== $n studies, $cores cores"
t0=$(date +%s.%N)
"$bin" --threads "$cores" analyze --manifest "$work/archive/studies.tsv" --out "$work/one" > "$work/one.log" 2>&1
t1=$(date +%s.%N)
python3 -c "print(f'one process:                {$t1-$t0:.1f} s  ({($t1-$t0)/$n:.2f} s per study)')"

export SLURM_CONF
SLURM_CONF=$(scripts/slurm/local_cluster.sh start "$work/slurm")
# A fresh cluster's first job waits for the node's first registration and scheduling pass;
# measured apart so the array's time is what a running cluster gives.
t0=$(date +%s.%N)
sbatch --wait --quiet --output=/dev/null --wrap true
t1=$(date +%s.%N)
python3 -c "print(f'first job on the fresh cluster (true): {$t1-$t0:.1f} s')"
t0=$(date +%s.%N)
(cd "$work" && SPINESCAN=$bin sbatch --wait --quiet --array=0-$((tasks - 1)) --cpus-per-task="$per_task" \
  "$OLDPWD/scripts/slurm/analyze_array.sbatch" "$work/archive/studies.tsv" "$work/array")
t1=$(date +%s.%N)
# sbatch --wait notices the end only at its next poll (whole seconds); the last report's
# time says when the work ended.
last=$(find "$work/array" -name report.json -printf '%T@\n' | sort -n | tail -n 1)
python3 -c "print(f'Slurm array, $tasks tasks x $per_task cores: last report {$last-$t0:.1f} s after submission ({($last-$t0)/$n:.2f} s per study); sbatch --wait returned after {$t1-$t0:.1f} s')"
t0=$(date +%s.%N)
(cd "$work" && SPINESCAN=$bin sbatch --wait --quiet --array=0-$((tasks - 1)) --cpus-per-task="$per_task" \
  "$OLDPWD/scripts/slurm/analyze_array.sbatch" "$work/archive/studies.tsv" "$work/array")
t1=$(date +%s.%N)
python3 -c "print(f'the same array again:       {$t1-$t0:.1f} s  (every study already reported)')"
for f in "$work"/spinescan_*.out; do grep -h "^shard\|studies analysed" "$f" | tr '\n' ' '; echo; done
echo "reports: $(ls "$work/array" | wc -l) of $n"
