"""AZ-NAS on the trained shared weights: does the search's supernet rank derive's candidates better than a
network at initialisation?

AZ-NAS's data-dependent parts (expressivity, progressivity, trainability; `enas.predictors.zero_cost`) are
defined on any weights. For each finished NAS-Bench-201 search this script scores the run's derive
candidates with them on three networks, each with the run's seed and one minibatch of its search-train
images, and combines each set with the candidates' FLOPs by AZ-NAS's log-rank sum, as derive does:

- ``trained``: the run's final supernet (``checkpoints/last.pt``), on each candidate's path;
- ``init``: a fresh initialisation of that same network (same size): separates what training adds from
  what a smaller network changes;
- ``shipped``: the parts derive recorded in ``derive_candidates.csv`` (the benchmark's size, at init).

Per run it prints each set's Kendall tau against the benchmark within the candidates (the combination and
each part) and the benchmark accuracy of the cell it picks; then the means over runs. Trains nothing; about
a minute a run on 2 cores (the proxy network is small). The rule it was written for is in
benchmarks/README.md ("AZ-NAS on the trained shared weights").

    python benchmarks/nb201_trained_proxies.py --nb201 ../shared/data/nasbench201 outputs/h/default_s24 outputs/h/budget_s5
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enas.report.benchmark import NB201Table  # noqa: E402
from enas.search.derive_checkpoint import load_search  # noqa: E402
from enas.predictors.ranking import AZ_NAS, kendall_tau, log_rank_sum  # noqa: E402
from enas.predictors.zero_cost import ZeroCostScorer, fresh_copy, proxy_batches  # noqa: E402
from nb201_pick import benchmark_acc, load_candidates, run_budget, run_dirs  # noqa: E402

PARTS = ("expressivity", "progressivity", "trainability")  # AZ-NAS's parts that depend on the weights
SETS = ("trained", "init", "shipped")


def unique_candidates(run_dir: Path) -> List[Dict]:
    """Derive's candidates of a run, each distinct architecture once (the policy proposes repeats)."""
    seen, out = set(), []
    for cand in load_candidates(run_dir):
        key = repr(sorted(cand["arch"].items()))
        if key not in seen:
            seen.add(key)
            out.append(cand)
    return out


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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="search run folders, or nb201.py --out folders of them")
    p.add_argument("--nb201", required=True, help="folder with nb201_accuracies.csv")
    args = p.parse_args()
    table = NB201Table(str(Path(args.nb201) / "nb201_accuracies.csv"))
    columns = ["pick", "tau", *(f"tau {p}" for p in PARTS)]
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    top5: Dict[str, float] = {}
    print(f"{'run':48} {'set':8} " + " ".join(f"{c:>18}" for c in columns))
    for run_dir in run_dirs(args.runs):
        cands = unique_candidates(run_dir)
        truth = [benchmark_acc(table, c["arch"]) for c in cands]
        budget = run_budget(run_dir)
        top5[str(run_dir)] = table.quantile(5, values=table.within_budget(budget) if budget is not None else None)
        results[str(run_dir)] = measure(score_sets(run_dir, cands), truth)
        for name, row in results[str(run_dir)].items():
            print(f"{str(run_dir)[-48:]:48} {name:8} " + " ".join(f"{row[c]:18.3f}" for c in columns))
        print(f"{'':48} ({len(cands)} distinct candidates; top 5% from {top5[str(run_dir)]:.2f})")
    print(f"\nover {len(results)} runs (mean; the pick's benchmark CIFAR-10 test accuracy and how many runs it "
          "lands in the top 5%):")
    for name in SETS:
        rows = [(run, r[name]) for run, r in results.items()]
        inside = sum(row["pick"] >= top5[run] for run, row in rows)
        print(f"  {name:8} pick {statistics.mean(r['pick'] for _, r in rows):6.2f} (top 5%: {inside}/{len(rows)})  "
              + "  ".join(f"{c} {statistics.mean(r[c] for _, r in rows):6.3f}" for c in columns[1:]))


if __name__ == "__main__":
    main()
