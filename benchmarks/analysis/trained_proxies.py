"""AZ-NAS on the trained shared weights: do they rank derive's candidates better than a network at init?

AZ-NAS's data-dependent parts (expressivity, progressivity, trainability; `enas.predictors.zero_cost`) are
defined on any weights. For each finished NAS-Bench-201 search this scores the run's derive candidates
with them on three networks, each with the run's seed and one minibatch of its search-train images, and
combines each set with the candidates' FLOPs by AZ-NAS's log-rank sum, as derive does:

- ``trained``: the run's final supernet (``checkpoints/last.pt``), on each candidate's path;
- ``init``: a fresh initialisation of that same network (same size): separates what training adds from
  what a smaller network changes;
- ``shipped``: the parts derive recorded in ``derive_candidates.csv`` (the benchmark's size, at init).

    python -m benchmarks.analysis trained-proxies --nb201 data/nasbench201 outputs/nb201_benchmark/enas_seed0

Prints per run each set's Kendall tau against the benchmark within the candidates (the combination and
each part) and the benchmark accuracy of the cell it picks; then the means over runs. Trains nothing; about
a minute and a half a run on 2 CPU cores (the proxy network is small). The seed is each run's own.
"""
from __future__ import annotations

import copy
import statistics
from pathlib import Path
from typing import Dict, List

from benchmarks._common import (add_nb201_argument, benchmark_acc, distinct_candidates, nb201_table, run_budget,
                                run_dirs, top5_within)
from enas.predictors import ZeroCostScorer, proxy_batches
from enas.predictors.ranking import AZ_NAS, kendall_tau, log_rank_sum
from enas.predictors.zero_cost import fresh_copy
from enas.search import load_search

PARTS = ("expressivity", "progressivity", "trainability")  # AZ-NAS's parts that depend on the weights
SETS = ("trained", "init", "shipped")


def score_sets(run_dir: Path, cands: List[Dict]) -> Dict[str, List[Dict[str, float]]]:
    """The three weight-dependent parts (plus the recorded FLOPs) of every candidate, per set."""
    run = load_search(run_dir / "checkpoints" / "last.pt", "cpu")
    seed = int(run.config.seed)
    batches = proxy_batches(run.task, 1, seed)
    builders = {"trained": lambda: copy.deepcopy(run.model), "init": lambda: fresh_copy(run.model)}
    sets = {}
    for name, build in builders.items():
        scorer = ZeroCostScorer(build, batches, run.task.loss, PARTS, seed=seed)
        sets[name] = [{**scorer.score(c["arch"]), "flops": c["flops"]} for c in cands]
    sets["shipped"] = [{n: c[n] for n in AZ_NAS} for c in cands]
    return sets


def measure(sets: Dict[str, List[Dict[str, float]]], truth: List[float]) -> Dict[str, Dict[str, float]]:
    """Per set: tau of AZ-NAS and of each part against the benchmark, and the accuracy of AZ-NAS's pick."""
    out = {}
    for name, rows in sets.items():
        combined = log_rank_sum(rows, AZ_NAS)
        best = max(range(len(rows)), key=lambda i: combined[i])
        out[name] = {"pick": truth[best], "tau": kendall_tau(combined, truth),
                     **{f"tau {p}": kendall_tau([r[p] for r in rows], truth) for p in PARTS}}
    return out


def add_arguments(p):
    p.add_argument("runs", nargs="+", type=Path, help="search run folders, or benchmarks.nb201 --out folders of them")
    add_nb201_argument(p)


def run(args):
    table = nb201_table(args.nb201)
    columns = ["pick", "tau", *(f"tau {p}" for p in PARTS)]
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    top5: Dict[str, float] = {}
    print(f"{'run':48} {'set':8} " + " ".join(f"{c:>18}" for c in columns))
    for run_dir in run_dirs(args.runs):
        cands = distinct_candidates(run_dir)
        truth = [benchmark_acc(table, c["arch"]) for c in cands]
        top5[str(run_dir)] = top5_within(table, run_budget(run_dir))
        results[str(run_dir)] = measure(score_sets(run_dir, cands), truth)
        for name, row in results[str(run_dir)].items():
            print(f"{str(run_dir)[-48:]:48} {name:8} " + " ".join(f"{row[c]:18.3f}" for c in columns))
        print(f"{'':48} ({len(cands)} distinct candidates; top 5% from {top5[str(run_dir)]:.2f})")
    print(f"\nover {len(results)} runs (mean; the pick's benchmark CIFAR-10 test accuracy and how many runs it "
          "lands in the top 5%):")
    for name in SETS:
        rows = [(run_dir, r[name]) for run_dir, r in results.items()]
        inside = sum(row["pick"] >= top5[run_dir] for run_dir, row in rows)
        print(f"  {name:8} pick {statistics.mean(r['pick'] for _, r in rows):6.2f} (top 5%: {inside}/{len(rows)})  "
              + "  ".join(f"{c} {statistics.mean(r[c] for _, r in rows):6.3f}" for c in columns[1:]))
