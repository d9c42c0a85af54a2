"""Config nodes of the ways to train a search beyond the one-shot default: preferred one-shot training,
few-shot supernets, the zero-cost warm-up, and multi-trial search (each child trained on its own)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

__all__ = ["PreferredConfig", "FewShotConfig", "ZeroCostWarmupConfig", "MultiTrialConfig", "ENGINES"]

ENGINES = ("auto", "ray", "local")


@dataclass
class PreferredConfig:
    """Preferred one-shot search (`enas.search.preferred`): the shared weights train on, and derive compares,
    only the ``keep`` best of ``pool`` uniform architectures by a zero-cost ``selector``."""
    pool: int = 0                 # architectures the selector scores before training; 0: off (the whole space)
    keep: int = 32                # the best kept: the search space from then on
    selector: str = "az_nas"      # az_nas or a zero-cost proxy (enas.predictors.zero_cost.PROXIES)


@dataclass
class FewShotConfig:
    """Few-shot supernets (`supernet.few_shot`): one sub-supernet per combination of the options of the split
    decisions, each trained and scoring only the architectures that take its options."""
    split: List[str] = field(default_factory=list)  # decision labels to split on, e.g. [node1/edge0]
    split_first: int = 0          # or: the space's first k layer decisions; 0 and split=[]: one supernet
    after_epochs: int = 0         # one-shot epochs before the split; their weights seed every sub-supernet


@dataclass
class ZeroCostWarmupConfig:
    """Zero-cost warm-up (`enas.search.warmup`): the strategy's learning phase runs ``steps`` steps on zero-cost
    rewards before any shared training (in a multi-trial search: before the first child trains)."""
    steps: int = 0                # learning steps on zero-cost rewards (strategy=enas or evolution); 0: off
    pool: int = 200               # uniform architectures scored once: the reference a reward is a rank against
    selector: str = "az_nas"      # az_nas or a zero-cost proxy


@dataclass
class MultiTrialConfig:
    """Multi-trial search (``mode=multi_trial``, `enas.trials`): the strategy proposes children, each is trained
    standalone at the space's size for a proxy budget on the search-train split, and its validation score is
    the reward or fitness. Evolution and random search run asynchronously, the policy strategies in
    synchronous batches of ``controller.num_aggregate`` children."""
    trials: int = 32              # children trained (an architecture trained before is looked up, not retrained)
    max_minutes: float = 0.0      # or: no new child after this many minutes of search (running ones finish); 0: none
    epochs: int = 4               # the proxy budget: epochs a child trains at most, under one cosine schedule
    rung_epochs: int = 0          # early stopping (ASHA): first rung; a child continues past a rung only in the top
    eta: int = 3                  # 1/eta of those that reached it; rungs at rung_epochs * eta^k. 0: off
    time_limit: float = 0.0       # seconds a child may train (checked after each epoch); 0: no limit
    inherit: bool = False         # evolution: a mutated child starts from its parent's trained weights where
                                  # the mutation left it unchanged (Real et al. 2017)
    engine: str = "auto"          # auto (Ray when installed) | ray | local (one trial after another, in-process)
    workers: int = 0              # trials at once; 0: one per GPU, else one per CPU core
    threads: int = 0              # torch threads per worker; 0: the cores divided among the workers
    address: Optional[str] = None # a running Ray cluster (e.g. 10.0.0.1:6379); null: a local one on this machine
    retries: int = 1              # a trial whose worker died runs again on another worker this many times
    # The pick among the children trained the whole budget: score (the best validation score), score_az_nas
    # (the log-rank sum of the validation score and AZ-NAS's zero-cost rank among them: two partly independent
    # opinions, for children whose short training ranks them noisily) or score_params (the same with the
    # child's parameter count: short training favours small cells that learn fast over those that end best)
    select: str = "score"
