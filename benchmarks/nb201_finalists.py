"""How well must a signal rank AZ-NAS's finalists to beat AZ-NAS's own first choice? Read from the table.

AZ-NAS's best few cells of a pool are where every final pick on NAS-Bench-201 is decided, and where no
signal measured on this CPU proxy (shared weights, short training at C=8, trained-weight proxies, a second
seed) has beaten AZ-NAS's first choice. This script asks what such a signal would have to be, training
nothing: over pools of N uniform cells from the whole space scored once (the shipped AZ-NAS file), it
takes AZ-NAS's K best (the finalists) and picks among them by

- ``az_nas``: AZ-NAS's first choice (what ``derive.select=az_nas`` ships);
- ``12ep``: the benchmark's own 12-epoch CIFAR-10 validation accuracy, a short training at the benchmark's
  size (C=16, N=5, the whole training split): what ``derive.select=short_train`` would read at full size;
- ``noise s``: the 200-epoch test accuracy plus Gaussian noise of standard deviation ``s`` (a signal of
  known quality);
- ``best``: the best finalist (a perfect ranking),

each with the mean Kendall tau of its signal against the test accuracy within the finalists. With run
folders (``derive_candidates.csv``), the signals each run measured are read the same way within that run's
own AZ-NAS finalists: ``shared`` (the shared weights' score on derive's minibatch), ``params``, ``12ep``.

    python benchmarks/nb201_finalists.py --nb201 ../shared/data/nasbench201 --runs outputs/h/default_s24
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import supernet  # noqa: E402
from enas.report.benchmark import NB201Table  # noqa: E402
from enas.predictors.ranking import AZ_NAS, kendall_tau  # noqa: E402
from _common import load_scores  # noqa: E402
from nb201_pick import load_candidates, run_budget, run_dirs  # noqa: E402
from nb201_policy_pool import SHIPPED, az_nas_order  # noqa: E402

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

    for n in sizes:
        if n > len(acc):
            raise ValueError(f"pools of {n} cells from {len(acc)} scored: ask less")
        for r in range(pools):
            rng = np.random.default_rng(r)
            order = az_nas_order(parts, rng.choice(len(acc), size=n, replace=False))
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
    distinct = {}
    for c in load_candidates(run_dir):  # best first by shared weights: a repeated cell keeps its first row
        distinct.setdefault(supernet.to_nb201_string(c["arch"]), c)
    cells, cands = list(distinct), list(distinct.values())
    missing = [n for n in AZ_NAS if not all(isinstance(c.get(n), float) for c in cands)]
    if missing:
        raise ValueError(f"{run_dir}: derive recorded no {', '.join(missing)}: run it with derive.select=az_nas")
    rows = [table.lookup(cell) for cell in cells]
    acc = np.array([r["cifar10_test_acc"] for r in rows])
    signals = {"12ep": np.array([r[TWELVE_EPOCHS] for r in rows]),
               "shared": np.array([c.get("score", np.nan) for c in cands], dtype=np.float64),
               "params": np.array([c.get("params", np.nan) for c in cands], dtype=np.float64)}
    parts = np.nan_to_num(np.array([[c[n] for n in AZ_NAS] for c in cands], dtype=np.float64), nan=-np.inf)
    order = az_nas_order(parts, np.arange(len(cands)))
    budget = run_budget(run_dir)
    top5 = table.quantile(5, values=table.within_budget(budget) if budget is not None else None)
    results: Picks = {"az_nas": [(float(acc[order[0]]), float("nan"), top5)]}
    signals = {name: signal for name, signal in signals.items() if np.isfinite(signal).all()}  # none: no supernet
    for k in finalists:
        for name, signal in signals.items():
            results[f"K={k} {name}"] = [(*pick_among(order[:k], acc, signal), top5)]
    return results


def print_table(results: Picks) -> None:
    width = max(len(rule) for rule in results)
    for rule, picks in results.items():
        accs, taus, top5 = (np.array(column) for column in zip(*picks))
        tau = f"tau {np.nanmean(taus):5.2f}" if np.isfinite(taus).any() else ""
        print(f"  {rule:{width}} {accs.mean():6.2f} +- {accs.std():.2f}  top 5%: {100 * np.mean(accs >= top5):3.0f}%  {tau}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", nargs="+", type=Path, default=[],
                   help="search run folders (or nb201.py --out folders) to read the same way")
    p.add_argument("--nb201", type=Path, required=True, help="folder with nb201_accuracies.csv")
    p.add_argument("--scores", nargs="+", type=Path, default=[SHIPPED], help="a whole-space AZ-NAS scoring")
    p.add_argument("--sizes", nargs="+", type=int, default=[550, 3000], help="uniform cells AZ-NAS scores")
    p.add_argument("--finalists", nargs="+", type=int, default=[4, 10, 20], help="AZ-NAS's K best")
    p.add_argument("--noise", nargs="+", type=float, default=[0.1, 0.2, 0.3, 0.5], help="noise std (accuracy %)")
    p.add_argument("--pools", type=int, default=400, help="pools drawn per size")
    args = p.parse_args(argv)
    table = NB201Table(str(args.nb201 / "nb201_accuracies.csv"))
    scored = load_scores(args.scores)["rows"]
    acc = np.array([r["acc"] for r in scored], dtype=np.float64)
    twelve = np.array([table.lookup(r["arch_str"])[TWELVE_EPOCHS] for r in scored], dtype=np.float64)
    parts = np.nan_to_num(np.array([[r[n] for n in AZ_NAS] for r in scored], dtype=np.float64), nan=-np.inf)
    print(f"Picks among AZ-NAS's K best of N uniform cells ({args.pools} pools per N; mean +- std of the picked "
          f"cell's CIFAR-10 test accuracy, share in the top 5%, mean Kendall tau of the signal within the finalists):")
    print_table(finalist_picks(acc, twelve, parts, table.quantile(5), args.sizes, args.finalists, args.noise,
                               args.pools))
    if args.runs:
        runs = run_dirs(args.runs)
        measured: Picks = {}
        for run in runs:
            for rule, picks in run_finalists(run, table, args.finalists).items():
                measured.setdefault(rule, []).extend(picks)
        print(f"\nWithin each run's own candidates, AZ-NAS's K best, the signals the run measured ({len(runs)} runs; "
              "the top 5% of the budgeted cells for a run with a budget):")
        print_table(measured)


if __name__ == "__main__":
    main()
