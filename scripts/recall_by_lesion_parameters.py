#!/usr/bin/env python3
"""Which painted lesions the pipeline misses: recall per finding, split by the painter's own
parameters (lesions.csv: |contrast|, size in mm, bright or dark, height loss of a fracture,
subtle or not).

Reads the vertebrae.csv of one or more `spinescan evaluate` (or `evaluate pool`) folders, each
body flagged at its own folder's threshold (metrics.json), e.g. the five folds of
scripts/painted_five_folds.sh, and the painted dataset's lesions.csv. A body no track found
counts as missed, as evaluate counts it. Bins are the terciles of each
parameter within a finding, so every row holds about a third of that finding's bodies.

usage: scripts/recall_by_lesion_parameters.py PAINTED_DATASET EVALUATION_DIR...
"""
import csv
import json
import os
import re
import sys


def terciles(values):
    s = sorted(values)
    return s[len(s) // 3], s[(2 * len(s)) // 3]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    painted, evaluations = sys.argv[1], sys.argv[2:]
    verdict, thresholds = {}, []
    for evaluation in evaluations:
        metrics = json.load(open(os.path.join(evaluation, "metrics.json")))
        threshold = metrics["threshold"] if "threshold" in metrics else metrics["model"]["threshold"]
        thresholds.append(threshold)
        with open(os.path.join(evaluation, "vertebrae.csv"), newline="") as f:
            for r in csv.DictReader(f):
                if int(r["truth_label"]) == 0:
                    continue
                verdict[(r["case"], int(r["truth_label"]))] = r["found"] == "1" and float(r["probability"]) >= threshold
    bodies = {}  # finding -> list of (flagged, params)
    with open(os.path.join(painted, "lesions.csv"), newline="") as f:
        for r in csv.DictReader(f):
            detail = r["detail"]
            params = {"|contrast|": abs(float(r["contrast"])), "size mm": float(r["size_mm"]),
                      "subtle": "subtle" if r["subtle"] == "1" else "not subtle"}
            if "bright" in detail or "dark" in detail:
                params["polarity"] = "bright" if "bright" in detail else "dark"
            loss = re.search(r"height loss (\d+) %", detail)
            if loss:
                params["height loss %"] = float(loss.group(1))
                params["shape"] = detail.split(",")[0]
            for label in r["labels"].split(";"):
                key = (r["case"], int(label))
                if key in verdict:
                    bodies.setdefault(r["finding"], []).append((verdict[key], params))
    if not bodies:
        sys.exit("recall_by_lesion_parameters: no painted body of " + painted + " is in " + " ".join(evaluations))
    print("thresholds " + ", ".join(f"{t:.3f}" for t in thresholds) + "; recall = flagged / painted bodies (a missed body is not flagged)")
    for finding, rows in sorted(bodies.items()):
        flagged = sum(v for v, _ in rows)
        print(f"{finding}: {flagged} of {len(rows)} ({100.0 * flagged / len(rows):.0f} %)")
        names = sorted({k for _, p in rows for k in p})
        for name in names:
            with_param = [(v, p[name]) for v, p in rows if name in p]
            if isinstance(with_param[0][1], str):
                groups = {}
                for v, x in with_param:
                    groups.setdefault(x, []).append(v)
                cells = [f"{x} {sum(vs)}/{len(vs)}" for x, vs in sorted(groups.items())]
            else:
                lo, hi = terciles([x for _, x in with_param])
                bins = [("<", lambda x: x < lo, lo), ("mid", lambda x: lo <= x < hi, None), (">=", lambda x: x >= hi, hi)]
                cells = []
                for tag, inside, edge in bins:
                    vs = [v for v, x in with_param if inside(x)]
                    label = f"{tag} {edge:.2f}" if edge is not None else f"{lo:.2f}-{hi:.2f}"
                    cells.append(f"{label}: {sum(vs)}/{len(vs)}")
            print(f"  {name:14s} " + "; ".join(cells))


if __name__ == "__main__":
    main()
