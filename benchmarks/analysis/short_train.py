"""Would short training pick better? ``derive.select=short_train`` replayed on finished NAS-Bench-201 searches.

For each run folder (or ``--out`` folder of ``benchmarks.nb201``), the ``--finalists`` best of derive's
candidates by ``--rank-by`` (``az_nas``: the log-rank sum of its four signals, recomputed from the CSV) go
through successive halving (`enas.search.halve`): trained from scratch at the run's proxy size on its
search-train split, scored on its validation split, the best 1/eta kept each round. The table gives, per
run, the benchmark accuracy of the cell halving keeps beside the cell ``--rank-by`` alone picks and the
best finalist (what a perfect short training could reach), and the Kendall tau of the short-trained
validation score against the benchmark within the finalists, at every rung.

Every distinct finalist is trained once, alone, for the longest budget (its learning curve: the validation
score at every rung), and the halving is replayed from those curves: a survivor of successive halving
trains under the same one cosine schedule, so many runs' finalists cost one training each. The curves use
the first run's data and one seed for all, so a replay estimates what each run's own derive would keep
(there, data order and initialisation come from the run's random stream). ``--cache`` keeps the curves
between calls, so a rerun trains nothing.

    python -m benchmarks.analysis short-train --nb201 data/nasbench201 outputs/nb201_benchmark \
        --finalists 4 --epochs 8 --eta 4 --cache short_train_curves.json      # nb201_cpu_proxy's derive.short_train

Prints the per-run table, then per rule the mean +- std, min and top-5% count over runs, and the mean tau
after each rung. Runtime: about 60-90 s per finalist for 8 epochs at the proxy's size (C=8, N=1, 10k
images) on 2 CPU cores.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Dict, List

import torch
from omegaconf import OmegaConf

import supernet
from benchmarks._common import (add_nb201_argument, built_search, load_candidates, nb201_table, run_budget, run_config,
                                run_dirs, top5_within)
from enas.predictors.ranking import AZ_NAS, kendall_tau, log_rank_sum
from enas.search import build_short_train, halve


def finalists(run_dir: Path, rank_by: str, count: int) -> List[Dict]:
    """The ``count`` best candidates of a run by ``rank_by``, best first (as derive ranks them)."""
    cands = load_candidates(run_dir)
    if rank_by == "az_nas":
        values = log_rank_sum(cands, list(AZ_NAS))
    else:
        values = [c[rank_by] for c in cands]
    order = sorted(range(len(cands)), key=lambda i: -values[i])  # stable: ties keep derive's order
    return [cands[i]["arch"] for i in order[:count]]


def halving_for(run_dir: Path, finalists_: int, epochs: int, eta: int, train_subset, lr: float,
                device: torch.device):
    """The run's own successive halving (`enas.search.build_short_train`) with these settings."""
    cfg = run_config(run_dir)
    cfg.derive.select = "short_train"
    cfg.derive.short_train = OmegaConf.create({"finalists": finalists_, "epochs": epochs, "eta": eta,
                                               "train_subset": train_subset, "lr": lr, "space": {}})
    cfg.trainer.progress = False
    return build_short_train(built_search(cfg, device), cfg.derive)


def add_arguments(p):
    p.add_argument("runs", nargs="+", type=Path, help="search run folders, or folders of them")
    add_nb201_argument(p)
    p.add_argument("--rank-by", default="az_nas", help="the signal that chooses the finalists (a CSV column)")
    # defaults: nb201_cpu_proxy's derive.short_train, one round of 8 epochs over 4
    p.add_argument("--finalists", type=int, default=4)
    p.add_argument("--epochs", type=int, default=8, help="epochs of the first round (times eta each round)")
    p.add_argument("--eta", type=int, default=4, help="keep 1/eta each round (eta >= finalists: one round)")
    p.add_argument("--train-subset", type=int, default=None, help="search-train images (default: the run's)")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--cache", type=Path, help="JSON of learning curves, read and extended")


def run(args):
    table = nb201_table(args.nb201)
    runs = run_dirs(args.runs)
    device = torch.device("cpu")
    halving = halving_for(runs[0], args.finalists, args.epochs, args.eta, args.train_subset, args.lr, device)
    # A curve depends on the schedule (its length), not on how the halving cuts it: one cache entry
    # serves every finalists / epochs / eta whose longest budget is the same.
    setting = (f"{halving.total_epochs} epochs under one cosine schedule, lr {args.lr}, subset {args.train_subset}, "
               f"data of {runs[0]}")
    rungs = [str(r) for r in halving.rungs]
    cache = json.loads(args.cache.read_text()) if args.cache and args.cache.is_file() else {}
    curves = cache.setdefault(setting, {})
    per_run = {run_dir: finalists(run_dir, args.rank_by, args.finalists) for run_dir in runs}
    pending = list(dict.fromkeys(key for archs in per_run.values() for key in map(supernet.to_nb201_string, archs)
                                 if not set(rungs) <= set(curves.get(key, {}))))
    print(f"# {setting}: {len(pending)} finalists to train, compared after {', '.join(rungs)} epochs", flush=True)
    began = time.time()
    for n, arch_str in enumerate(pending, 1):
        curve = halving.learning_curve(supernet.from_nb201_string(arch_str))
        curves[arch_str] = {**curves.get(arch_str, {}), **{str(k): v for k, v in curve.items()}}
        print(f"  {n}/{len(pending)} {arch_str} {curves[arch_str]}  ({(time.time() - began) / n:.0f} s each)",
              flush=True)
        if args.cache:
            tmp = args.cache.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache, indent=1))
            tmp.replace(args.cache)
    rows = {}
    for run_dir, archs in per_run.items():
        keys = [supernet.to_nb201_string(a) for a in archs]
        truth = [table.lookup(k)["cifar10_test_acc"] for k in keys]
        winner = halve(len(keys), lambda i, r: curves[keys[i]][rungs[r]], halving.rounds, args.eta)
        rows[run_dir] = {"short_train": truth[winner], args.rank_by: truth[0], "best finalist": max(truth),
                         "top5": top5_within(table, run_budget(run_dir)),
                         **{f"tau@{r}": kendall_tau([curves[k][r] for k in keys], truth) for r in rungs}}
    cols = ["short_train", args.rank_by, "best finalist", *[f"tau@{r}" for r in rungs]]
    width = max(len(str(r)) for r in rows)
    print(f"\n{'run':{width}} " + " ".join(f"{c:>13}" for c in cols))
    for run_dir, row in rows.items():
        print(f"{str(run_dir):{width}} " + " ".join(f"{row[c]:13.2f}" for c in cols))
    print(f"\nover {len(rows)} runs (CIFAR-10 test accuracy of the pick: mean +- std, min, in the top 5%):")
    for c in cols[:3]:
        accs = [row[c] for row in rows.values()]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"  {c:13} {statistics.mean(accs):6.2f} +- {std:4.2f}  min {min(accs):6.2f}  "
              f"top 5%: {sum(row[c] >= row['top5'] for row in rows.values())}/{len(rows)}")
    for r in rungs:
        tau = statistics.mean(row[f"tau@{r}"] for row in rows.values())
        print(f"  tau after {r} epoch{'' if r == '1' else 's'}: {tau:.3f}")
    if pending:
        print(f"  {(time.time() - began) / len(pending):.0f} s per finalist's curve ({rungs[-1]} epochs, "
              f"{torch.get_num_threads()} threads)")
