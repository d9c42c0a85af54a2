"""A smaller network or more cells? AZ-NAS's pick on NAS-Bench-201 at equal scoring cost.

AZ-NAS's parts can be computed on the benchmark's network (C=16, N=5, as ``proxies.space`` ships) or on a
smaller one of the same space (the search proxy's C=8, N=1), which scores a cell several times faster. At
a fixed cost the small network scores that many times the cells; this weighs that against its ranking,
from two whole-space score files (``zero_cost --all``), training nothing:

- large, N: AZ-NAS's log-rank sum over a pool of ``N`` cells scored by the large network;
- small, same cost: over ``N * large_cost / small_cost`` cells (at most the whole space) scored by the small one;
- small, N (not a contender): the small network's ranking alone, the same cells' count.

Pools are drawn without replacement (a run scores each distinct cell once), pool ``r`` with seed ``r``.
The seconds a cell come from the files (``seconds_per_cell``) or ``--cost large=S small=S``. The small
network's file: ``python -m benchmarks.zero_cost --all --C 8 --N 1 --proxies flops expressivity
progressivity trainability`` (about 12 minutes in two one-thread shards on 2 CPU cores).

    python -m benchmarks.analysis proxy-size --nb201 data/nasbench201 \
        --small outputs/zc_small/s0_0.json outputs/zc_small/s0_1.json --cost small=0.0868

Prints, per rule and pool size, the mean +- std of the picked cell's CIFAR-10 test accuracy over
``--pools`` pools and its share in the top 5% of the space. Settings: ``--sizes``, ``--pools``. Seconds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from benchmarks._common import (SHIPPED, add_nb201_argument, add_pool_arguments, az_nas_pick, cost_pair, load_scores,
                                nb201_table, paired_scores, print_picks, seeded_pools)


def compare(acc: np.ndarray, large: np.ndarray, small: np.ndarray, sizes: Sequence[int], ratio: float,
            pools: int) -> Dict[str, List[float]]:
    """rule -> benchmark accuracies of its picks; ``ratio`` = cells the small network scores in the time the
    large one scores one."""
    results: Dict[str, List[float]] = {}
    for n, rng in seeded_pools(len(acc), sizes, pools, "scored by both: ask less"):
        same_cost = min(int(round(n * ratio)), len(acc))
        order = rng.permutation(len(acc))
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


def add_arguments(p):
    add_nb201_argument(p)
    p.add_argument("--large", nargs="+", type=Path, default=[SHIPPED],
                   help="whole-space scoring on the larger network (default: the shipped file, C=16 N=5)")
    p.add_argument("--small", nargs="+", type=Path, required=True, help="whole-space scoring on the smaller network")
    p.add_argument("--cost", nargs="*", type=cost_pair, default=[],
                   help="seconds a cell, as large=S small=S (default: the files')")
    add_pool_arguments(p, [700, 1500], "cells the large network scores")


def run(args):
    given = dict(args.cost)
    large, small = load_scores(args.large), load_scores(args.small)
    if (large["C"], large["N"]) == (small["C"], small["N"]):
        raise ValueError(f"both scorings are of C={large['C']}, N={large['N']}: compare two network sizes")
    acc, large_parts, small_parts = paired_scores(large["rows"], small["rows"])
    ratio = seconds_per_cell(large, given, "large") / seconds_per_cell(small, given, "small")
    top5 = nb201_table(args.nb201).quantile(5)
    results = compare(acc, large_parts, small_parts, args.sizes, ratio, args.pools)
    print(f"AZ-NAS's pick on C={large['C']} N={large['N']} (seed {large['seed']}) against C={small['C']} N={small['N']} "
          f"(seed {small['seed']}, {ratio:.1f} cells in the time of one) among {len(acc)} cells ({args.pools} pools a "
          "size; mean +- std of the picked cell's CIFAR-10 test accuracy, share in the top 5%):")
    print_picks(results, top5)
