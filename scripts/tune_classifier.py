#!/usr/bin/python3
"""Optuna study of the vertebra classifier's hyper-parameters (run through `spinescan tune classifier`).

Why a Python driver and not the `optuna ask/tell` CLI: each CLI call costs ~1.8 s and a
fixed sampler seed makes every `ask` return the same point; in one process the TPE sampler
keeps its state, trials that crash are recorded as FAIL by Optuna itself, and the study is
still an ordinary SQLite storage that `optuna` tools and optuna-dashboard can open.

Each trial trains `spinescan train classifier` on one fold's training cases in its own run
folder (kept) and reports the best inner-validation AUC per vertebra (mean over slices): the
fold's validation cases are never seen by the study, so they stay a clean test for the
chosen parameters.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import time

import optuna

# The untuned starting point (the train command's defaults); the study's first trial.
DEFAULTS = {
    "lr": 1e-3,
    "weight_decay": 0.05,
    "preset": "atto",
    "crop_size": 64,
    "context": 0.3,
    "augment": 0.3,
    "drop_path": 0.1,
    "batch": 32,
    "balance": "class",
}


def suggest(trial):
    return {
        "lr": trial.suggest_float("lr", 1e-4, 3e-3, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-3, 0.2, log=True),
        "preset": trial.suggest_categorical("preset", ["micro", "atto", "femto"]),
        "crop_size": trial.suggest_categorical("crop_size", [64, 96]),
        "context": trial.suggest_float("context", 0.1, 0.6),
        "augment": trial.suggest_float("augment", 0.0, 1.0),
        "drop_path": trial.suggest_float("drop_path", 0.0, 0.3),
        "batch": trial.suggest_categorical("batch", [16, 32, 64]),
        # Within-source balance removes the scanner shortcut where a site holds one class only.
        "balance": trial.suggest_categorical("balance", ["class", "within-source"]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--split", required=True)
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--out", required=True, help="folder for the trial runs, best.json and trials.csv")
    ap.add_argument("--study-db", required=True)
    ap.add_argument("--study-name", required=True)
    ap.add_argument("--trials", type=int, required=True, help="trials the study should hold in all (re-running continues)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--samples-per-epoch", type=int, default=1024)
    ap.add_argument("--inner-val-cases", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-steps", type=int, default=0, help="per trial (tests)")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = "sqlite:///" + os.path.abspath(args.study_db)
    # A fixed seed would make a resumed study repeat its first points: offset it by the
    # number of trials already in the study, so a re-run is repeatable and still explores.
    existing = 0
    try:
        existing = len(optuna.load_study(study_name=args.study_name, storage=storage).trials)
    except KeyError:
        pass
    sampler = optuna.samplers.TPESampler(seed=args.seed + existing, n_startup_trials=8)
    study = optuna.create_study(study_name=args.study_name, storage=storage, direction="maximize",
                                sampler=sampler, load_if_exists=True)
    study.set_user_attr("objective", "best inner-validation within-source AUC per vertebra (mean over slices), fold %d" % args.fold)
    study.set_user_attr("data", os.path.abspath(args.data))
    if existing == 0:
        study.enqueue_trial(DEFAULTS)

    def objective(trial):
        params = suggest(trial)
        run = os.path.join(os.path.abspath(args.out), "trial_%03d" % trial.number)
        os.makedirs(run, exist_ok=True)
        with open(os.path.join(run, "params.json"), "w") as f:
            json.dump(params, f, indent=2)
        trial.set_user_attr("run", run)
        cmd = [args.binary, "--threads", str(args.threads), "train", "classifier", "--data", args.data,
               "--split", args.split, "--fold", str(args.fold), "--out", run, "--params", os.path.join(run, "params.json"),
               "--epochs", str(args.epochs), "--samples-per-epoch", str(args.samples_per_epoch),
               "--inner-val-cases", str(args.inner_val_cases), "--seed", str(args.seed), "--device", args.device]
        if args.max_steps:
            cmd += ["--max-steps", str(args.max_steps)]
        if os.path.exists(os.path.join(run, "checkpoints", "last.json")):
            cmd.append("--resume")  # a trial cut off by an earlier interrupted study
        started = time.time()
        with open(os.path.join(run, "train.log"), "a") as log:
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
        trial.set_user_attr("seconds", round(time.time() - started, 1))
        if code != 0:
            raise RuntimeError("trial %d: training exited with %d (see %s/train.log)" % (trial.number, code, run))
        with open(os.path.join(run, "result.json")) as f:
            result = json.load(f)
        trial.set_user_attr("best_epoch", result["best_epoch"])
        print("trial %d: AUC %.4f in %.0f s %s" % (trial.number, result["best_val_auc"], time.time() - started,
                                                    json.dumps(params)), flush=True)
        return result["best_val_auc"]

    # An enqueued (WAITING) trial is not run yet: it counts among the remaining ones.
    finished = [t for t in study.trials if t.state != optuna.trial.TrialState.WAITING]
    remaining = args.trials - len(finished)
    if remaining > 0:
        # catch: a failing trial is stored as FAIL and the study goes on.
        study.optimize(objective, n_trials=remaining, catch=(RuntimeError, FileNotFoundError, KeyError, ValueError))

    trials = study.trials
    with open(os.path.join(args.out, "trials.csv.tmp"), "w", newline="") as f:
        w = csv.writer(f)
        keys = sorted(DEFAULTS)
        w.writerow(["trial", "state", "value", "seconds"] + keys)
        for t in trials:
            w.writerow([t.number, t.state.name, "" if t.value is None else "%.4f" % t.value,
                        t.user_attrs.get("seconds", "")] + [t.params.get(k, "") for k in keys])
    os.replace(os.path.join(args.out, "trials.csv.tmp"), os.path.join(args.out, "trials.csv"))
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        print("no trial completed", file=sys.stderr)
        return 1
    best = study.best_trial
    # A parameter added to the search space later is absent from older trials: those ran at its default.
    default_trial = trials[0] if trials and all(trials[0].params.get(k, v) == v for k, v in DEFAULTS.items()) else None
    summary = {
        "study": args.study_name,
        "storage": storage,
        "objective": study.user_attrs.get("objective"),
        "trials": len(trials),
        "complete": len(complete),
        "failed": sum(t.state == optuna.trial.TrialState.FAIL for t in trials),
        "best_trial": best.number,
        "best_value": best.value,
        "default_value": default_trial.value if default_trial else None,
        "params": best.params,
        "run": best.user_attrs.get("run"),
        "fixed": {"epochs": args.epochs, "samples_per_epoch": args.samples_per_epoch,
                  "inner_val_cases": args.inner_val_cases, "fold": args.fold, "seed": args.seed},
    }
    with open(os.path.join(args.out, "best.json.tmp"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    os.replace(os.path.join(args.out, "best.json.tmp"), os.path.join(args.out, "best.json"))
    print("best trial %d: AUC %.4f (untuned default: %s) -> %s" % (
        best.number, best.value, "%.4f" % summary["default_value"] if summary["default_value"] is not None else "-",
        os.path.join(args.out, "best.json")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
