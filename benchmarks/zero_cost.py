"""Zero-cost proxies on NAS-Bench-201: cost per architecture, whole-space rank correlation, and picks.

Scores uniformly random cells of the NAS-Bench-201 space with every proxy of `enas.predictors` at the
benchmark's size (C=16, N=5 by default; no training), on minibatches of the benchmark's search-train
split, then compares with the table's 200-epoch CIFAR-10 test accuracy:

* Kendall tau and Spearman rho of each proxy (and of AZ-NAS's combination) over all scored cells,
  beside the published values (AZ-NAS, CVPR 2024, Table 1: #params 0.578, NASWOT 0.557, ZiCo 0.589,
  synflow 0.538, grad_norm 0.358, snip 0.359, AZ-NAS 0.741);
* the no-search pick: the best cell by each proxy among K uniform cells (K = 100, 1000, ...), drawn
  from the scored pool 200 times: mean +- std of its benchmark accuracy and how often it is in the
  top 5% (published, best of 3,000: AZ-NAS 93.53 +- 0.15, ZiCo 93.50 +- 0.18);
* the same within a parameter budget (cells with at most the parameters of a cell with two 3x3 convolutions,
  ``RESNET_CELL``: ``nb201_cpu_proxy_budget``'s budget);
* seconds per architecture of each proxy alone on this machine (``--cost-archs`` cells each).

    python -m benchmarks.zero_cost --cifar data/cifar10 --nb201 data/nasbench201 --archs 1000
    python -m benchmarks.zero_cost --nb201 data/nasbench201 --report zero_cost.json   # tables only

The whole space (every one of the 15,625 cells, in a seeded random order, so a partial file is a uniform
sample) in two one-thread processes, AZ-NAS's parts only (about 0.62 s a cell each: 80 minutes on 2 cores;
``benchmarks/data/nb201_az_nas_whole_space.json.gz`` is this, seed 0):

    for k in 0 1; do OMP_NUM_THREADS=1 python -m benchmarks.zero_cost --cifar data/cifar10 --nb201 data/nasbench201 \
        --all --proxies params flops expressivity progressivity trainability --shard $k/2 \
        --out zc_all_$k.json --cost-archs 0 & done; wait
    python -m benchmarks.zero_cost --nb201 data/nasbench201 --report zc_all_0.json zc_all_1.json

Remaining arguments are Hydra overrides of ``experiment=nb201_cpu_proxy`` (the data it reads). ``--seed``
fixes the cell sample, the untrained weights and the minibatches: every cell is scored on the same network
(built once) and the same batches, so shards agree. Scores are written to ``--out`` (JSON, every 50 cells,
so a cut-short run keeps what it scored and ``--resume`` continues it). Runtime: about 1.4 s per cell with
every proxy on 2 CPU cores (1,000 cells: about 25 minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

import supernet as S
from benchmarks._common import add_nb201_argument, compose, git_commit, load_scores, nb201_table, with_combinations
from enas.predictors import PROXIES, ZeroCostScorer, proxy_batches
from enas.predictors.ranking import AZ_NAS, kendall_tau, spearman_rho
from enas.report.benchmark import NB201Table
from enas.tasks import build_task

PUBLISHED_TAU = {"params": 0.578, "naswot": 0.557, "zico": 0.589, "synflow": 0.538, "grad_norm": 0.358,
                 "snip": 0.359, "az_nas": 0.741}
RESNET_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def best_of(rows: List[Dict], signal: str, k: int, reps: int, seed: int) -> List[float]:
    """Benchmark accuracy of the best-by-``signal`` cell among ``k`` drawn from ``rows``, ``reps`` times.

    Combinations (az_nas) are recomputed within each draw, as a user would over their own K cells.
    """
    rng = random.Random(seed)
    picks = []
    for _ in range(reps):
        drawn = rng.sample(rows, min(k, len(rows)))
        if signal in ("az_nas", "az_nas_params"):
            drawn = with_combinations(drawn)
        picks.append(max(drawn, key=lambda r: (r[signal], -r["params"]))["acc"])
    return picks


def scored_signals(rows: List[Dict]) -> List[str]:
    """The proxies every row has, in PROXIES order, plus the combinations when their parts are there."""
    names = [n for n in PROXIES if all(n in r for r in rows)]
    return names + ["az_nas", "az_nas_params"] if {*AZ_NAS, "params"} <= set(names) else names


def report(rows: List[Dict], table: NB201Table, budget: float, ks: List[int], reps: int, names: List[str]):
    combined = "az_nas" in names
    if combined:
        rows = with_combinations(rows)
    truth = [r["acc"] for r in rows]
    top5 = table.quantile(5)
    print(f"\n# {len(rows)} uniform cells; the top 5% of the space starts at {top5:.2f}; best of K: mean +- std "
          f"of the pick's accuracy over {reps} draws (the same draws for every signal), share in the top 5%")
    print(f"{'signal':14} {'tau':>6} {'rho':>6} {'published':>9}  " +
          "  ".join(f"{'best of ' + str(k):>22}" for k in ks))
    for name in names:
        column = [r[name] for r in rows]
        picks = {k: best_of(rows, name, k, reps, seed=k) for k in ks}
        cells = "  ".join(f"{statistics.mean(p):6.2f} +- {statistics.stdev(p):4.2f} ({sum(a >= top5 for a in p) / len(p):4.0%})"
                          for p in picks.values())
        published = f"{PUBLISHED_TAU[name]:9.3f}" if name in PUBLISHED_TAU else f"{'':9}"
        print(f"{name:14} {kendall_tau(column, truth):6.3f} {spearman_rho(column, truth):6.3f} {published}  {cells}")
    within = [r for r in rows if r["params"] <= budget]
    if len(within) > 10:
        inside = sorted(r["cifar10_test_acc"] for a, r in table.rows.items() if conv_units(a) <= conv_units(RESNET_CELL))
        inside_top5 = inside[int(len(inside) * 0.95)]
        print(f"\n# within the budget ({budget:.0f} parameters at the scored size): {len(within)} of the scored cells; "
              f"its top 5% starts at {inside_top5:.2f}")
        within = with_combinations(within) if combined else within
        truth = [r["acc"] for r in within]
        for name in names:
            column = [r[name] for r in within]
            cells = "  ".join(f"{statistics.mean(p):6.2f} +- {statistics.stdev(p):4.2f} "
                              f"({sum(a >= inside_top5 for a in p) / len(p):4.0%})"
                              for p in (best_of(within, name, k, reps, seed=k) for k in ks))
            print(f"{name:14} {kendall_tau(column, truth):6.3f} {spearman_rho(column, truth):6.3f}            {cells}")


def cells_to_score(table: NB201Table, model, n: Optional[int], seed: int, shard: int = 0, shards: int = 1) -> List[Dict]:
    """``n`` distinct uniform cells, or every cell of the table (``n=None``) in a seeded random order, so
    that a cut-short file is still a uniform sample; shard ``k`` of ``N`` takes every N-th from the k-th."""
    rng = random.Random(seed)
    if n is None:
        archs = [S.from_nb201_string(a) for a in sorted(table.rows)]
        rng.shuffle(archs)
    else:
        archs = list({S.to_nb201_string(a): a for a in (S.random_architecture(model, rng) for _ in range(n))}.values())
    return archs[shard::shards]


def write_atomically(path: Path, payload: Dict) -> None:
    """Replace ``path`` in one step: a run killed while writing keeps the previous file for --resume."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(payload))
    os.replace(partial, path)


def conv_units(arch_str: str) -> int:
    """Convolution weights of a cell per C x C channels: a 3x3 conv counts 9, a 1x1 conv 1. A cell's
    parameters are the same increasing affine function of this count at any C and N."""
    return 9 * arch_str.count("nor_conv_3x3") + arch_str.count("nor_conv_1x1")


def measure_cost(task, batches, C: int, N: int, n: int) -> Dict[str, float]:
    """Seconds per architecture of each proxy computed alone (n cells each)."""
    model = S.create_space("nb201", C=C, N=N)
    archs = [S.random_architecture(model, random.Random(10_000 + i)) for i in range(n)]
    cost = {}
    groups = {**{name: [name] for name in PROXIES}, "az_nas": list(AZ_NAS), "all": list(PROXIES)}
    for name, names in groups.items():
        scorer = ZeroCostScorer(lambda: S.create_space("nb201", C=C, N=N), batches, task.loss, names=names)
        scorer.score(archs[0])  # warm-up: allocations, the synflow copy
        began = time.perf_counter()
        for a in archs[1:]:
            scorer.score(a)
        cost[name] = (time.perf_counter() - began) / max(len(archs) - 1, 1)
    return cost


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks.zero_cost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cifar", help="CIFAR-10 folder (not needed with --report)")
    add_nb201_argument(p, "nb201_accuracies.csv and cifar-split.txt")
    p.add_argument("--archs", type=int, default=1000)
    p.add_argument("--C", type=int, default=16)
    p.add_argument("--N", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the cell sample, the weights and the batches")
    p.add_argument("--out", type=Path, default=Path("zero_cost.json"))
    p.add_argument("--resume", action="store_true", help="continue the scores already in --out")
    p.add_argument("--all", action="store_true", help="score every cell of the space (ignores --archs)")
    p.add_argument("--shard", default="0/1", help="K/N: score only every N-th cell from the K-th (N processes)")
    p.add_argument("--proxies", nargs="+", default=list(PROXIES), choices=PROXIES,
                   help="proxies to compute (params is always kept: ties break on it)")
    p.add_argument("--report", type=Path, nargs="+",
                   help="print the tables of earlier --out files (shards are merged); score nothing")
    p.add_argument("--cost-archs", type=int, default=11, help="cells timed per proxy (0: skip the cost table)")
    p.add_argument("--best-of", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--reps", type=int, default=200)
    args, overrides = p.parse_known_args()
    table = nb201_table(args.nb201)
    if args.report:
        saved = load_scores(args.report)
        report(saved["rows"], table, saved["budget_params"], args.best_of, args.reps, scored_signals(saved["rows"]))
        return
    names = list(dict.fromkeys(["params", *args.proxies]))
    try:
        shard, shards = (int(v) for v in args.shard.split("/"))
    except ValueError:
        p.error(f"--shard takes K/N (e.g. 0/2 for the first of two processes), got {args.shard!r}")
    if not 0 <= shard < shards:
        p.error(f"--shard {args.shard}: K must be in 0..N-1")
    if not args.cifar:
        p.error("--cifar is required to score cells (only --report goes without)")
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    cfg = compose("search", ["experiment=nb201_cpu_proxy", "device=cpu", f"seed={args.seed}", *overrides],
                  args.cifar, args.nb201)
    task, _ = build_task(cfg, torch.device("cpu"), "search")
    batches = proxy_batches(task, 2, args.seed)
    build = lambda: S.create_space("nb201", C=args.C, N=args.N)  # noqa: E731
    scorer = ZeroCostScorer(build, batches, task.loss, names=names, seed=args.seed)
    budget = float(S.count_parameters(S.freeze(build(), S.from_nb201_string(RESNET_CELL))))
    archs = cells_to_score(table, scorer.model, None if args.all else args.archs, args.seed, shard, shards)
    rows = json.loads(args.out.read_text())["rows"] if args.resume and args.out.is_file() else []
    done = {r["arch_str"] for r in rows}
    began = time.time()
    for i, arch in enumerate(archs):
        arch_str = S.to_nb201_string(arch)
        if arch_str in done:
            continue
        rows.append({"arch_str": arch_str, "acc": table.lookup(arch_str)["cifar10_test_acc"], **scorer.score(arch)})
        if len(rows) % 50 == 0 or i == len(archs) - 1:
            write_atomically(args.out, {"commit": git_commit(), "C": args.C, "N": args.N, "seed": args.seed,
                                        "budget_params": budget, "rows": rows})
            print(f"{len(rows)} cells scored, {(time.time() - began) / 60:.1f} min", flush=True)
    report(rows, table, budget, args.best_of, args.reps, scored_signals(rows))
    if args.cost_archs:
        cost = measure_cost(task, batches, args.C, args.N, args.cost_archs)
        print(f"\n# seconds per architecture, NB201 C={args.C} N={args.N}, {torch.get_num_threads()} threads, "
              f"batch {len(batches[0][1])} (az_nas: its four parts, computed in one pass)")
        print("  ".join(f"{k} {v:.3f}" for k, v in cost.items()))
        write_atomically(args.out, {**json.loads(args.out.read_text()), "seconds_per_cell": cost})


if __name__ == "__main__":
    main()
