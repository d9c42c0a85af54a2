"""Warm starts across datasets on the NAS-Bench-201 table: does an earlier search's archive make the next one cheaper?

For each target dataset (CIFAR-10, CIFAR-100, ImageNet16-120) and seed, the archives of two earlier searches
are written, one on each of the other two datasets: regularized evolution (NAS-Bench-201's REA settings) for
``--source-queries`` queries of that dataset's 12-epoch validation accuracy, each queried cell an archive line
(`enas.runs.archive`, source ``table``). A search on the target then starts cold, or warm from those two
archives through the product's own path (`enas.search.warm_start.warm_start`, reading the files):

* ``reinforce``: the ENAS LSTM with REINFORCE (the settings of ``benchmarks.nb201_tabular``); warm: the policy
  first imitates the archives' ``controller.warm_start_top`` best cells (``controller.warm_start``);
* ``evolution``: REA (population 10, tournament 3, one edge changed per child); warm: the first population is
  the archives' 10 best cells, evaluated on the target (``evolution.warm_start``);
* ``predictor``: the predictor-guided strategy (`enas.strategies.PredictorStrategy`: a pool of 100, the 5
  best by upper confidence bound evaluated per step, refitted every 10 queries); warm: the predictor learns
  the archives' ranks and mutates their best first (``predictor.warm_start``).

A query is a lookup of the target's 12-epoch validation accuracy (``<dataset>_valid_acc_12ep``); the pick after
N queries is the best of them by that fitness, judged by the target's 200-epoch test accuracy
(``<dataset>_test_acc``). Reported per target, strategy and arm over the seeds: the queries until the pick is in
the top 1% of the space (mean, median, and how many seeds got there within the budget; a seed that did not
counts as the budget, so the mean is a lower bound), and the pick's test accuracy at 100 and 200 queries.

    python -m benchmarks.nb201_transfer --nb201 ../shared/data/nasbench201 --seeds 50

Writes every seed's numbers, the configuration and the git commit to ``--out``. About 15 minutes on one core
for 50 seeds (the predictor's fits are nearly all of it).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch
from omegaconf import OmegaConf

from benchmarks._common import write_json
from benchmarks.nb201_tabular import TabularNB201
from enas.config import ControllerConfig, PredictorConfig
from enas.policies import PolicyUpdate, create_controller
from enas.predictors.performance import PerformancePredictor
from enas.predictors.surrogate import Surrogate
from enas.report.benchmark import NB201Table, find_nb201_csv
from enas.runs import Progress
from enas.runs.archive import Archive
from enas.search.warm_start import warm_start
from enas.strategies import PredictorStrategy, RegularizedEvolution

DATASETS = {"cifar10": "C-10", "cifar100": "C-100", "imagenet16_120": "IN16"}
STRATEGIES = ("reinforce", "evolution", "predictor")
SOURCE_SEED = 100_000  # earlier searches' seeds: disjoint from the measured ones


def tables(csv_path: Path) -> Dict[str, TabularNB201]:
    table = NB201Table(str(csv_path))
    return {name: TabularNB201(table, f"{name}_valid_acc_12ep", f"{name}_test_acc") for name in DATASETS}


def write_source_archive(bench: TabularNB201, dataset: str, seed: int, queries: int, folder: Path) -> Path:
    """An earlier search's archive: REA on ``dataset`` for ``queries`` lookups, every lookup one line."""
    evo = RegularizedEvolution(bench.decisions, seed=seed, population=10, sample=3, mutation_rate=0.0)
    archive = Archive(folder, {"name": "nb201", "kwargs": {}}, dataset)
    rows = []

    def fitness(arch: Dict) -> float:
        value = float(bench.fitness[bench.code(arch)])
        rows.append(archive.row(arch, value, "table", 12))
        return value

    evo.search(fitness, queries)
    folder.mkdir(parents=True, exist_ok=True)
    archive.rewrite(rows)
    return folder


def warm_config(strategy: str, archives: Sequence[str], settings: ControllerConfig):
    """The config nodes `warm_start` reads: the archives under this strategy's key."""
    paths = [str(a) for a in archives]
    return OmegaConf.create({
        "strategy": strategy,
        "controller": {"warm_start": paths if strategy == "enas" else [], "warm_start_top": settings.warm_start_top,
                       "warm_start_steps": settings.warm_start_steps, "lr": settings.lr, "beta1": settings.beta1,
                       "eps": settings.eps},
        "predictor": {"warm_start": paths if strategy == "predictor" else [], "enabled": strategy == "predictor"},
        "evolution": {"warm_start": paths if strategy == "evolution" else []}})


class Lookups:
    """The target's fitness as a reward; remembers the codes queried, in order."""

    def __init__(self, bench: TabularNB201, scale: float = 1.0, predictor=None):
        self.bench, self.scale, self.predictor, self.codes = bench, scale, predictor, []

    def __call__(self, arch: Dict) -> float:
        self.codes.append(self.bench.code(arch))
        value = float(self.bench.fitness[self.codes[-1]]) / self.scale
        if self.predictor is not None:  # as the search's shared-weight reward: what is measured teaches it
            self.predictor.observe(arch, value)
        return value


class _Strategy:
    """What `warm_start` needs of a strategy: its decisions, no budget, and the part it warms."""

    def __init__(self, decisions, **parts):
        self.decisions, self.constraint, self.predictor = decisions, None, None
        self.__dict__.update(parts)


def run_reinforce(bench: TabularNB201, seed: int, budget: int, archives: Sequence[str], args) -> np.ndarray:
    torch.manual_seed(seed)
    settings = ControllerConfig(lstm_size=32, temperature=5.0, tanh_constant=2.5, op_tanh_reduce=1.0, lr=0.05,
                                baseline_decay=0.95, num_aggregate=10, entropy_weight=1e-4, skip_weight=0.0,
                                grad_clip=None, warm_start_top=args.top, warm_start_steps=args.imitation_steps)
    controller = create_controller(bench.decisions, settings)
    if archives:
        warm_start(_Strategy(bench.decisions, controller=controller), warm_config("enas", archives, settings))
    update = PolicyUpdate(controller, settings)
    reward = Lookups(bench, scale=100.0)
    while len(reward.codes) < budget:
        update.step(reward)
    return np.asarray(reward.codes[:budget])


def run_evolution(bench: TabularNB201, seed: int, budget: int, archives: Sequence[str], args) -> np.ndarray:
    evo = RegularizedEvolution(bench.decisions, seed=seed, population=10, sample=3, mutation_rate=0.0)
    if archives:
        warm_start(_Strategy(bench.decisions, evolution=evo), warm_config("evolution", archives, ControllerConfig()))
    reward = Lookups(bench)
    evo.search(reward, budget)
    return np.asarray(reward.codes)


def run_predictor(bench: TabularNB201, seed: int, budget: int, archives: Sequence[str], args) -> np.ndarray:
    torch.manual_seed(seed)
    spec = PredictorConfig(pool=100, evaluate=5, kappa=0.5, elite=10)
    predictor = PerformancePredictor(Surrogate(bench.decisions, ensemble=5, hidden=64, steps=args.fit_steps,
                                               holdout=0.0, seed=seed), min_points=30)
    strategy = PredictorStrategy(bench.decisions, seed, predictor, spec)
    if archives:
        warm_start(strategy, warm_config("predictor", archives, ControllerConfig()))
    reward = Lookups(bench, scale=100.0, predictor=predictor)
    while len(reward.codes) < budget:
        strategy.learn(reward, 2, Progress(2, False))  # 10 queries, then a refit (as once per search epoch)
        predictor.refit()
    return np.asarray(reward.codes[:budget])


RUNNERS: Dict[str, Callable] = {"reinforce": run_reinforce, "evolution": run_evolution, "predictor": run_predictor}


def measures(bench: TabularNB201, codes: np.ndarray, budgets: Sequence[int]) -> Dict:
    """The pick (best fitness so far) after each query: when it first enters the top 1%, its test accuracy at
    each budget."""
    best = np.maximum.accumulate(bench.fitness[codes])
    picks = [codes[int(np.argmax(bench.fitness[codes[:n]] >= best[n - 1]))] for n in range(1, len(codes) + 1)]
    top = bench.test[picks] >= bench.top1
    reached = int(np.argmax(top)) + 1 if top.any() else None
    return {"queries_to_top1": reached, **{f"test_at_{b}": float(bench.test[picks[b - 1]]) for b in budgets}}


def summarise(rows: List[Dict], budget: int, budgets: Sequence[int]) -> Dict:
    reached = [r["queries_to_top1"] for r in rows if r["queries_to_top1"] is not None]
    counted = [r["queries_to_top1"] if r["queries_to_top1"] is not None else budget for r in rows]
    out = {"reached": len(reached), "seeds": len(rows), "queries_mean": statistics.mean(counted),
           "queries_sem": statistics.stdev(counted) / len(counted) ** 0.5, "queries_median": statistics.median(counted)}
    for b in budgets:
        values = [r[f"test_at_{b}"] for r in rows]
        out[f"test_at_{b}"], out[f"test_at_{b}_std"] = statistics.mean(values), statistics.stdev(values)
    return out


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nb201_transfer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nb201", help="folder with nb201_accuracies.csv (default: $NB201_CSV, ./data/nasbench201)")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--targets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=list(STRATEGIES))
    parser.add_argument("--budgets", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--source-queries", type=int, default=200, help="lookups of each earlier search")
    parser.add_argument("--top", type=int, default=ControllerConfig.warm_start_top,
                        help="controller.warm_start_top: the archives' best cells the policy imitates")
    parser.add_argument("--imitation-steps", type=int, default=ControllerConfig.warm_start_steps,
                        help="controller.warm_start_steps")
    parser.add_argument("--fit-steps", type=int, default=PredictorConfig.steps, help="predictor.steps per fit")
    parser.add_argument("--work", default="outputs/nb201_transfer", help="where the source archives are written")
    parser.add_argument("--out", default="outputs/nb201_transfer.json")
    args = parser.parse_args(argv)
    if args.seeds < 2:
        parser.error("--seeds must be >= 2 (a spread needs two)")
    benches = tables(find_nb201_csv(str(Path(args.nb201) / "nb201_accuracies.csv") if args.nb201 else None))
    budget, seeds = max(args.budgets), range(args.first_seed, args.first_seed + args.seeds)
    work = Path(args.work)
    archives = {(d, s): write_source_archive(benches[d], d, SOURCE_SEED + s, args.source_queries, work / d / f"s{s}")
                for d in DATASETS for s in seeds}
    results: Dict = {}
    for target in args.targets:
        sources = [d for d in DATASETS if d != target]
        for name in args.strategies:
            for arm in ("cold", "warm"):
                began = time.time()
                rows = []
                for s in seeds:
                    given = [archives[(d, s)] for d in sources] if arm == "warm" else []
                    codes = RUNNERS[name](benches[target], s, budget, given, args)
                    rows.append(measures(benches[target], codes, args.budgets))
                results[f"{target}/{name}/{arm}"] = {"summary": summarise(rows, budget, args.budgets), "seeds": rows,
                                                     "sources": sources, "seconds": time.time() - began}
    print(f"Warm starts on the NAS-Bench-201 table: {args.seeds} seeds from {args.first_seed}, warm = the archives of "
          f"REA ({args.source_queries} lookups) on the other two datasets; the pick's queries to the top 1% "
          f"(a seed that never got there counts {budget}) and its test accuracy")
    header = (f"{'target':<8}{'strategy':<11}{'arm':<6}{'queries to top 1%':>24}{'median':>8}{'reached':>9}"
              + "".join(f"{f'test @{b}':>17}" for b in args.budgets) + f"{'seconds':>9}")
    print(header)
    for key, r in results.items():
        target, name, arm = key.split("/")
        s = r["summary"]
        print(f"{DATASETS[target]:<8}{name:<11}{arm:<6}{s['queries_mean']:>16.1f} +- {s['queries_sem']:<4.1f}"
              f"{s['queries_median']:>8.0f}{s['reached']:>5}/{s['seeds']:<3}"
              + "".join(f"{s[f'test_at_{b}']:>10.2f} +- {s[f'test_at_{b}_std']:.2f}" for b in args.budgets)
              + f"{r['seconds']:>9.1f}")
    print("+- is the standard error of the mean over seeds for queries, the std for accuracy")
    return write_json(args.out, {"config": vars(args), "seeds": list(seeds), "results": results})


if __name__ == "__main__":
    torch.set_num_threads(1)  # tiny networks: threads cost more than they give
    main()
