#!/usr/bin/env python3
"""Where a bundle loses between the classifier on ground-truth boxes and the end-to-end verdict.

Reads the per-vertebra predictions of `spinescan evaluate classifier` (predictions.csv: the
classifier's max and mean over a body's ground-truth slices) and the per-vertebra rows of
`spinescan evaluate` on the same cases (vertebrae.csv: the maximum over the detector's boxes
and the aggregator's probability), and prints the vertebra AUC of each on the bodies both
scored (found, label 0 or 1), then the end-to-end AUC with the missed bodies counted as p 0.

usage: scripts/end_to_end_loss.py CLASSIFIER_PREDICTIONS_CSV PIPELINE_VERTEBRAE_CSV
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from painted_oof import auc  # noqa: E402


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    on_truth = {(r['case'], r['label']): r for r in csv.DictReader(open(sys.argv[1]))}
    end_to_end = {(r['case'], r['truth_label']): r for r in csv.DictReader(open(sys.argv[2]))}
    labelled = [k for k, r in end_to_end.items() if r['target'] in ('0', '1')]
    both = [k for k in labelled if k in on_truth and end_to_end[k]['found'] == '1']
    target = {k: end_to_end[k]['target'] == '1' for k in labelled}
    rows = [('classifier, mean over ground-truth slices', lambda k: float(on_truth[k]['mean_probability'])),
            ('classifier, max over ground-truth slices', lambda k: float(on_truth[k]['max_probability'])),
            ('classifier, max over the detector\'s boxes', lambda k: float(end_to_end[k]['max_probability'])),
            ('aggregator', lambda k: float(end_to_end[k]['probability']))]
    print(f'{len(both)} bodies scored by both, of {len(labelled)} labelled')
    for name, score in rows:
        print(f'{name:45s} AUC {auc([score(k) for k in both if target[k]], [score(k) for k in both if not target[k]]):.3f}')
    final = {k: float(end_to_end[k]['probability']) if end_to_end[k]['found'] == '1' else 0.0 for k in labelled}
    print(f'{"aggregator, missed bodies as p 0":45s} AUC '
          f'{auc([final[k] for k in labelled if target[k]], [final[k] for k in labelled if not target[k]]):.3f}')


if __name__ == '__main__':
    main()
