"""Predictor-guided search on the shared weights (``strategy=predictor``).

In the spirit of BANANAS (White et al., AAAI 2021, arXiv:1910.11858) and BRP-NAS (Dudziak et al.,
NeurIPS 2020, arXiv:2007.08668), run on one-shot weights instead of trained networks: the shared weights
train under uniform sampling (as RSPS and SPOS), and each step of the learning phase

1. proposes a pool of architectures: half uniformly random, half mutations (one decision changed) of
   the best architectures evaluated so far;
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
from typing import Callable, Dict, List, Sequence

from supernet import Decision

from .base import RandomStrategy

__all__ = ["PredictorStrategy"]


def _key(arch: Dict) -> str:
    return json.dumps(arch, sort_keys=True)


class PredictorStrategy(RandomStrategy):
    name = "predictor"

    def __init__(self, decisions: Sequence[Decision], seed: int = 0, constraint=None, predictor=None,
                 pool: int = 100, evaluate: int = 5, kappa: float = 0.5, elite: int = 10):
        super().__init__(decisions, seed, constraint, predictor)
        if pool < 1 or evaluate < 1 or elite < 1:
            raise ValueError("predictor strategy: pool, evaluate and elite must be >= 1")
        self.pool, self.evaluate, self.kappa, self.elite = pool, evaluate, kappa, elite
        self.evaluated: Dict[str, float] = {}  # architecture key -> its latest reward

    def learns(self, epoch: int, trainer) -> bool:
        return epoch >= trainer.warmup_epochs

    def _best(self, n: int) -> List[Dict]:
        return [json.loads(k) for k, _ in heapq.nlargest(n, self.evaluated.items(), key=lambda kv: kv[1])]

    def _mutate(self, arch: Dict) -> Dict:
        """``arch`` with one decision changed to another of its values."""
        child = dict(arch)
        d = self.rng.choice(self.decisions)
        if d.kind == "layer":
            child[d.label] = self.rng.choice([o for o in d.options if o != arch[d.label]] or list(d.options))
        elif d.n_chosen is None:
            flip = self.rng.randrange(d.size)
            chosen = set(arch[d.label]) ^ {flip}
            child[d.label] = sorted(chosen)
        else:
            chosen = list(arch[d.label])
            out = self.rng.randrange(len(chosen))
            free = [i for i in range(d.size) if i not in chosen]
            if free:
                chosen[out] = self.rng.choice(free)
            child[d.label] = sorted(chosen)
        return child

    def _pool(self, n: int) -> List[Dict]:
        parents = self._best(self.elite)
        mutants = []
        if parents:
            draw = lambda k: [self._mutate(self.rng.choice(parents)) for _ in range(k)]  # noqa: E731
            mutants = self._within_budget(draw, n // 2)
        return self.uniform(n - len(mutants)) + mutants

    def learn(self, reward_fn: Callable[[Dict], float], steps: int, progress=None) -> Dict[str, float]:
        rewards: List[float] = []
        for _ in range(steps):
            pool = list({_key(a): a for a in self._pool(self.pool) if _key(a) not in self.evaluated}.values())
            if self.predictor is not None and self.predictor.ready and pool:
                mean, spread = self.predictor.predict(pool)
                order = sorted(range(len(pool)), key=lambda i: -(mean[i] + self.kappa * spread[i]))
                chosen = [pool[i] for i in order[:self.evaluate]]
            else:
                chosen = pool[:self.evaluate]
            step = [float(reward_fn(a)) for a in chosen]
            self.evaluated.update({_key(a): r for a, r in zip(chosen, step)})
            rewards += step
            if progress is not None and step:
                progress({"reward": sum(step) / len(step), "baseline": max(self.evaluated.values()),
                          "entropy": float("nan")})
        if not rewards:
            return {"rewards_evaluated": 0.0}
        return {"reward": sum(rewards) / len(rewards), "reward_max": max(rewards),
                "rewards_evaluated": float(len(rewards))}

    def candidates(self, n: int) -> List[Dict]:
        """The best evaluated architectures, then the best of a fresh pool by predicted score."""
        best = self._best(min(n, max(n // 2, 1)))
        if self.predictor is None or not self.predictor.ready:
            return best + self.uniform(n - len(best))
        seen = {_key(a) for a in best}
        pool = [a for a in {_key(a): a for a in self._pool(max(self.pool, 4 * n))}.values() if _key(a) not in seen]
        mean, _ = self.predictor.predict(pool)
        ranked = [pool[i] for i in sorted(range(len(pool)), key=lambda i: -mean[i])]
        return best + ranked[:n - len(best)]

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "evaluated": dict(self.evaluated)}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
        self.evaluated = dict(state["evaluated"])
