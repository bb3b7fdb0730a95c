#!/usr/bin/env python3
"""Out-of-fold verdicts of a painted training run, scored against the source data's own labels.

`train aggregator` on a painted dataset trained with `--source-labels healthy` sees every
unpainted body as healthy. This reads its out_of_fold.csv and asks what the issue asks of
unpainted real vertebrae: per source, the share of bodies the source labels healthy
(pathological = 0) that are flagged, and separately the bodies it labels pathological (the
SPIDER endplate/Modic proxy) that were not painted; then recall per painted finding, the
within-source AUC of painted against source-healthy bodies, and the calibration (ECE, ten bins)
on those two groups. Found bodies only (a missed body has no probability).

usage: scripts/painted_oof.py OUT_OF_FOLD_CSV SOURCE_DATASET PAINTED_DATASET [--fold-out K]
  --fold-out K: leave fold K out (the held-out fold of the aggregator: report it separately)
"""
import argparse
import csv
import os
import random
import sys


def auc(pos, neg):
    if not pos or not neg:
        return None
    wins = 0.0
    for p in pos:
        for n in neg:
            wins += 1.0 if p > n else 0.5 if p == n else 0.0
    return wins / (len(pos) * len(neg))


def ece(pairs, bins=10):
    total, err = 0, 0.0
    for b in range(bins):
        inside = [(p, y) for p, y in pairs if min(int(p * bins), bins - 1) == b]
        if inside:
            mean_p = sum(p for p, _ in inside) / len(inside)
            observed = sum(y for _, y in inside) / len(inside)
            err += len(inside) * abs(observed - mean_p)
            total += len(inside)
    return err / total if total else None


def calibrated_ece_spread(pairs, bins=10, draws=2000, seed=0):
    """Median and 95th percentile of the ECE a perfectly calibrated model would show on these
    bodies: each label redrawn as Bernoulli(p) (the per-bin form of `evaluate`'s
    ece_if_calibrated, drawn per body here since the probabilities are at hand)."""
    rng = random.Random(seed)
    eces = sorted(ece([(p, int(rng.random() < p)) for p, _ in pairs], bins) for _ in range(draws))
    return eces[draws // 2], eces[min(draws - 1, int(0.95 * draws))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("oof")
    ap.add_argument("source")
    ap.add_argument("painted")
    ap.add_argument("--fold-out", type=int, default=None)
    a = ap.parse_args()
    source_label = {}
    with open(os.path.join(a.source, "vertebrae.csv"), newline="") as f:
        for r in csv.DictReader(f):
            source_label[(r["case"], int(r["label"]))] = r["pathological"]
    painted = {}
    with open(os.path.join(a.painted, "lesions.csv"), newline="") as f:
        for r in csv.DictReader(f):
            for label in r["labels"].split(";"):
                painted[(r["case"], int(label))] = (r["finding"], r["subtle"] == "1")
    groups = {}  # source -> lists
    threshold = None
    with open(a.oof, newline="") as f:
        for r in csv.DictReader(f):
            if r["found"] != "1" or int(r["label"]) == 0:
                continue
            if a.fold_out is not None and int(r["fold"]) == a.fold_out:
                continue
            threshold = float(r["threshold"])
            key = (r["case"], int(r["label"]))
            src = r["case"].split("_")[0]
            g = groups.setdefault(src, {"healthy": [], "proxy": [], "painted": {}})
            p = float(r["aggregator"])
            if key in painted:
                g["painted"].setdefault(painted[key][0], []).append(p)
            elif source_label.get(key) == "0":
                g["healthy"].append(p)
            elif source_label.get(key) == "1":
                g["proxy"].append(p)
    if threshold is None:
        sys.exit("painted_oof: no found, labelled records in " + a.oof)
    print(f"threshold {threshold:.3f}" + (f", fold {a.fold_out} left out" if a.fold_out is not None else ""))
    pairs = []
    for src, g in sorted(groups.items()):
        h = g["healthy"]
        flagged = sum(p >= threshold for p in h)
        med = sorted(h)[len(h) // 2] if h else float("nan")
        print(f"{src}: source-healthy unpainted {flagged} of {len(h)} flagged "
              f"({100.0 * flagged / len(h) if h else float('nan'):.0f} %), median p {med:.2f}")
        if g["proxy"]:
            fp = sum(p >= threshold for p in g["proxy"])
            print(f"{src}: source-pathological (proxy) unpainted {fp} of {len(g['proxy'])} flagged "
                  f"({100.0 * fp / len(g['proxy']):.0f} %)")
        all_painted = [p for ps in g["painted"].values() for p in ps]
        a_src = auc(all_painted, h)
        print(f"{src}: painted {len(all_painted)}, AUC painted vs source-healthy "
              + (f"{a_src:.3f}" if a_src is not None else "-"))
        for finding, ps in sorted(g["painted"].items()):
            print(f"{src}:   {finding:22s} recall {sum(p >= threshold for p in ps)} of {len(ps)}")
        pairs += [(p, 1) for p in all_painted] + [(p, 0) for p in h]
    e = ece(pairs)
    median, p95 = calibrated_ece_spread(pairs)
    print(f"ECE (painted = 1, source-healthy = 0, both sources) {e:.3f} over {len(pairs)} bodies; "
          f"a calibrated model: median {median:.3f}, 95 % below {p95:.3f}")


if __name__ == "__main__":
    main()
