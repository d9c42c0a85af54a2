"""Kill a search at random moments, resume it, and check it ends exactly where an uninterrupted run ends.

A small micro search (the test suite's tiny settings, longer) runs once without interruption. Then
chains of the same search are started, killed with SIGKILL after a random delay (during training,
checkpoint writes, derive, anywhere), and resumed with ``resume=<run dir>``, until each chain finishes.
After every kill the run folder must still hold a loadable checkpoint (or none yet) and accept the
resume (the dead writer's lock is taken over, its temporary files removed). At the end each chain's
final shared weights, controller and derived architecture must equal the uninterrupted run's, tensor
for tensor.

    python -m benchmarks.faults --kills 20            # about 5 minutes on 2 CPU cores
    python -m benchmarks.faults --multi-trial enas --kills 6
    python -m benchmarks.faults --multi-trial evolution --kills 6   # on 2 Ray workers when Ray is installed

With ``--multi-trial``, the search is a small multi-trial search (NB201 space, 12 children of 2 epochs). Its
policy strategy (``enas``, one process) must end with the uninterrupted run's trials, in order, score for score;
the asynchronous one (``evolution`` on two Ray workers, where the order of results is the machine's) must end with
its 12 trials, each counted once: distinct ids, distinct architectures, none lost.

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


TRIALS = 12
MULTI_TRIAL = ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4", "benchmark=null",
               "mode=multi_trial", f"multi_trial.trials={TRIALS}", "multi_trial.epochs=2", "evolution.population=4",
               "evolution.sample=2", "controller.num_aggregate=3", "predictor.enabled=false", "controller.screen_keep=0"]
ENGINES = {"enas": ["strategy=enas", "multi_trial.engine=local"],
           "evolution": ["strategy=evolution", "multi_trial.workers=2", "multi_trial.threads=1"]}


def command(out: Path, resume: bool):
    if resume:  # a resumed run reads its settings from its checkpoint
        return [sys.executable, "-m", "enas", "search", f"resume={out}"]
    return [sys.executable, "-m", "enas", "search", *SETTINGS, f"output_dir={out}", f"hydra.run.dir={out}"]


def _trials(out: Path) -> list:
    path = out / "trials.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def run_to_end(out: Path, resume: bool) -> float:
    began = time.time()
    done = subprocess.run(command(out, resume), cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"search failed:\n{done.stderr[-3000:]}")
    return time.time() - began


def _done(out: Path) -> float:
    """The share of the run behind it: epochs checkpointed, or trials finished."""
    if "mode=multi_trial" in SETTINGS:
        return len(_trials(out)) / TRIALS
    return (load_checkpoint(out)["epoch"] + 1) / EPOCHS if (out / "checkpoints" / "last.pt").is_file() else 0.0


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
            left = length * max(0.15, 1 - _done(out))  # derive comes after the last epoch
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
    p.add_argument("--multi-trial", choices=sorted(ENGINES), help="a multi-trial search with this strategy")
    args = p.parse_args()
    if args.multi_trial:
        SETTINGS[:] = [*MULTI_TRIAL, *ENGINES[args.multi_trial]]
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
        row.update(chain=index, identical=_identical(out, reference, ref, ref_arch, args.multi_trial))
        rows.append(row)
        total += row["kills"]
        index += 1
        print(f"chain {row['chain']}: {row['kills']} kills, {row['resumes']} resumes, "
              f"{'as' if row['identical'] else 'NOT as'} it must end ({_promise(args.multi_trial)})", flush=True)
    print(f"\n{total} kills over {len(rows)} chains; {sum(r['identical'] for r in rows)} of {len(rows)} chains "
          f"ended as they must ({_promise(args.multi_trial)})")
    sys.exit(0 if all(r["identical"] for r in rows) else 1)


def _promise(multi_trial) -> str:
    return {None: "identical to the uninterrupted run", "enas": "the uninterrupted run's trials, score for score",
            "evolution": f"{TRIALS} trials, each counted once"}[multi_trial]


def _identical(out: Path, reference: Path, ref: dict, ref_arch: dict, multi_trial) -> bool:
    """Whether the chain in ``out`` ended as it must (see the module docstring)."""
    state = load_checkpoint(out)
    arch = json.loads((out / "architecture.json").read_text())["architecture"]
    if multi_trial == "evolution":
        trials = _trials(out)
        return (len(trials) == TRIALS and len({t["id"] for t in trials}) == TRIALS
                and len({json.dumps(t["architecture"], sort_keys=True) for t in trials}) == TRIALS)
    if multi_trial == "enas":
        pairs = lambda folder: [(t["architecture"], t["score"]) for t in _trials(folder)]  # noqa: E731
        return pairs(out) == pairs(reference) and arch == ref_arch
    return (same(ref["supernet"], state["supernet"]) and arch == ref_arch
            and same(ref["controller"]["controller"], state["controller"]["controller"]))


if __name__ == "__main__":
    main()
