"""Kill a search at random moments, resume it, and check it ends exactly where an uninterrupted run ends.

A small micro search (the test suite's tiny settings, longer) runs once without interruption. Then
chains of the same search are started, killed with SIGKILL after a random delay (during training,
checkpoint writes, derive, anywhere), and resumed with ``resume=<run dir>``, until each chain finishes.
After every kill the run folder must still hold a loadable checkpoint (or none yet) and accept the
resume (the dead writer's lock is taken over, its temporary files removed). At the end each chain's
final shared weights, controller and derived architecture must equal the uninterrupted run's, tensor
for tensor.

    python -m benchmarks.faults --kills 20            # about 5 minutes on 2 CPU cores

Prints one row per chain (kills, resumes, identical or not) and exits non-zero if any chain differs. Data:
the embedded CIFAR-10 subset (nothing to download). ``--seed`` seeds the kill moments; the search's own seed
is the config's.
"""
from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from pathlib import Path

import torch

from enas.runs import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 8
SETTINGS = ["debug=cpu_tiny", "space.num_layers=1", "space.out_channels=8", "space.num_nodes=3",
            f"trainer.epochs={EPOCHS}", "trainer.max_steps_per_epoch=4", "derive.num_samples=6"]


def command(out: Path, resume: bool):
    return [sys.executable, "-m", "enas", "search", *SETTINGS, f"output_dir={out}", f"hydra.run.dir={out}"] + (
        [f"resume={out}"] if resume else [])


def run_to_end(out: Path, resume: bool) -> float:
    began = time.time()
    done = subprocess.run(command(out, resume), cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"search failed:\n{done.stderr[-3000:]}")
    return time.time() - began


def _epochs_done(out: Path) -> int:
    return load_checkpoint(out)["epoch"] + 1 if (out / "checkpoints" / "last.pt").is_file() else 0


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def chain(out: Path, rng: random.Random, length: float, max_kills: int) -> dict:
    """Kill-and-resume until the search finishes; returns how it went."""
    kills = resumes = 0
    while True:
        has_checkpoint = (out / "checkpoints" / "last.pt").is_file()
        proc = subprocess.Popen(command(out, has_checkpoint), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        resumes += has_checkpoint
        if kills < max_kills:
            # A moment within what is left of the run (from the epochs already checkpointed), so that
            # most starts are killed rather than finishing first.
            left = length * max(0.15, 1 - _epochs_done(out) / EPOCHS)  # derive comes after the last epoch
            try:
                proc.wait(timeout=rng.uniform(0.5, max(1.0, 0.9 * left)))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                kills += 1
                if (out / "checkpoints" / "last.pt").is_file():
                    load_checkpoint(out)  # never torn: raises if it were
                continue
        _, err = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"resumed search failed in {out}:\n{err[-3000:]}")
        return {"kills": kills, "resumes": resumes}


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks.faults", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=20, help="kills in all, spread over chains")
    p.add_argument("--per-chain", type=int, default=5, help="kills per chain at most")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("outputs/faults"))
    args = p.parse_args()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    reference = args.out / "reference"
    length = run_to_end(reference, resume=False)
    ref = load_checkpoint(reference)
    ref_arch = json.loads((reference / "architecture.json").read_text())["architecture"]
    print(f"uninterrupted run: {length:.1f} s; each start killed within 0.5 s..90% of what is left of it")
    rows, total, index = [], 0, 0
    while total < args.kills:
        out = args.out / f"chain{index}"
        row = chain(out, rng, length, min(args.per_chain, args.kills - total))
        state = load_checkpoint(out)
        arch = json.loads((out / "architecture.json").read_text())["architecture"]
        row.update(chain=index, identical=same(ref["supernet"], state["supernet"])
                   and same(ref["controller"]["controller"], state["controller"]["controller"]) and arch == ref_arch)
        rows.append(row)
        total += row["kills"]
        index += 1
        print(f"chain {row['chain']}: {row['kills']} kills, {row['resumes']} resumes, "
              f"{'identical to' if row['identical'] else 'DIFFERENT from'} the uninterrupted run", flush=True)
    print(f"\n{total} kills over {len(rows)} chains; {sum(r['identical'] for r in rows)} of {len(rows)} chains "
          "ended identical to the uninterrupted run")
    sys.exit(0 if all(r["identical"] for r in rows) else 1)


if __name__ == "__main__":
    main()
