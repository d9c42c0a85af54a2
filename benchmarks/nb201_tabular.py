"""NAS-Bench-201 without weight sharing: search strategies with the benchmark's table as the fitness.

The multi-trial loop of classic NAS (Zoph & Le 2017): a strategy proposes a cell, "trains" it, learns
from its accuracy, proposes the next. Here training is a lookup of NAS-Bench-201's 12-epoch validation
accuracy (column ``cifar10_valid_acc_12ep``: ``cifar10-valid`` trained 12 epochs on the 25k train half,
measured on the 25k validation half; Dong & Yang 2020, arXiv:2001.00326), so a whole search takes
milliseconds and only the strategy is measured. A strategy's result at a budget of N queries is the
benchmark's CIFAR-10 test accuracy (200 epochs on all 50k, column ``cifar10_test_acc``) of the cell
with the best fitness among its first N queries; a query that repeats a cell counts again.

Published anchors (NAS-Bench-201 paper, Table 5, CIFAR-10 test, mean +- std over 500 runs, 12-epoch
reward, a simulated budget of 12,000 s of training rather than a query count):
REA 93.92 +- 0.30, REINFORCE 93.85 +- 0.37, random 93.70 +- 0.36, BOHB 93.61; the best cell is 94.37.

Strategies (``--strategies``):

* ``random``: uniform cells (vectorised over seeds: one numpy draw and one table gather);
* ``reinforce``: the ENAS LSTM controller (`enas.policies.Controller`) trained by the search's own
  REINFORCE update (`enas.policies.controller_step`), with the settings of the tabular test in
  ``tests/test_nb201.py`` (10 cells per update). The paper's REINFORCE is a per-edge softmax, not an LSTM;
* ``actor_critic``, ``ppo`` (the LSTM with a learned value baseline, or PPO's clipped surrogate) and
  ``transformer`` (the Transformer controller with REINFORCE): the search's other policy updates
  (`enas.policies.PolicyUpdate`), on request (``--strategies ... ppo``);
* ``evolution``: `enas.strategies.RegularizedEvolution` (Real et al. 2019), the code behind
  ``strategy=evolution``, with NAS-Bench-201's REA settings (population 10, tournament 3, one edge's op
  changed per child: ``--mutation-rate 0``, as at least one decision always changes).

* ``reinforce_zc``, ``evolution_zc``: the same after a zero-cost warm-up (`enas.search.warmup`, Abdelfattah
  et al. 2021): ``--warmup-steps`` controller updates (evolution: as many children) rewarded by AZ-NAS's rank
  against 200 uniform cells, read from ``--scores`` (the whole space scored once), before the first query;
  evolution's warmed population is then re-scored by the table (those queries count).

    python -m benchmarks.nb201_tabular --nb201 data/nasbench201 --seeds 50
    python -m benchmarks.nb201_tabular --nb201 data/nasbench201 --seeds 50 --strategies reinforce reinforce_zc \
        evolution evolution_zc --scores benchmarks/data/nb201_az_nas_whole_space.json.gz
    python -m benchmarks.nb201_tabular --nb201 data/nasbench201 --seeds 50 --first-seed 1000 --budgets 100 200 500

Prints per strategy and budget the mean +- std (sample std over seeds) of the picked cell's test
accuracy, its 12-epoch fitness and the share of seeds whose pick is in the top 1% of the space, and
writes the configuration, the git commit and every seed's result to ``--out`` (JSON). Runtime on one
CPU core: about 25 s for 50 seeds x the 3 default strategies x 500 queries (REINFORCE's LSTM updates are
nearly all of it; evolution and random take under a second); PPO about 2 minutes.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch

import supernet
from benchmarks._common import load_scores, write_json
from enas.config import ControllerConfig
from enas.policies import PolicyUpdate, create_controller
from enas.report.benchmark import NB201Table, find_nb201_csv
from enas.predictors.ranking import AZ_NAS
from enas.search.warmup import ZeroCostReward
from enas.strategies import RegularizedEvolution

ANCHORS = {"evolution": "93.92 +- 0.30 (REA)", "reinforce": "93.85 +- 0.37", "random": "93.70 +- 0.36"}
TEST = "cifar10_test_acc"


class TabularNB201:
    """The table as arrays: row ``i`` is the cell whose six edges' op indices spell ``i`` in base 5, so a
    batch of cells is looked up with one gather."""

    def __init__(self, table: NB201Table, fitness: str, test: str = TEST):
        self.decisions = supernet.decisions(supernet.create_space("nb201", C=1, N=1))
        first = next(iter(table.rows.values()))
        for column in (fitness, test):
            if column not in first:
                raise KeyError(f"{table.path} has no column {column!r}; columns: {', '.join(first)}")
        size = supernet.count_architectures(self.decisions)
        self.fitness, self.test = np.full(size, np.nan), np.full(size, np.nan)
        self.arch_index = np.zeros(size, dtype=np.int64)  # the benchmark's own index of each cell
        for arch_str, row in table.rows.items():
            code = self.code(supernet.from_nb201_string(arch_str))
            self.fitness[code], self.test[code], self.arch_index[code] = row[fitness], row[test], row["arch_index"]
        if np.isnan(self.fitness).any():
            raise ValueError(f"{table.path} does not cover all {size} cells")
        self.top1 = np.quantile(self.test, 0.99)  # top 1% of the space by test accuracy

    def code(self, arch: Dict) -> int:
        value = 0
        for d in self.decisions:
            value = value * len(d.options) + d.options.index(arch[d.label])
        return value


# -- strategies: each returns the codes of the cells it queried, in order (budget of them) ---------------
def run_random(bench: TabularNB201, seed: int, budget: int, args) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, len(bench.fitness), size=budget)


class ScoreFile:
    """A zero-cost scorer that reads the whole space's scores (``benchmarks.zero_cost --all``) instead of
    computing them."""

    def __init__(self, rows: Sequence[Dict]):
        self.by_arch = {r["arch_str"]: r for r in rows}

    def score(self, arch: Dict) -> Dict[str, float]:
        return self.by_arch[supernet.to_nb201_string(arch)]


def zero_cost_reward(args, seed: int) -> ZeroCostReward:
    """AZ-NAS's rank against 200 uniform cells of the score file (drawn with ``seed``), as the search's warm-up."""
    rows = args.score_rows
    reference = [rows[i] for i in np.random.default_rng(seed).choice(len(rows), 200, replace=False)]
    return ZeroCostReward(ScoreFile(rows), AZ_NAS, reference)


def policy_runner(kind: str, algorithm: str, warm: bool = False) -> Callable:
    """A controller of ``kind`` trained by ``algorithm``, the search's own code (`enas.policies.PolicyUpdate`),
    with the LSTM settings of ``tests/test_nb201.py`` and ``enas.config.ControllerConfig``'s defaults for the
    rest (Adam's beta1 and eps, the critic's learning rate, PPO's clip and epochs)."""

    def run(bench: TabularNB201, seed: int, budget: int, args) -> np.ndarray:
        torch.manual_seed(seed)
        settings = ControllerConfig(kind=kind, algorithm=algorithm, lstm_size=args.lstm_size, temperature=5.0,
                                    tanh_constant=2.5, op_tanh_reduce=1.0, lr=args.controller_lr,
                                    baseline_decay=args.baseline_decay, num_aggregate=args.num_aggregate,
                                    entropy_weight=1e-4, skip_weight=0.0, grad_clip=None)
        update = PolicyUpdate(create_controller(bench.decisions, settings), settings)
        if warm:
            zero_cost = zero_cost_reward(args, seed)
            for _ in range(args.warmup_steps):
                update.step(zero_cost)
            update.baseline.value = None  # as the search does: table rewards are on another scale
        queried: List[int] = []

        def reward(arch: Dict) -> float:
            queried.append(bench.code(arch))
            return bench.fitness[queried[-1]] / 100

        limit = getattr(args, "constraint", None)  # a budget (benchmarks.latency): the samples that fit, as the search
        propose = None if limit is None else lambda n: limit.sample(lambda k: update.controller.sample_many(k).archs, n)
        while len(queried) < budget:
            update.step(reward, propose)
        return np.asarray(queried[:budget])

    return run


def run_evolution(bench: TabularNB201, seed: int, budget: int, args, warm: bool = False) -> np.ndarray:
    evo = RegularizedEvolution(bench.decisions, seed=seed, population=args.population, sample=args.sample,
                               mutation_rate=args.mutation_rate, crossover=args.crossover,
                               constraint=getattr(args, "constraint", None))
    queried: List[int] = []

    def fitness(arch: Dict) -> float:
        queried.append(bench.code(arch))
        return bench.fitness[queried[-1]]

    if warm:  # evolve on the proxy, then re-score the population on the table
        evo.search(zero_cost_reward(args, seed), args.warmup_steps * args.num_aggregate)
        evo.rescore(fitness)
    evo.search(fitness, budget - len(queried))
    return np.asarray(queried)


STRATEGIES: Dict[str, Callable] = {
    "random": run_random, "reinforce": policy_runner("lstm", "reinforce"), "evolution": run_evolution,
    "actor_critic": policy_runner("lstm", "actor_critic"), "ppo": policy_runner("lstm", "ppo"),
    "transformer": policy_runner("transformer", "reinforce"),
    "reinforce_zc": policy_runner("lstm", "reinforce", warm=True),
    "evolution_zc": lambda bench, seed, budget, args: run_evolution(bench, seed, budget, args, warm=True),
}
DEFAULT_STRATEGIES = ("random", "reinforce", "evolution")


def picks(bench: TabularNB201, queried: np.ndarray, budgets: Sequence[int]) -> Dict[int, np.ndarray]:
    """Per budget, the code of the best-by-fitness cell among each seed's first ``budget`` queries
    (``queried``: seeds x queries; the first of equally fit cells)."""
    fit = bench.fitness[queried]
    return {b: queried[np.arange(len(queried)), fit[:, :b].argmax(axis=1)] for b in budgets}


def summarise(bench: TabularNB201, chosen: np.ndarray) -> Dict:
    test = bench.test[chosen].tolist()
    return {"test_mean": statistics.mean(test), "test_std": statistics.stdev(test),
            "fitness_mean": float(bench.fitness[chosen].mean()),
            "top1_share": float((bench.test[chosen] >= bench.top1).mean()),
            "test": test, "arch_index": bench.arch_index[chosen].tolist()}


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nb201_tabular", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nb201", help="folder with nb201_accuracies.csv (default: $NB201_CSV, ./data/nasbench201)")
    parser.add_argument("--fitness", default="cifar10_valid_acc_12ep", help="the table column searched on")
    parser.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--seeds", type=int, default=50, help="runs per strategy")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed .. first-seed + seeds - 1")
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 200, 500], help="query budgets reported")
    parser.add_argument("--out", default="outputs/nb201_tabular.json")
    evo = parser.add_argument_group("evolution (NAS-Bench-201's REA settings)")
    evo.add_argument("--population", type=int, default=10)
    evo.add_argument("--sample", type=int, default=3)
    evo.add_argument("--mutation-rate", type=float, default=0.0, help="0: exactly one decision changes per child")
    evo.add_argument("--crossover", type=float, default=0.0)
    rl = parser.add_argument_group("reinforce (the settings of tests/test_nb201.py)")
    rl.add_argument("--lstm-size", type=int, default=32)
    rl.add_argument("--controller-lr", type=float, default=0.05)
    rl.add_argument("--baseline-decay", type=float, default=0.95)
    rl.add_argument("--num-aggregate", type=int, default=10, help="cells per controller update")
    zc = parser.add_argument_group("zero-cost warm-up (reinforce_zc, evolution_zc)")
    zc.add_argument("--scores", type=Path, help="the whole space scored once (benchmarks/data/"
                    "nb201_az_nas_whole_space.json.gz)")
    zc.add_argument("--warmup-steps", type=int, default=30, help="controller updates (evolution: x num-aggregate "
                    "children) on zero-cost rewards before the first query")
    args = parser.parse_args(argv)
    if args.seeds < 2 or min(args.budgets) < 1:
        parser.error("--seeds must be >= 2 (a std needs two) and every budget >= 1")
    if any(name.endswith("_zc") for name in args.strategies):
        if args.scores is None:
            parser.error("reinforce_zc and evolution_zc need --scores (the whole space scored once)")
        args.score_rows = load_scores([args.scores])["rows"]

    csv_path = find_nb201_csv(str(Path(args.nb201) / "nb201_accuracies.csv") if args.nb201 else None)
    bench = TabularNB201(NB201Table(str(csv_path)), args.fitness)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    budget = max(args.budgets)
    results: Dict[str, Dict] = {}
    for name in args.strategies:
        began = time.time()
        queried = np.stack([STRATEGIES[name](bench, seed, budget, args) for seed in seeds])
        seconds = time.time() - began
        results[name] = {"seconds": seconds, "budgets": {b: summarise(bench, c)
                                                          for b, c in picks(bench, queried, args.budgets).items()}}

    print(f"NAS-Bench-201 CIFAR-10 test accuracy of the best-by-{args.fitness} cell within each query budget "
          f"(mean +- std over {args.seeds} seeds from {args.first_seed}; top 1% of the space from {bench.top1:.2f})")
    header = f"{'strategy':<13}" + "".join(f"{f'{b} queries':>24}" for b in args.budgets) + \
        f"{'top 1% @' + str(budget):>13}{'seconds':>9}   paper (12,000 s)"
    print(header)
    for name, r in results.items():
        cells = "".join(f"{r['budgets'][b]['test_mean']:>16.2f} +- {r['budgets'][b]['test_std']:.2f}"
                        for b in args.budgets)
        print(f"{name:<13}{cells}{r['budgets'][budget]['top1_share']:>13.0%}{r['seconds']:>9.1f}   "
              f"{ANCHORS.get(name, '')}")
    config = {k: v for k, v in vars(args).items() if k != "score_rows"}
    return write_json(args.out, {"config": config, "table": str(csv_path), "top1_threshold": bench.top1,
                                 "seeds": list(seeds), "results": results})


if __name__ == "__main__":
    torch.set_num_threads(1)  # tiny networks: threads cost more than they give
    main()
