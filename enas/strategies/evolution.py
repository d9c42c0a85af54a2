"""Regularized evolution on any fitness function: population, tournament, aging, mutation, crossover.

Real, Aggarwal, Huang & Le, "Regularized Evolution for Image Classifier Architecture Search", AAAI 2019
(arXiv:1802.01548), Algorithm 1: initialise a population of ``population`` random architectures; then
each cycle draws ``sample`` members uniformly (a tournament), makes a child of the fittest by mutation,
evaluates it, adds it to the population and removes the *oldest* member (aging, the "regularized"
part: a lucky evaluation cannot keep an architecture alive forever). Fitness is maximised.

It works from a space's decision list alone (`supernet.Decision`), so it searches any space; it is used

* without weight sharing, on any function: ``RegularizedEvolution(decisions, seed=0).search(fitness, 500)``
  or the ask/tell pair (``arch = evo.ask(); evo.tell(arch, fitness(arch))``), as in
  ``benchmarks/nb201_tabular.py`` with NAS-Bench-201's table as the fitness;
* on the shared weights, as ``strategy=evolution`` (`EvolutionStrategy`, below).

Deviations from Real et al., each a setting:

* mutation: every decision is resampled (to a different value) with probability ``mutation_rate``, and at
  least one is (Real et al. make exactly one op or input mutation per child; NAS-Bench-201's REA changes one
  edge's op; SPOS, Guo et al. 2020, arXiv:1904.00420, resamples each choice with probability 0.1);
* crossover: with probability ``crossover`` a child is the uniform crossover (each decision from either
  parent with probability 1/2) of the winners of two tournaments, as SPOS's evolution does; a crossover
  child equal to a parent is mutated, so every child is new to its parents;
* a budget (`enas.search.constraints.Constraint`) is kept by rejection: the offspring process's own
  distribution, restricted to the architectures that fit.

``strategy=evolution``: regularized evolution on the shared weights.

One-shot evolution as in SPOS (Guo et al. 2020, arXiv:1904.00420): the shared weights train under
uniform sampling, so every path is trained equally and the supernet is not biased toward what the
search currently likes; the fitness of an architecture is its shared-weight validation score, the
reward the search loop hands to `learn`. The evolution itself is `RegularizedEvolution` (above), the
same code that searches without weight sharing.

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

import heapq
import math
import random
from collections import deque
from typing import Callable, Deque, Dict, List, Mapping, Optional, Sequence, Tuple

from supernet import Decision, architecture_key, random_architecture

from ..config.schema import ControllerConfig, EvolutionConfig
from .base import Reward, Strategy

__all__ = ["RegularizedEvolution", "EvolutionStrategy", "mutate", "crossover", "mutable_decisions"]

Architecture = Dict[str, object]


def _value_count(d: Decision) -> int:
    if d.kind == "layer":
        return d.size
    return 2 ** d.size if d.n_chosen is None else math.comb(d.size, d.n_chosen)


def mutable_decisions(decisions: Sequence[Decision]) -> List[Decision]:
    """The decisions that have more than one value (an input choice of its only input has none to change)."""
    return [d for d in decisions if _value_count(d) > 1]


def _other_value(d: Decision, current, rng: random.Random):
    """A value of ``d`` other than ``current``, uniformly among the others."""
    if d.kind == "layer":
        return rng.choice([o for o in d.options if o != current])
    current = sorted(current)
    while True:  # rejection: at least half of the draws differ whenever d has two or more values
        value = random_architecture([d], rng)[d.label]
        if value != current:
            return value


def mutate(arch: Mapping, decisions: Sequence[Decision], rng: random.Random, rate: float) -> Architecture:
    """``arch`` with each decision resampled to another value with probability ``rate``, at least one."""
    mutable = mutable_decisions(decisions)
    if not mutable:
        raise ValueError("nothing to mutate: every decision of this space has a single value")
    changed = [d for d in mutable if rng.random() < rate]
    if not changed:
        changed = [rng.choice(mutable)]
    child = dict(arch)
    for d in changed:
        child[d.label] = _other_value(d, arch[d.label], rng)
    return child


def crossover(a: Mapping, b: Mapping, decisions: Sequence[Decision], rng: random.Random) -> Architecture:
    """Uniform crossover: each decision's value from ``a`` or ``b`` with probability 1/2."""
    return {d.label: (a if rng.random() < 0.5 else b)[d.label] for d in decisions}


class RegularizedEvolution:
    """Regularized evolution with an ask/tell interface (see the module docstring).

    ``population``: members kept (Real et al.: 100; NAS-Bench-201's REA: 10). ``sample``: tournament
    size (Real et al.: 25; NAS-Bench-201: 3). ``mutation_rate``: per-decision resample probability.
    ``crossover``: probability that a child is a crossover. ``constraint``: anything with
    ``sample(draw, n)`` (an `enas.search.constraints.Constraint`): every asked architecture fits it.
    """

    def __init__(self, decisions: Sequence[Decision], seed: int = 0, population: int = 10, sample: int = 3,
                 mutation_rate: float = 0.1, crossover: float = 0.0, constraint=None):
        for name, value in (("population", population), ("sample", sample)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"evolution.{name} must be an integer >= 1, got {value!r}")
        if sample > population:
            raise ValueError(f"evolution.sample={sample} must be at most evolution.population={population} "
                             "(a tournament draws from the population)")
        for name, value in (("mutation_rate", mutation_rate), ("crossover", crossover)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"evolution.{name} must be a probability in [0, 1], got {value!r}")
        self.decisions = tuple(decisions)
        if not mutable_decisions(self.decisions):
            raise ValueError("evolution needs a space with a decision of two or more values")
        self.population_size, self.sample_size = population, sample
        self.mutation_rate, self.crossover_prob = mutation_rate, crossover
        self.constraint = constraint
        self.rng = random.Random(seed)
        self.population: Deque[Tuple[Architecture, float]] = deque()  # oldest first: aging removes the left end
        self.history: List[Tuple[Architecture, float]] = []           # everything evaluated, in order
        self.seeds: List[Architecture] = []  # asked before random ones while the population fills (a warm start)

    # -- the algorithm ----------------------------------------------------------------------------------
    def _tournament(self) -> Architecture:
        contestants = self.rng.sample(range(len(self.population)), self.sample_size)
        return self.population[max(contestants, key=lambda i: self.population[i][1])][0]

    def _offspring(self) -> Tuple[Architecture, Architecture]:
        """(child, parent): the parent is the tournament winner the child came from (the first one of a crossover)."""
        parent = self._tournament()
        if self.crossover_prob and self.rng.random() < self.crossover_prob:
            other = self._tournament()
            child = crossover(parent, other, self.decisions, self.rng)
            if child != parent and child != other:
                return child, parent
            return mutate(child, self.decisions, self.rng, self.mutation_rate), child  # no new architecture: mutate it
        return mutate(parent, self.decisions, self.rng, self.mutation_rate), parent

    def _within_budget(self, draw: Callable[[], Tuple[Architecture, Optional[Architecture]]]
                       ) -> Tuple[Architecture, Optional[Architecture]]:
        if self.constraint is None:
            return draw()
        parents: Dict[str, Optional[Architecture]] = {}

        def children(k: int) -> List[Architecture]:
            drawn = [draw() for _ in range(k)]
            parents.update((architecture_key(child), parent) for child, parent in drawn)
            return [child for child, _ in drawn]

        child = self.constraint.sample(children, 1)[0]
        return child, parents.get(architecture_key(child))

    def seed_population(self, archs: Sequence[Mapping]) -> None:
        """Fill the initial population with ``archs`` (within the budget) before random architectures:
        earlier searches' best, evaluated again here."""
        self.seeds = [dict(a) for a in archs][:self.population_size]

    def restart(self, archs: Sequence[Mapping]) -> None:
        """Forget the population and history (evaluated under another fitness, e.g. a zero-cost warm-up) and
        start again from ``archs`` as the initial population's seeds."""
        self.population.clear()
        self.history = []
        self.seed_population(archs)

    @property
    def initialising(self) -> bool:
        """Random architectures until the first ``population`` are evaluated (Real et al.'s initial population)."""
        return len(self.history) < self.population_size

    def ask(self) -> Architecture:
        """The next architecture to evaluate: random while the population fills, then a tournament's child."""
        return self.ask_child()[0]

    def ask_child(self) -> Tuple[Architecture, Optional[Architecture]]:
        """(the next architecture to evaluate, the population member it was made from; None while random)."""
        if self.initialising and self.seeds:
            return self.seeds.pop(0), None
        if self.initialising:
            return self._within_budget(lambda: (random_architecture(self.decisions, self.rng), None))
        return self._within_budget(self._offspring)

    def tell(self, arch: Mapping, fitness: float) -> None:
        """Record ``arch``'s fitness: it joins the population, whose oldest member dies beyond ``population``."""
        fitness = float(fitness)
        if math.isnan(fitness):
            raise ValueError(f"fitness of {dict(arch)} is NaN; evolution needs comparable numbers")
        member = (dict(arch), fitness)
        self.population.append(member)
        self.history.append(member)
        while len(self.population) > self.population_size:
            self.population.popleft()  # aging: the oldest, not the worst

    def search(self, fitness_fn: Callable[[Architecture], float], budget: int) -> Tuple[Architecture, float]:
        """Evaluate ``budget`` architectures more (ask, evaluate, tell); returns the fittest seen so far."""
        if budget < 0:
            raise ValueError(f"budget must be >= 0, got {budget}")
        for _ in range(budget):
            arch = self.ask()
            self.tell(arch, fitness_fn(arch))
        return self.best(1)[0]

    def rescore(self, fitness_fn: Callable[[Architecture], float]) -> int:
        """Re-evaluate every member in place (their ages unchanged), for a fitness that drifts, such as
        the shared weights while they train; returns the number of evaluations."""
        self.population = deque((arch, float(fitness_fn(arch))) for arch, _ in self.population)
        return len(self.population)

    # -- results ----------------------------------------------------------------------------------------
    def best(self, n: int) -> List[Tuple[Architecture, float]]:
        """The ``n`` fittest distinct architectures evaluated so far, each by its latest fitness (a
        rescored population member's current one)."""
        latest: Dict[str, Tuple[Architecture, float]] = {}
        for arch, fitness in (*self.history, *self.population):
            latest[architecture_key(arch)] = (arch, fitness)
        return heapq.nlargest(n, latest.values(), key=lambda m: m[1])

    # -- checkpoints: plain data only, so a checkpoint loads with torch.load(weights_only=True) -----------
    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "population": [[a, f] for a, f in self.population],
                "history": [[a, f] for a, f in self.history], "seeds": [dict(a) for a in self.seeds]}

    def load_state_dict(self, state: Mapping) -> None:
        self.rng.setstate(_tuples(state["rng"]))
        self.population = deque((dict(a), float(f)) for a, f in state["population"])
        self.history = [(dict(a), float(f)) for a, f in state["history"]]
        self.seeds = [dict(a) for a in state.get("seeds", [])]


def _tuples(value):
    """random.setstate wants tuples where a round trip may have produced lists."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


class EvolutionStrategy(Strategy):
    """Regularized evolution in every learning phase, from an evolution config node (`enas.config.EvolutionConfig`)."""

    name = "evolution"

    def __init__(self, decisions: Sequence[Decision], seed: int = 0, settings=None, constraint=None, predictor=None,
                 trainer=None, num_aggregate: int = ControllerConfig.num_aggregate):
        super().__init__(decisions, seed, constraint, predictor, trainer)
        s = settings if settings is not None else EvolutionConfig()
        # Its own stream, drawn once from the strategy's: the initial population is not the same
        # architectures as the first epoch's uniform shared-weight samples.
        self.evolution = RegularizedEvolution(decisions, self.rng.getrandbits(64), s.population, s.sample,
                                              s.mutation_rate, s.crossover, constraint)
        self.cycles, self.num_aggregate, self.rescore = s.cycles, num_aggregate, s.rescore

    @classmethod
    def from_config(cls, cfg, decisions, device, constraint=None, predictor=None) -> "EvolutionStrategy":
        # a default phase evaluates as many children as ENAS's controller phase rewards
        return cls(decisions, cfg.seed, cfg.evolution, constraint, predictor, cfg.trainer, cfg.controller.num_aggregate)

    def learns(self, epoch: int) -> bool:
        return epoch >= self.trainer.warmup_epochs

    def learn(self, reward: Reward, steps: int, progress) -> Dict[str, float]:
        """One learning phase: re-score the population, then ``cycles`` children (``steps`` x
        ``num_aggregate`` by default; ``steps`` is the loop's ``controller.train_steps``)."""
        evo = self.evolution
        rescored = evo.rescore(reward) if self.rescore else 0
        cycles = self.cycles if self.cycles is not None else steps * self.num_aggregate
        rewards: List[float] = []
        for i in range(cycles):
            arch = evo.ask()
            rewards.append(float(reward(arch)))
            evo.tell(arch, rewards[-1])
            # the loop's progress bar counts `steps`: tick it in proportion to the children evaluated
            if (i + 1) * steps // cycles > i * steps // cycles:
                progress.tick({"reward": rewards[-1], "best": max(f for _, f in evo.population)})
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
