"""Search strategies that plug into the one search loop: random search, ENAS, predictor-guided search.

A strategy says which architectures train the shared weights this epoch (`shared_archs`), whether it
has a learning phase this epoch (`learns`) and what it does in it (`learn`, given a reward function
that evaluates an architecture with the shared weights), and which candidates derive scores
(`candidates`). The loop in `enas.search` reads the same for all of them. Every sampler respects the
search's budget (`enas.constraints.Constraint`) by rejection, so its distribution is kept, restricted
to the budget.

* ``random``: RSPS (Li & Talwalkar 2019, arXiv:1902.07638): uniform sampling throughout, then the best
  of N random architectures by shared-weight score.
* ``enas``: the ENAS controller trained with REINFORCE (Pham et al. 2018); with a fitted predictor,
  each update evaluates only the ``screen_keep`` samples the predictor rates best and uses the
  predictor's estimate for the rest (screening: the reward evaluations are the controller phase's cost).
* ``predictor``: `enas.predictor_search.PredictorStrategy` (BANANAS-style, on the shared weights).
* ``evolution``: `enas.evolution_search.EvolutionStrategy` (regularized evolution, Real et al. 2019, on
  shared weights trained under uniform sampling as in SPOS, Guo et al. 2020).
* ``darts`` / ``gdas``: `enas.differentiable` (architecture weights learned on a validation loss, step by
  step beside the shared weights; `shared_archs` hands the loop their per-step hook).
"""
from __future__ import annotations

import random
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch

from supernet import Decision, random_architecture

from ..policies.registry import PolicyUpdate, create_controller
from ..policies.reinforce import EMABaseline

__all__ = ["RandomStrategy", "ENASStrategy", "create_strategy", "STRATEGIES"]


class RandomStrategy:
    name = "random"

    def __init__(self, decisions: Sequence[Decision], seed: int = 0, constraint=None, predictor=None):
        self.decisions = tuple(decisions)
        self.rng = random.Random(seed)
        self.constraint, self.predictor = constraint, predictor

    def _within_budget(self, draw: Callable[[int], List[Dict]], n: int) -> List[Dict]:
        return self.constraint.sample(draw, n) if self.constraint is not None else draw(n)

    def uniform(self, n: int) -> List[Dict]:
        """``n`` uniformly random architectures (uniform over those within the budget)."""
        return self._within_budget(lambda k: [random_architecture(self.decisions, self.rng) for _ in range(k)], n)

    def propose(self, n: int) -> List[Dict]:
        return self.uniform(n)

    def shared_archs(self, n: int, epoch: int, trainer) -> List[Dict]:
        """One architecture per step of this epoch's shared-weights phase."""
        return self.uniform(n)

    def learns(self, epoch: int, trainer) -> bool:
        return False

    def learn(self, reward_fn: Callable[[Dict], float], steps: int, progress=None) -> Dict[str, float]:
        return {}

    def candidates(self, n: int) -> List[Dict]:
        return self.propose(n)

    def policy_probabilities(self) -> Optional[Dict[str, List[float]]]:
        """Per decision, the probability of each option under the strategy's learned policy (recorded
        each epoch for the run report); None for strategies without one."""
        return None

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])


class ENASStrategy(RandomStrategy):
    """The ENAS controller trained with REINFORCE; uniform proposals remain available for warm-up.

    ``kind`` (lstm | transformer) and ``algorithm`` (reinforce | actor_critic | ppo) choose the policy
    and its update (`enas.policy_gradient`)."""

    name = "enas"

    def __init__(self, decisions: Sequence[Decision], device: torch.device, seed: int = 0, lstm_size: int = 64,
                 lstm_layers: int = 1, temperature=None, tanh_constant=1.1, op_tanh_reduce=2.5, share_heads=False,
                 lr: float = 3.5e-3, beta1: float = 0.0, eps: float = 1e-3, baseline_decay: float = 0.99,
                 entropy_weight: float = 1e-4, num_aggregate: int = 10, train_steps: int = 30,
                 skip_target: float = 0.4, skip_weight: float = 0.0, grad_clip=None, op_prior=None,
                 screen_keep: int = 0, constraint=None, predictor=None, kind: str = "lstm",
                 transformer_layers: int = 2, transformer_heads: int = 4, algorithm: str = "reinforce",
                 value_lr: float = 0.005, ppo_clip: float = 0.2, ppo_epochs: int = 4,
                 ppo_minibatch: Optional[int] = None):
        super().__init__(decisions, seed, constraint, predictor)
        # controller.kind and controller.algorithm: enas.policy_gradient
        self.controller = create_controller(kind, decisions, lstm_size, lstm_layers, temperature, tanh_constant,
                                            op_tanh_reduce, skip_target, share_heads, op_prior, transformer_layers,
                                            transformer_heads).to(device)
        # Official ENAS: Adam with beta1 = 0 and eps = 1e-3.
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr, betas=(beta1, 0.999), eps=eps)
        self.baseline = EMABaseline(baseline_decay)
        self.update = PolicyUpdate(algorithm, self.controller, self.optimizer, self.baseline,
                                   value_lr, beta1, eps, ppo_clip, ppo_epochs, ppo_minibatch)
        self.entropy_weight, self.num_aggregate, self.train_steps = entropy_weight, num_aggregate, train_steps
        self.skip_weight, self.grad_clip = skip_weight, grad_clip
        if not 0 <= screen_keep <= num_aggregate:
            raise ValueError(f"controller.screen_keep must be in 0..num_aggregate={num_aggregate}, got {screen_keep}")
        self.screen_keep = screen_keep
        self._evaluated = 0

    @torch.no_grad()
    def propose(self, n: int) -> List[Dict]:
        # The policy is fixed during the shared-weights phase, so one batched pass samples them all.
        self.controller.eval()
        draw = lambda k: [a for s in range(0, k, 256) for a in self.controller.sample_many(min(256, k - s)).archs]  # noqa: E731
        return self._within_budget(draw, n)

    def shared_archs(self, n: int, epoch: int, trainer) -> List[Dict]:
        # Uniform samples train every path equally; the policy's samples train its favourites more,
        # which then score better and get sampled more ("rich get richer").
        uniform = epoch < trainer.warmup_epochs or trainer.shared_sampling == "uniform"
        return self.uniform(n) if uniform else self.propose(n)

    def learns(self, epoch: int, trainer) -> bool:
        return epoch >= trainer.warmup_epochs

    def _screened(self, archs: List[Dict], reward_fn: Callable[[Dict], float]) -> List[float]:
        """Rewards of one update's samples: evaluate the ``screen_keep`` the predictor rates best,
        use its estimate for the others (all are evaluated until the predictor is ready)."""
        if self.screen_keep and self.predictor is not None and not self.predictor.ready \
                and len(self.predictor) >= self.predictor.min_points:
            self.predictor.refit()  # enough points: screen from now on, not from the next epoch
        if not self.screen_keep or self.predictor is None or not self.predictor.ready:
            self._evaluated += len(archs)
            return [reward_fn(a) for a in archs]
        predicted, _ = self.predictor.predict(archs)
        keep = set(sorted(range(len(archs)), key=lambda i: -predicted[i])[:self.screen_keep])
        self._evaluated += len(keep)
        return [reward_fn(a) if i in keep else predicted[i] for i, a in enumerate(archs)]

    def learn(self, reward_fn: Callable[[Dict], float], steps: int = None, progress=None) -> Dict[str, float]:
        totals: Dict[str, float] = {}
        steps = self.train_steps if steps is None else steps
        self._evaluated = 0
        for _ in range(steps):
            stats = self.update.step(reward_fn, self.num_aggregate, self.entropy_weight, self.skip_weight,
                                     self.grad_clip, self.constraint, self._screened if self.screen_keep else None)
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v / steps
            if progress is not None:
                progress(stats)
        totals["rewards_evaluated"] = float(self._evaluated)
        return totals

    def policy_probabilities(self) -> Dict[str, List[float]]:
        return self.controller.decision_probabilities()

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "controller": self.controller.state_dict(),
                "optimizer": self.optimizer.state_dict(), "baseline": self.baseline.state_dict(),
                **self.update.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline.load_state_dict(state["baseline"])
        self.update.load_state_dict(state)


def _strategies() -> Dict[str, type]:
    from .differentiable import DARTSStrategy, GDASStrategy
    from .evolution import EvolutionStrategy
    from .predictor import PredictorStrategy

    return {"enas": ENASStrategy, "random": RandomStrategy, "predictor": PredictorStrategy,
            "evolution": EvolutionStrategy, "darts": DARTSStrategy, "gdas": GDASStrategy}


STRATEGIES = ("enas", "random", "predictor", "evolution", "darts", "gdas")


def create_strategy(name: str, decisions: Sequence[Decision], device: torch.device, seed: int, constraint=None,
                    predictor=None, predictor_options: Optional[Mapping] = None,
                    evolution_options: Optional[Mapping] = None, differentiable_options: Optional[Mapping] = None,
                    **controller_kwargs):
    """The strategy ``name``; ``controller_kwargs`` configure the ENAS controller, ``predictor_options``
    the predictor-guided search, ``evolution_options`` (fields of `enas.config.EvolutionConfig`) evolution,
    ``differentiable_options`` (fields of `enas.config.DifferentiableConfig`) darts and gdas."""
    classes = _strategies()
    if name not in classes:
        raise KeyError(f"unknown strategy {name!r}; available: {', '.join(sorted(classes))}")
    if name == "random":
        return RandomStrategy(decisions, seed, constraint, predictor)
    if name == "evolution":  # a default phase evaluates as many children as ENAS's controller phase rewards
        return classes[name](decisions, seed, constraint, predictor, **dict(evolution_options or {}),
                             num_aggregate=controller_kwargs.get("num_aggregate", 10))
    if name in ("darts", "gdas"):
        return classes[name](decisions, device, seed, constraint, predictor, **dict(differentiable_options or {}))
    if name == "predictor":
        if predictor is None:
            raise ValueError("strategy=predictor needs a performance predictor (predictor.enabled=true)")
        return classes[name](decisions, seed, constraint, predictor, **dict(predictor_options or {}))
    return ENASStrategy(decisions, device, seed, constraint=constraint, predictor=predictor, **controller_kwargs)
