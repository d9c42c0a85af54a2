"""How well a multi-trial child's proxy training ranks cells, per CPU-minute: recipes side by side on the same cells.

A multi-trial search is only as good as the order its children's validation scores put cells in. This trains
the same NAS-Bench-201 cells under each recipe (``experiment=nb201_multi_trial`` plus the recipe's overrides,
the search's own workers and trial code) and prints, per recipe, the worker-minutes a child took, the children's
mean validation accuracy, and the Kendall tau and Spearman rho of their scores with the cells' CIFAR-10 test
accuracy in the benchmark table. The cells are drawn (seeded) from the better half of the space by that
accuracy: a search spends its trials there, and telling bad cells from good ones is the easy part.

    python -m benchmarks.child_recipe --cifar $CIFAR10_DIR --nb201 $NB201_DIR --cells 30 \
        --recipes shipped low_res --out outputs/mt/recipes.json

Recipes: ``shipped`` (4 epochs at 32x32, the experiment's own), ``low_res`` (12 epochs on images downsampled to
16x16: about the cost of ``shipped``, three times the epochs). Remaining arguments are Hydra overrides for every
recipe.
"""
from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Dict, List

import torch

import supernet
from enas.predictors.ranking import kendall_tau, spearman_rho
from enas.search import build_search
from enas.trials import MultiTrialSearch

from ._common import add_nb201_argument, compose, nb201_table, write_json

RECIPES = {
    "shipped": [],
    "low_res": ["data.resize=16", "multi_trial.epochs=12"],
}


def better_half(table, cells: int, seed: int) -> List[Dict]:
    """``cells`` architectures drawn uniformly from those at or above the space's median CIFAR-10 test accuracy."""
    names = sorted(table.rows, key=lambda name: (table.rows[name]["cifar10_test_acc"], name))
    return [supernet.from_nb201_string(name) for name in random.Random(seed).sample(names[len(names) // 2:], cells)]


def train(args, recipe: str, archs: List[Dict], extra: List[str]) -> Dict:
    cfg = compose("search", ["experiment=nb201_multi_trial", "strategy=random", f"seed={args.seed}",
                             f"multi_trial.workers={args.workers}", "multi_trial.threads=1",
                             *RECIPES[recipe], *extra], args.cifar, str(args.nb201))
    search = MultiTrialSearch(build_search(cfg, torch.device("cpu")))
    began = time.time()
    with search.workers():
        scores = search.train_batch(archs)
    seconds = [r["seconds"] for r in search.trials.records]
    return {"recipe": recipe, "overrides": RECIPES[recipe] + extra, "scores": scores,
            "minutes": (time.time() - began) / 60, "child_minutes": statistics.mean(seconds) / 60,
            "epochs": int(cfg.multi_trial.epochs)}


def show(results: List[Dict], accuracies: List[float], reference: List[float]) -> None:
    """One line per recipe; the last is NAS-Bench-201's own 12-epoch validation accuracy of the full-size
    network on the same cells (the fitness its REA looks up), for scale."""
    print(f"{'recipe':14} {'epochs':>6} {'min/child':>9} {'val acc':>7} {'tau':>6} {'rho':>6}")
    for r in results:
        accuracy = 100 * statistics.mean(r["scores"])
        print(f"{r['recipe']:14} {r['epochs']:>6} {r['child_minutes']:>9.2f} {accuracy:>7.2f} "
              f"{kendall_tau(r['scores'], accuracies):>6.3f} {spearman_rho(r['scores'], accuracies):>6.3f}")
    print(f"{'NB201 12 ep':14} {12:>6} {'':>9} {statistics.mean(reference):>7.2f} "
          f"{kendall_tau(reference, accuracies):>6.3f} {spearman_rho(reference, accuracies):>6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", help="CIFAR-10 folder (data.root)")
    add_nb201_argument(parser)
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=sorted(RECIPES))
    parser.add_argument("--cells", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0, help="draws the cells and seeds their training")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("outputs/child_recipe.json"))
    args, extra = parser.parse_known_args()
    table = nb201_table(args.nb201)
    archs = better_half(table, args.cells, args.seed)
    described = [table.describe(a) for a in archs]
    accuracies = [d["cifar10_test_acc"] for d in described]
    reference = [d["cifar10_valid_acc_12ep"] for d in described]
    results = []
    for recipe in args.recipes:
        results.append(train(args, recipe, archs, extra))
        show(results, accuracies, reference)
        print()
    write_json(args.out, {"cells": archs, "cifar10_test_acc": accuracies, "results": results})


if __name__ == "__main__":
    main()
