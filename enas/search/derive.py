"""Derive: pick the final architecture among the strategy's candidates, and write it out.

ENAS (Pham et al. 2018, section 2.2, "Deriving Architectures"): sample several architectures from
the trained policy, score each on a validation minibatch with the shared weights, keep the best.
We score every candidate on the *same* validation batches (several, not one), break accuracy ties
by validation loss, and re-score the ``top_k`` on the whole validation split: the shared-weight
ranking is noisy, and a tie on a single batch is common (DESIGN.md).

The final pick (``select``) may use more than the shared weights; each signal is computed for every
candidate and written to ``derive_candidates.csv``, so what each signal alone would have picked stays
visible (``benchmarks/nb201_pick.py`` replays them):

* ``shared``: the best finalist by whole-validation shared-weight score (the rule above);
* a zero-cost proxy (``zico``, ``naswot``, ..., ``az_nas``) or ``predictor`` (the learned predictor's
  estimate): the candidate that signal rates best;
* ``combined``: the best by the log-rank sum of ``signals`` (AZ-NAS's aggregation, `enas.predictors.ranking`);
* ``short_train``: successive halving over the ``short_train.finalists`` best by ``rank_by``, trained
  from scratch (`enas.short_train`).

A budget (`enas.constraints.Constraint`) drops candidates that do not fit; with ``screen_samples``,
the predictor keeps the ``num_samples`` most promising of that many before any is scored.

A training-free search (``trainer.epochs=0``: no shared training) derives with ``shared_weights=False``:
no candidate is scored on the untrained shared weights (their score would be noise that costs validation
passes), so the pick must be training-free.
"""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from torch import nn

from supernet import Decision, activate, decisions as space_decisions, save_architecture

from ..predictors.ranking import AZ_NAS, log_rank_sum
from ..predictors.zero_cost import PROXIES

__all__ = ["derive", "describe_architecture", "write_architecture", "SELECT_RULES", "signal_names"]

SELECT_RULES = ("shared", "predictor", "combined", "short_train")
NEEDS_TRAINING = ("shared", "predictor")  # signals that come from what the search trained or measured


def signal_names() -> List[str]:
    """Every signal derive can compute per candidate."""
    return ["shared", "predictor", "az_nas", *PROXIES]


def _key(arch: Dict) -> str:
    return json.dumps(arch, sort_keys=True)


def training_free_pick(select: str, signals: Sequence[str], rank_by: str) -> bool:
    """Whether ``select`` picks without the shared weights or the predictor (what a search with no
    shared training can use)."""
    used = {"combined": list(signals), "short_train": [rank_by]}.get(select, [select])
    return not set(used) & set(NEEDS_TRAINING)


def _check_select(select: str, signals: Sequence[str], rank_by: str) -> None:
    known = signal_names()
    if select not in (*SELECT_RULES, *known):
        raise ValueError(f"unknown derive.select {select!r}; use one of {', '.join(SELECT_RULES)} or a signal: "
                         f"{', '.join(known)}")
    for name in (*signals, rank_by):
        if name not in (*known, "combined"):
            raise ValueError(f"unknown derive signal {name!r}; available: {', '.join(known)}")


def _candidate_pool(strategy, num_samples: int, greedy: bool, constraint, predictor, screen_samples: int,
                    uniform_samples: int) -> Tuple[List[Dict], Dict[str, str]]:
    """The distinct candidates, and where each came from (greedy, strategy, uniform)."""
    sources: Dict[str, str] = {}
    pool: List[Dict] = []

    def add(archs, source):
        for a in archs:
            sources.setdefault(_key(a), source)
        pool.extend(archs)

    if greedy and hasattr(strategy, "controller"):
        add(strategy.controller.sample_many(1, greedy=True).archs, "greedy")
    add(strategy.candidates(max(num_samples, screen_samples)), "strategy")
    unique = list({_key(a): a for a in pool}.values())
    if constraint is not None:
        unique = constraint.filter(unique)
    if screen_samples > num_samples and predictor is not None and predictor.ready and len(unique) > num_samples:
        predicted, _ = predictor.predict(unique)
        unique = [unique[i] for i in sorted(range(len(unique)), key=lambda i: -predicted[i])[:num_samples]]
    if uniform_samples:  # exploration beyond what the strategy proposes, within the budget
        seen = {_key(a) for a in unique}
        fresh = [a for a in strategy.uniform(uniform_samples) if _key(a) not in seen]
        add(fresh, "uniform")
        unique += list({_key(a): a for a in fresh}.values())
    if not unique:
        raise RuntimeError("derive has no candidate: every sampled architecture was outside the budget")
    return unique, sources


def _add_signals(rows: List[Dict], needed: Sequence[str], zero_cost, predictor, progress=None) -> None:
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


def derive(model: nn.Module, strategy, task, num_samples: int = 100, num_batches: int = 10, top_k: int = 5,
           greedy: bool = True, progress=None, select: str = "shared", signals: Sequence[str] = ("shared",),
           rank_by: str = "shared", record: Sequence[str] = (), screen_samples: int = 0, uniform_samples: int = 0,
           constraint=None, predictor=None, zero_cost=None, short_train=None, shared_weights: bool = True) -> Dict:
    """Returns ``{"architecture", "score", "candidates"}``; candidates are ranked best first by shared
    weights, each with its signals, and ``selected`` marks the pick.

    ``task.score`` gives each candidate a ``score`` (higher is better: accuracy, exp(-loss), or
    80 / perplexity for language models) and a ``loss`` that breaks ties. ``record`` names signals
    computed and written for every candidate without taking part in the pick (ablations);
    ``uniform_samples`` adds that many uniformly random candidates to the strategy's (column ``source``).
    ``short_train(archs)`` returns the architecture that successive halving keeps (select=short_train).
    ``shared_weights=False`` (nothing was trained): no candidate is scored on the shared weights, their
    ``score`` is NaN, and ``select``, ``signals`` and ``record`` must not need them.
    """
    _check_select(select, [*signals, *record], rank_by)
    if not shared_weights:
        untrained = [n for n in dict.fromkeys(record) if n in NEEDS_TRAINING]
        if not training_free_pick(select, signals, rank_by) or untrained:
            raise ValueError(f"a search without shared training cannot derive by {select!r} or record "
                             f"{untrained}: use a zero-cost proxy or az_nas (derive.select; derive.signals for "
                             "combined, derive.rank_by for short_train; derive.record)")
    unique, sources = _candidate_pool(strategy, num_samples, greedy, constraint, predictor, screen_samples,
                                      uniform_samples)
    scored = [{"architecture": arch, "score": math.nan, "loss": math.nan, "source": sources[_key(arch)]}
              for arch in unique]
    if shared_weights:
        _score_shared(model, task, scored, num_batches, top_k, progress, predictor)
    needed = list(dict.fromkeys([*signals, rank_by, select, *record]))
    needed = [n for n in needed if n not in ("combined", "short_train", *(() if shared_weights else NEEDS_TRAINING))]
    _add_signals(scored, needed, zero_cost, predictor, progress)
    if not shared_weights and select in scored[0]:  # rank the written candidates by what picks among them
        scored.sort(key=lambda r: -_finite(r[select]))
    if "combined" in (select, rank_by, *record):  # recorded too, so an ablation sees it beside another pick
        for row, value in zip(scored, log_rank_sum(scored, signals)):
            row["combined"] = value
    if constraint is not None and constraint.active:
        for row in scored:
            row.update(constraint.measure(row["architecture"]))
    best = _select(scored, select, top_k, rank_by, short_train)
    best["selected"] = 1
    return {"architecture": best["architecture"], "score": {k: v for k, v in best.items() if k != "architecture"},
            "candidates": scored}


def _score_shared(model: nn.Module, task, scored: List[Dict], num_batches: int, top_k: int, progress,
                  predictor) -> None:
    """Score every candidate on the same ``num_batches`` validation batches with the shared weights, sort
    best first, and re-score the ``top_k`` on the whole validation split (the ``full_`` columns)."""
    batches = task.fixed_batches(num_batches)
    for row in (progress(scored) if progress else scored):
        activate(model, row["architecture"])
        row.update(task.score(model, batches))
        if predictor is not None:
            predictor.observe(row["architecture"], row["score"])
    scored.sort(key=lambda r: (-r["score"], r["loss"]))
    for row in scored[:top_k]:
        activate(model, row["architecture"])
        row.update({f"full_{k}": v for k, v in task.evaluate(model, task.valid).items()})


def _select(scored: List[Dict], select: str, top_k: int, rank_by: str, short_train) -> Dict:
    if select == "shared":
        finalists = scored[:max(top_k, 1)]
        return max(finalists, key=lambda r: (r.get("full_score", r["score"]), -r.get("full_loss", r["loss"])))
    if select == "short_train":
        if short_train is None:
            raise ValueError("derive.select=short_train needs a short-training evaluator")
        ranked = sorted(scored, key=lambda r: -_finite(r[rank_by]))
        winner = short_train([r["architecture"] for r in ranked])
        by_key = {_key(r["architecture"]): r for r in scored}
        for trained in getattr(short_train, "history", []):  # each finalist's last score, for the ablation
            by_key[_key(trained["architecture"])].update(short_train=trained["score"],
                                                         short_train_epochs=trained["epochs"])
        return by_key[_key(winner)]
    return max(scored, key=lambda r: (_finite(r[select]), _finite(r["score"])))


def _finite(value: float) -> float:
    return value if value is not None and math.isfinite(value) else -math.inf


def describe_architecture(decs: Sequence[Decision], arch: Dict) -> str:
    """A readable summary: per node ``op(input) + op(input)`` where a node pairs inputs with ops."""
    lines, nodes = [], {}
    for d in decs:
        nodes.setdefault(d.node, []).append(d)
    for node, node_decs in nodes.items():
        by_name = {d.label.rsplit("/", 1)[-1]: d for d in node_decs}
        inputs = {m.group(1): name for name in by_name if (m := re.fullmatch(r"input(\d*)", name))}
        ops = {m.group(1): name for name in by_name if (m := re.fullmatch(r"op(\d*)", name))}
        if inputs and set(inputs) == set(ops):
            terms = []
            for slot in sorted(inputs):
                d_in = by_name[inputs[slot]]
                picked = ", ".join(d_in.options[i].rsplit("/", 1)[-1] for i in arch[d_in.label])
                terms.append(f"{arch[by_name[ops[slot]].label]}({picked})")
            lines.append(f"{node} = {' + '.join(terms)}")
        else:
            for d in node_decs:
                value = arch[d.label]
                if d.kind == "input":
                    value = "[" + ", ".join(d.options[i].rsplit("/", 1)[-1] for i in value) + "]"
                lines.append(f"{d.label} = {value}")
    return "\n".join(lines)


def write_architecture(out_dir: Path, model: nn.Module, result: Dict, space: Dict, extra: Optional[Dict] = None) -> Path:
    """``architecture.json`` (what ``enas-train`` reads), ``architecture.txt`` and ``derive_candidates.csv``."""
    out_dir = Path(out_dir)
    arch = result["architecture"]
    meta = {"space": space, "derive_score": result["score"], **(extra or {})}
    path = save_architecture(out_dir / "architecture.json", arch, **meta)
    summary = describe_architecture(space_decisions(model), arch)
    if hasattr(model, "describe"):
        summary = model.describe(arch) + "\n\n" + summary
    (out_dir / "architecture.txt").write_text(summary + "\n")
    with open(out_dir / "derive_candidates.csv", "w", newline="") as f:
        metrics = list(dict.fromkeys(k for row in result["candidates"] for k in row if k != "architecture"))
        writer = csv.DictWriter(f, fieldnames=["rank", *metrics, "architecture"])
        writer.writeheader()
        for rank, row in enumerate(result["candidates"]):
            writer.writerow({"rank": rank, **{k: row.get(k, "") for k in metrics},
                             "architecture": json.dumps(row["architecture"], sort_keys=True)})
    return path

