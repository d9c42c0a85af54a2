"""NAS-Bench-201 search quality: run search methods over seeds and look the derived cells up in the benchmark.

Reproduces the shape of NAS-Bench-201's Table 5 (Dong & Yang 2020, arXiv:2001.00326) for CIFAR-10: per
method, the derived cell's benchmark test accuracy as mean +- std over seeds. Published anchors: ENAS
54.30 (collapsed), RSPS 87.66, DARTS 54.30, SETN 87.64, GDAS 93.61, REINFORCE without weight sharing
93.85, best cell 94.37; the top 10% of the space starts at 92.93.

    python -m benchmarks.nb201 --cifar data/cifar10 --nb201 data/nasbench201 \
        --methods enas random --seeds 0 1 2                       # experiment=nb201_cpu_proxy
    python -m benchmarks.nb201 ... --methods enas random evolution gdas darts   # every strategy, one table
    python -m benchmarks.nb201 ... --experiment nb201_enas device=cuda         # the full budget
    python -m benchmarks.nb201 ... --methods enas zero_cost       # beside the training-free pick (nb201_zero_cost)
    python -m benchmarks.nb201 ... --ablations                    # also record what benchmarks.analysis replays
    python -m benchmarks.nb201 --nb201 data/nasbench201 --report outputs/nb201_a outputs/nb201_b

Every run goes through the same ``search()`` as ``enas-search``; remaining arguments are Hydra overrides
for all runs. Seeds are a setting (``--seeds``). Prints a table (seed, derived cell, benchmark test
accuracy, top-% of the space, search wall time) and mean +- std per method, and writes
``nb201_results.json`` (configuration, git commit, rows) to ``--out`` after every run. Runtime: about 20-30
minutes per run of ``nb201_cpu_proxy`` on 2 CPU cores (DARTS: hours).

Each row also says where derive's candidates stand in the benchmark (from the run's
``derive_candidates.csv``): the best cell among all candidates the policy proposed, how many of them are
in the top 10%, and the best of the finalists derive re-scored. A poor pool is the controller's (or the
shared weights') fault; a good pool with a poor pick is the final ranking's. ``--report`` trains
nothing: it prints the same table for the ``nb201_results.json`` of earlier ``--out`` folders together.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import time
from pathlib import Path
from typing import List

from benchmarks._common import (add_nb201_argument, benchmark_acc, compose, git_commit, load_candidates,
                                nb201_table, run_config)
from enas.report.benchmark import NB201Table
from enas.search import search


# What each method adds to the experiment (the experiment is tuned for ENAS): DARTS and GDAS learn alpha from
# the first epoch (warm-up would freeze it), DARTS with beta-DARTS's remedy for its NB201 collapse; evolution
# evaluates about as many rewards per epoch as ENAS's screened controller phase (10 children + a re-scored
# population of 20) instead of its default 100 + 50. A DARTS step runs every candidate: about 14x an ENAS
# step, hours on 2 CPU cores at this budget.
METHOD_OVERRIDES = {
    "enas": [], "random": [], "predictor": [],
    "evolution": ["evolution.population=20", "evolution.sample=5", "evolution.cycles=10"],
    "gdas": ["trainer.warmup_epochs=0"],
    "darts": ["trainer.warmup_epochs=0", "darts.regulariser=beta"],
    "zero_cost": [],
}


# What derive also records per candidate for `benchmarks.analysis` (``--ablations``): the shipped experiments
# compute only what their pick needs.
ABLATIONS = ["derive.signals=[shared,expressivity,progressivity,trainability,flops,synflow]",
             "derive.record=[params,grad_norm,snip,naswot,zico,combined,predictor]"]


def run_overrides(method: str, experiment: str, seed: int, run_dir: Path, overrides: List[str]) -> List[str]:
    """The Hydra overrides of one run. ``zero_cost``, the training-free baseline, is an experiment of its
    own (`nb201_zero_cost`: no shared training, AZ-NAS over 3,000 uniform cells) whatever ``experiment``
    the searches run, under the same budget (``experiment``'s constraint) and the same overrides, except
    that it never trains."""
    if method != "zero_cost":
        return [f"experiment={experiment}", f"strategy={method}", f"seed={seed}", f"output_dir={run_dir}",
                "trainer.progress=false", *METHOD_OVERRIDES[method], *overrides]
    budget = compose("search", [f"experiment={experiment}"]).constraint
    return ["experiment=nb201_zero_cost", "strategy=random", f"seed={seed}", f"output_dir={run_dir}",
            "trainer.progress=false", *[f"constraint.{k}={v}" for k, v in budget.items() if v is not None],
            *overrides, "trainer.epochs=0"]


def collapsed(cell: str) -> bool:
    """A cell without a parametric convolution (skips, pools and zeros only): what plain DARTS and ENAS
    derive on NAS-Bench-201 in its paper (54.30)."""
    return "conv" not in cell


def candidate_pool(run_dir: Path, table: NB201Table) -> dict:
    """Benchmark accuracy of derive's candidates: the best of the pool, how many are in the top 10% of
    the space, and the best of the finalists derive re-scored."""
    cands = load_candidates(run_dir)
    top_k = run_config(run_dir).derive.top_k
    accs = [benchmark_acc(table, c["arch"]) for c in cands]
    return {"pool": len(accs), "pool_best": max(accs), "pool_top10": sum(table.top_percent(a) <= 10 for a in accs),
            "finalists_best": max(accs[:top_k])}


def phase_seconds(run_dir: Path) -> dict:
    """Median seconds per epoch of the shared-weights phase and of the controller phase (epochs that had
    one): the median, because one epoch slowed by another process on a shared machine moves a mean.
    NaN for a training-free run (no epoch, no metrics.csv)."""
    if not (run_dir / "metrics.csv").is_file():
        return {"shared_s": float("nan"), "controller_s": float("nan")}
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    shared = [float(r["shared_seconds"]) for r in rows if r.get("shared_seconds")]
    controller = [float(r["controller_seconds"]) for r in rows if r.get("controller_seconds")]
    return {"shared_s": statistics.median(shared) if shared else float("nan"),
            "controller_s": statistics.median(controller) if controller else float("nan")}


def summary_line(name: str, accs: List[float], top_percents: List[float], extra: str = "") -> str:
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    return (f"{name:8} mean {statistics.mean(accs):.2f} +- {std:.2f} over {len(accs)} runs, min {min(accs):.2f} "
            f"(in the top 5%: {sum(p <= 5 for p in top_percents)}/{len(accs)}, top 10%: "
            f"{sum(p <= 10 for p in top_percents)}/{len(accs)}){extra}")


def _percent(r) -> float:
    """The run's percentile: among the cells within its budget when it had one, else the whole space."""
    return r.get("budget_top_percent", r["top_percent"])


def print_table(rows, methods):
    print(f"\n{'method':8} {'seed':>4} {'test acc':>8} {'top %':>6} {'C-100':>6} {'IN16':>6} {'minutes':>7} "
          f"{'ctrl/shared':>11} {'finalists':>9} {'pool best':>9} {'pool top10%':>11}  cell")
    for r in rows:
        pool = (f"{r['finalists_best']:9.2f} {r['pool_best']:9.2f} {r['pool_top10']:5d} of {r['pool']:3d}"
                if "pool" in r else f"{'':9} {'':9} {'':11}")
        ratio = r.get("controller_s", float("nan")) / r.get("shared_s", float("nan"))
        print(f"{r['method']:8} {r['seed']:4d} {r['test_acc']:8.2f} {_percent(r):6.2f} "
              f"{r.get('cifar100_test_acc') or float('nan'):6.2f} {r.get('imagenet16_120_test_acc') or float('nan'):6.2f} "
              f"{r['minutes']:7.1f} {ratio:11.2f} {pool}  {r['cell']}")
    print("(top %: of the whole space, or of the cells within the run's budget; C-100 and IN16: the same cell's "
          "CIFAR-100 and ImageNet16-120 test accuracy, no tuning; ctrl/shared: seconds of the controller phase "
          "over the shared-weights phase, per epoch)\n")
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        if mine:
            transfer = ""
            if all(r.get("cifar100_test_acc") for r in mine):
                transfer = (f"; CIFAR-100 {statistics.mean(r['cifar100_test_acc'] for r in mine):.2f}, ImageNet16-120 "
                            f"{statistics.mean(r['imagenet16_120_test_acc'] for r in mine):.2f}")
            transfer += (f"; {sum(collapsed(r['cell']) for r in mine)} collapsed; "
                         f"{statistics.mean(r['minutes'] for r in mine):.1f} minutes a run")
            print(summary_line(method, [r["test_acc"] for r in mine], [_percent(r) for r in mine], transfer))


def report(folders, table):
    """Rows of earlier runs, from each folder's ``nb201_results.json``, with their candidate pools."""
    rows = []
    for folder in folders:
        results = folder / "nb201_results.json"
        if not results.is_file():
            raise FileNotFoundError(f"{results} not found: --report takes the --out folders of earlier runs")
        for row in json.loads(results.read_text())["rows"]:
            run_dir = folder / f"{row['method']}_seed{row['seed']}"
            if (run_dir / "derive_candidates.csv").is_file():
                row = {**row, **candidate_pool(run_dir, table)}
            if (run_dir / "metrics.csv").is_file():
                row = {**row, **phase_seconds(run_dir)}
            rows.append(row)
    return rows


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks.nb201", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cifar", help="CIFAR-10 folder (required unless --report)")
    add_nb201_argument(p, "nb201_accuracies.csv and cifar-split.txt")
    p.add_argument("--experiment", default="nb201_cpu_proxy")
    p.add_argument("--methods", nargs="+", default=["enas", "random"], choices=list(METHOD_OVERRIDES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=Path("outputs/nb201_benchmark"))
    p.add_argument("--ablations", action="store_true", help="derive also records the signals benchmarks.analysis "
                   "replays (zero-cost proxies, combined, predictor) for every candidate of the searches")
    p.add_argument("--report", nargs="+", type=Path, metavar="OUT",
                   help="train nothing: print the table of these earlier --out folders together")
    args, overrides = p.parse_known_args()
    table = nb201_table(args.nb201)
    if args.report:
        rows = report(args.report, table)
        print_table(rows, dict.fromkeys(r["method"] for r in rows))
        return
    if not args.cifar:
        p.error("--cifar is required to run searches (only --report goes without)")
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    # Seed-major order and results written after every run, so a run cut short still leaves a
    # comparable table (each seed done for every method) in nb201_results.json.
    for seed in args.seeds:
        for method in args.methods:
            run_dir = args.out / f"{method}_seed{seed}"
            extra = ABLATIONS if args.ablations and method != "zero_cost" else []
            cfg = compose("search", run_overrides(method, args.experiment, seed, run_dir, [*extra, *overrides]),
                          args.cifar, args.nb201)
            began = time.time()
            result = search(cfg)
            minutes = (time.time() - began) / 60
            bench = result["benchmark"]
            rows.append({"method": method, "seed": seed, "cell": bench["arch_str"], "test_acc": bench["cifar10_test_acc"],
                         "top_percent": bench["top_percent"], "minutes": minutes,
                         "derive_valid_acc": result.get("derive_valid_acc"),
                         **{k: bench[k] for k in ("cifar100_test_acc", "imagenet16_120_test_acc", "budget_top_percent",
                                                  "budget_cells") if k in bench},
                         "child_params": result.get("child_params"), "child_flops": result.get("child_flops"),
                         **phase_seconds(run_dir), **candidate_pool(run_dir, table)})
            print(f"[{method} seed {seed}] {rows[-1]}", flush=True)
            (args.out / "nb201_results.json").write_text(json.dumps(
                {"commit": git_commit(), "experiment": args.experiment, "overrides": overrides, "rows": rows},
                indent=2))
    print_table(rows, args.methods)


if __name__ == "__main__":
    main()
