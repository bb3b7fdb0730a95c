#!/usr/bin/python3
"""Summarise `spinescan train levels` runs of several folds.

Usage: scripts/summarize_levels_cv.py RUN_DIR [RUN_DIR ...]
Prints, per fold and pooled over the held-out folds, level accuracy (bodies right, cases
with every body right) of the run's level model, of the same model without its level net
(the image head in its place), without its score head (the level net, or else the image head,
and the prior), and without any head (always the usual level), and of the bundle's level
model at the time; then every held-out case whose lowest found body is not the usual level, is named
wrong, or whose head was unsure (0.2 < p < 0.8, where analyze warns), with p, p without the score head,
the level net's logit and the detector's mean score.
"""
import json
import os
import sys


COLUMNS = (("levels", "level model"), ("without_level_net", "without level net"), ("image_head_only", "without score head"),
           ("usual_level_only", "always usual"), ("bundle_levels", "bundle's at the time"))


def cell(right, n, cases_right, cases):
    return f"{right:>3}/{n:<3} {right / max(n, 1):.3f} {cases_right:>2}/{cases:<2}"


def main(runs):
    totals = {key: [0, 0, 0, 0] for key, _ in COLUMNS}  # bodies right, bodies, cases all right, cases
    flagged = []
    print(f"{'run':<22}" + "".join(f" | {title:<21}" for _, title in COLUMNS))
    for run in runs:
        with open(os.path.join(run, "metrics.json")) as f:
            m = json.load(f)
        held = m["heldout_fold"]
        cells = []
        for key, _ in COLUMNS:
            a = held.get(key)
            if a is None:
                cells.append(f"{'-':<21}")
                totals[key] = None
                continue
            values = (a["right"], a["n"], a["cases_all_right"], a["cases"])
            if totals[key] is not None:
                totals[key] = [t + v for t, v in zip(totals[key], values)]
            cells.append(cell(*values))
        print(f"{run:<22}" + "".join(f" | {c}" for c in cells))
        usual = m["levels_model"]["lowest_level"]
        for row in held["lowest"]:
            p = row.get("p_alternative", -1)
            if row["truth"] != usual or row["said"] != row["truth"] or 0.2 < p < 0.8:
                flagged.append((m["fold"], row["case"], row["truth"], row["said"], p, row.get("p_alternative_image_only", -1),
                                float("nan") if row["cues"].get("level_net_logit") is None else row["cues"]["level_net_logit"], row["cues"].get("score_mean", float("nan"))))
    print(f"{'pooled':<22}" + "".join(f" | {cell(*totals[key]) if totals[key] else '-':<21}" for key, _ in COLUMNS))
    print("\nheld-out cases whose lowest body is not the usual level, is named wrong, or where the head was unsure:")
    print(f"{'fold':>4} {'case':<12} {'truth':<5} {'said':<5} {'p':>6} {'p no score':>10} {'net logit':>9} {'score':>6}")
    for fold, case, truth, said, p, p_image, net_logit, score in flagged:
        print(f"{fold:>4} {case:<12} {truth:<5} {said:<5} {p:>6.2f} {p_image:>10.2f} {net_logit:>9.2f} {score:>6.2f}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
