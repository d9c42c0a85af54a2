"""Policies over a space's decisions and how they learn: the controller a config names and its update rule.

Kinds (``controller.kind``): ``lstm`` (the ENAS controller, `enas.policies.lstm.Controller`, the default)
and ``transformer`` (`enas.policies.transformer.TransformerController`). Update rules
(``controller.algorithm``), all from the same samples and rewards (`enas.policies.reinforce.sample_and_reward`):

* ``reinforce``: REINFORCE with the moving-average baseline (Williams 1992; ENAS), the default;
* ``actor_critic``: a learned value baseline per decision (`enas.policies.actor_critic`; Konda & Tsitsiklis 2000);
* ``ppo``: the clipped surrogate, several epochs per batch (`enas.policies.ppo`; Schulman et al. 2017).

Every pair works; the rule's own state (the critic and its optimizer) is checkpointed beside the
controller's, so a resumed search continues exactly. Both take their settings from a controller config
node (`enas.config.ControllerConfig`, or anything with its fields).
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch

from supernet import Decision

from .actor_critic import ValueCritic, actor_critic_step
from .base import DecisionPolicy, Samples
from .lstm import Controller
from .ppo import ppo_step
from .reinforce import EMABaseline, controller_step, reinforce_loss, sample_and_reward
from .transformer import TransformerController

__all__ = ["CONTROLLER_KINDS", "ALGORITHMS", "create_controller", "PolicyUpdate", "DecisionPolicy", "Samples",
           "Controller", "TransformerController", "EMABaseline", "controller_step", "reinforce_loss",
           "sample_and_reward", "ValueCritic"]

CONTROLLER_KINDS = {"lstm": Controller, "transformer": TransformerController}
EXPLODED = 1e4  # |w| no healthy controller comes near (initialised within 0.1, it moves by about lr per update)
ALGORITHMS = ("reinforce", "actor_critic", "ppo")


def create_controller(decisions: Sequence[Decision], settings) -> DecisionPolicy:
    """The controller ``settings.kind`` over ``decisions``; ``settings.lstm_size`` is the width of either kind."""
    s = settings
    if s.kind not in CONTROLLER_KINDS:
        raise ValueError(f"unknown controller.kind={s.kind!r}; available: {', '.join(CONTROLLER_KINDS)}")
    common = dict(temperature=s.temperature, tanh_constant=s.tanh_constant, op_tanh_reduce=s.op_tanh_reduce,
                  skip_target=s.skip_target, share_heads=s.share_heads, op_prior=s.op_prior)
    if s.kind == "lstm":
        return Controller(decisions, s.lstm_size, s.lstm_layers, **common)
    return TransformerController(decisions, s.lstm_size, s.transformer_layers, s.transformer_heads, **common)


class PolicyUpdate:
    """One controller update by ``settings.algorithm``: owns the controller's optimizer (official ENAS: Adam,
    beta1 = 0, eps = 1e-3), the moving-average baseline and, for actor-critic and PPO, the value critic."""

    def __init__(self, controller: DecisionPolicy, settings):
        if settings.algorithm not in ALGORITHMS:
            raise ValueError(f"unknown controller.algorithm={settings.algorithm!r}; available: {', '.join(ALGORITHMS)}")
        self.controller, self.settings = controller, settings
        self.optimizer = torch.optim.Adam(controller.parameters(), lr=settings.lr, betas=(settings.beta1, 0.999),
                                          eps=settings.eps)
        self.baseline = EMABaseline(settings.baseline_decay)
        # REINFORCE keeps the EMA baseline; the others learn V(s_t) instead (the EMA then stays unused).
        self.critic = None if settings.algorithm == "reinforce" else ValueCritic(
            controller.hidden_size, controller.start.device, settings.value_lr, settings.beta1, settings.eps)

    def step(self, reward_fn: Callable[[Dict], float], propose: Optional[Callable[[int], List[Dict]]] = None,
             rewards_fn: Optional[Callable[[List[Dict], Callable], List[float]]] = None) -> Dict[str, float]:
        """One update from ``settings.num_aggregate`` samples rewarded by ``reward_fn``; ``propose`` and
        ``rewards_fn`` (screening) as in `enas.policies.reinforce.controller_step`."""
        s = self.settings
        common = dict(num_archs=s.num_aggregate, entropy_weight=s.entropy_weight, skip_weight=s.skip_weight,
                      grad_clip=s.grad_clip, propose=propose, rewards_fn=rewards_fn)
        if s.algorithm == "reinforce":
            stats = controller_step(self.controller, self.optimizer, self.baseline, reward_fn, **common)
        elif s.algorithm == "actor_critic":
            stats = actor_critic_step(self.controller, self.optimizer, self.critic, reward_fn, **common)
        else:
            stats = ppo_step(self.controller, self.optimizer, self.critic, reward_fn, **common, clip=s.ppo_clip,
                             epochs=s.ppo_epochs, minibatch=s.ppo_minibatch)
        self._refuse_exploded()
        return stats

    def _refuse_exploded(self) -> None:
        """Stop with a clear error once the controller's weights have blown up: its logits pass through tanh,
        so an exploded policy would otherwise keep sampling (one architecture, deterministically) to the end."""
        largest = max(float(p.detach().abs().max()) for p in self.controller.parameters())
        if not math.isfinite(largest) or largest > EXPLODED:
            raise FloatingPointError(f"the controller's weights exploded (largest |w| = {largest:.3g}): lower "
                                     f"controller.lr (now {self.settings.lr}) or set controller.grad_clip")

    def state_dict(self) -> dict:
        """The optimizer, the baseline and (actor-critic, PPO) the critic."""
        state = {"optimizer": self.optimizer.state_dict(), "baseline": self.baseline.state_dict()}
        return state if self.critic is None else {**state, "critic": self.critic.state_dict()}

    def load_state_dict(self, state: Mapping) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline.load_state_dict(state["baseline"])
        if self.critic is not None:
            if "critic" not in state:
                raise ValueError(f"the checkpoint has no value critic: it was not written by "
                                 f"controller.algorithm={self.settings.algorithm}")
            self.critic.load_state_dict(state["critic"])
