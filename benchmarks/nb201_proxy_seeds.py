"""Two seeds or twice the cells? AZ-NAS's pick on NAS-Bench-201 at equal scoring cost.

A zero-cost score depends on its seed (the untrained weights and the minibatch): on the same cells, two
seeds' AZ-NAS parts agree at Kendall tau 0.57 (progressivity) to 1.0 (FLOPs), and the pick moves with them
(benchmarks/README.md, "The training-free run end to end"). Averaging two seeds removes some of that noise
but halves the cells a fixed budget scores. This script weighs the two from score files, training nothing:

- one seed: AZ-NAS's log-rank sum over a pool of ``N`` cells, each scored once (counted with either seed's
  scores, so the row is the expectation over which seed a run happens to use);
- two seeds: over ``N/2`` cells, for each of AZ-NAS's parts the mean of its two within-pool ranks, then
  the log-rank sum over those mean ranks; the same cost as ``N`` cells scored once;
- two seeds at N (twice the cost; not a contender): the noise's effect alone.

Pools are drawn without replacement from the cells the second file holds (a uniform sample when it comes
from ``zero_cost.py --archs``), draw ``r`` with seed ``r``; the first file must hold every one of them (the
shipped whole-space file does).

    python benchmarks/nb201_proxy_seeds.py --nb201 ../shared/data/nasbench201 \
        --second outputs/zc/seed1_0.json outputs/zc/seed1_1.json
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enas.report.benchmark import NB201Table  # noqa: E402
from enas.predictors.ranking import AZ_NAS  # noqa: E402
from _common import load_scores  # noqa: E402
from nb201_policy_pool import SHIPPED, average_ranks, print_picks  # noqa: E402


def az_nas_pick(parts: Sequence[np.ndarray], pool: np.ndarray) -> int:
    """The cell (index) AZ-NAS picks in ``pool`` when each part's rank is the mean of its ranks under the
    given scorings (``parts``: one [cells, parts] array per seed; one array is plain AZ-NAS)."""
    mean_ranks = np.mean([np.stack([average_ranks(p[pool, j]) for j in range(p.shape[1])], axis=1)
                          for p in parts], axis=0)
    return int(pool[np.argmax(np.log(mean_ranks / len(pool)).sum(axis=1))])


def compare(acc: np.ndarray, first: np.ndarray, second: np.ndarray, sizes: Sequence[int],
            pools: int) -> Dict[str, List[float]]:
    """rule -> benchmark accuracies of its picks, ``pools`` pools per size (pool ``r`` drawn with seed ``r``)."""
    results: Dict[str, List[float]] = {}
    for n in sizes:
        if n > len(acc):
            raise ValueError(f"pools of {n} cells from {len(acc)} scored twice: score more cells or ask less")
        for r in range(pools):
            rng = np.random.default_rng(r)
            pool = rng.choice(len(acc), size=n, replace=False)
            half = pool[: n // 2]  # a uniform half: the cells the same budget scores twice
            results.setdefault(f"one seed, N={n}", []).extend(
                acc[az_nas_pick([scores], pool)] for scores in (first, second))
            results.setdefault(f"two seeds, N={n // 2} (same cost)", []).append(acc[az_nas_pick([first, second], half)])
            results.setdefault(f"two seeds, N={n} (twice the cost)", []).append(acc[az_nas_pick([first, second], pool)])
    return results


def paired_scores(first_rows: List[Dict], second_rows: List[Dict]):
    """Accuracies and both scorings' AZ-NAS parts, in the second file's cell order."""
    by_arch = {r["arch_str"]: r for r in first_rows}
    missing = [r["arch_str"] for r in second_rows if r["arch_str"] not in by_arch]
    if missing:
        raise ValueError(f"{len(missing)} cells of the second scoring are not in the first (e.g. {missing[0]}): "
                         "the first must hold them all (the whole space, zero_cost.py --all)")
    for name, rows in (("first", first_rows), ("second", second_rows)):
        absent = [n for n in AZ_NAS if n not in rows[0]]
        if absent:
            raise ValueError(f"the {name} scoring lacks {', '.join(absent)}: score with --proxies "
                             f"{' '.join(AZ_NAS)}")
    parts = lambda rows: np.nan_to_num(np.array([[r[n] for n in AZ_NAS] for r in rows], dtype=np.float64),
                                       nan=-np.inf)
    return (np.array([r["acc"] for r in second_rows], dtype=np.float64),
            parts([by_arch[r["arch_str"]] for r in second_rows]), parts(second_rows))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nb201", type=Path, required=True, help="folder with nb201_accuracies.csv")
    p.add_argument("--first", nargs="+", type=Path, default=[SHIPPED],
                   help="the scoring that holds every cell (default: the shipped whole-space file, seed 0)")
    p.add_argument("--second", nargs="+", type=Path, required=True,
                   help="zero_cost.py outputs of another seed (shards are merged)")
    p.add_argument("--sizes", nargs="+", type=int, default=[700, 3000], help="cells a pool scores once")
    p.add_argument("--pools", type=int, default=400, help="pools drawn per size")
    args = p.parse_args(argv)
    first, second = load_scores(args.first), load_scores(args.second)
    if first["seed"] == second["seed"]:
        raise ValueError(f"both scorings used seed {first['seed']}: the second must use another")
    acc, first_parts, second_parts = paired_scores(first["rows"], second["rows"])
    top5 = NB201Table(str(args.nb201 / "nb201_accuracies.csv")).quantile(5)
    results = compare(acc, first_parts, second_parts, args.sizes, args.pools)
    print(f"AZ-NAS's pick with seeds {first['seed']} and {second['seed']} among {len(acc)} cells scored by both "
          f"({args.pools} pools a size; mean +- std of the picked cell's CIFAR-10 test accuracy, share in the top 5%):")
    print_picks(results, top5, width=max(map(len, results)))


if __name__ == "__main__":
    main()
