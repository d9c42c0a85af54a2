"""Actor-critic for the controller: a learned value baseline in place of the moving average.

Sampling an architecture is an episode of one step per decision with the reward at the end. A
critic ``V(s_t)`` estimates the (entropy-augmented) reward from the controller's hidden state at
decision ``t`` (the decisions made so far), and each decision is credited with its own advantage
``R' - V(s_t)``: a state-dependent baseline, unbiased because ``V(s_t)`` does not depend on the
action taken at ``t`` (Williams 1992, section 4's reinforcement baseline; Sutton et al. 2000;
actor-critic: Konda & Tsitsiklis 2000, "Actor-Critic Algorithms", NeurIPS). The critic is a
linear head on the *detached* hidden state, trained by MSE toward the rewards with its own Adam,
so it never shapes the policy's representation. Like `enas.policies.reinforce.EMABaseline`, it starts at
the first batch's mean reward rather than 0, so the first advantages are not all positive.

`enas.policies.ppo` reuses the critic: PPO (Schulman et al. 2017) is an actor-critic method.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional

import torch
from torch import nn

from .base import DecisionPolicy
from .reinforce import sample_and_reward

__all__ = ["ValueCritic", "actor_critic_loss", "actor_critic_step"]


class ValueCritic:
    """``V(s_t)`` per decision from the controller's hidden state, with its own optimizer."""

    def __init__(self, hidden_size: int, device: torch.device, lr: float = 0.01, beta1: float = 0.0, eps: float = 1e-3):
        self.head = nn.Linear(hidden_size, 1).to(device)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.optimizer = torch.optim.Adam(self.head.parameters(), lr=lr, betas=(beta1, 0.999), eps=eps)
        self.started = False

    def values(self, hidden: torch.Tensor) -> torch.Tensor:
        """(n, decisions, hidden) -> (n, decisions) value estimates (no gradient to the controller)."""
        return self.head(hidden.detach()).squeeze(-1)

    def start_at(self, rewards: torch.Tensor) -> None:
        """Before the first update: predict the first batch's mean reward everywhere."""
        if not self.started:
            with torch.no_grad():
                self.head.bias.fill_(float(rewards.mean()))
            self.started = True

    def fit(self, hidden: torch.Tensor, rewards: torch.Tensor) -> float:
        """One Adam step on the mean squared error between ``V(s_t)`` and each architecture's reward."""
        loss = (self.values(hidden) - rewards.detach().to(hidden)[:, None]).pow(2).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def state_dict(self) -> dict:
        return {"head": self.head.state_dict(), "optimizer": self.optimizer.state_dict(), "started": self.started}

    def load_state_dict(self, state: Mapping) -> None:
        self.head.load_state_dict(state["head"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.started = bool(state["started"])


def actor_critic_loss(decision_log_prob: torch.Tensor, advantage: torch.Tensor,
                      skip_penalty: Optional[torch.Tensor] = None, skip_weight: float = 0.0) -> torch.Tensor:
    """Mean over architectures of ``-sum_t log p(a_t | s_t) * A_t`` (+ the skip penalty);
    ``advantage`` is (n, decisions), detached."""
    loss = -(decision_log_prob * advantage.detach().to(decision_log_prob)).sum(1)
    if skip_penalty is not None and skip_weight:
        loss = loss + skip_weight * skip_penalty
    return loss.mean()


def actor_critic_step(controller: DecisionPolicy, optimizer: torch.optim.Optimizer, critic: ValueCritic,
                      reward_fn: Callable[[Dict], float], num_archs: int = 10, entropy_weight: float = 1e-4,
                      skip_weight: float = 0.0, grad_clip: Optional[float] = None, propose=None,
                      rewards_fn: Optional[Callable[[List[Dict], Callable], List[float]]] = None) -> Dict[str, float]:
    """One controller update and one critic update from ``num_archs`` sampled architectures; the
    arguments are `enas.policies.reinforce.controller_step`'s with the critic in place of the baseline."""
    controller.train()
    samples, rewards = sample_and_reward(controller, reward_fn, num_archs, propose, rewards_fn)
    total = (rewards + entropy_weight * samples.entropy.detach().cpu()).to(samples.log_prob.device)
    critic.start_at(total)
    values = critic.values(samples.decision_hidden).detach()
    loss = actor_critic_loss(samples.decision_log_prob, total[:, None] - values, samples.skip_penalty, skip_weight)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(controller.parameters(), grad_clip)
    optimizer.step()
    value_loss = critic.fit(samples.decision_hidden, total)
    return {
        "reward": rewards.mean().item(), "reward_max": rewards.max().item(), "baseline": values[:, 0].mean().item(),
        "entropy": samples.entropy.mean().item(), "controller_loss": loss.item(), "value_loss": value_loss,
        "skip_rate": samples.skip_rate.mean().item(),
    }
