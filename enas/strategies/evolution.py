"""Regularized evolution on the shared weights (``strategy=evolution``).

One-shot evolution as in SPOS (Guo et al. 2020, arXiv:1904.00420): the shared weights train under
uniform sampling, so every path is trained equally and the supernet is not biased toward what the
search currently likes; the fitness of an architecture is its shared-weight validation score, the
reward the search loop hands to `learn`. The evolution itself is `enas.evolution.RegularizedEvolution`
(Real et al. 2019), the same code that searches without weight sharing.

Deviations from SPOS, which trains the supernet to the end and then evolves once (population 50, 20
generations, mutation probability 0.1, half the children by crossover):

* evolution runs in every learning phase (after ``trainer.warmup_epochs``) and continues from where the
  previous phase left it, like ENAS's controller phases, so ``strategy=evolution`` and ``strategy=enas``
  compare at equal cost: by default a phase evaluates ``controller.train_steps x controller.num_aggregate``
  children, as many rewards as an ENAS controller phase (``evolution.cycles`` sets it);
* the shared weights move between phases, so fitness measured under older weights is stale: each phase
  first re-evaluates the surviving population (``evolution.rescore``, ``population`` more rewards).

Derive's candidates are the fittest architectures evaluated so far (each by its latest fitness), topped
up with uniform samples when fewer exist.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

from supernet import Decision

from .regularized_evolution import RegularizedEvolution
from .base import RandomStrategy

__all__ = ["EvolutionStrategy"]


class EvolutionStrategy(RandomStrategy):
    name = "evolution"

    def __init__(self, decisions: Sequence[Decision], seed: int = 0, constraint=None, predictor=None,
                 population: int = 50, sample: int = 10, cycles: Optional[int] = None, mutation_rate: float = 0.1,
                 crossover: float = 0.0, rescore: bool = True, num_aggregate: int = 10):
        super().__init__(decisions, seed, constraint, predictor)
        if cycles is not None and cycles < 1:
            raise ValueError(f"evolution.cycles must be >= 1 or null, got {cycles!r}")
        # Its own stream, drawn once from the strategy's: the initial population is not the same
        # architectures as the first epoch's uniform shared-weight samples.
        self.evolution = RegularizedEvolution(decisions, self.rng.getrandbits(64), population, sample, mutation_rate,
                                              crossover, constraint)
        self.cycles, self.num_aggregate, self.rescore = cycles, num_aggregate, rescore

    def learns(self, epoch: int, trainer) -> bool:
        return epoch >= trainer.warmup_epochs

    def learn(self, reward_fn: Callable[[Dict], float], steps: int, progress=None) -> Dict[str, float]:
        """One learning phase: re-score the population, then ``cycles`` children (``steps`` x
        ``num_aggregate`` by default; ``steps`` is the loop's ``controller.train_steps``)."""
        evo = self.evolution
        rescored = evo.rescore(reward_fn) if self.rescore else 0
        cycles = self.cycles if self.cycles is not None else steps * self.num_aggregate
        rewards: List[float] = []
        for i in range(cycles):
            arch = evo.ask()
            rewards.append(float(reward_fn(arch)))
            evo.tell(arch, rewards[-1])
            # the loop's progress bar counts `steps`: tick it in proportion to the children evaluated
            if progress is not None and (i + 1) * steps // cycles > i * steps // cycles:
                progress({"reward": rewards[-1], "baseline": max(f for _, f in evo.population),
                          "entropy": float("nan")})
        if not rewards:
            return {"rewards_evaluated": float(rescored)}
        fitness = [f for _, f in evo.population]
        return {"reward": sum(rewards) / len(rewards), "reward_max": max(rewards),
                "population_mean": sum(fitness) / len(fitness), "population_best": max(fitness),
                "rewards_evaluated": float(len(rewards) + rescored)}

    def candidates(self, n: int) -> List[Dict]:
        best = [arch for arch, _ in self.evolution.best(n)]
        return best + self.uniform(n - len(best))

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "evolution": self.evolution.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
        self.evolution.load_state_dict(state["evolution"])
