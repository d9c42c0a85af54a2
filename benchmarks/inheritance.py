"""Weight inheritance: a derived child fine-tuned from the search's shared weights against the same child from scratch.

For each search run, ``enas-train architecture=<run>/architecture.json`` runs twice with the same settings and
seed: from a fresh initialisation, and with ``init=<run>`` (the shared weights the search trained). Prints the
test accuracy after every epoch of both, and how many epochs the fine-tuned child needs to reach the accuracy
the child from scratch ends with (or that it does not within ``--epochs``).

    python -m benchmarks.inheritance outputs/pref/s300/random_seed300 --epochs 6 --out outputs/inherit \
        data=cifar10 data.root=$CIFAR10_DIR data.train_subset=10000
    python -m benchmarks.inheritance outputs/search/<quickstart run> --epochs 6 --out outputs/inherit_micro

Remaining arguments are Hydra overrides for both trainings (the data they train and test on); the child is
built at the size the search ran (the recorded space), which the shared weights need.
"""
from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional


def train(run: Path, out: Path, epochs: int, init: bool, extra: List[str]) -> List[float]:
    """Test accuracy after each epoch of one retraining."""
    overrides = [f"architecture={run / 'architecture.json'}", f"trainer.epochs={epochs}", f"output_dir={out}",
                 "overwrite=true", "trainer.progress=false", *([f"init={run}"] if init else []), *extra]
    with open(out.with_suffix(".log"), "w") as log:
        subprocess.run([sys.executable, "-m", "enas", "train", *overrides], check=True, stdout=log,
                       stderr=subprocess.STDOUT, env=dict(os.environ))
    with open(out / "metrics.csv", newline="") as f:
        return [100 * float(r["test_acc"]) for r in csv.DictReader(f)]


def reached(curve: List[float], target: float) -> Optional[int]:
    """The first epoch (from 1) whose accuracy is at least ``target``."""
    return next((i + 1 for i, acc in enumerate(curve) if acc >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="one-shot search run folders")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("outputs/inheritance"))
    args, extra = parser.parse_known_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = []
    for run in args.runs:
        name = run.name
        scratch = train(run, args.out / f"{name}_scratch", args.epochs, False, extra)
        shared = train(run, args.out / f"{name}_shared", args.epochs, True, extra)
        print(f"\n{run}: test accuracy (%) after each epoch")
        print(f"{'epoch':>5} {'scratch':>8} {'shared':>8}")
        for epoch, (a, b) in enumerate(zip(scratch, shared), 1):
            print(f"{epoch:>5} {a:>8.2f} {b:>8.2f}")
        epochs = reached(shared, scratch[-1])
        summary.append((name, scratch[-1], shared[-1], epochs))
    print(f"\n{'run':34} {'scratch':>8} {'shared':>8}  epochs the fine-tuned child needs to reach scratch's last")
    for name, a, b, epochs in summary:
        print(f"{name:34} {a:>8.2f} {b:>8.2f}  " + (f"{epochs} of {args.epochs}" if epochs else
                                                    f"not reached in {args.epochs}"))


if __name__ == "__main__":
    main()
