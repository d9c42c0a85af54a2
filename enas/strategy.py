"""Search strategies that plug into the one search loop: ENAS and random search with weight sharing.

A strategy proposes architectures for the shared-weights phase (`propose`), learns from rewards in
the controller phase (`learn`), and proposes the candidates that derive scores (`candidates`).
``random`` is RSPS (Li & Talwalkar 2019, arXiv:1902.07638): uniform sampling throughout, then the
best of N random architectures by shared-weight validation accuracy.
"""
from __future__ import annotations

import random
from typing import Callable, Dict, List, Sequence

import torch

from supernet import Decision, random_architecture

from .controller import Controller
from .reinforce import EMABaseline, controller_step

__all__ = ["ENASStrategy", "RandomStrategy", "create_strategy", "STRATEGIES"]


class RandomStrategy:
    name = "random"

    def __init__(self, decisions: Sequence[Decision], seed: int = 0):
        self.decisions = tuple(decisions)
        self.rng = random.Random(seed)

    def propose(self, n: int) -> List[Dict]:
        return [random_architecture(self.decisions, self.rng) for _ in range(n)]

    def learn(self, reward_fn: Callable[[Dict], float], steps: int, progress=None) -> Dict[str, float]:
        return {}

    def candidates(self, n: int) -> List[Dict]:
        return self.propose(n)

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])


class ENASStrategy(RandomStrategy):
    """The ENAS controller trained with REINFORCE; uniform proposals remain available for warm-up."""

    name = "enas"

    def __init__(self, decisions: Sequence[Decision], device: torch.device, seed: int = 0, lstm_size: int = 64,
                 lstm_layers: int = 1, temperature=None, tanh_constant=1.1, op_tanh_reduce=2.5, share_heads=False,
                 lr: float = 3.5e-3, beta1: float = 0.0, eps: float = 1e-3, baseline_decay: float = 0.99,
                 entropy_weight: float = 1e-4, num_aggregate: int = 10, train_steps: int = 30,
                 skip_target: float = 0.4, skip_weight: float = 0.0, grad_clip=None, op_prior=None):
        super().__init__(decisions, seed)
        self.controller = Controller(decisions, lstm_size, lstm_layers, temperature, tanh_constant, op_tanh_reduce,
                                     skip_target, share_heads, op_prior=op_prior).to(device)
        # Official ENAS: Adam with beta1 = 0 and eps = 1e-3.
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr, betas=(beta1, 0.999), eps=eps)
        self.baseline = EMABaseline(baseline_decay)
        self.entropy_weight, self.num_aggregate, self.train_steps = entropy_weight, num_aggregate, train_steps
        self.skip_weight, self.grad_clip = skip_weight, grad_clip

    @torch.no_grad()
    def propose(self, n: int) -> List[Dict]:
        # The policy is fixed during the shared-weights phase, so one batched pass samples them all.
        self.controller.eval()
        return [a for start in range(0, n, 256) for a in self.controller.sample_many(min(256, n - start)).archs]

    def uniform(self, n: int) -> List[Dict]:
        return super().propose(n)

    def learn(self, reward_fn: Callable[[Dict], float], steps: int = None, progress=None) -> Dict[str, float]:
        totals: Dict[str, float] = {}
        steps = self.train_steps if steps is None else steps
        for _ in range(steps):
            stats = controller_step(self.controller, self.optimizer, self.baseline, reward_fn, self.num_aggregate,
                                    self.entropy_weight, self.skip_weight, self.grad_clip)
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v / steps
            if progress is not None:
                progress(stats)
        return totals

    def candidates(self, n: int) -> List[Dict]:
        return self.propose(n)

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "controller": self.controller.state_dict(),
                "optimizer": self.optimizer.state_dict(), "baseline": self.baseline.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline.load_state_dict(state["baseline"])


STRATEGIES = {"enas": ENASStrategy, "random": RandomStrategy}


def create_strategy(name: str, decisions: Sequence[Decision], device: torch.device, seed: int, **kwargs):
    if name not in STRATEGIES:
        raise KeyError(f"unknown strategy {name!r}; available: {', '.join(sorted(STRATEGIES))}")
    if name == "random":
        return RandomStrategy(decisions, seed)
    return ENASStrategy(decisions, device, seed, **kwargs)
