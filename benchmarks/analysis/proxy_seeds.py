"""Two seeds or twice the cells? AZ-NAS's pick on NAS-Bench-201 at equal scoring cost.

A zero-cost score depends on its seed (the untrained weights and the minibatch). Averaging two seeds
removes some of that noise but halves the cells a fixed budget scores. This weighs the two from two score
files of different seeds, training nothing:

- one seed: AZ-NAS's log-rank sum over a pool of ``N`` cells, each scored once (counted with either seed's
  scores, so the row is the expectation over which seed a run happens to use);
- two seeds: over ``N/2`` cells, for each of AZ-NAS's parts the mean of its two within-pool ranks, then
  the log-rank sum over those mean ranks; the same cost as ``N`` cells scored once;
- two seeds at N (twice the cost; not a contender): the noise's effect alone.

Pools are drawn without replacement from the cells the second file holds (a uniform sample when it comes
from ``zero_cost --archs``), pool ``r`` with seed ``r``; the first file must hold every one of them (the
shipped whole-space file, seed 0, does). The second file: ``python -m benchmarks.zero_cost --archs 6000
--seed 1 --proxies flops expressivity progressivity trainability`` (about 26 minutes in two one-thread
shards on 2 CPU cores).

    python -m benchmarks.analysis proxy-seeds --nb201 data/nasbench201 \
        --second outputs/zc/seed1_0.json outputs/zc/seed1_1.json

Prints, per rule and pool size, the mean +- std of the picked cell's CIFAR-10 test accuracy over
``--pools`` pools and its share in the top 5% of the space. Settings: ``--sizes``, ``--pools``. Seconds.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

from benchmarks._common import (SHIPPED, add_nb201_argument, add_pool_arguments, az_nas_pick, load_scores, nb201_table,
                                paired_scores, print_picks, seeded_pools)


def compare(acc: np.ndarray, first: np.ndarray, second: np.ndarray, sizes: Sequence[int],
            pools: int) -> Dict[str, List[float]]:
    """rule -> benchmark accuracies of its picks, ``pools`` pools per size (pool ``r`` drawn with seed ``r``)."""
    results: Dict[str, List[float]] = {}
    for n, rng in seeded_pools(len(acc), sizes, pools, "scored twice: score more cells or ask less"):
        pool = rng.choice(len(acc), size=n, replace=False)
        half = pool[: n // 2]  # a uniform half: the cells the same budget scores twice
        results.setdefault(f"one seed, N={n}", []).extend(
            acc[az_nas_pick([scores], pool)] for scores in (first, second))
        results.setdefault(f"two seeds, N={n // 2} (same cost)", []).append(acc[az_nas_pick([first, second], half)])
        results.setdefault(f"two seeds, N={n} (twice the cost)", []).append(acc[az_nas_pick([first, second], pool)])
    return results


def add_arguments(p):
    add_nb201_argument(p)
    p.add_argument("--first", nargs="+", type=Path, default=[SHIPPED],
                   help="the scoring that holds every cell (default: the shipped whole-space file, seed 0)")
    p.add_argument("--second", nargs="+", type=Path, required=True,
                   help="zero_cost outputs of another seed (shards are merged)")
    add_pool_arguments(p, [700, 3000], "cells a pool scores once")


def run(args):
    first, second = load_scores(args.first), load_scores(args.second)
    if first["seed"] == second["seed"]:
        raise ValueError(f"both scorings used seed {first['seed']}: the second must use another")
    acc, first_parts, second_parts = paired_scores(first["rows"], second["rows"])
    top5 = nb201_table(args.nb201).quantile(5)
    results = compare(acc, first_parts, second_parts, args.sizes, args.pools)
    print(f"AZ-NAS's pick with seeds {first['seed']} and {second['seed']} among {len(acc)} cells scored by both "
          f"({args.pools} pools a size; mean +- std of the picked cell's CIFAR-10 test accuracy, share in the top 5%):")
    print_picks(results, top5)
