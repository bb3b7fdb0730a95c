#!/usr/bin/python3
"""Summarise `spinescan evaluate classifier` outputs of several folds.

Usage: scripts/summarize_classifier_cv.py EVAL_DIR [EVAL_DIR ...]
Prints, per fold and pooled over the folds' predictions.csv, per-vertebra (max over
slices) AUC, accuracy, precision, recall and F1 at each fold's own threshold, for all
cases and for each source (the case-name prefix before '_').
"""
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from painted_oof import auc as auc_of_groups  # noqa: E402


def auc(scores, labels):
    """AUC of scores against 0/1 labels; nan when one class is absent."""
    value = auc_of_groups([s for s, y in zip(scores, labels) if y], [s for s, y in zip(scores, labels) if not y])
    return float("nan") if value is None else value


def metrics(rows):
    s = [r[0] for r in rows]
    y = [r[1] for r in rows]
    pred = [r[0] >= r[2] for r in rows]
    tp = sum(p and t for p, t in zip(pred, y))
    fp = sum(p and not t for p, t in zip(pred, y))
    fn = sum((not p) and t for p, t in zip(pred, y))
    tn = len(rows) - tp - fp - fn
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return {"n": len(rows), "auc": auc(s, y), "accuracy": (tp + tn) / len(rows) if rows else 0.0,
            "precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0, "f1": f1}


def line(name, m):
    return "%-18s n=%-4d AUC %.3f  acc %.3f  prec %.3f  recall %.3f  F1 %.3f" % (
        name, m["n"], m["auc"], m["accuracy"], m["precision"], m["recall"], m["f1"])


def main(dirs):
    pooled = {}
    for d in dirs:
        threshold = json.load(open(os.path.join(d, "metrics.json")))["threshold"]
        rows = {}
        for r in csv.DictReader(open(os.path.join(d, "predictions.csv"))):
            if r["target"] == "":
                continue
            row = (float(r["max_probability"]), int(r["target"]), threshold)
            for group in ("all", r["case"].split("_")[0]):
                rows.setdefault(group, []).append(row)
                pooled.setdefault(group, []).append(row)
        for group in sorted(rows):
            print(line("%s %s" % (os.path.basename(d.rstrip("/")), group), metrics(rows[group])))
    for group in sorted(pooled):
        print(line("pooled " + group, metrics(pooled[group])))


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
