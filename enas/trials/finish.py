"""The end of a multi-trial search: its pick written as a one-shot search's derive writes it.

``architecture.json`` holds the pick among the children that trained the whole budget (an early-stopped
child's score at a lower rung is not comparable): the best by validation score, or by that score's rank
together with AZ-NAS's or with the child's parameter count's (``multi_trial.select``); with its validation
score, the number of trials and, with ``benchmark=nb201``, its NAS-Bench-201 accuracies;
``derive_candidates.csv`` holds every trial, best first. ``enas-train architecture=<run>/architecture.json``
retrains the pick as after any search.
"""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional

from ..predictors.ranking import AZ_NAS, log_rank_sum
from ..predictors.zero_cost import child_parameters
from ..runs.console import announce
from ..search.constraints import measure_child
from ..search.latency import child_latency
from ..search.summary import write_architecture

__all__ = ["finish", "full_budget", "joint_pick"]


def _rows(records: List[Dict], latency=None) -> List[Dict]:
    """Every trial, best first; with a latency table, each child's predicted ``latency_ms``."""
    ranked = sorted(records, key=lambda r: (r["status"] != "failed", r["epochs"], r["score"]), reverse=True)
    return [{"architecture": r["architecture"], "score": r["score"], "status": r["status"], "epochs": r["epochs"],
             "seconds": r["seconds"], "trial": r["id"], "parent": "" if r["parent"] is None else r["parent"],
             **({"latency_ms": latency.predict(r["architecture"])} if latency is not None else {})}
            for r in ranked]


def full_budget(records: List[Dict]) -> List[Dict]:
    """The trials that trained the most epochs (an early-stopped child's score at a lower rung is not comparable
    with a fully trained one's), failed ones left out."""
    scored = [r for r in records if r["status"] != "failed"]
    most = max((r["epochs"] for r in scored), default=None)
    return [r for r in scored if r["epochs"] == most]


def joint_pick(full: List[Dict], second: Callable[[Dict], float]) -> Dict:
    """The record of ``full`` with the best log-rank sum of its validation score and ``second(record)``
    (higher better); ties: the earlier trial."""
    combined = log_rank_sum([{"score": r["score"], "second": second(r)} for r in full], ("score", "second"))
    return full[max(range(len(full)), key=combined.__getitem__)]


def pick(search) -> Optional[Dict]:
    """The trial ``multi_trial.select`` picks among those that trained the most epochs: the best validation
    score; or the best log-rank sum of that score and AZ-NAS's rank (``score_az_nas``; itself the log-rank sum
    of its four signals over the same children) or the child's parameter count (``score_params``: a few epochs
    favour small cells that learn fast, not those that end best). None when every trial failed."""
    best = search.trials.best()
    if best is None or search.settings.select == "score":
        return best
    full = full_budget(search.trials.records)
    if search.settings.select == "score_params":
        return joint_pick(full, lambda r: float(child_parameters(search.s.child_model, r["architecture"])))
    signals = [r.get("zero_cost") or search.zero_cost_signals(r["architecture"]) for r in full]
    az_nas = dict(zip((r["id"] for r in full), log_rank_sum(signals, AZ_NAS)))
    return joint_pick(full, lambda r: az_nas[r["id"]])


def finish(search, began: float) -> Dict:
    """Write the pick of ``search`` (a `enas.trials.search.MultiTrialSearch`) and return it."""
    s, trials = search.s, search.trials
    best = pick(search)
    if best is None:
        errors = sorted({r.get("error", "") for r in trials.records})
        raise RuntimeError(f"every one of the {len(trials)} trials failed: {'; '.join(errors[:3])}")
    arch = best["architecture"]
    child = {**measure_child(s.child_model, arch, s.task.example_input()), **child_latency(s.latency, arch)}
    counts = {status: sum(r["status"] == status for r in trials.records)
              for status in ("finished", "stopped", "timed_out", "failed")}
    extra = {"select": "multi_trial", "multi_trial_select": search.settings.select,
             "best_score_trial": trials.best()["id"], "child": child, "trials": len(trials), "trial": best["id"],
             "child_epochs": best["epochs"], "statuses": counts, "minutes": (time.time() - began) / 60}
    if s.cfg.benchmark:
        from ..report.benchmark import lookup_benchmark

        extra["benchmark"] = lookup_benchmark(s.cfg.benchmark, s.child_model, arch, s.cfg.benchmark_file,
                                              constraint=s.strategy.constraint)
    result = {"architecture": arch, "score": best["score"], "candidates": _rows(trials.records, s.latency),
              "derive_score": best["score"], **{f"child_{k}": v for k, v in child.items()}, **extra}
    if search.out is None:
        return result
    path = write_architecture(search.out, s.child_model, {**result, "score": {"score": best["score"]}}, s.space, extra)
    seconds = sum(r["seconds"] for r in trials.records)
    lines = [f"\nMulti-trial search: {len(trials)} children trained ({counts['finished']} to the full "
             f"{search.settings.epochs} epochs, {counts['stopped']} stopped early, {counts['timed_out']} out of time, "
             f"{counts['failed']} failed), {seconds / 60:.1f} worker-minutes in {extra['minutes']:.1f} minutes",
             f"Picked trial {best['id']} (by {search.settings.select}): validation score {best['score']:.4g} after "
             f"{best['epochs']} epochs; "
             f"{child['params']:,.0f} parameters",
             (search.out / "architecture.txt").read_text().rstrip()]
    if "benchmark" in extra:
        b = extra["benchmark"]
        lines.append(f"NAS-Bench-201: CIFAR-10 test accuracy {b['cifar10_test_acc']:.2f}, in the top "
                     f"{b.get('top_percent', float('nan')):.2f}% of the space")
    announce("\n".join(lines) + f"\nWritten to {path}; every trial in {search.out / 'trials.jsonl'}\n")
    result["out_dir"] = str(search.out)
    return result
