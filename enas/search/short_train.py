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

__all__ = ["SuccessiveHalving", "halve"]

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

    def _run(self, arch: Mapping) -> Dict:
        model = self._child(arch)
        optimizer = make_optimizer(model, self.trainer)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.total_epochs, eta_min=self.trainer.lr_min)
        return {"arch": arch, "model": model, "optimizer": optimizer, "schedule": schedule, "epoch": 0}

    def _score_after(self, run: Dict, epochs: int) -> float:
        """Train ``run`` on to ``epochs`` (it continues where it stopped) and score it on validation."""
        while run["epoch"] < epochs:
            train_epoch(run["model"], self.task, run["optimizer"], self.trainer, run["epoch"], show_progress=False)
            run["schedule"].step()
            run["epoch"] += 1
        return self.task.evaluate(run["model"], self.task.valid)["score"]

    @property
    def rungs(self) -> List[int]:
        """The training epochs after which the finalists are compared: epochs, epochs * eta, ..."""
        return [self.epochs * self.eta ** r for r in range(self.rounds)]

    def __call__(self, archs: Sequence[Mapping]) -> Mapping:
        alive = list(archs)[:self.finalists]
        if not alive:
            raise ValueError("successive halving needs at least one architecture")
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            runs = [self._run(arch) for arch in alive]

            def score(index: int, round_index: int) -> float:
                value = self._score_after(runs[index], self.rungs[round_index])
                self.history.append({"round": round_index, "epochs": self.rungs[round_index], "score": value,
                                     "architecture": dict(alive[index])})
                return value

            winner = halve(len(alive), score, self.rounds, self.eta)
        return alive[winner]

    def learning_curve(self, arch: Mapping) -> Dict[int, float]:
        """One architecture trained alone for the longest budget: its validation score at every rung.
        A survivor of ``__call__`` trains under the same schedule (only its random stream differs: data
        order, initialisation), so a replay (benchmarks/nb201_short_train.py) can halve many searches'
        finalists from curves trained once each."""
        with torch.random.fork_rng():
            torch.manual_seed(self.seed)
            run = self._run(arch)
            return {epochs: self._score_after(run, epochs) for epochs in self.rungs}


def halve(count: int, score: Callable[[int, int], float], rounds: int, eta: int) -> int:
    """Successive halving over items ``0 .. count-1``: ``score(item, round)`` for every item still in,
    keep the best 1/``eta`` (at least one), next round; returns the index of the last one standing.
    Ties keep the earlier item (the better-ranked finalist)."""
    alive = list(range(count))
    for round_index in range(rounds):
        scores = {item: score(item, round_index) for item in alive}
        log.info("successive halving, round %d: %s", round_index, ", ".join(f"{scores[i]:.4f}" for i in alive))
        if len(alive) == 1:
            break
        alive = sorted(alive, key=lambda item: -scores[item])[:max(1, len(alive) // eta)]
    return alive[0]
