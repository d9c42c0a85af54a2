"""Preferred one-shot searches: what each part picks on the same candidates, and how the shared weights rank them.

A preferred one-shot run (``preferred.pool`` > 0) leaves ``preferred.csv`` (every cell its zero-cost selector
scored, best first, the ``kept`` ones marked) and ``derive_candidates.csv`` (the kept cells, which the shared
weights trained on, with their shared-weight scores). This trains nothing; for each run it looks up:

- ``derive``: the run's pick (the best kept cell by the shared weights, as shipped);
- ``selector``: the selector's best of the pool: the same pipeline without the shared weights;
- ``best kept``: the best cell of the kept set (what a perfect ranking of the set would pick: an upper bound);
- ``no-search az_nas`` (with ``--baseline``): AZ-NAS's best of as many uniform cells as it scores in the
  run's wall time (``--cost`` seconds a cell), drawn with the run's seed from the whole space scored once,
  within the run's budget when it had one: the training-free run at equal time;

and, within the kept cells, the Kendall tau against the benchmark of the shared weights (the number the
preferred training must move) and of the selector. Prints one row per run, then per rule the mean +- std of
the picked cell's CIFAR-10 test accuracy, how many runs land in the top 5% (of the space or of the budget),
and the CIFAR-100 and ImageNet16-120 accuracies of the same cells.

    python -m benchmarks.analysis preferred --nb201 data/nasbench201 outputs/preferred \\
        --baseline benchmarks/data/nb201_az_nas_whole_space.json.gz --cost az_nas=0.64
"""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Dict, List

import supernet
from benchmarks._common import (add_nb201_argument, cells_summary, cost_pair, finite, load_candidates, load_scores, nb201_table,
                                no_search, run_budget, run_config, run_dirs, top5_within)
from enas.predictors.ranking import kendall_tau

COLUMNS = ("cifar10_test_acc", "cifar100_test_acc", "imagenet16_120_test_acc")


def load_pool(run_dir: Path) -> List[Dict]:
    """``preferred.csv`` of a run: the selector's pool, best first."""
    path = run_dir / "preferred.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {run_dir} is not a preferred one-shot run (preferred.pool > 0)")
    with open(path, newline="") as f:
        return [{**r, "arch": json.loads(r["architecture"])} for r in csv.DictReader(f)]


def run_minutes(run_dir: Path) -> float:
    return json.loads((run_dir / "architecture.json").read_text())["minutes"]


def replay(run_dir: Path, table) -> Dict:
    """Each rule's cell (its benchmark row) and the taus within the kept set of one run."""
    pool, cands = load_pool(run_dir), load_candidates(run_dir)
    selector = run_config(run_dir).preferred.selector
    row = lambda arch: table.lookup(supernet.to_nb201_string(arch))  # noqa: E731
    kept = [p for p in pool if p["kept"] == "1"]
    shared = {supernet.architecture_key(c["arch"]): finite(c.get("full_score", c["score"]))
              if c.get("full_score") is not None else finite(c["score"]) for c in cands}
    truth = [row(p["arch"])["cifar10_test_acc"] for p in kept]
    picked = next(c["arch"] for c in cands if c.get("selected") == 1)
    return {
        "picks": {"derive": row(picked), "selector": row(pool[0]["arch"]),
                  "best kept": max((row(p["arch"]) for p in kept), key=lambda r: r["cifar10_test_acc"])},
        "tau shared": kendall_tau([shared[supernet.architecture_key(p["arch"])] for p in kept], truth),
        "tau selector": kendall_tau([finite(float(p[selector])) for p in kept], truth),
        "pool": len(pool), "kept": len(kept),
    }


def add_arguments(p):
    p.add_argument("runs", nargs="+", type=Path, help="preferred one-shot run folders, or folders of them")
    add_nb201_argument(p)
    p.add_argument("--baseline", type=Path, nargs="+", help="zero_cost outputs of uniform cells (shards are "
                   "merged; the shipped whole-space file): adds the no-search row at each run's wall time")
    p.add_argument("--cost", nargs="*", type=cost_pair, default=[], help="seconds per cell, as az_nas=seconds "
                   "(default: from --baseline)")


def run(args):
    table = nb201_table(args.nb201)
    runs = run_dirs(args.runs)
    results = {str(r): replay(r, table) for r in runs}
    if args.baseline:
        saved = load_scores(args.baseline)
        cost = {**saved.get("seconds_per_cell", {}), **dict(args.cost)}.get("az_nas", 0.5)
        for run_dir in runs:
            budget = run_budget(run_dir)
            cells = [r for r in saved["rows"] if budget is None
                     or budget.feasible(supernet.from_nb201_string(r["arch_str"]))]
            k = max(1, int(run_minutes(run_dir) * 60 / cost))  # a run shorter than one cell still scores one
            best = no_search(cells, "az_nas", k, int(run_config(run_dir).seed))
            results[str(run_dir)]["picks"]["no-search az_nas"] = table.lookup(best["arch_str"])
    rules = list(dict.fromkeys(rule for res in results.values() for rule in res["picks"]))
    width = max(len(r) for r in results)
    print(f"{'run':{width}} {'pool':>5} {'kept':>4} " + " ".join(f"{r:>16}" for r in rules)
          + f" {'tau shared':>10} {'tau selector':>12} {'minutes':>7}")
    for run_dir, res in results.items():
        print(f"{run_dir:{width}} {res['pool']:5d} {res['kept']:4d} "
              + " ".join(f"{res['picks'][r]['cifar10_test_acc']:16.2f}" if r in res["picks"] else f"{'':16}"
                         for r in rules)
              + f" {res['tau shared']:10.3f} {res['tau selector']:12.3f} {run_minutes(Path(run_dir)):7.1f}")
    top5 = {run_dir: top5_within(table, run_budget(Path(run_dir))) for run_dir in results}
    print(f"\nper rule over {len(results)} runs (CIFAR-10 test accuracy of the picked cell, mean +- std; runs in the "
          "top 5% of the space or budget; CIFAR-100 and ImageNet16-120 of the same cells):")
    for rule in rules:
        have = [d for d in results if rule in results[d]["picks"]]
        cells = [results[d]["picks"][rule] for d in have]
        print(f"  {rule:16} {cells_summary(cells, [top5[d] for d in have])}")
    for name in ("tau shared", "tau selector"):
        values = [res[name] for res in results.values()]
        print(f"  {name:16} {statistics.mean(values):6.3f} mean over the runs' kept cells (min {min(values):.3f})")
