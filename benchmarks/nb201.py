"""NAS-Bench-201 search quality: run methods over seeds and look the derived cells up in the benchmark.

Reproduces the shape of NAS-Bench-201's Table 5 (Dong & Yang 2020, arXiv:2001.00326) for CIFAR-10:
per method, the derived cell's benchmark test accuracy as mean +- std over seeds. Published
anchors: ENAS 54.30 (collapsed), RSPS 87.66, DARTS 54.30, SETN 87.64, GDAS 93.61, REINFORCE
without weight sharing 93.85, best cell 94.37; the top 10% of the space starts at 92.93.

    python benchmarks/nb201.py --cifar ../shared/data/cifar10 --nb201 ../shared/data/nasbench201 \
        --methods enas random --seeds 0 1 2                     # experiment=nb201_cpu_proxy
    python benchmarks/nb201.py ... --experiment nb201_enas --device cuda   # the full budget

Every run goes through the same ``search()`` as ``enas-search``; remaining arguments are Hydra
overrides for all runs. Prints a table (seed, derived cell, benchmark test accuracy, top-% of the
space, search wall time) and mean +- std per method, and writes ``nb201_results.json`` with the
configuration, the git commit and the rows. Runtime: about 30 minutes per run on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from enas.search import search  # noqa: E402
from _common import compose, git_commit  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cifar", required=True)
    p.add_argument("--nb201", required=True)
    p.add_argument("--experiment", default="nb201_cpu_proxy")
    p.add_argument("--methods", nargs="+", default=["enas", "random"], choices=["enas", "random"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=Path("outputs/nb201_benchmark"))
    args, overrides = p.parse_known_args()
    rows = []
    args.out.mkdir(parents=True, exist_ok=True)
    # Seed-major order and results written after every run, so a run cut short still leaves a
    # comparable table (each seed done for every method) in nb201_results.json.
    for seed in args.seeds:
        for method in args.methods:
            run_dir = args.out / f"{method}_seed{seed}"
            cfg = compose("search", [f"experiment={args.experiment}", f"strategy={method}", f"seed={seed}",
                                     f"output_dir={run_dir}", "trainer.progress=false", *overrides],
                          args.cifar, args.nb201)
            began = time.time()
            result = search(cfg)
            minutes = (time.time() - began) / 60
            rows.append({"method": method, "seed": seed, "cell": result["benchmark"]["arch_str"] if "benchmark" in result
                         else None, "test_acc": result["benchmark_cifar10_test_acc"],
                         "top_percent": result["benchmark_top_percent"], "minutes": minutes,
                         "derive_valid_acc": result.get("derive_valid_acc")})
            print(f"[{method} seed {seed}] {rows[-1]}", flush=True)
            (args.out / "nb201_results.json").write_text(json.dumps(
                {"commit": git_commit(), "experiment": args.experiment, "overrides": overrides, "rows": rows},
                indent=2))
    print(f"\n{'method':8} {'seed':>4} {'test acc':>8} {'top %':>6} {'minutes':>7}  cell")
    for r in rows:
        print(f"{r['method']:8} {r['seed']:4d} {r['test_acc']:8.2f} {r['top_percent']:6.2f} {r['minutes']:7.1f}  {r['cell']}")
    print()
    for method in args.methods:
        accs = [r["test_acc"] for r in rows if r["method"] == method]
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        print(f"{method:8} mean {statistics.mean(accs):.2f} +- {std:.2f} over {len(accs)} seeds "
              f"(in the top 10%: {sum(r['top_percent'] <= 10 for r in rows if r['method'] == method)}/{len(accs)})")


if __name__ == "__main__":
    main()
