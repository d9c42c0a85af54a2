"""Predictor-guided search on the shared weights (``strategy=predictor``).

In the spirit of BANANAS (White et al., AAAI 2021, arXiv:1910.11858) and BRP-NAS (Dudziak et al.,
NeurIPS 2020, arXiv:2007.08668), run on one-shot weights instead of trained networks: the shared weights
train under uniform sampling (as RSPS and SPOS), and each step of the learning phase

1. proposes a pool of architectures: half uniformly random, half mutations (one decision changed to
   another of its values, `enas.strategies.evolution.mutate`) of the best architectures evaluated so far;
2. ranks the pool with the performance predictor by an upper confidence bound, mean + ``kappa`` x the
   ensemble's spread (exploration where the ensemble disagrees);
3. evaluates the ``evaluate`` best it has not evaluated yet with the shared weights (the reward), and
   the predictor learns from them (refitted at the end of the phase, as data arrive).

Until the predictor has enough points it evaluates random architectures. Derive's candidates are the
best architectures evaluated so far plus the best of a fresh pool by predicted score.
"""
from __future__ import annotations

import heapq
import json
from typing import Dict, List, Sequence

from supernet import Decision, architecture_key

from ..config.schema import PredictorConfig
from .base import Reward, Strategy, rewards_of
from .evolution import mutate

__all__ = ["PredictorStrategy"]


class PredictorStrategy(Strategy):
    """Pool, rank by upper confidence bound, evaluate the best: settings from a predictor config node
    (`enas.config.PredictorConfig`: ``pool``, ``evaluate``, ``kappa``, ``elite``)."""

    name = "predictor"

    def __init__(self, decisions: Sequence[Decision], seed: int = 0, predictor=None, settings=None, constraint=None,
                 trainer=None):
        super().__init__(decisions, seed, constraint, predictor, trainer)
        s = settings if settings is not None else PredictorConfig()
        self.pool, self.evaluate, self.kappa, self.elite = s.pool, s.evaluate, s.kappa, s.elite
        self.evaluated: Dict[str, float] = {}  # architecture key -> its latest reward
        self.warm_parents: List[Dict] = []  # earlier searches' best, mutated until this search has evaluated some

    @classmethod
    def from_config(cls, cfg, decisions, device, constraint=None, predictor=None) -> "PredictorStrategy":
        return cls(decisions, cfg.seed, predictor, cfg.predictor, constraint, cfg.trainer)

    def learns(self, epoch: int) -> bool:
        return epoch >= self.trainer.warmup_epochs

    def _best(self, n: int) -> List[Dict]:
        return [json.loads(k) for k, _ in heapq.nlargest(n, self.evaluated.items(), key=lambda kv: kv[1])]

    def _pool(self, n: int) -> List[Dict]:
        parents = self._best(self.elite) or self.warm_parents
        mutants = []
        if parents:  # one decision changed per child (mutation rate 0)
            draw = lambda k: [mutate(self.rng.choice(parents), self.decisions, self.rng, 0.0)  # noqa: E731
                              for _ in range(k)]
            mutants = self._within_budget(draw, n // 2)
        return self.uniform(n - len(mutants)) + mutants

    def learn(self, reward: Reward, steps: int, progress) -> Dict[str, float]:
        rewards: List[float] = []
        for _ in range(steps):
            fresh = (a for a in self._pool(self.pool) if architecture_key(a) not in self.evaluated)
            pool = list({architecture_key(a): a for a in fresh}.values())
            if self.predictor is not None and self.predictor.ready and pool:
                mean, spread = self.predictor.predict(pool)
                # the bound is on the raw reward; the soft latency constraint's factor (enas.search.latency)
                # turns it into one on the reward this phase learns from
                adjust = getattr(reward, "adjust", lambda arch, value: value)
                order = sorted(range(len(pool)), key=lambda i: -adjust(pool[i], mean[i] + self.kappa * spread[i]))
                chosen = [pool[i] for i in order[:self.evaluate]]
            else:
                chosen = pool[:self.evaluate]
            step = rewards_of(reward, chosen)
            self.evaluated.update({architecture_key(a): r for a, r in zip(chosen, step)})
            rewards += step
            if step:
                progress.tick({"reward": sum(step) / len(step), "best": max(self.evaluated.values())})
        if not rewards:
            return {"rewards_evaluated": 0.0}
        return {"reward": sum(rewards) / len(rewards), "reward_max": max(rewards),
                "rewards_evaluated": float(len(rewards))}

    def candidates(self, n: int) -> List[Dict]:
        """The best evaluated architectures, then the best of a fresh pool by predicted score."""
        best = self._best(min(n, max(n // 2, 1)))
        if self.predictor is None or not self.predictor.ready:
            return best + self.uniform(n - len(best))
        seen = {architecture_key(a) for a in best}
        unique = {architecture_key(a): a for a in self._pool(max(self.pool, 4 * n))}
        pool = [a for key, a in unique.items() if key not in seen]
        mean, _ = self.predictor.predict(pool)
        ranked = [pool[i] for i in sorted(range(len(pool)), key=lambda i: -mean[i])]
        return best + ranked[:n - len(best)]

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "evaluated": dict(self.evaluated), "warm_parents": list(self.warm_parents)}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
        self.evaluated = dict(state["evaluated"])
        self.warm_parents = [dict(a) for a in state.get("warm_parents", [])]
