"""Your own problem from plain functions: a training loss, a reward, and optionally a deterministic score.

    task = SimpleTask(train_batches, loss_fn, reward_fn)
    result = enas.search_model(model, task, epochs=20)
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

import torch
from torch import nn

from .base import Task

__all__ = ["SimpleTask"]


class SimpleTask(Task):
    """The task protocol (`enas.tasks.base.Task`) from plain functions.

    ``train_data``: a re-iterable of batches (a list, a ``DataLoader``) or a function returning an
    iterable for one epoch. ``loss_fn(model, batch)`` returns the training loss (or ``(loss, metric)``).
    ``reward_fn(model)`` scores the active architecture, higher is better; ``score_fn(model)``, used by
    derive to compare candidates, should be deterministic (same data every call) and defaults to it.
    ``valid_data`` (a re-iterable of batches) is what ``strategy="darts"`` / ``"gdas"`` learn their
    architecture weights on: ``loss_fn`` on those batches is the differentiable validation loss.
    """

    def __init__(self, train_data: Union[Iterable, Callable[[], Iterable]], loss_fn: Callable,
                 reward_fn: Callable[[nn.Module], float], score_fn: Optional[Callable[[nn.Module], float]] = None,
                 steps_per_epoch: Optional[int] = None, valid_data: Optional[Iterable] = None):
        self.train_data, self.loss_fn, self.valid_data = train_data, loss_fn, valid_data
        self.reward_fn, self.score_fn = reward_fn, score_fn or reward_fn
        if steps_per_epoch is None:
            if not hasattr(train_data, "__len__"):
                raise ValueError("pass steps_per_epoch when train_data has no len()")
            steps_per_epoch = len(train_data)
        self._steps = steps_per_epoch

    @property
    def steps_per_epoch(self) -> int:
        return self._steps

    def train_batches(self):
        data = self.train_data() if callable(self.train_data) else self.train_data
        while True:  # a short epoch wraps around rather than ending the loop early
            yield from data

    def validation_batches(self):
        if self.valid_data is None:
            raise ValueError("strategy='darts' / 'gdas' learn architecture weights on a validation loss: pass "
                             "SimpleTask(..., valid_data=batches), on which loss_fn is computed")
        return itertools.chain.from_iterable(itertools.repeat(self.valid_data))  # pass after pass

    def loss(self, model: nn.Module, batch):
        out = self.loss_fn(model, batch)
        return out if isinstance(out, tuple) else (out, torch.zeros((), device=out.device))

    def reward(self, model: nn.Module, across_ranks: bool = False) -> float:
        return float(self.reward_fn(model))

    def fixed_batches(self, n: int) -> List[Any]:
        return [None]

    def score(self, model: nn.Module, batches=None, across_ranks: bool = False) -> Dict[str, float]:
        value = float(self.score_fn(model))
        return {"score": value, "loss": -value}

    def evaluate(self, model: nn.Module, data=None) -> Dict[str, float]:
        return self.score(model)
