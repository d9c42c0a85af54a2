"""Multi-trial search on the NAS-Bench-201 CPU proxy: workers, early stopping and weight inheritance, one table.

Each row is one ``enas-search experiment=nb201_multi_trial`` run (regularized evolution; every child trained 4
epochs at C=8, N=1 on 10k images of the benchmark's split, ``--minutes`` of search), its pick looked up in the
benchmark table. Variants: ``evolution`` as shipped; ``random`` (uniform children: the same ones in the same
order with any number of workers, so the rows of a throughput comparison train identical work); ``asha`` (early
stopping: rungs at 1 and 3 epochs, eta 3); ``inherit`` (a mutated child starts from its parent's trained weights);
``asha_inherit``; ``zero_cost`` (a zero-cost warm-up, then the pick by validation score and AZ-NAS together);
``zero_cost_score`` (the same warm-up, then the pick by validation score alone); ``low_res`` (every child trained
12 epochs on images downsampled to 16x16, about the cost of the 4 epochs at 32x32). Every variant runs with each
``--workers`` count (one thread per worker), and ``--two-threads`` adds one worker with both threads: the rows of
one invocation run one after another on the same machine, so their trials per hour compare.

    python -m benchmarks.nb201_multi_trial --cifar $CIFAR10_DIR --nb201 $NB201_DIR --workers 1 2 --minutes 10 \
        --variants evolution --two-threads --out outputs/mt/throughput
    python -m benchmarks.nb201_multi_trial --cifar $CIFAR10_DIR --nb201 $NB201_DIR --workers 2 --minutes 30 \
        --variants evolution asha inherit --seeds 0 1 2 3 4 --out outputs/mt/rea
    python -m benchmarks.nb201_multi_trial --nb201 $NB201_DIR --report outputs/mt/rea

Remaining arguments are Hydra overrides for every run. ``--report`` trains nothing: it tabulates the runs
under the given folders. Columns: trials trained (finished / stopped early / started from inherited weights),
trials per hour, mean epochs a child trained, the mean validation accuracy (%) of the evolved children (those with
a parent) that trained the whole budget, the pick's CIFAR-10 test accuracy with its top-% of the space, CIFAR-100
and ImageNet16-120, (score) the CIFAR-10 test accuracy of the best child by validation score alone (the pick
unless ``multi_trial.select`` says otherwise) and (s+par) that of the child ``multi_trial.select=score_params``
picks among the same children (a pick that trains nothing, so any run's children show it), (size) that of
the largest of them, size alone, and (tau) the Kendall tau of those children's validation scores with their test
accuracy: how well the child recipe ranks the cells the search met.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import torch
from omegaconf import OmegaConf

from enas.predictors.ranking import kendall_tau
from enas.predictors.zero_cost import child_parameters
from enas.search.build import build_supernet
from enas.trials.finish import full_budget, joint_pick

from ._common import add_nb201_argument, cells_summary, nb201_table

VARIANTS = {
    "evolution": [],
    "random": ["strategy=random"],  # the same children in the same order whatever the workers: for throughput
    "asha": ["multi_trial.rung_epochs=1", "multi_trial.eta=3"],
    "inherit": ["multi_trial.inherit=true"],
    "asha_inherit": ["multi_trial.rung_epochs=1", "multi_trial.eta=3", "multi_trial.inherit=true"],
    # AZ-NAS first (30 steps of 10 children against 200 reference cells, inside the minutes), then the pick by
    # the validation score's rank and AZ-NAS's together
    "zero_cost": ["zero_cost_warmup.steps=30", "zero_cost_warmup.pool=200", "multi_trial.select=score_az_nas"],
    # the same warm-up, the pick by validation score alone (no AZ-NAS scoring of the children on the driver)
    "zero_cost_score": ["zero_cost_warmup.steps=30", "zero_cost_warmup.pool=200", "multi_trial.select=score"],
    # children trained 12 epochs on images downsampled to 16x16, at about the cost of 4 epochs at 32x32
    "low_res": ["data.resize=16", "multi_trial.epochs=12"],
}
TOP5 = 93.28  # where the top 5% of the space starts (CIFAR-10 test accuracy)


def run(args, variant: str, workers: int, threads: int, seed: int, extra: List[str]) -> Path:
    out = args.out / f"{variant}_w{workers}t{threads}_s{seed}"
    overrides = ["experiment=nb201_multi_trial", f"seed={seed}", f"multi_trial.max_minutes={args.minutes}",
                 f"multi_trial.workers={workers}", f"multi_trial.threads={threads}", f"output_dir={out}",
                 "overwrite=true", *VARIANTS[variant], *extra]
    if args.cifar:
        overrides.append(f"data.root={args.cifar}")
    overrides += [f"data.split_file={args.nb201 / 'cifar-split.txt'}",
                  f"benchmark_file={args.nb201 / 'nb201_accuracies.csv'}"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    with open(args.out / f"{out.name}.log", "w") as log:
        subprocess.run([sys.executable, "-m", "enas", "search", *overrides], check=True, env=env, stdout=log,
                       stderr=subprocess.STDOUT)
    return out


def params_picks(space: Dict, trials: List[Dict]) -> Tuple[Dict, Dict]:
    """Among ``trials`` (children of a ``space`` config) that trained the whole budget: the child
    ``multi_trial.select=score_params`` picks, and the largest (size alone, the baseline it must beat)."""
    model, _ = build_supernet(space, torch.device("cpu"))
    full = full_budget(trials)
    size = {t["id"]: float(child_parameters(model, t["architecture"])) for t in full}
    return joint_pick(full, lambda t: size[t["id"]]), max(full, key=lambda t: size[t["id"]])


def row(folder: Path, table) -> Dict:
    meta = json.loads((folder / "architecture.json").read_text())
    config = OmegaConf.to_container(OmegaConf.load(folder / "config.yaml"))
    settings = config["multi_trial"]
    trials = [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]
    by_params, largest = params_picks(config["space"], trials)
    full = full_budget(trials)
    described = table.describe(meta["architecture"])
    evolved = [t["score"] for t in trials if t["parent"] is not None and t["epochs"] == settings["epochs"]]
    by_score = next(t for t in trials if t["id"] == meta.get("best_score_trial", meta["trial"]))
    minutes = meta["minutes"]
    return {"run": folder.name, "workers": settings["workers"], "threads": settings["threads"],
            "trials": len(trials), "finished": sum(t["status"] == "finished" for t in trials),
            "stopped": sum(t["status"] == "stopped" for t in trials), "per_hour": len(trials) / minutes * 60,
            "epochs": statistics.mean(t["epochs"] for t in trials), "minutes": minutes,
            "inherited": sum(t.get("inherited", 0) > 0 for t in trials),
            "evolved": 100 * statistics.mean(evolved) if evolved else float("nan"),
            "acc": described["cifar10_test_acc"], "top": described["top_percent"],
            "c100": described["cifar100_test_acc"], "in16": described["imagenet16_120_test_acc"], "cell": described,
            "by_score": table.describe(by_score["architecture"])["cifar10_test_acc"],
            "by_params": table.describe(by_params["architecture"])["cifar10_test_acc"],
            "largest": table.describe(largest["architecture"])["cifar10_test_acc"],
            "tau": kendall_tau([t["score"] for t in full], [table.describe(t["architecture"])["cifar10_test_acc"]
                                                            for t in full])}


def show(rows: List[Dict]) -> None:
    head = (f"{'run':34} {'w':>2} {'t':>2} {'trials':>6} {'full':>5} {'stop':>5} {'inh':>4} {'per h':>6} "
            f"{'ep/child':>8} {'evo val':>7} {'min':>5} {'C-10':>6} {'top%':>6} {'C-100':>6} {'IN16':>6} {'score':>6} "
            f"{'s+par':>6} {'size':>6} {'tau':>5}")
    print(head)
    for r in rows:
        print(f"{r['run']:34} {r['workers']:>2} {r['threads']:>2} {r['trials']:>6} {r['finished']:>5} {r['stopped']:>5} "
              f"{r['inherited']:>4} {r['per_hour']:>6.0f} {r['epochs']:>8.2f} {r['evolved']:>7.2f} {r['minutes']:>5.1f} "
              f"{r['acc']:>6.2f} {r['top']:>6.2f} {r['c100']:>6.2f} {r['in16']:>6.2f} {r['by_score']:>6.2f} "
              f"{r['by_params']:>6.2f} {r['largest']:>6.2f} {r['tau']:>5.2f}")
    groups: Dict[str, List[Dict]] = {}
    for r in rows:
        groups.setdefault(r["run"].rsplit("_s", 1)[0], []).append(r)
    print("\nper variant (CIFAR-10 test accuracy of the pick over seeds; CIFAR-100 and ImageNet16-120 of the same "
          "cells):")
    for name, members in groups.items():
        print(f"  {name:24} {cells_summary([m['cell'] for m in members], [TOP5] * len(members))}  "
              f"{statistics.mean(m['per_hour'] for m in members):6.1f} trials/h  "
              f"{statistics.mean(m['epochs'] for m in members):.2f} epochs a child; "
              f"by validation score alone {statistics.mean(m['by_score'] for m in members):.2f}, "
              f"with the parameter count {statistics.mean(m['by_params'] for m in members):.2f}, "
              f"the largest child {statistics.mean(m['largest'] for m in members):.2f}")
    base = {r["run"].split("_w")[0] + "_s" + r["run"].rsplit("_s", 1)[1]: r for r in rows
            if r["workers"] == 1 and r["threads"] == 1}
    for r in rows:
        key = r["run"].split("_w")[0] + "_s" + r["run"].rsplit("_s", 1)[1]
        if key in base and r is not base[key]:
            print(f"  {r['run']}: {r['per_hour'] / base[key]['per_hour']:.2f}x the trials per hour of one worker")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cifar", help="CIFAR-10 folder (data.root)")
    add_nb201_argument(parser)
    parser.add_argument("--variants", nargs="+", default=["evolution"], choices=sorted(VARIANTS))
    parser.add_argument("--workers", nargs="+", type=int, default=[2])
    parser.add_argument("--two-threads", action="store_true", help="also one worker with two threads")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=Path("outputs/nb201_multi_trial"))
    parser.add_argument("--report", nargs="+", type=Path, help="tabulate these folders' runs; train nothing")
    args, extra = parser.parse_known_args()
    table = nb201_table(args.nb201)
    if args.report:
        folders = sorted(p.parent for folder in args.report for p in folder.glob("*/trials.jsonl"))
        show([row(f, table) for f in folders])
        return
    args.out.mkdir(parents=True, exist_ok=True)
    shapes = [(w, 1) for w in args.workers] + ([(1, 2)] if args.two_threads else [])
    rows = []
    for seed in args.seeds:
        for variant in args.variants:
            for workers, threads in shapes:
                rows.append(row(run(args, variant, workers, threads, seed, extra), table))
                show(rows)
                print()


if __name__ == "__main__":
    main()
