#!/usr/bin/env python3
"""Compare `train aggregator` runs on the cases that choose, apart from the held-out fold.

Reads each run's out_of_fold.csv and prints, for the training folds (the inner
cross-validation's out-of-fold scores: what a design choice may look at) and for the held-out
fold apart, the vertebra AUC of the aggregator's probability against the run's own target and
the F1 at the run's threshold. A body the detector missed counts as p 0, as in `evaluate`.
Runs compare only on the same --data (the same bodies and labels).

usage: scripts/compare_oof.py HELDOUT_FOLD RUN_FOLDER [RUN_FOLDER ...]
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize_classifier_cv import metrics  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    heldout = sys.argv[1]
    for run in sys.argv[2:]:
        rows = [r for r in csv.DictReader(open(os.path.join(run, 'out_of_fold.csv'))) if r['target'] in ('0', '1')]
        threshold = float(rows[0]['threshold'])
        for name, chosen in (('training folds', lambda r: r['fold'] != heldout), ('fold ' + heldout, lambda r: r['fold'] == heldout)):
            m = metrics([(float(r['aggregator']) if r['found'] == '1' else 0.0, int(r['target']), threshold)
                         for r in rows if chosen(r)])
            print(f"{run}  {name:<15} n={m['n']:<4} AUC {m['auc']:.3f}  F1 {m['f1']:.3f} at p >= {threshold:.3f}")


if __name__ == '__main__':
    main()
