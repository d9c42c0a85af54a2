"""The task protocol: what the search loop, derive, short training and retrain ask of a problem.

A task trains a model on its training batches (`loss`), rewards an architecture on validation data
(`reward`), scores candidates on the same fixed batches (`fixed_batches`, `score`) and evaluates a
whole split (`evaluate`). Subclasses implement those; every optional step has a default here, so the
loop never probes a task for what it has. Built-in tasks: `enas.tasks.image.ImageClassification`,
`enas.tasks.text.LanguageModeling`, and `enas.tasks.simple.SimpleTask` for your own functions.
"""
from __future__ import annotations

from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import nn

__all__ = ["Task"]


class Task:
    """Subclasses set ``metric`` and ``valid`` / ``test`` (what `evaluate` reads) and implement the
    methods that raise NotImplementedError."""

    metric = "metric"  # what `loss` returns beside the loss, averaged per epoch as train_<metric>
    valid: Any = None  # the validation split, for evaluate(model, task.valid)
    test: Any = None   # the test split (retrain)

    @property
    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    @property
    def batch_size(self) -> Optional[int]:
        """Training examples per batch (short training counts its subset in batches); None if unknown."""
        return None

    def train_batches(self) -> Iterator[Any]:
        raise NotImplementedError

    def set_epoch(self, epoch: int) -> None:
        """Fix the training order of this epoch (the same on every process, and on resume)."""

    def loss(self, model: nn.Module, batch) -> Tuple[torch.Tensor, torch.Tensor]:
        """The training loss of ``batch`` and its metric."""
        raise NotImplementedError

    def start_reward_epoch(self) -> None:
        """A fresh pass over the validation data for this epoch's rewards."""

    def reward(self, model: nn.Module, across_ranks: bool = False) -> float:
        """The active architecture's reward, higher is better."""
        raise NotImplementedError

    def validation_batches(self) -> Iterator[Any]:
        """Validation minibatches without end, on which `loss` is differentiable: what differentiable
        strategies (DARTS, GDAS) learn their architecture weights on."""
        raise TypeError(f"{type(self).__name__} has no validation batches to learn architecture weights on "
                        "(strategy=darts or gdas): image tasks have them, and SimpleTask(..., valid_data=batches) "
                        "from Python")

    def fixed_batches(self, n: int) -> List[Any]:
        """The same ``n`` validation batches for every candidate derive scores."""
        raise NotImplementedError

    def score(self, model: nn.Module, batches: Sequence[Any], across_ranks: bool = False) -> Dict[str, float]:
        """``score`` (higher is better) and ``loss`` (breaks ties) of the active architecture on ``batches``."""
        raise NotImplementedError

    def evaluate(self, model: nn.Module, data) -> Dict[str, float]:
        """`score` over a whole split (``task.valid`` or ``task.test``)."""
        raise NotImplementedError

    def example_input(self) -> Optional[torch.Tensor]:
        """One input with its batch dimension, to count FLOPs; None where FLOPs are not counted."""
        return None
