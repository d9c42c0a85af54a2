"""A smaller network or more cells? AZ-NAS's pick on NAS-Bench-201 at equal scoring cost.

AZ-NAS's parts can be computed on the benchmark's network (C=16, N=5, as `proxies.space` ships) or on a
smaller one of the same space (the search proxy's C=8, N=1), which scores a cell several times faster. At
a fixed cost the small network scores that many times the cells; this script weighs that against its
ranking, from two whole-space score files (`zero_cost.py --all`), training nothing:

- large, N: AZ-NAS's log-rank sum over a pool of ``N`` cells scored by the large network;
- small, same cost: over ``N * large_cost / small_cost`` cells (at most the whole space) scored by the small one;
- small, N (not a contender): the small network's ranking alone, the same cells' count.

Pools are drawn without replacement (a run scores each distinct cell once), pool ``r`` with seed ``r``.
The seconds a cell come from the files (``seconds_per_cell``) or ``--cost large=S small=S``.

    python benchmarks/nb201_proxy_size.py --nb201 ../shared/data/nasbench201 \
        --small outputs/zc_small/s0_0.json outputs/zc_small/s0_1.json --cost small=0.1
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enas.report.benchmark import NB201Table  # noqa: E402
from _common import load_scores  # noqa: E402
from nb201_policy_pool import SHIPPED, print_picks  # noqa: E402
from nb201_proxy_seeds import az_nas_pick, paired_scores  # noqa: E402


def compare(acc: np.ndarray, large: np.ndarray, small: np.ndarray, sizes: Sequence[int], ratio: float,
            pools: int) -> Dict[str, List[float]]:
    """rule -> benchmark accuracies of its picks; ``ratio`` = cells the small network scores in the time the
    large one scores one."""
    results: Dict[str, List[float]] = {}
    for n in sizes:
        if n > len(acc):
            raise ValueError(f"pools of {n} cells from {len(acc)} scored by both: ask less")
        same_cost = min(int(round(n * ratio)), len(acc))
        for r in range(pools):
            order = np.random.default_rng(r).permutation(len(acc))
            results.setdefault(f"large, N={n}", []).append(acc[az_nas_pick([large], order[:n])])
            results.setdefault(f"small, N={same_cost} (same cost)", []).append(acc[az_nas_pick([small], order[:same_cost])])
            results.setdefault(f"small, N={n} (same cells' count)", []).append(acc[az_nas_pick([small], order[:n])])
    return results


def seconds_per_cell(saved: Dict, given: Dict[str, float], name: str) -> float:
    if name in given:
        return given[name]
    if "az_nas" in saved.get("seconds_per_cell", {}):
        return float(saved["seconds_per_cell"]["az_nas"])
    raise ValueError(f"the {name} scoring records no seconds a cell: pass --cost {name}=SECONDS")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nb201", type=Path, required=True, help="folder with nb201_accuracies.csv")
    p.add_argument("--large", nargs="+", type=Path, default=[SHIPPED],
                   help="whole-space scoring on the larger network (default: the shipped file, C=16 N=5)")
    p.add_argument("--small", nargs="+", type=Path, required=True, help="whole-space scoring on the smaller network")
    p.add_argument("--cost", nargs="*", default=[], help="seconds a cell, as large=S small=S (default: the files')")
    p.add_argument("--sizes", nargs="+", type=int, default=[700, 1500], help="cells the large network scores")
    p.add_argument("--pools", type=int, default=400, help="pools drawn per size")
    args = p.parse_args(argv)
    try:
        given = {name: float(seconds) for name, seconds in (c.split("=") for c in args.cost)}
    except ValueError:
        p.error(f"--cost takes large=S small=S, got {' '.join(args.cost)}")
    large, small = load_scores(args.large), load_scores(args.small)
    if (large["C"], large["N"]) == (small["C"], small["N"]):
        raise ValueError(f"both scorings are of C={large['C']}, N={large['N']}: compare two network sizes")
    acc, large_parts, small_parts = paired_scores(large["rows"], small["rows"])
    ratio = seconds_per_cell(large, given, "large") / seconds_per_cell(small, given, "small")
    top5 = NB201Table(str(args.nb201 / "nb201_accuracies.csv")).quantile(5)
    results = compare(acc, large_parts, small_parts, args.sizes, ratio, args.pools)
    print(f"AZ-NAS's pick on C={large['C']} N={large['N']} (seed {large['seed']}) against C={small['C']} N={small['N']} "
          f"(seed {small['seed']}, {ratio:.1f} cells in the time of one) among {len(acc)} cells ({args.pools} pools a "
          "size; mean +- std of the picked cell's CIFAR-10 test accuracy, share in the top 5%):")
    print_picks(results, top5, width=max(map(len, results)))


if __name__ == "__main__":
    main()
