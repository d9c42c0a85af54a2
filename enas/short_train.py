"""Early stopping on the proxy task: successive halving over derive's finalists, trained from scratch.

A final pick by short training (as DARTS picks its cell), made affordable by successive halving
(Jamieson & Talwalkar, AISTATS 2016, arXiv:1502.07943; the inner loop of Hyperband, Li et al., JMLR
2018, arXiv:1603.06560): every finalist trains from scratch for ``epochs``, the best 1/``eta`` by
validation score continue for ``eta`` times as long, and so on until one is left. Training continues
where the round stopped (no restart), under one cosine schedule planned over the longest budget, so a
survivor ends exactly as if it had been trained alone for that budget.

The networks are standalone children (`supernet.freeze`) of the space at ``space`` size (the searched
supernet's by default; on a GPU, the benchmark's full size), trained on the search-train split and
scored on the validation split: the test set stays untouched. All of it runs under a forked, seeded
random state, so a pick is reproducible and leaves the search's random stream alone.
"""
from __future__ import annotations

import dataclasses
import logging
import math
from typing import Callable, Dict, List, Mapping, Sequence

import torch
from torch import nn

from supernet import freeze, use_running_stats

from .training import make_optimizer, train_epoch

__all__ = ["SuccessiveHalving"]

log = logging.getLogger("enas")


class SuccessiveHalving:
    """``__call__(archs)`` -> the architecture that wins; ``history`` holds every round's scores."""

    def __init__(self, build_space: Callable[[], nn.Module], task, trainer, finalists: int = 8, epochs: int = 1,
                 eta: int = 2, lr: float = 0.1, max_steps_per_epoch: int = None, seed: int = 0,
                 device: torch.device = torch.device("cpu")):
        if finalists < 1 or epochs < 1 or eta < 2:
            raise ValueError(f"derive.short_train needs finalists >= 1, epochs >= 1 and eta >= 2 (got {finalists}, "
                             f"{epochs}, {eta})")
        self.build_space, self.task, self.finalists, self.epochs, self.eta = build_space, task, finalists, epochs, eta
        self.seed, self.device = seed, device
        self.rounds = max(1, math.ceil(math.log(finalists, eta))) if finalists > 1 else 1
        self.total_epochs = epochs * eta ** (self.rounds - 1)
        # The trainer settings of the search (clipping, weight decay, ...), with a fresh schedule.
        self.trainer = dataclasses.replace(trainer, epochs=self.total_epochs, lr=lr, t0=None, warmup_epochs=0,
                                           drop_path_prob=0.0, progress=False,
                                           max_steps_per_epoch=max_steps_per_epoch or trainer.max_steps_per_epoch)
        self.history: List[Dict] = []

    def _child(self, arch: Mapping) -> nn.Module:
        return use_running_stats(freeze(self.build_space(), arch)).to(self.device)

    def __call__(self, archs: Sequence[Mapping]) -> Mapping:
        alive = list(archs)[:self.finalists]
        if not alive:
            raise ValueError("successive halving needs at least one architecture")
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            runs = []
            for arch in alive:
                model = self._child(arch)
                optimizer = make_optimizer(model, self.trainer)
                schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.total_epochs,
                                                                      eta_min=self.trainer.lr_min)
                runs.append({"arch": arch, "model": model, "optimizer": optimizer, "schedule": schedule, "epoch": 0})
            budget = self.epochs
            for round_index in range(self.rounds):
                for run in runs:
                    while run["epoch"] < budget:
                        train_epoch(run["model"], self.task, run["optimizer"], self.trainer, run["epoch"],
                                    show_progress=False)
                        run["schedule"].step()
                        run["epoch"] += 1
                    run["score"] = self.task.evaluate(run["model"], self.task.valid)["score"]
                    self.history.append({"round": round_index, "epochs": budget, "score": run["score"],
                                         "architecture": dict(run["arch"])})
                log.info("successive halving, round %d (%d epochs): %s", round_index, budget,
                         ", ".join(f"{r['score']:.4f}" for r in runs))
                if len(runs) == 1:
                    break
                runs = sorted(runs, key=lambda r: -r["score"])[:max(1, len(runs) // self.eta)]
                budget *= self.eta
        return runs[0]["arch"]
