"""The strategy protocol: what the one search loop asks of every strategy, with a default for each step.

A strategy says which architectures train the shared weights this epoch (`shared_archs`) and prepares
the supernet before each such step (`before_step`); whether it has a learning phase this epoch
(`learns`) and what it does in it (`learn`, given a reward function that evaluates an architecture with
the shared weights, and a progress bar to tick); which candidates derive scores (`candidates`, plus the
policy's most likely architecture, `greedy_candidates`); what its learned policy looks like
(`policy_probabilities`, for the report); and its state for checkpoints. The loop reads the same for all
of them. Every sampler respects the search's budget (`enas.search.constraints.Constraint`) by rejection,
so its distribution is kept, restricted to the budget.

The defaults are random search with weight sharing (RSPS, Li & Talwalkar 2019, arXiv:1902.07638): uniform
sampling throughout, no learning phase, derive's candidates uniform.

`prefer` restricts a strategy to a given set of architectures (preferred one-shot training, PreNAS, Wang et
al. 2023: a zero-cost selector keeps a few dozen cells, and the shared weights train and rank
those only): uniform draws come from the set, and derive's candidates are the whole set.
"""
from __future__ import annotations

import random
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from torch import nn

from supernet import Decision, activate, random_architecture

from ..config.schema import TrainerConfig

__all__ = ["Strategy", "Reward", "rewards_of"]

Reward = Callable[[Dict], float]  # an architecture's score (the shared weights', or a trained child's), higher is better


def rewards_of(reward: Reward, archs: Sequence[Mapping]) -> List[float]:
    """The rewards of several architectures at once: ``reward.many(archs)`` where the reward evaluates a
    batch in parallel (multi-trial search trains the children on several workers), else one by one."""
    many = getattr(reward, "many", None)
    return [float(r) for r in many(archs)] if many is not None else [float(reward(a)) for a in archs]


class Strategy:
    """Random search with weight sharing; subclasses override the steps they change.

    ``trainer`` (`enas.config.TrainerConfig` or a node with its fields) gives the phase schedule:
    ``warmup_epochs`` of uniform sampling without learning, ``shared_sampling``, ``epochs``."""

    name = "random"

    def __init__(self, decisions: Sequence[Decision], seed: int = 0, constraint=None, predictor=None,
                 trainer=None):
        self.decisions = tuple(decisions)
        self.rng = random.Random(seed)
        self.constraint, self.predictor = constraint, predictor
        self.trainer = trainer if trainer is not None else TrainerConfig()
        self.preferred: Optional[List[Dict]] = None

    @classmethod
    def from_config(cls, cfg, decisions: Sequence[Decision], device, constraint=None, predictor=None) -> "Strategy":
        """The strategy a search config describes (its own node, the seed and the trainer's schedule)."""
        return cls(decisions, cfg.seed, constraint, predictor, cfg.trainer)

    def _within_budget(self, draw: Callable[[int], List[Dict]], n: int) -> List[Dict]:
        return self.constraint.sample(draw, n) if self.constraint is not None else draw(n)

    def prefer(self, archs: Sequence[Mapping]) -> None:
        """Search only ``archs`` from now on (they are within the budget: the selector drew them so)."""
        if not archs:
            raise ValueError("prefer() needs at least one architecture")
        self.preferred = [dict(a) for a in archs]

    def uniform(self, n: int) -> List[Dict]:
        """``n`` uniformly random architectures (uniform over those within the budget, or over the
        preferred set)."""
        if self.preferred is not None:
            return [dict(self.rng.choice(self.preferred)) for _ in range(n)]
        return self._within_budget(lambda k: [random_architecture(self.decisions, self.rng) for _ in range(k)], n)

    def propose(self, n: int) -> List[Dict]:
        return self.uniform(n)

    # -- the loop's protocol ------------------------------------------------------------------------------
    def shared_archs(self, n: int, epoch: int) -> List[Optional[Dict]]:
        """One architecture per step of this epoch's shared-weights phase."""
        return self.uniform(n)

    def before_step(self, model: nn.Module, task, arch: Optional[Dict]) -> None:
        """Make the supernet run ``arch`` (one of `shared_archs`) for the next shared-weights step."""
        activate(model, arch)

    def learns(self, epoch: int) -> bool:
        """Whether this epoch has a learning phase (after the shared weights' warm-up)."""
        return False

    def learn(self, reward: Reward, steps: int, progress) -> Dict[str, float]:
        """The learning phase: ``steps`` updates from ``reward``; ``progress.tick(stats)`` after each."""
        return {}

    def rewards_change(self) -> None:
        """The reward's scale changes from here on (after a zero-cost warm-up): forget its level."""

    def candidates(self, n: int) -> List[Dict]:
        """Derive's candidates: ``n`` proposals, or every preferred architecture (a set small enough to score)."""
        return [dict(a) for a in self.preferred] if self.preferred is not None else self.propose(n)

    def greedy_candidates(self) -> List[Dict]:
        """The learned policy's most likely architecture, when the strategy has a policy to decode."""
        return []

    def policy_probabilities(self) -> Optional[Dict[str, List[float]]]:
        """Per decision, the probability of each option under the strategy's learned policy (recorded
        each epoch for the run report); None for strategies without one."""
        return None

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
