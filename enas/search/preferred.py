"""Preferred one-shot search: train the shared weights only where a zero-cost selector puts the good
architectures (PreNAS, Wang et al., ICML 2023).

One set of shared weights asked to rank a whole space ranks its best cells poorly: every architecture's
updates pull the same weights their own way. Here, before any shared training, ``preferred.pool``
architectures drawn uniformly (within the budget) are scored by ``preferred.selector`` (AZ-NAS, or any
zero-cost proxy) on an untrained network of the space, and the ``preferred.keep`` best become the search
space (`Strategy.prefer`): the shared weights train on them only (uniformly, or by the ENAS policy
restricted to them), and derive compares every one of them.

The scored pool is written to ``preferred.csv`` (each distinct architecture once, best first by the
selector, its signals, ``kept``); the set travels in the checkpoint, so a resumed run continues on it.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
import math
from typing import Dict, Iterable, List, Optional

from supernet import architecture_key

from ..predictors.ranking import AZ_NAS, log_rank_sum
from .build import Search, build_zero_cost
from .summary import write_candidates
from .warmup import selector_problems, selector_proxies

__all__ = ["PREFERRING_STRATEGIES", "select_preferred", "preferred_problems"]

log = logging.getLogger("enas")

# Strategies whose samples are architectures a set can restrict (the differentiable ones train a relaxed
# supernet; evolution's and the predictor's mutations would leave a set of a few dozen at once).
PREFERRING_STRATEGIES = ("random", "enas")


def preferred_problems(cfg) -> Iterable[str]:
    """What a search config's ``preferred`` node asks that cannot be done (nothing when it is off)."""
    spec = cfg.preferred
    if not spec.pool:
        return
    yield from selector_problems("preferred.pool", spec.selector, cfg.strategy, PREFERRING_STRATEGIES,
                                 "a preferred one-shot search")
    if cfg.trainer.epochs == 0:
        yield "preferred.pool needs shared training (trainer.epochs >= 1): the shared weights rank the preferred set"


def select_preferred(search: Search, settings, out: Optional[Path] = None, progress=None) -> List[Dict]:
    """Score ``settings.pool`` uniform architectures with ``settings.selector``, restrict the search's
    strategy to the ``settings.keep`` best, and return every scored row (best first, ``kept`` marked);
    with a run folder ``out``, write them to ``preferred.csv`` there."""
    began = time.time()
    strategy = search.strategy
    drawn = list({architecture_key(a): a for a in strategy.uniform(settings.pool)}.values())
    names = selector_proxies(settings.selector)
    scorer = build_zero_cost(search.cfg, search.task, search.network, search.device, names, search.proxy_batches)
    rows = []
    for arch in (progress(drawn) if progress else drawn):
        scores = scorer.score(arch)
        rows.append({"architecture": arch, **{n: scores[n] for n in names}})
    if settings.selector == "az_nas":
        for row, value in zip(rows, log_rank_sum(rows, AZ_NAS)):
            row["az_nas"] = value
    rows.sort(key=lambda r: -_finite(r[settings.selector]))  # stable: ties keep the draw's order
    for i, row in enumerate(rows):
        row["kept"] = int(i < settings.keep)
    strategy.prefer([r["architecture"] for r in rows[:settings.keep]])
    if out is not None:
        write_candidates(Path(out) / "preferred.csv", rows)
    log.info("preferred one-shot: %d distinct of %d drawn architectures scored by %s in %.1f minutes; the best %d "
             "are the search space", len(rows), settings.pool, settings.selector, (time.time() - began) / 60,
             min(settings.keep, len(rows)))
    return rows


def _finite(value: float) -> float:
    return value if math.isfinite(value) else -math.inf
