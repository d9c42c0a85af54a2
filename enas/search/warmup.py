"""Zero-cost warm-up: the strategy learns from zero-cost scores before any shared-weight reward (Abdelfattah
et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021, arXiv:2101.08134: warming up REINFORCE and
evolution with a proxy).

With ``zero_cost_warmup.steps`` > 0, before the first epoch of shared training the strategy's own learning
phase (`Strategy.learn`) runs that many steps with a zero-cost reward in place of the shared weights': the ENAS
policy takes that many updates, and evolution evolves its population through that many steps' children, so the
population the shared weights first re-score is the proxy's best. The policy starts where the good cells are,
so its samples (and, with ``trainer.shared_sampling=policy`` once ``trainer.warmup_epochs`` are over, the shared
weights' training) concentrate there. A multi-trial search (`enas.trials`) warms up the same way before its
first child trains.

An architecture's reward is its selector score as a rank against a reference pool of ``zero_cost_warmup.pool``
uniform architectures scored once: the mean over the selector's signals of log(rank / (n + 1)), AZ-NAS's rank
aggregation against a fixed pool, so that rewards of different updates compare. Scores are cached per
architecture.
"""
from __future__ import annotations

import bisect
import logging
import math
import time
from typing import Dict, Iterable, List, Mapping, Sequence

from supernet import architecture_key

from ..predictors.ranking import AZ_NAS
from ..predictors.zero_cost import PROXIES
from ..runs.console import Progress, progress
from .build import Search, build_zero_cost

__all__ = ["ZeroCostReward", "WARMING_STRATEGIES", "zero_cost_warmup", "warmup_problems"]

log = logging.getLogger("enas")

WARMING_STRATEGIES = ("enas", "evolution")  # the strategies with a learning phase that a reward alone drives


class ZeroCostReward:
    """``reward(arch)``: the mean over ``names`` of log(rank / (n + 1)) of ``arch``'s zero-cost score among
    the ``reference`` rows' (n of them); 0 beats the whole pool on every signal, NaN scores rank last."""

    def __init__(self, scorer, names: Sequence[str], reference: Sequence[Mapping[str, float]]):
        self.scorer, self.names = scorer, list(names)
        self.reference = {n: sorted(r[n] for r in reference if math.isfinite(r[n])) for n in self.names}
        self.size = len(reference)
        self.cache: Dict[str, float] = {}

    def __call__(self, arch: Mapping) -> float:
        key = architecture_key(arch)
        if key not in self.cache:
            scores = self.scorer.score(arch)
            self.cache[key] = sum(self._log_rank(n, scores[n]) for n in self.names) / len(self.names)
        return self.cache[key]

    def _log_rank(self, name: str, value: float) -> float:
        below = bisect.bisect_right(self.reference[name], value) if math.isfinite(value) else 0
        return math.log((below + 1) / (self.size + 1))


def selector_proxies(selector: str) -> List[str]:
    """The zero-cost proxies a selector needs: AZ-NAS's four parts, or the proxy itself."""
    return list(AZ_NAS) if selector == "az_nas" else [selector]


def selector_problems(key: str, selector: str, strategy: str, strategies: Sequence[str], what: str) -> Iterable[str]:
    """What is wrong with a zero-cost selector setting (``key`` names the node's switch) for ``strategy``."""
    node = key.split(".")[0]
    if selector not in ("az_nas", *PROXIES):
        yield f"{node}.selector={selector!r} must be az_nas or a zero-cost proxy: {', '.join(PROXIES)}"
    if strategy not in strategies:
        yield f"{key} ({what}) works with strategy={' or '.join(strategies)}, not strategy={strategy}"


def warmup_problems(cfg) -> Iterable[str]:
    """What a search config's ``zero_cost_warmup`` node asks that cannot be done (nothing when it is off)."""
    spec = cfg.zero_cost_warmup
    if not spec.steps:
        return
    yield from selector_problems("zero_cost_warmup.steps", spec.selector, cfg.strategy, WARMING_STRATEGIES,
                                 "a learning phase a reward drives")


def zero_cost_warmup(search: Search, settings, scorer=None) -> Dict[str, float]:
    """Score the reference pool, then run ``settings.steps`` steps of the strategy's learning phase on
    `ZeroCostReward`; returns the last step's statistics. ``scorer``: the selector's scorer (its cache shared
    with the caller), else one is built."""
    began = time.time()
    names = selector_proxies(settings.selector)
    scorer = scorer or build_zero_cost(search.cfg, search.task, search.network, search.device, names,
                                       search.proxy_batches)
    shown = search.cfg.trainer.progress
    reference = [scorer.score(a) for a in progress(search.strategy.uniform(settings.pool), shown, desc="zero-cost pool")]
    reward = ZeroCostReward(scorer, names, reference)
    bar = Progress(settings.steps, shown, desc="zero-cost warm-up")
    try:
        stats = search.strategy.learn(reward, settings.steps, bar)
    finally:
        bar.close()
    search.strategy.rewards_change()  # shared-weight rewards are on another scale
    log.info("zero-cost warm-up: %d steps on %s against %d reference architectures, %d scored, in %.1f minutes; %s",
             settings.steps, settings.selector, settings.pool, len(reward.cache), (time.time() - began) / 60,
             ", ".join(f"{k}={v:.4g}" for k, v in stats.items()))
    return stats
