"""The signals derive can rank candidates by, and which of them a run can compute.

Every signal is higher-is-better and computed per candidate: ``shared`` (the shared-weight score),
``predictor`` (the learned predictor's estimate), each zero-cost proxy of `enas.predictors.zero_cost`,
``az_nas`` (its four parts combined by the log-rank sum, `enas.predictors.ranking`) and ``combined``
(the log-rank sum of ``derive.signals``). ``derive.select`` picks by one of them, or by ``short_train``
(successive halving over the best by ``derive.rank_by``).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Sequence

from ..predictors.ranking import AZ_NAS, log_rank_sum
from ..predictors.zero_cost import PROXIES

__all__ = ["SELECT_RULES", "NEEDS_TRAINING", "signal_names", "training_free_pick", "check_select", "proxies_needed",
           "training_free_problems", "add_signals"]

SELECT_RULES = ("shared", "predictor", "combined", "short_train")
NEEDS_TRAINING = ("shared", "predictor")  # signals that come from what the search trained or measured


def signal_names() -> List[str]:
    """Every signal derive can compute per candidate."""
    return ["shared", "predictor", "az_nas", *PROXIES]


def _used(select: str, signals: Sequence[str], rank_by: str) -> List[str]:
    return {"combined": list(signals), "short_train": [rank_by]}.get(select, [select])


def training_free_pick(select: str, signals: Sequence[str], rank_by: str) -> bool:
    """Whether ``select`` picks without the shared weights or the predictor (what a search with no
    shared training can use)."""
    return not set(_used(select, signals, rank_by)) & set(NEEDS_TRAINING)


def check_select(select: str, signals: Sequence[str], rank_by: str) -> None:
    known = signal_names()
    if select not in (*SELECT_RULES, *known):
        raise ValueError(f"unknown derive.select {select!r}; use one of {', '.join(SELECT_RULES)} or a signal: "
                         f"{', '.join(known)}")
    for name in (*signals, rank_by):
        if name not in (*known, "combined"):
            raise ValueError(f"unknown derive signal {name!r}; available: {', '.join(known)}")


def proxies_needed(settings) -> List[str]:
    """The zero-cost proxies a derive config needs (its select rule, rank_by, combined signals and record)."""
    wanted = {settings.select, settings.rank_by, *settings.signals, *settings.record}
    names = [n for n in PROXIES if n in wanted]
    if "az_nas" in wanted:
        names += [n for n in AZ_NAS if n not in names]
    return names


def training_free_problems(settings) -> Iterable[str]:
    """What a training-free search (``trainer.epochs=0``) cannot do with these derive settings: its pick
    and its records must not need the shared weights or the predictor."""
    signals, record = list(settings.signals), list(settings.record)
    if not training_free_pick(settings.select, signals, settings.rank_by):
        yield (f"trainer.epochs=0 (a training-free search) needs a training-free derive.select, e.g. az_nas or a "
               f"zero-cost proxy; derive.select={settings.select} needs the shared weights or the predictor"
               + {"combined": f" (derive.signals={signals})",
                  "short_train": f" (derive.rank_by={settings.rank_by})"}.get(settings.select, ""))
    untrained = [n for n in dict.fromkeys(record) if n in NEEDS_TRAINING]
    if untrained:
        yield (f"trainer.epochs=0 (a training-free search) cannot record {', '.join(untrained)} "
               "(derive.record): nothing was trained")


def add_signals(rows: List[Dict], needed: Sequence[str], zero_cost, predictor, progress=None) -> None:
    """Fill ``row[name]`` for every signal in ``needed`` (higher is better for each)."""
    for row in rows:
        row["shared"] = row["score"]
    proxies = [n for n in needed if n in PROXIES] + (list(AZ_NAS) if "az_nas" in needed else [])
    if proxies:
        if zero_cost is None:
            raise ValueError(f"derive signals {proxies} need zero-cost proxies (not available for this run)")
        for row in (progress(rows) if progress else rows):
            scores = zero_cost.score(row["architecture"])
            row.update({n: scores[n] for n in dict.fromkeys(proxies)})
    if "az_nas" in needed:
        for row, value in zip(rows, log_rank_sum(rows, AZ_NAS)):
            row["az_nas"] = value
    if "predictor" in needed:
        if predictor is None:
            raise ValueError("derive signal 'predictor' needs the learned predictor (predictor.enabled=true)")
        predictor.refit(force=True)  # derive's own scores count too
        means = predictor.predict([r["architecture"] for r in rows])[0] if predictor.surrogate.fitted \
            else [float("nan")] * len(rows)
        for row, value in zip(rows, means):
            row["predictor"] = value
