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
import ctypes
import csv
import fcntl
import io
import json
import os
import re
import signal
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


def write_atomically(path, text):
    """Writes text beside path under the C++ side's temporary name (".NAME.tmp-PID-0.EXT", which
    `remove_interrupted_temporaries` and the tests recognise), syncs it and renames it onto path:
    a study killed at any moment leaves the old file or the new one, never half of one."""
    folder, name = os.path.split(os.path.abspath(path))
    stem, ext = os.path.splitext(name)
    tmp = os.path.join(folder, ".%s.tmp-%d-0%s" % (stem, os.getpid(), ext))
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_interrupted_temporaries(folder):
    for root, _, files in os.walk(folder):
        for name in files:
            if re.match(r"^\..+\.tmp-", name):
                os.remove(os.path.join(root, name))


def die_with_parent():
    """Runs in the trial's child before exec: the kernel sends it SIGKILL when this driver dies,
    so a killed study leaves no training run writing into a trial folder it will reuse."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def take_over_interrupted_trials(study):
    """Trials left RUNNING by a study that was killed (the lock says none is running now) are
    marked FAIL with the user attribute `interrupted`, and their parameters are queued again with
    their run folder, so the next trial resumes that training from its last checkpoint. Returns
    how many were taken over."""
    taken = 0
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        # An enqueued trial holds its parameters as fixed_params before they are suggested. A
        # sampled trial cut off before all its parameters were drawn is queued without them: the
        # re-seeded sampler draws the same ones again.
        params = dict(t.system_attrs.get("fixed_params", {}))
        if params or set(DEFAULTS) <= set(t.params):
            params.update(t.params)
        study._storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study._storage.set_trial_state_values(t._trial_id, state=optuna.trial.TrialState.FAIL)
        attrs = {"resumes_trial": t.number}
        if t.user_attrs.get("run"):
            attrs["resume_run"] = t.user_attrs["run"]
        study.enqueue_trial(params, user_attrs=attrs)
        taken += 1
    return taken


def counted(trials):
    """Trials that count towards --trials: run to an end (complete or failed), not interrupted."""
    return [t for t in trials if t.state != optuna.trial.TrialState.WAITING and not t.user_attrs.get("interrupted")]


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
    # One study process at a time: then a trial found RUNNING was cut off by a killed run.
    lock = open(os.path.abspath(args.study_db) + ".lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print("%s: another tune is running on this study database" % args.study_db, file=sys.stderr)
        return 1
    remove_interrupted_temporaries(args.out)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = "sqlite:///" + os.path.abspath(args.study_db)
    study = optuna.create_study(study_name=args.study_name, storage=storage, direction="maximize",
                                load_if_exists=True)
    if not study.trials:
        study.set_user_attr("objective", "best inner-validation within-source AUC per vertebra (mean over slices), fold %d" % args.fold)
        study.set_user_attr("data", os.path.abspath(args.data))
        study.enqueue_trial(DEFAULTS)
    taken = take_over_interrupted_trials(study)
    if taken:
        print("%d trial(s) interrupted by a killed study: run again from their last checkpoint" % taken, flush=True)

    def objective(trial):
        params = suggest(trial)
        run = os.path.join(os.path.abspath(args.out), "trial_%03d" % trial.number)
        cut_off = trial.user_attrs.get("resume_run")
        if cut_off and os.path.isdir(cut_off) and not os.path.exists(run):
            os.replace(cut_off, run)  # the interrupted trial's training continues under this number
        os.makedirs(run, exist_ok=True)
        write_atomically(os.path.join(run, "params.json"), json.dumps(params, indent=2) + "\n")
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
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        trial.set_user_attr("seconds", round(time.time() - started, 1))
        if code != 0:
            raise RuntimeError("trial %d: training exited with %d (see %s/train.log)" % (trial.number, code, run))
        with open(os.path.join(run, "result.json")) as f:
            result = json.load(f)
        trial.set_user_attr("best_epoch", result["best_epoch"])
        print("trial %d: AUC %.4f in %.0f s %s" % (trial.number, result["best_val_auc"], time.time() - started,
                                                    json.dumps(params)), flush=True)
        return result["best_val_auc"]

    # One trial at a time, each with a sampler seeded by its place in the study: the TPE
    # sampler's proposals then depend only on the seed and the finished trials, so a study
    # killed and resumed proposes what an uninterrupted one would (a sampler kept across trials
    # carries random state that a killed process loses), and a continued study explores anew.
    while len(counted(study.trials)) < args.trials:
        study.sampler = optuna.samplers.TPESampler(seed=args.seed + len(counted(study.trials)), n_startup_trials=8)
        # catch: a failing trial is stored as FAIL and the study goes on.
        study.optimize(objective, n_trials=1, catch=(RuntimeError, FileNotFoundError, KeyError, ValueError))

    trials = study.trials
    out = io.StringIO()
    w = csv.writer(out)
    keys = sorted(DEFAULTS)
    w.writerow(["trial", "state", "value", "seconds"] + keys)
    for t in trials:
        state = "INTERRUPTED" if t.user_attrs.get("interrupted") else t.state.name
        w.writerow([t.number, state, "" if t.value is None else "%.4f" % t.value,
                    t.user_attrs.get("seconds", "")] + [t.params.get(k, "") for k in keys])
    write_atomically(os.path.join(args.out, "trials.csv"), out.getvalue())
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        print("no trial completed", file=sys.stderr)
        return 1
    best = study.best_trial
    # A parameter added to the search space later is absent from older trials: those ran at its default.
    first = counted(trials)[:1]
    default_trial = first[0] if first and all(first[0].params.get(k, v) == v for k, v in DEFAULTS.items()) else None
    summary = {
        "study": args.study_name,
        "storage": storage,
        "objective": study.user_attrs.get("objective"),
        "trials": len(counted(trials)),
        "complete": len(complete),
        "failed": sum(t.state == optuna.trial.TrialState.FAIL and not t.user_attrs.get("interrupted") for t in trials),
        "interrupted": sum(bool(t.user_attrs.get("interrupted")) for t in trials),
        "best_trial": best.number,
        "best_value": best.value,
        "default_value": default_trial.value if default_trial else None,
        "params": best.params,
        "run": best.user_attrs.get("run"),
        "fixed": {"epochs": args.epochs, "samples_per_epoch": args.samples_per_epoch,
                  "inner_val_cases": args.inner_val_cases, "fold": args.fold, "seed": args.seed},
    }
    write_atomically(os.path.join(args.out, "best.json"), json.dumps(summary, indent=2) + "\n")
    print("best trial %d: AUC %.4f (untuned default: %s) -> %s" % (
        best.number, best.value, "%.4f" % summary["default_value"] if summary["default_value"] is not None else "-",
        os.path.join(args.out, "best.json")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
