"""Is the search's final policy a better place to look than uniform? AZ-NAS's pick among cells drawn from it.

Trains nothing. For each finished NAS-Bench-201 search (its ``policy.jsonl``), draws ``N`` cells from the
run's final policy flattened by a temperature ``T`` (probabilities ** (1/T), renormalised: T=1 the policy,
larger T closer to uniform), lets AZ-NAS pick among the distinct cells drawn (its log-rank sum recomputed
over that pool, as derive does) and compares with AZ-NAS's pick among as many uniform cells. Every cell's
AZ-NAS parts come from one whole-space scoring (by default the shipped
``benchmarks/data/nb201_az_nas_whole_space.json.gz``), so the question is where to look, not how to score.

The policy is each decision's probabilities along the policy's most likely cell (the last line of
``policy.jsonl``). For an autoregressive controller that is the conditional along one path, used here as
independent per-edge probabilities: close for a converged policy.

    python -m benchmarks.analysis policy-pool --nb201 data/nasbench201 outputs/nb201_benchmark

Prints, per rule (``T=t N=n``, ``uniform N=n``), the mean +- std of the picked cell's CIFAR-10 test accuracy
over ``--reps`` pools a run and its share in the top 5% of the space. Settings: ``--draws``,
``--temperatures``, ``--reps``, ``--seed`` (of the draws). Trains nothing: about 15 s for 15 runs on 2 CPU
cores.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

import supernet as S
from benchmarks._common import (SHIPPED, add_nb201_argument, az_nas_order, az_nas_parts, load_scores, nb201_table,
                                print_picks, run_dirs)


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
        self.parts = az_nas_parts(rows)

    def az_nas_pick(self, rows: np.ndarray) -> float:
        """Benchmark accuracy of AZ-NAS's pick among the distinct ``rows`` (log-rank sum over them)."""
        return float(self.acc[az_nas_order([self.parts], np.unique(rows))[0]])

    def draw(self, probs: Dict[str, Sequence[float]], options: Dict[str, Sequence[str]], n: int,
             temperature: float, rng: np.random.Generator) -> np.ndarray:
        """``n`` cells (rows) drawn from per-edge probabilities flattened by ``temperature``."""
        base, code = len(self.ops), np.zeros(n, dtype=np.int64)
        for k, label in enumerate(self.labels):
            p = np.asarray(probs[label], dtype=np.float64) ** (1.0 / temperature)
            picked = rng.choice(len(p), size=n, p=p / p.sum())
            code += np.array([self.ops.index(options[label][i]) for i in range(len(p))])[picked] * base ** k
        return self.row_of_code[code]


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


def add_arguments(p):
    p.add_argument("runs", nargs="+", type=Path, help="finished runs (folders with policy.jsonl, or their --out)")
    add_nb201_argument(p)
    p.add_argument("--scores", nargs="+", type=Path, default=[SHIPPED],
                   help="whole-space AZ-NAS score files (zero_cost --all); default: the shipped one")
    p.add_argument("--draws", nargs="+", type=int, default=[700, 3000])
    p.add_argument("--temperatures", nargs="+", type=float, default=[1, 2, 3, 5])
    p.add_argument("--reps", type=int, default=40, help="pools drawn per run and setting")
    p.add_argument("--seed", type=int, default=0)


def run(args):
    table = nb201_table(args.nb201)
    space = ScoredSpace(load_scores(args.scores)["rows"])
    if len(space.acc) != len(table):
        raise ValueError(f"{args.scores}: {len(space.acc)} scored cells, the table has {len(table)}: this needs "
                         "the whole space (zero_cost --all)")
    runs = [r for r in run_dirs(args.runs) if (r / "policy.jsonl").is_file()]
    if not runs:
        raise FileNotFoundError(f"no run with a policy.jsonl in {', '.join(map(str, args.runs))}")
    top5 = table.quantile(5)
    results = compare(space, runs, args.draws, args.temperatures, args.reps, args.seed)
    print(f"AZ-NAS's pick among N cells drawn from each run's final policy at temperature T, or uniformly "
          f"({len(runs)} runs x {args.reps} pools; mean +- std of the picked cell's CIFAR-10 test accuracy, share "
          f"in the top 5%):")
    print_picks(results, top5, width=16)
