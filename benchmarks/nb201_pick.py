"""Which final pick would have found a good cell? Pick rules replayed on finished NAS-Bench-201 searches.

Derive writes every candidate it scored to ``derive_candidates.csv``, best first by shared-weight score
(its finalists also carry their whole-validation score). This script trains nothing: it replays other
ways of picking among those same candidates and looks each pick up in the benchmark, so a new final-pick
idea can be judged on every finished run in seconds before a search is spent on it. Rules:

- ``derive``: what derive picked (best whole-validation score among its finalists);
- ``additive``: a per-edge additive model fitted (ridge) to the candidates' shared-weight losses,
  picking the candidate it predicts best: shared-weight scores pooled across cells that share ops;
- ``most_params``: the candidate with the most convolution weights (ties by shared-weight loss): a
  size prior, no search; it shows how much of the benchmark's ranking size alone explains;
- ``oracle_12ep@K``: the benchmark's own 12-epoch validation accuracy (a full-size network trained
  12 epochs) among the K best candidates by shared weights: the best a final pick by short training
  from scratch could do, an upper bound, not a method (a search cannot read the table).

    python benchmarks/nb201_pick.py --nb201 ../shared/data/nasbench201 outputs/nb201_long outputs/nb201_long_s1

Each path is a search run folder (holding ``derive_candidates.csv``) or a folder of them (an ``--out``
of ``nb201.py``). Prints each rule's benchmark test accuracy per run, then its mean and how often it
lands in the top 10% of the space.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import supernet  # noqa: E402
from enas.benchmark import NB201Table  # noqa: E402
from nb201 import benchmark_acc, load_candidates, summary_line  # noqa: E402

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
CONV_WEIGHTS = {"nor_conv_1x1": 1, "nor_conv_3x3": 9}  # per C x C channels; the other ops have none


def pick_derive(cands: List[Dict]) -> int:
    finalists = [i for i, c in enumerate(cands) if c["full"] is not None]
    return max(finalists, key=lambda i: cands[i]["full"]) if finalists else 0


def pick_additive(cands: List[Dict], ridge: float = 0.1) -> int:
    edges = sorted(cands[0]["arch"])
    x = np.array([[1.0] + [float(c["arch"][e] == op) for e in edges for op in OPS] for c in cands])
    y = np.array([c["loss"] for c in cands])
    w = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    return int(np.argmin(x @ w))


def pick_most_params(cands: List[Dict]) -> int:
    return max(range(len(cands)), key=lambda i: (sum(CONV_WEIGHTS.get(op, 0) for op in cands[i]["arch"].values()),
                                                 -cands[i]["loss"]))


def pick_oracle_12ep(cands: List[Dict], table: NB201Table, k: int) -> int:
    return max(range(min(k, len(cands))), key=lambda i: table.lookup(
        supernet.to_nb201_string(cands[i]["arch"]))["cifar10_valid_acc_12ep"])


def replay(run_dir: Path, table: NB201Table, oracle_k: List[int]) -> Dict[str, float]:
    """Benchmark test accuracy of each rule's pick among this run's derive candidates."""
    cands, top_k = load_candidates(run_dir)
    picks = {"derive": pick_derive(cands), "additive": pick_additive(cands), "most_params": pick_most_params(cands)}
    for k in dict.fromkeys([top_k, *oracle_k]):
        picks[f"oracle_12ep@{k}"] = pick_oracle_12ep(cands, table, k)
    return {rule: benchmark_acc(table, cands[i]["arch"]) for rule, i in picks.items()}


def run_dirs(paths: List[Path]) -> List[Path]:
    found = []
    for path in paths:
        inside = [path] if (path / "derive_candidates.csv").is_file() else sorted(
            p.parent for p in path.glob("*/derive_candidates.csv"))
        if not inside:
            raise FileNotFoundError(f"no derive_candidates.csv in {path} or its subfolders: pass search run folders "
                                    "or the --out folders of nb201.py")
        found += inside
    return found


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="search run folders, or folders of them")
    p.add_argument("--nb201", required=True, help="folder with nb201_accuracies.csv")
    p.add_argument("--oracle-k", nargs="+", type=int, default=[20], help="K of the 12-epoch oracle (and derive.top_k)")
    args = p.parse_args()
    table = NB201Table(str(Path(args.nb201) / "nb201_accuracies.csv"))
    top10 = table.quantile(10)
    results = {str(d): replay(d, table, args.oracle_k) for d in run_dirs(args.runs)}
    rules = list(dict.fromkeys(r for row in results.values() for r in row))
    width = max(len(r) for r in results)
    print(f"{'run':{width}} " + " ".join(f"{r:>14}" for r in rules))
    for run, row in results.items():
        print(f"{run:{width}} " + " ".join(f"{row[r]:14.2f}" if r in row else f"{'':14}" for r in rules))
    print(f"\nper rule over {len(results)} runs (the top 10% starts at {top10:.2f}):")
    for rule in rules:
        accs = [row[rule] for row in results.values() if rule in row]
        print("  " + summary_line(f"{rule:16}", accs, [table.top_percent(a) for a in accs]))


if __name__ == "__main__":
    main()
