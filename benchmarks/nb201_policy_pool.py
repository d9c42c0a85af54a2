"""Is the search's policy a better place to look than uniform? AZ-NAS's pick among cells drawn from it.

On the NB201 CPU proxy the final pick is AZ-NAS's, and AZ-NAS among the policy's own candidates picks
worse than among derive's uniform ones (benchmarks/README.md). The policy's cells are better on average
(about 92.2 against 87.1) but few and distinct (25-70 a run), so the question is whether the *place* is
wrong or only the pool too small. This script answers it without training anything: it draws ``N``
cells from each finished run's final policy, flattened by a temperature ``T`` (probabilities ** (1/T),
renormalised: T=1 the policy, larger T closer to uniform), lets AZ-NAS pick among the distinct cells
drawn (its log-rank sum recomputed over that pool, as derive does) from the whole space scored once
(``benchmarks/data/nb201_az_nas_whole_space.json.gz``), and compares with as many uniform cells.

The policy is read from the run's ``policy.jsonl`` (its last epoch): each decision's probabilities along
the policy's most likely cell. For an autoregressive controller that is the conditional along one path,
used here as independent per-edge probabilities: an approximation that is close for a converged policy.

    python benchmarks/nb201_policy_pool.py --nb201 ../shared/data/nasbench201 outputs/az/nb201_cpu_proxy_s3 ...
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import supernet as S  # noqa: E402
from enas.report.benchmark import NB201Table  # noqa: E402
from enas.predictors.ranking import AZ_NAS  # noqa: E402
from _common import load_scores  # noqa: E402
from nb201_pick import run_dirs  # noqa: E402

SHIPPED = Path(__file__).resolve().parent / "data" / "nb201_az_nas_whole_space.json.gz"


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ascending ranks, ties sharing their average (as `enas.predictors.ranking.ranks`; -inf for
    NaN makes it the worst)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inverse]


def az_nas_order(parts: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """``pool`` (row indices of ``parts``, one column per AZ-NAS part) sorted best first by AZ-NAS's
    log-rank sum over the pool; ties keep the pool's order."""
    scores = sum(np.log(average_ranks(parts[pool, j]) / len(pool)) for j in range(parts.shape[1]))
    return pool[np.argsort(-scores, kind="stable")]


class ScoredSpace:
    """The whole space's AZ-NAS parts and benchmark accuracies, indexed by the cell's op codes."""

    def __init__(self, rows: List[Dict]):
        first = S.from_nb201_string(rows[0]["arch_str"])
        self.labels = sorted(first)
        arches = [S.from_nb201_string(r["arch_str"]) for r in rows]
        self.ops = sorted({op for a in arches for op in a.values()})
        base = len(self.ops)
        codes = np.array([sum(self.ops.index(a[label]) * base ** k for k, label in enumerate(self.labels))
                          for a in arches])
        self.row_of_code = np.empty(base ** len(self.labels), dtype=np.int64)
        self.row_of_code[codes] = np.arange(len(rows))
        self.acc = np.array([r["acc"] for r in rows], dtype=np.float64)
        self.parts = np.nan_to_num(np.array([[r[n] for n in AZ_NAS] for r in rows], dtype=np.float64),
                                   nan=-np.inf)

    def az_nas_pick(self, rows: np.ndarray) -> float:
        """Benchmark accuracy of AZ-NAS's pick among the distinct ``rows`` (log-rank sum over them)."""
        return float(self.acc[az_nas_order(self.parts, np.unique(rows))[0]])

    def draw(self, probs: Dict[str, Sequence[float]], options: Dict[str, Sequence[str]], n: int,
             temperature: float, rng: np.random.Generator) -> np.ndarray:
        """``n`` cells (rows) drawn from per-edge probabilities flattened by ``temperature``."""
        base, code = len(self.ops), np.zeros(n, dtype=np.int64)
        for k, label in enumerate(self.labels):
            p = np.asarray(probs[label], dtype=np.float64) ** (1.0 / temperature)
            picked = rng.choice(len(p), size=n, p=p / p.sum())
            code += np.array([self.ops.index(options[label][i]) for i in range(len(p))])[picked] * base ** k
        return self.row_of_code[code]


def print_picks(results: Dict[str, List[float]], top5: float, width: int) -> None:
    """One line per rule: mean +- std of its picks' benchmark accuracy and their share in the top 5%."""
    for rule, accs in results.items():
        accs = np.array(accs)
        print(f"  {rule:{width}} {accs.mean():6.2f} +- {accs.std():.2f}  top 5%: {100 * np.mean(accs >= top5):3.0f}%")


def final_policy(run_dir: Path) -> Dict[str, Dict]:
    lines = (run_dir / "policy.jsonl").read_text().splitlines()
    if not lines:
        raise ValueError(f"{run_dir / 'policy.jsonl'} is empty: the run recorded no policy")
    return json.loads(lines[-1])["decisions"]


def compare(space: ScoredSpace, runs: List[Path], draws: Sequence[int], temperatures: Sequence[float], reps: int,
            seed: int) -> Dict[str, List[float]]:
    """rule -> picked accuracies (``reps`` pools per run); rules ``T=t N=n`` and ``uniform N=n``."""
    rng = np.random.default_rng(seed)
    results: Dict[str, List[float]] = {}
    for run in runs:
        policy = final_policy(run)
        probs = {label: d["probs"] for label, d in policy.items()}
        options = {label: d["options"] for label, d in policy.items()}
        for n in draws:
            for t in temperatures:
                results.setdefault(f"T={t:g} N={n}", []).extend(
                    space.az_nas_pick(space.draw(probs, options, n, t, rng)) for _ in range(reps))
            results.setdefault(f"uniform N={n}", []).extend(
                space.az_nas_pick(rng.integers(0, len(space.acc), size=n)) for _ in range(reps))
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="finished runs (folders with policy.jsonl, or their --out)")
    p.add_argument("--nb201", type=Path, required=True, help="folder with nb201_accuracies.csv")
    p.add_argument("--scores", nargs="+", type=Path, default=[SHIPPED],
                   help="whole-space AZ-NAS score files (zero_cost.py --all); default: the shipped one")
    p.add_argument("--draws", nargs="+", type=int, default=[700, 3000])
    p.add_argument("--temperatures", nargs="+", type=float, default=[1, 2, 3, 5])
    p.add_argument("--reps", type=int, default=40, help="pools drawn per run and setting")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    table = NB201Table(str(args.nb201 / "nb201_accuracies.csv"))
    space = ScoredSpace(load_scores(args.scores)["rows"])
    if len(space.acc) != len(table):
        raise ValueError(f"{args.scores}: {len(space.acc)} scored cells, the table has {len(table)}: this needs "
                         "the whole space (zero_cost.py --all)")
    runs = [r for r in run_dirs(args.runs) if (r / "policy.jsonl").is_file()]
    if not runs:
        raise FileNotFoundError(f"no run with a policy.jsonl in {', '.join(map(str, args.runs))}")
    top5 = table.quantile(5)
    results = compare(space, runs, args.draws, args.temperatures, args.reps, args.seed)
    print(f"AZ-NAS's pick among N cells drawn from each run's final policy at temperature T, or uniformly "
          f"({len(runs)} runs x {args.reps} pools; mean +- std of the picked cell's CIFAR-10 test accuracy, share "
          f"in the top 5%):")
    print_picks(results, top5, width=16)


if __name__ == "__main__":
    main()
