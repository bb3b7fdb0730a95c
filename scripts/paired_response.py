#!/usr/bin/env python3
"""Does the classifier see a painted lesion, or only fail to tell it from healthy marrow?

A painted body exists twice: in the painted dataset and, unchanged but for the lesion, in the
source dataset. Scoring both with one classifier (`spinescan evaluate classifier`, ground-truth
boxes, same cases) separates two ways of missing a finding:
  - response: painted minus original probability on the slices where the lesion shows
    (lesions.csv `visible_slices`), the same anatomy with and without the lesion. Near 0: the
    classifier does not see the lesion at all.
  - AUC: painted bodies (mean over slices) against the unpainted healthy-labelled bodies of the
    painted dataset, per finding, for all painted bodies and for the subtle ones. Low AUC with
    a clear response: healthy bodies vary as much as the lesion moves a body (real marrow
    holds bright and dark spots of its own).

Each PAIR is ORIGINAL_EVAL:PAINTED_EVAL, two `evaluate classifier` folders of the same cases and
model (e.g. one per fold); the pairs are pooled.

usage: scripts/paired_response.py PAINTED_DATASET ORIGINAL_EVAL:PAINTED_EVAL...
"""
import csv
import os
import sys
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from painted_oof import auc  # noqa: E402


def auc_or_nan(positives, negatives):
    value = auc(positives, negatives)  # None when a group is empty
    return float("nan") if value is None else value


def slice_probabilities(folder):
    with open(folder + "/slices.csv") as f:
        return {(r["case"], r["label"], int(r["slice"])): float(r["probability"]) for r in csv.DictReader(f)}


def main():
    if len(sys.argv) < 3 or any(":" not in p for p in sys.argv[2:]):
        sys.exit(__doc__.strip().splitlines()[-1])
    lesions = {}
    with open(sys.argv[1] + "/lesions.csv") as f:
        for r in csv.DictReader(f):
            visible = {int(s) for s in r["visible_slices"].split(";") if s}
            for label in r["labels"].split(";"):
                lesions[(r["case"], label)] = (r["finding"], visible, r.get("subtle") == "1")
    response = defaultdict(list)  # finding -> [(mean delta, max delta)] per body
    painted_mean = defaultdict(list)  # finding ("healthy" for unpainted target 0) -> mean probability per body
    for pair in sys.argv[2:]:
        original_dir, painted_dir = pair.split(":", 1)
        original, painted = slice_probabilities(original_dir), slice_probabilities(painted_dir)
        for (case, label), (finding, visible, _) in lesions.items():
            deltas = [painted[(case, label, s)] - original[(case, label, s)] for s in sorted(visible)
                      if (case, label, s) in painted and (case, label, s) in original]
            if deltas:
                response[finding].append((sum(deltas) / len(deltas), max(deltas)))
        with open(painted_dir + "/predictions.csv") as f:
            for r in csv.DictReader(f):
                key = (r["case"], r["label"])
                if key in lesions:
                    finding, _, subtle = lesions[key]
                    painted_mean[finding].append(float(r["mean_probability"]))
                    painted_mean["all painted"].append(float(r["mean_probability"]))
                    if subtle:
                        painted_mean["subtle"].append(float(r["mean_probability"]))
                elif r["target"] == "0":
                    painted_mean["healthy"].append(float(r["mean_probability"]))
    healthy = sorted(painted_mean["healthy"])
    if not healthy:
        sys.exit("no unpainted healthy-labelled body in the painted evaluations")
    q = lambda p: healthy[min(len(healthy) - 1, int(p * len(healthy)))]
    print(f"unpainted healthy bodies: {len(healthy)}, mean probability p10 {q(0.1):.3f}, "
          f"median {q(0.5):.3f}, p90 {q(0.9):.3f}")
    print("finding                bodies  response (median of per-body means)  bodies max > 0.1  AUC vs healthy")
    for finding in sorted(response):
        v = sorted(response[finding])
        print(f"{finding:22s} {len(v):6d}  {v[len(v) // 2][0]:+.3f}{'':31s}{sum(x[1] > 0.1 for x in v):6d}/{len(v):<9d}"
              f"{auc_or_nan(painted_mean[finding], healthy):.3f}")
    for group in ("all painted", "subtle"):  # bodies, not responses: AUC only
        print(f"{group:22s} {len(painted_mean[group]):6d}  {'':67s}{auc_or_nan(painted_mean[group], healthy):.3f}")


if __name__ == "__main__":
    main()
