"""REINFORCE for the controller: moving-average baseline, entropy bonus, skip penalty.

Williams (1992); as used by ENAS (Pham et al. 2018, arXiv:1802.03268, section 2.2) and its official
code (``micro_controller.py::build_trainer``):

* the entropy bonus is added to the reward, ``R' = R + w_H * H`` (entropy as a number: it moves the
  policy through the score function, not by its own gradient);
* the baseline is an exponential moving average updated with every sampled architecture *before*
  that architecture's advantage ``R' - b`` is taken (official ``tf.control_dependencies``);
* the macro space adds ``w_skip * KL(skip probabilities || target rate)`` to the loss.

Deviation: the official baseline starts at 0, so its first ~hundred advantages are all positive
and push up whatever was sampled; ours starts at the first reward.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional

import torch

from .base import DecisionPolicy

__all__ = ["EMABaseline", "reinforce_loss", "controller_step", "sample_and_reward"]


class EMABaseline:
    def __init__(self, decay: float = 0.99):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"baseline decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.value: Optional[float] = None

    def update(self, reward: float) -> float:
        reward = float(reward)
        self.value = reward if self.value is None else self.value - (1.0 - self.decay) * (self.value - reward)
        return self.value

    def state_dict(self) -> dict:
        return {"decay": self.decay, "value": self.value}

    def load_state_dict(self, state: Mapping) -> None:
        self.decay, self.value = state["decay"], state["value"]


def reinforce_loss(log_prob: torch.Tensor, advantage: torch.Tensor, skip_penalty: Optional[torch.Tensor] = None,
                   skip_weight: float = 0.0) -> torch.Tensor:
    """Mean over sampled architectures of ``-log p(a) * advantage + skip_weight * skip_penalty``."""
    loss = -(log_prob * advantage.to(log_prob))
    if skip_penalty is not None and skip_weight:
        loss = loss + skip_weight * skip_penalty
    return loss.mean()


def controller_step(controller: DecisionPolicy, optimizer: torch.optim.Optimizer, baseline: EMABaseline,
                    reward_fn: Callable[[Dict], float], num_archs: int = 10, entropy_weight: float = 1e-4,
                    skip_weight: float = 0.0, grad_clip: Optional[float] = None, propose=None,
                    rewards_fn: Optional[Callable[[List[Dict], Callable], List[float]]] = None) -> Dict[str, float]:
    """One controller update from ``num_archs`` sampled architectures (official ``num_aggregate``).

    ``propose(n)`` chooses the architectures another way (the policy's samples that fit a budget, or the
    policy restricted to a preferred set); the update uses their log-probability under the policy.
    ``rewards_fn(archs, reward_fn)`` replaces evaluating every architecture with ``reward_fn``
    (screening: evaluate the promising ones, predict the rest).
    """
    controller.train()
    samples, rewards = sample_and_reward(controller, reward_fn, num_archs, propose, rewards_fn)
    total = rewards + entropy_weight * samples.entropy.detach().cpu()
    advantage = torch.tensor([r - baseline.update(r) for r in total.tolist()])
    loss = reinforce_loss(samples.log_prob, advantage, samples.skip_penalty, skip_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(controller.parameters(), grad_clip)
    optimizer.step()
    return {
        "reward": rewards.mean().item(), "reward_max": rewards.max().item(), "baseline": baseline.value,
        "entropy": samples.entropy.mean().item(), "controller_loss": loss.item(),
        "skip_rate": samples.skip_rate.mean().item(),
    }


def sample_and_reward(controller: DecisionPolicy, reward_fn: Callable[[Dict], float], num_archs: int,
                      propose: Optional[Callable[[int], List[Dict]]] = None,
                      rewards_fn: Optional[Callable[[List[Dict], Callable], List[float]]] = None):
    """``num_archs`` architectures from the policy (or from ``propose``) and their rewards (a CPU tensor);
    every policy-gradient update starts here (REINFORCE, actor-critic, PPO)."""
    if propose is not None:
        with torch.no_grad():
            archs = propose(num_archs)
        samples = controller.evaluate(archs)
    else:
        samples = controller.sample_many(num_archs)
    values = rewards_fn(samples.archs, reward_fn) if rewards_fn else [reward_fn(a) for a in samples.archs]
    rewards = torch.tensor([float(r) for r in values])
    if not torch.isfinite(rewards).all():
        raise FloatingPointError(f"non-finite reward {rewards.tolist()}: the shared weights have diverged")
    return samples, rewards
