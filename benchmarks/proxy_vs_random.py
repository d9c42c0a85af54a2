"""Does the search beat chance? The derived architecture against random ones, retrained alike.

Runs a search (or takes a finished one with ``--search-dir``), samples ``--random`` architectures uniformly
from the same space, retrains every one of them from scratch with the same short budget and seed
(``--train-experiment``), and prints a table of test accuracy (or perplexity) with the searched
architecture's margin over the random mean. The CPU proxies' check (macro: CIFAR-10; PTB: language model):

    python -m benchmarks.proxy_vs_random --experiment macro_cpu_proxy \
        --train-experiment macro_cpu_proxy_retrain data.root=data/cifar10
    python -m benchmarks.proxy_vs_random --experiment ptb_cpu_proxy \
        --train-experiment ptb_cpu_proxy_retrain data.root=data/ptb

Remaining arguments are Hydra overrides for every run; ``--search-args`` / ``--train-args`` go to one stage
only; ``--seed`` seeds the search, the random samples and every retrain. Writes ``proxy_vs_random.json``
(rows, configuration, git commit) into ``--out``. Runtime on 2 CPU cores: macro about 7 minutes of search
and 1.5 a retrain (15 in all), PTB about 13 and 3 (30 in all).
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import torch

from benchmarks._common import compose, git_commit
from enas.search import build_supernet, retrain, search
from supernet import random_architecture, save_architecture


def _searched(args, overrides) -> Path:
    if args.search_dir:
        path = Path(args.search_dir) / "architecture.json"
        if not path.is_file():
            raise FileNotFoundError(f"--search-dir {args.search_dir}: no architecture.json there (run a search first)")
        return path
    cfg = compose("search", [f"experiment={args.experiment}", f"seed={args.seed}", f"output_dir={args.out / 'search'}",
                             "trainer.progress=false", *overrides, *args.search_args])
    began = time.time()
    search(cfg)
    print(f"search + derive: {(time.time() - began) / 60:.1f} minutes", flush=True)
    return args.out / "search" / "architecture.json"


def _random_architectures(searched: Path, n: int, seed: int, out: Path):
    """``n`` uniform samples of the space the searched architecture came from, written as its file is."""
    space = json.loads(searched.read_text())["space"]
    model, spec = build_supernet({"name": space["name"], **space["kwargs"]}, torch.device("cpu"))
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        path = save_architecture(out / f"random{i}" / "architecture.json", random_architecture(model, rng), space=spec)
        paths.append(path)
    return paths


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks.proxy_vs_random", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiment", required=True, help="search experiment, e.g. macro_cpu_proxy")
    p.add_argument("--train-experiment", required=True, help="retrain experiment, e.g. macro_cpu_proxy_retrain")
    p.add_argument("--search-dir", help="a finished search run to take the architecture from (skips the search)")
    p.add_argument("--random", type=int, default=5, help="random architectures to retrain (default 5)")
    p.add_argument("--seed", type=int, default=0, help="seed of the search, of the random samples and of every retrain")
    p.add_argument("--search-args", nargs="*", default=[], help="overrides for the search only")
    p.add_argument("--train-args", nargs="*", default=[], help="overrides for the retrains only")
    p.add_argument("--out", type=Path, default=None, help="default outputs/proxy_vs_random/<experiment>")
    args, overrides = p.parse_known_args()
    args.out = args.out or Path("outputs/proxy_vs_random") / args.experiment
    args.out.mkdir(parents=True, exist_ok=True)

    searched = _searched(args, overrides)
    candidates = [("searched", searched)] + [(f"random{i}", path) for i, path in
                                             enumerate(_random_architectures(searched, args.random, args.seed, args.out))]
    rows = []
    for name, arch in candidates:
        cfg = compose("train", [f"experiment={args.train_experiment}", f"architecture={arch}", f"seed={args.seed}",
                                f"output_dir={args.out / 'retrain' / name}", "trainer.progress=false",
                                *overrides, *args.train_args])
        began = time.time()
        result = retrain(cfg)
        text = "test_ppl" in result
        rows.append({"name": name, "architecture": str(arch), "params": result["params"],
                     "metric": "test_ppl" if text else "test_acc",
                     "value": result["test_ppl"] if text else 100 * result["test_acc"],
                     "minutes": (time.time() - began) / 60})
        print(f"[{name}] {rows[-1]}", flush=True)
        (args.out / "proxy_vs_random.json").write_text(json.dumps(
            {"commit": git_commit(), "experiment": args.experiment, "train_experiment": args.train_experiment,
             "overrides": overrides, "search_args": args.search_args, "train_args": args.train_args,
             "rows": rows}, indent=2))

    metric = rows[0]["metric"]
    shown = "test ppl" if metric == "test_ppl" else "test acc %"
    print(f"\n{'architecture':12} {'params':>10} {shown:>10} {'retrain min':>11}")
    for r in rows:
        print(f"{r['name']:12} {r['params']:10d} {r['value']:10.2f} {r['minutes']:11.1f}")
    rand = [r["value"] for r in rows[1:]]
    if rand:
        mean, std = statistics.mean(rand), (statistics.stdev(rand) if len(rand) > 1 else 0.0)
        sign = -1 if metric == "test_ppl" else 1  # lower perplexity, higher accuracy is better
        better = sign * rows[0]["value"] > sign * mean
        beaten = sum(sign * rows[0]["value"] > sign * v for v in rand)
        print(f"\nrandom mean {mean:.2f} +- {std:.2f} over {len(rand)}; searched {rows[0]['value']:.2f}: "
              f"{'better' if better else 'not better'} than the mean, better than {beaten}/{len(rand)} random")


if __name__ == "__main__":
    main()
