"""How well do shared weights rank architectures? Kendall tau and Spearman rho on NAS-Bench-201.

Trains an NB201 supernet with uniform sampling (the shared-weights phase of random search with weight
sharing), then scores a fixed sample of architectures with the shared weights, all on the same validation
images, and correlates the scores with the benchmark's 200-epoch CIFAR-10 test accuracy: ranking fidelity
decides whether derive can pick a good cell.

    python -m benchmarks.nb201_ranking --cifar data/cifar10 --nb201 data/nasbench201 --archs 200 trainer.epochs=20

Remaining arguments are Hydra overrides of ``experiment=nb201_cpu_proxy``; ``--seed`` is the search's seed
(the sample of architectures is fixed). Prints a table (score every ``--every`` epochs: taus, rhos, the
benchmark accuracy of the cell the shared weights pick) and writes ``ranking.json`` with the
per-architecture scores. Runtime on 2 CPU cores: about 20 minutes with the proxy's 120 epochs, 7 with
trainer.epochs=40.

``--checkpoint <search run or .pt>`` trains nothing: it loads the shared weights (and policy) of a
finished search and scores the same fixed sample plus the policy's own candidates, then shows where the
sample's truly best cells rank under the shared weights: why derive picked what it picked. The data paths
come from the run's stored config, so run it from the folder the search ran in.

    python -m benchmarks.nb201_ranking --nb201 data/nasbench201 --checkpoint outputs/nb201_benchmark/enas_seed0
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import supernet as S
from benchmarks._common import add_nb201_argument, built_search, compose, nb201_table
from enas.predictors.ranking import kendall_tau, spearman_rho
from enas.runs import resolve_device
from enas.search import load_search, make_optimizer, make_scheduler, train_epoch


def score_all(model, task, archs, batches):
    scores = []
    for arch in archs:
        S.activate(model, arch)
        scores.append(task.score(model, batches))
    return scores


def report(table, archs, scores, epoch, elapsed):
    truth = [table.lookup(S.to_nb201_string(a))["cifar10_test_acc"] for a in archs]
    acc = [s["acc"] for s in scores]
    neg_loss = [-s["loss"] for s in scores]
    by_acc = max(range(len(archs)), key=lambda i: (acc[i], neg_loss[i]))
    row = {"epoch": epoch, "minutes": elapsed / 60, "kendall_acc": kendall_tau(acc, truth),
           "spearman_acc": spearman_rho(acc, truth), "kendall_loss": kendall_tau(neg_loss, truth),
           "spearman_loss": spearman_rho(neg_loss, truth), "picked_test_acc": truth[by_acc],
           "picked_top_percent": table.top_percent(truth[by_acc]), "best_in_sample": max(truth)}
    print(f"{epoch:5d} {row['minutes']:7.1f} {row['kendall_acc']:8.3f} {row['spearman_acc']:8.3f} "
          f"{row['kendall_loss']:8.3f} {row['spearman_loss']:8.3f} {row['picked_test_acc']:8.2f} "
          f"{row['picked_top_percent']:7.1f} {row['best_in_sample']:8.2f}", flush=True)
    return row


def explain(table, archs, scores, shown=5):
    """Where the sample's truly best cells rank under the shared weights, and what tops that ranking."""
    truth = [table.lookup(S.to_nb201_string(a))["cifar10_test_acc"] for a in archs]
    by_loss = sorted(range(len(archs)), key=lambda i: scores[i]["loss"])
    place = {i: r for r, i in enumerate(by_loss)}
    print(f"best by shared-weight loss (of {len(archs)}):")
    for i in by_loss[:shown]:
        print(f"  loss {scores[i]['loss']:.4f}  benchmark {truth[i]:.2f}  {S.to_nb201_string(archs[i])}")
    print("best by benchmark, and their place by shared-weight loss:")
    for i in sorted(range(len(archs)), key=lambda i: -truth[i])[:shown]:
        print(f"  benchmark {truth[i]:.2f}  place {place[i] + 1:4d}  loss {scores[i]['loss']:.4f}  "
              f"{S.to_nb201_string(archs[i])}")


def fixed_sample(model, n):
    return [S.random_architecture(model, random.Random(1000 + i)) for i in range(n)]


def from_checkpoint(args, table):
    """Score the fixed sample and the policy's candidates with the shared weights of a finished search."""
    run = load_search(args.checkpoint, args.device)
    archs = fixed_sample(run.model, args.archs)
    policy = list({json.dumps(a, sort_keys=True): a for a in run.strategy.candidates(args.archs)}.values())
    batches = run.task.fixed_batches(args.batches or run.config.derive.num_batches)
    print(f"# {args.checkpoint} (search epoch {run.state['epoch']}): {len(archs)} uniform cells and {len(policy)} "
          f"distinct candidates of the search's policy, on {sum(len(b[1]) for b in batches)} validation images")
    print("sample   epoch minutes  tau(acc)  rho(acc) tau(loss) rho(loss)  picked  top%   best")
    began, rows, everything = time.time(), [], {}
    for name, sample in (("uniform", archs), ("policy", policy)):
        scores = score_all(run.model, run.task, sample, batches)
        print(f"{name:8s}", end="")
        rows.append({"sample": name, **report(table, sample, scores, run.state["epoch"], time.time() - began)})
        everything.update({json.dumps(a, sort_keys=True): (a, s) for a, s in zip(sample, scores)})
    pairs = list(everything.values())
    explain(table, [a for a, _ in pairs], [s for _, s in pairs])
    return rows


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks.nb201_ranking", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cifar", help="CIFAR-10 folder (torchvision or npz layout); not with --checkpoint")
    add_nb201_argument(p, "nb201_accuracies.csv and cifar-split.txt")
    p.add_argument("--archs", type=int, default=200, help="architectures scored (>= 100)")
    p.add_argument("--every", type=int, default=5, help="score every this many epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("ranking.json"))
    p.add_argument("--checkpoint", help="score with the shared weights of this search run instead of training")
    p.add_argument("--batches", type=int, default=0, help="validation batches scored (default: derive.num_batches)")
    p.add_argument("--device", default="auto")
    args, overrides = p.parse_known_args()
    table = nb201_table(args.nb201)
    if args.checkpoint:  # the run's own data paths and settings come with its checkpoint
        rows = from_checkpoint(args, table)
        args.out.write_text(json.dumps({"checkpoint": str(args.checkpoint), "rows": rows}, indent=1))
        return
    if not args.cifar:
        p.error("--cifar is needed to train a supernet (or pass --checkpoint of a finished search)")
    cfg = compose("search", ["experiment=nb201_cpu_proxy", "strategy=random", f"seed={args.seed}",
                             "trainer.progress=false", *overrides], args.cifar, args.nb201)
    device = resolve_device(cfg.device)
    built = built_search(cfg, device)
    task, model, strategy = built.task, built.model, built.strategy
    archs = fixed_sample(model, args.archs)
    batches = task.fixed_batches(cfg.derive.num_batches)
    optimizer = make_optimizer(model, cfg.trainer)
    scheduler = make_scheduler(optimizer, cfg.trainer)
    steps = min(task.steps_per_epoch, cfg.trainer.max_steps_per_epoch or task.steps_per_epoch)
    print(f"# {len(archs)} architectures scored on {sum(len(b[1]) for b in batches)} validation images; "
          f"overrides {overrides}")
    print("epoch minutes  tau(acc)  rho(acc) tau(loss) rho(loss)  picked  top%   best")
    began, rows, scores = time.time(), [], []
    for epoch in range(cfg.trainer.epochs):
        train_epoch(model, task, optimizer, cfg.trainer, epoch, strategy.propose(steps), show_progress=False)
        scheduler.step()
        if (epoch + 1) % args.every == 0 or epoch + 1 == cfg.trainer.epochs:
            scores = score_all(model, task, archs, batches)
            rows.append(report(table, archs, scores, epoch, time.time() - began))
    args.out.write_text(json.dumps({"overrides": overrides, "rows": rows, "archs": [S.to_nb201_string(a) for a in archs],
                                    "scores": scores}, indent=1))


if __name__ == "__main__":
    main()
