#!/usr/bin/python3
"""Summarise `spinescan train levels` runs of several folds.

Usage: scripts/summarize_levels_cv.py RUN_DIR [RUN_DIR ...]
Prints, per fold and pooled over the held-out folds, level accuracy (bodies right, cases
with every body right) of the run's level model, of the same model without its level net
(the image head in its place), without its score head (the level net, or else the image head,
and the prior), and without any head (always the usual level), and of the bundle's level
model at the time; then every held-out case whose lowest found body is not the usual level, is named
wrong, whose head was unsure (0.2 < p < 0.8, where analyze warns) or which analyze would warn of a
possible transitional vertebra, with p, p without the score head, the level net's two readings and
their mean, the detector's mean score and the warnings; last, how many cases each warning covers
and how many of the wrongly named cases were warned.
"""
import json
import os
import sys


COLUMNS = (("levels", "level model"), ("without_level_net", "without level net"), ("image_head_only", "without score head"),
           ("usual_level_only", "always usual"), ("bundle_levels", "bundle's at the time"))


def number(value):
    return float("nan") if value is None else value


def cell(right, n, cases_right, cases):
    return f"{right:>3}/{n:<3} {right / max(n, 1):.3f} {cases_right:>2}/{cases:<2}"


def main(runs):
    totals = {key: [0, 0, 0, 0] for key, _ in COLUMNS}  # bodies right, bodies, cases all right, cases
    flagged = []
    warned = {"head unsure": 0, "transitional": 0, "either": 0}
    wrong = wrong_warned = cases = 0
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
        net_used = "level_net" in m["levels_model"].get("head", {})
        for row in held["lowest"]:
            p = row.get("p_alternative", -1)
            unsure = 0.2 < p < 0.8
            transitional = net_used and row.get("level_net", {}).get("transitional_warning", False)
            cases += 1
            warned["head unsure"] += unsure
            warned["transitional"] += transitional
            warned["either"] += unsure or transitional
            if row["said"] != row["truth"]:
                wrong += 1
                wrong_warned += unsure or transitional
            if row["truth"] != usual or row["said"] != row["truth"] or unsure or transitional:
                readings = row.get("level_net", {})
                flagged.append((m["fold"], row["case"], row["truth"], row["said"], p, row.get("p_alternative_image_only", -1),
                                number(readings.get("direct")), number(readings.get("projected")), number(row["cues"].get("level_net_logit")),
                                number(row["cues"].get("score_mean")),
                                ",".join(w for w, on in (("unsure", unsure), ("transitional", transitional)) if on) or "-"))
    print(f"{'pooled':<22}" + "".join(f" | {cell(*totals[key]) if totals[key] else '-':<21}" for key, _ in COLUMNS))
    print("\nheld-out cases whose lowest body is not the usual level, is named wrong, or where the head was unsure:")
    print(f"{'fold':>4} {'case':<12} {'truth':<5} {'said':<5} {'p':>6} {'p no score':>10} {'net direct':>10} {'projected':>9} "
          f"{'mean':>6} {'score':>6}  warnings")
    for fold, case, truth, said, p, p_image, direct, projected, net_logit, score, warnings in flagged:
        print(f"{fold:>4} {case:<12} {truth:<5} {said:<5} {p:>6.2f} {p_image:>10.2f} {direct:>10.2f} {projected:>9.2f} "
              f"{net_logit:>6.2f} {score:>6.2f}  {warnings}")
    print(f"\nwarned cases of {cases}: " + ", ".join(f"{k} {v}" for k, v in warned.items()) +
          f"; wrongly named cases {wrong}, of them warned {wrong_warned}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
