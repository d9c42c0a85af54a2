"""PPO for the controller: the clipped surrogate objective, several epochs over each batch of samples.

Schulman et al. 2017, "Proximal Policy Optimization Algorithms" (arXiv:1707.06347), equation 7:
``L = E_t[min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)]`` with ``r_t = p(a_t | s_t) / p_old(a_t | s_t)``.
NNI 3.0's ``PolicyBasedRL`` strategy searches with PPO too (tianshou's ``PPOPolicy``: one step per
decision, reward at the end, discount 1, a critic on the actor's LSTM). Here, as there, each
decision is a time step: its ratio is taken on its own and its advantage is ``R' - V(s_t)`` from the
learned critic of `enas.policies.actor_critic` (with discount 1 and the reward at the end, the return of
every step is the architecture's reward). ``R' = R + w_H * H`` carries the entropy bonus as in
`enas.policies.reinforce`. Sampling is the expensive part (every reward is a validation pass or a benchmark
query), so reusing one batch for several epochs of small steps is where PPO earns its keep; the
clipping keeps those steps from moving the policy far from the one that sampled the batch.

The surrogate is summed over decisions (the loss REINFORCE minimises is too: ``log p(a)`` is a sum),
so PPO's first epoch takes exactly the actor-critic gradient.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional

import torch

from .actor_critic import ValueCritic
from .base import DecisionPolicy
from .reinforce import sample_and_reward

__all__ = ["ppo_clipped_loss", "ppo_step"]


def ppo_clipped_loss(log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantage: torch.Tensor,
                     clip: float = 0.2) -> torch.Tensor:
    """Elementwise ``-min(r A, clip(r, 1 - clip, 1 + clip) A)``, ``r = exp(log_prob - old_log_prob)``:
    once the ratio has moved past ``1 +- clip`` in the advantage's direction, no gradient pushes it further."""
    if not 0.0 < clip < 1.0:
        raise ValueError(f"controller.ppo_clip must be in (0, 1), got {clip}")
    ratio = torch.exp(log_prob - old_log_prob.detach())
    advantage = advantage.detach().to(ratio)
    return -torch.min(ratio * advantage, ratio.clamp(1.0 - clip, 1.0 + clip) * advantage)


def ppo_step(controller: DecisionPolicy, optimizer: torch.optim.Optimizer, critic: ValueCritic,
             reward_fn: Callable[[Dict], float], num_archs: int = 10, entropy_weight: float = 1e-4,
             skip_weight: float = 0.0, grad_clip: Optional[float] = None, propose=None,
             rewards_fn: Optional[Callable[[List[Dict], Callable], List[float]]] = None, clip: float = 0.2,
             epochs: int = 4, minibatch: Optional[int] = None) -> Dict[str, float]:
    """One batch of ``num_archs`` samples, then ``epochs`` passes over it in shuffled minibatches
    (``None``: the whole batch), each minibatch one controller step and one critic step. The other
    arguments are `enas.policies.reinforce.controller_step`'s."""
    if epochs < 1 or (minibatch is not None and minibatch < 1):
        raise ValueError(f"controller.ppo_epochs={epochs} and controller.ppo_minibatch={minibatch} must be >= 1")
    controller.train()
    with torch.no_grad():  # the sampling policy is the fixed "old" one
        samples, rewards = sample_and_reward(controller, reward_fn, num_archs, propose, rewards_fn)
    device = samples.log_prob.device
    total = (rewards + entropy_weight * samples.entropy.cpu()).to(device)
    critic.start_at(total)
    values = critic.values(samples.decision_hidden).detach()
    advantage = total[:, None] - values
    n = len(samples.archs)
    size = n if minibatch is None else min(minibatch, n)
    losses, clipped, value_losses = [], [], []
    for _ in range(epochs):
        for rows in torch.randperm(n).split(size):
            rows = rows.tolist()
            new = controller.evaluate([samples.archs[i] for i in rows])
            old = samples.decision_log_prob[rows]
            loss = ppo_clipped_loss(new.decision_log_prob, old, advantage[rows], clip).sum(1)
            if skip_weight:
                loss = loss + skip_weight * new.skip_penalty
            loss = loss.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if grad_clip:
                torch.nn.utils.clip_grad_norm_(controller.parameters(), grad_clip)
            optimizer.step()
            ratio = (new.decision_log_prob.detach() - old).exp()
            clipped.append(((ratio - 1.0).abs() > clip).float().mean().item())
            losses.append(loss.item())
            # the critic reads the states the batch was sampled in, as the advantages do
            value_losses.append(critic.fit(samples.decision_hidden[rows], total[rows]))
    return {
        "reward": rewards.mean().item(), "reward_max": rewards.max().item(), "baseline": values[:, 0].mean().item(),
        "entropy": samples.entropy.mean().item(), "controller_loss": sum(losses) / len(losses),
        "value_loss": sum(value_losses) / len(value_losses), "clip_fraction": sum(clipped) / len(clipped),
        "skip_rate": samples.skip_rate.mean().item(),
    }
