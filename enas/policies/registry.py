"""The controller a config names (``controller.kind``) and how it learns (``controller.algorithm``).

Kinds: ``lstm`` (the ENAS controller, `enas.controller.Controller`, the default) and ``transformer``
(`enas.transformer_controller.TransformerController`). Algorithms, all from the same samples and
rewards (`enas.reinforce.sample_and_reward`):

* ``reinforce``: REINFORCE with the moving-average baseline (Williams 1992; ENAS), the default;
* ``actor_critic``: a learned value baseline per decision (`enas.actor_critic`; Konda & Tsitsiklis 2000);
* ``ppo``: the clipped surrogate, several epochs per batch (`enas.ppo`; Schulman et al. 2017).

Every pair works; the algorithm's own state (the critic and its optimizer) is checkpointed beside
the controller's, so a resumed search continues exactly.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch

from supernet import Decision

from .actor_critic import ValueCritic, actor_critic_step
from .base import Controller, DecisionPolicy
from .ppo import ppo_step
from .reinforce import EMABaseline, controller_step
from .transformer import TransformerController

__all__ = ["CONTROLLER_KINDS", "ALGORITHMS", "create_controller", "PolicyUpdate"]

CONTROLLER_KINDS = ("lstm", "transformer")
ALGORITHMS = ("reinforce", "actor_critic", "ppo")


def create_controller(kind: str, decisions: Sequence[Decision], lstm_size: int = 64, lstm_layers: int = 1,
                      temperature: Optional[float] = None, tanh_constant: Optional[float] = 1.1,
                      op_tanh_reduce: float = 2.5, skip_target: float = 0.4, share_heads: bool = False,
                      op_prior: Optional[Mapping[str, float]] = None, transformer_layers: int = 2,
                      transformer_heads: int = 4) -> DecisionPolicy:
    """A controller of ``kind`` over ``decisions``; ``lstm_size`` is the width of either kind."""
    if kind == "lstm":
        return Controller(decisions, lstm_size, lstm_layers, temperature, tanh_constant, op_tanh_reduce,
                          skip_target, share_heads, op_prior=op_prior)
    if kind == "transformer":
        return TransformerController(decisions, lstm_size, transformer_layers, transformer_heads, temperature,
                                     tanh_constant, op_tanh_reduce, skip_target, share_heads, op_prior=op_prior)
    raise ValueError(f"unknown controller.kind={kind!r}; available: {', '.join(CONTROLLER_KINDS)}")


class PolicyUpdate:
    """One controller update by the configured algorithm; owns the algorithm's extra state."""

    def __init__(self, algorithm: str, controller: DecisionPolicy, optimizer: torch.optim.Optimizer,
                 baseline: EMABaseline, value_lr: float = 0.005, beta1: float = 0.0, eps: float = 1e-3,
                 ppo_clip: float = 0.2, ppo_epochs: int = 4, ppo_minibatch: Optional[int] = None):
        if algorithm not in ALGORITHMS:
            raise ValueError(f"unknown controller.algorithm={algorithm!r}; available: {', '.join(ALGORITHMS)}")
        if not 0.0 < ppo_clip < 1.0:
            raise ValueError(f"controller.ppo_clip must be in (0, 1), got {ppo_clip}")
        if ppo_epochs < 1 or (ppo_minibatch is not None and ppo_minibatch < 1):
            raise ValueError(f"controller.ppo_epochs={ppo_epochs} and controller.ppo_minibatch={ppo_minibatch} "
                             "must be >= 1")
        self.algorithm, self.controller, self.optimizer, self.baseline = algorithm, controller, optimizer, baseline
        self.ppo_clip, self.ppo_epochs, self.ppo_minibatch = ppo_clip, ppo_epochs, ppo_minibatch
        # REINFORCE keeps the EMA baseline; the others learn V(s_t) instead (the EMA then stays unused).
        self.critic = None if algorithm == "reinforce" else \
            ValueCritic(controller.hidden_size, controller.start.device, value_lr, beta1, eps)

    def step(self, reward_fn: Callable[[Dict], float], num_archs: int, entropy_weight: float, skip_weight: float,
             grad_clip: Optional[float], constraint=None,
             rewards_fn: Optional[Callable[[List[Dict], Callable], List[float]]] = None) -> Dict[str, float]:
        common = dict(num_archs=num_archs, entropy_weight=entropy_weight, skip_weight=skip_weight,
                      grad_clip=grad_clip, constraint=constraint, rewards_fn=rewards_fn)
        if self.algorithm == "reinforce":
            return controller_step(self.controller, self.optimizer, self.baseline, reward_fn, **common)
        if self.algorithm == "actor_critic":
            return actor_critic_step(self.controller, self.optimizer, self.critic, reward_fn, **common)
        return ppo_step(self.controller, self.optimizer, self.critic, reward_fn, **common, clip=self.ppo_clip,
                        epochs=self.ppo_epochs, minibatch=self.ppo_minibatch)

    def state_dict(self) -> dict:
        """Empty for REINFORCE (its baseline is the strategy's), so its checkpoints stay as they were."""
        return {} if self.critic is None else {"critic": self.critic.state_dict()}

    def load_state_dict(self, state: Mapping) -> None:
        if self.critic is not None:
            if "critic" not in state:
                raise ValueError(f"the checkpoint has no value critic: it was not written by "
                                 f"controller.algorithm={self.algorithm}")
            self.critic.load_state_dict(state["critic"])
