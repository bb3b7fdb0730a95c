#!/usr/bin/env bash
# The aggregator with and without the columns that read each body against the rest of its study
# (p_max_vs_study, p_mean_vs_study, signal_vs_study; docs/model_card.md, "Each body against its
# own study"): both arms on the records of a scripts/painted_five_folds.sh run, five folds each
# ("base" also drops the three columns; both drop focal_bright and focal_dark as shipped), each
# fold's aggregator put into a copy of that run's fold bundle, evaluated on that fold's
# held-out cases of each painting SEED given, and pooled at each fold's threshold
# (scripts/out_of_fold.sh: OUT/ARM/eval_sSEED/foldK and OUT/ARM/eval_sSEED/pool).
# Each stage is skipped when its output exists. About 6 minutes for the aggregators (records
# cached by the five-fold run) and 6 minutes per painting on 2 cores.
# Usage: scripts/study_columns_ab.sh FIVE_FOLD_RUN OUT SEED...   e.g. runs/ivall_ff runs/ctx 43 47 41
# PAINTED: where the run's paintings are (default FIVE_FOLD_RUN/painted; the records' cache key
# names it); a painting SEED missing there is painted with the run's options.
set -euo pipefail
cd "$(dirname "$0")/.."
run=$1 out=$2
shift 2
bin=${SPINESCAN:-build/spinescan}
painted=${PAINTED:-$run/painted}
split=models/default/splits_spine_mri.json
study_columns=p_max_vs_study,p_mean_vs_study,signal_vs_study
extra=$(printf "$painted/s%s," 13 14 15 16 17 18 19); extra=${extra%,}
classifiers=$(printf "$(readlink -f "$run/classifiers")/fold%s," 0 1 2 3 4); classifiers=${classifiers%,}
for arm in base columns; do
  drop=focal_bright,focal_dark
  [[ $arm == base ]] && drop=$drop,$study_columns
  for k in 0 1 2 3 4; do
    agg=$out/$arm/fold$k
    [[ -f $agg/aggregator_spec.json ]] && continue
    mkdir -p "$agg" && cp "$run/aggregators/fold$k"/records*.jsonl "$agg/"
    "$bin" --threads 2 train aggregator --data "$painted/s11" --extra-data "$extra" --split "$split" --fold "$k" \
      --model models/default --out "$agg" --classifiers "$classifiers" --max-healthy-flag-rate 0.25 --drop-features "$drop" > "$agg.log" 2>&1
  done
  for k in 0 1 2 3 4; do
    b=$out/$arm/bundle$k
    [[ -f $b/manifest.json ]] && continue
    rm -rf "$b.tmp" && cp -r "$run/bundles/fold$k" "$b.tmp"
    "$bin" -q model add-aggregator "$out/$arm/fold$k" --bundle "$b.tmp" > /dev/null
    mv "$b.tmp" "$b"
  done
done
for seed in "$@"; do
  [[ -f $painted/s$seed/lesions.csv ]] ||
    "$bin" -q synth lesions --data ../shared/data/spine-mri --out "$painted/s$seed" --seed "$seed" --fraction 0.45 --source-labels healthy --overwrite
  for arm in base columns; do
    SPINESCAN=$bin SPLIT=$split scripts/out_of_fold.sh "$out/$arm/bundle" "$out/$arm/eval_s$seed" "$painted/s$seed"
  done
done
