"""How well must a signal rank AZ-NAS's finalists to beat AZ-NAS's own first choice? Read from the table.

Every final pick on NAS-Bench-201 with ``derive.select=az_nas`` is decided among the few cells AZ-NAS rates
best. This asks what a signal that re-ranks those finalists would have to be, training nothing: over pools
of N uniform cells from the whole space scored once (the shipped AZ-NAS file), it takes AZ-NAS's K best
(the finalists) and picks among them by

- ``az_nas``: AZ-NAS's first choice (what ``derive.select=az_nas`` ships);
- ``12ep``: the benchmark's own 12-epoch CIFAR-10 validation accuracy, a short training at the benchmark's
  size (C=16, N=5, the whole training split): what ``derive.select=short_train`` would read at full size;
- ``noise s``: the 200-epoch test accuracy plus Gaussian noise of standard deviation ``s`` (a signal of
  known quality);
- ``best``: the best finalist (a perfect ranking),

each with the mean Kendall tau of its signal against the test accuracy within the finalists. With run
folders (``derive_candidates.csv``), the signals each run measured are read the same way within that run's
own AZ-NAS finalists: ``shared`` (the shared weights' score on derive's minibatch), ``params``, ``12ep``.

    python -m benchmarks.analysis finalists --nb201 data/nasbench201
    python -m benchmarks.analysis finalists --nb201 data/nasbench201 --finalists 4 10 --runs outputs/nb201_benchmark

Prints one line per rule: mean +- std of the picked cell's CIFAR-10 test accuracy, its share in the top 5%
(of the cells within a run's budget for a run with one) and the signal's mean tau. Settings: ``--sizes``,
``--finalists``, ``--noise``, ``--pools`` (pool ``r`` drawn with seed ``r``). About 10 s on 2 CPU cores.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

import supernet
from benchmarks._common import (SHIPPED, add_nb201_argument, add_pool_arguments, az_nas_order, az_nas_parts,
                                distinct_candidates, load_scores, nb201_table, print_picks, run_budget, run_dirs,
                                seeded_pools, top5_within)
from enas.predictors.ranking import AZ_NAS, kendall_tau
from enas.report.benchmark import NB201Table

TWELVE_EPOCHS = "cifar10_valid_acc_12ep"
Pick = Tuple[float, float, float]  # the picked cell's accuracy, the signal's tau within the finalists, the top 5%'s start
Picks = Dict[str, List[Pick]]


def pick_among(finalists: np.ndarray, acc: np.ndarray, signal: np.ndarray) -> Tuple[float, float]:
    """The accuracy of the finalist ``signal`` ranks first, and the signal's Kendall tau within them."""
    return float(acc[finalists[np.argmax(signal[finalists])]]), kendall_tau(signal[finalists], acc[finalists])


def finalist_picks(acc: np.ndarray, twelve: np.ndarray, parts: np.ndarray, top5: float, sizes: Sequence[int],
                   finalists: Sequence[int], noise: Sequence[float], pools: int) -> Picks:
    """Every rule's picks over ``pools`` uniform pools per size (pool ``r`` drawn with seed ``r``)."""
    results: Picks = {}

    def add(rule: str, acc_tau: Tuple[float, float]) -> None:
        results.setdefault(rule, []).append((*acc_tau, top5))

    for n, rng in seeded_pools(len(acc), sizes, pools, "scored: ask less"):
        order = az_nas_order([parts], rng.choice(len(acc), size=n, replace=False))
        add(f"N={n} az_nas", (float(acc[order[0]]), float("nan")))
        noisy = {s: acc + rng.normal(0.0, s, size=len(acc)) for s in noise}
        for k in finalists:
            top = order[:k]
            add(f"N={n} K={k} 12ep", pick_among(top, acc, twelve))
            for s in noise:
                add(f"N={n} K={k} noise {s:g}", pick_among(top, acc, noisy[s]))
            add(f"N={n} K={k} best", (float(acc[top].max()), 1.0))
    return results


def run_finalists(run_dir: Path, table: NB201Table, finalists: Sequence[int]) -> Picks:
    """Within one run's distinct candidates: AZ-NAS's first choice, and each measured signal's pick and tau
    among AZ-NAS's K best of them; the top 5% is of the cells within the run's budget when it had one."""
    cands = distinct_candidates(run_dir)  # best first by shared weights: a repeated cell keeps its first row
    missing = [n for n in AZ_NAS if not all(isinstance(c.get(n), float) for c in cands)]
    if missing:
        raise ValueError(f"{run_dir}: derive recorded no {', '.join(missing)}: run it with derive.select=az_nas")
    rows = [table.lookup(supernet.to_nb201_string(c["arch"])) for c in cands]
    acc = np.array([r["cifar10_test_acc"] for r in rows])
    signals = {"12ep": np.array([r[TWELVE_EPOCHS] for r in rows]),
               "shared": np.array([c.get("score", np.nan) for c in cands], dtype=np.float64),
               "params": np.array([c.get("params", np.nan) for c in cands], dtype=np.float64)}
    order = az_nas_order([az_nas_parts(cands)], np.arange(len(cands)))
    top5 = top5_within(table, run_budget(run_dir))
    results: Picks = {"az_nas": [(float(acc[order[0]]), float("nan"), top5)]}
    signals = {name: signal for name, signal in signals.items() if np.isfinite(signal).all()}  # none: no supernet
    for k in finalists:
        for name, signal in signals.items():
            results[f"K={k} {name}"] = [(*pick_among(order[:k], acc, signal), top5)]
    return results


def print_table(results: Picks) -> None:
    columns = {rule: list(zip(*picks)) for rule, picks in results.items()}  # accuracies, taus, top 5%'s starts
    print_picks({rule: c[0] for rule, c in columns.items()}, {rule: c[2] for rule, c in columns.items()},
                taus={rule: c[1] for rule, c in columns.items()})


def add_arguments(p):
    p.add_argument("--runs", nargs="+", type=Path, default=[],
                   help="search run folders (or benchmarks.nb201 --out folders) to read the same way")
    add_nb201_argument(p)
    p.add_argument("--scores", nargs="+", type=Path, default=[SHIPPED], help="a whole-space AZ-NAS scoring")
    add_pool_arguments(p, [550, 3000], "uniform cells AZ-NAS scores")
    p.add_argument("--finalists", nargs="+", type=int, default=[4, 10, 20], help="AZ-NAS's K best")
    p.add_argument("--noise", nargs="+", type=float, default=[0.1, 0.2, 0.3, 0.5], help="noise std (accuracy %%)")


def run(args):
    table = nb201_table(args.nb201)
    scored = load_scores(args.scores)["rows"]
    acc = np.array([r["acc"] for r in scored], dtype=np.float64)
    twelve = np.array([table.lookup(r["arch_str"])[TWELVE_EPOCHS] for r in scored], dtype=np.float64)
    print(f"Picks among AZ-NAS's K best of N uniform cells ({args.pools} pools per N; mean +- std of the picked "
          f"cell's CIFAR-10 test accuracy, share in the top 5%, mean Kendall tau of the signal within the finalists):")
    print_table(finalist_picks(acc, twelve, az_nas_parts(scored), table.quantile(5), args.sizes, args.finalists,
                               args.noise, args.pools))
    if args.runs:
        runs = run_dirs(args.runs)
        measured: Picks = {}
        for run_dir in runs:
            for rule, picks in run_finalists(run_dir, table, args.finalists).items():
                measured.setdefault(rule, []).extend(picks)
        print(f"\nWithin each run's own candidates, AZ-NAS's K best, the signals the run measured ({len(runs)} runs; "
              "the top 5% of the budgeted cells for a run with a budget):")
        print_table(measured)
