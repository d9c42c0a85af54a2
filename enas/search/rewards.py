"""Rewards with the shared weights: what the loop hands a strategy's learning phase to score architectures.

`SharedWeightReward` activates an architecture on the supernet and asks the task for its reward; every
score it measures also teaches the learned predictor, if the search has one, and goes to the run's archive. Under torchrun, rank 0
learns and broadcasts each architecture it wants scored, every rank scores it on its shard of the same
validation batches (`serve_rewards` on the other ranks), and the sums are added.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional

from torch import nn

from supernet import activate

from ..runs import distributed

__all__ = ["SharedWeightReward", "serve_rewards"]


class SharedWeightReward:
    """``reward(arch)``: the task's reward of ``arch`` on the shared weights (see the module docstring)."""

    def __init__(self, model: nn.Module, task, predictor=None, record: Optional[Callable[[Dict, float], None]] = None):
        self.model, self.task, self.predictor, self.record = model, task, predictor, record
        self.spread = distributed.world_size() > 1

    def __call__(self, arch: Dict) -> float:
        if self.spread:  # every rank scores this architecture on its shard of the same validation batches
            distributed.broadcast(arch)
        activate(self.model, arch)
        value = self.task.reward(self.model, across_ranks=self.spread)
        if self.predictor is not None:  # everything the search measures teaches the predictor
            self.predictor.observe(arch, value)
        if self.record is not None:  # the run's archive
            self.record(arch, value)
        return value


def serve_rewards(model: nn.Module, task) -> None:
    """The learning phase on ranks other than 0: score each architecture rank 0 broadcasts, until ``None``."""
    task.start_reward_epoch()
    while (arch := distributed.broadcast(None)) is not None:
        activate(model, arch)
        task.reward(model, across_ranks=True)
