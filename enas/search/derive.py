"""Derive: pick the final architecture among the strategy's candidates, and write it out.

ENAS (Pham et al. 2018, section 2.2, "Deriving Architectures"): sample several architectures from
the trained policy, score each on a validation minibatch with the shared weights, keep the best.
We score every candidate on the *same* validation batches (several, not one), break accuracy ties
by validation loss, and re-score the ``top_k`` on the whole validation split: the shared-weight
ranking is noisy, and a tie on a single batch is common.

The final pick (``select``) may use more than the shared weights; each signal is computed for every
candidate and written to ``derive_candidates.csv``, so what each signal alone would have picked stays
visible (``python -m benchmarks.analysis pick`` replays them):

* ``shared``: the best finalist by whole-validation shared-weight score (the rule above);
* a zero-cost proxy (``zico``, ``naswot``, ..., ``az_nas``) or ``predictor`` (the learned predictor's
  estimate): the candidate that signal rates best;
* ``combined``: the best by the log-rank sum of ``signals`` (AZ-NAS's aggregation, `enas.predictors.ranking`);
* ``short_train``: successive halving over the ``short_train.finalists`` best by ``rank_by``, trained
  from scratch (`enas.search.short_train`).

A budget (`enas.search.constraints.Constraint`) drops candidates that do not fit; with ``screen_samples``,
the predictor keeps the ``num_samples`` most promising of that many before any is scored.

A training-free search (``trainer.epochs=0``: no shared training) derives with ``shared_weights=False``:
no candidate is scored on the untrained shared weights (their score would be noise that costs validation
passes), so the pick must be training-free.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from omegaconf import OmegaConf
from torch import nn

from supernet import activate, architecture_key

from ..config import DeriveConfig, check_config
from ..predictors.ranking import log_rank_sum
from ..runs.console import announce, progress
from ..runs.folder import output_dir
from ..runs.archive import Archive
from .build import Search, build_short_train, data_name, derive_zero_cost
from .constraints import measure_child
from .latency import child_latency
from .signals import NEEDS_TRAINING, add_signals, check_select, training_free_pick
from .state import load_search
from .summary import write_architecture

__all__ = ["derive", "run_derive", "derive_checkpoint", "archive_candidates"]


def _candidate_pool(strategy, settings, constraint, predictor) -> Tuple[List[Dict], Dict[str, str]]:
    """The distinct candidates, and where each came from (greedy, strategy, uniform)."""
    num_samples, screen_samples, uniform_samples = settings.num_samples, settings.screen_samples, settings.uniform_samples
    sources: Dict[str, str] = {}
    pool: List[Dict] = []

    def add(archs, source):
        for a in archs:
            sources.setdefault(architecture_key(a), source)
        pool.extend(archs)

    if settings.greedy:
        add(strategy.greedy_candidates(), "greedy")
    add(strategy.candidates(max(num_samples, screen_samples)), "strategy")
    unique = list({architecture_key(a): a for a in pool}.values())
    if constraint is not None:
        unique = constraint.filter(unique)
    if screen_samples > num_samples and predictor is not None and predictor.ready and len(unique) > num_samples:
        predicted, _ = predictor.predict(unique)
        unique = [unique[i] for i in sorted(range(len(unique)), key=lambda i: -predicted[i])[:num_samples]]
    if uniform_samples:  # exploration beyond what the strategy proposes, within the budget
        seen = {architecture_key(a) for a in unique}
        fresh = [a for a in strategy.uniform(uniform_samples) if architecture_key(a) not in seen]
        add(fresh, "uniform")
        unique += list({architecture_key(a): a for a in fresh}.values())
    if not unique:
        raise RuntimeError("derive has no candidate: every sampled architecture was outside the budget")
    return unique, sources


def derive(model: nn.Module, strategy, task, settings=None, progress=None, constraint=None, predictor=None,
           zero_cost=None, short_train=None, shared_weights: bool = True, latency=None) -> Dict:
    """Returns ``{"architecture", "score", "candidates"}``; candidates are ranked best first by shared
    weights, each with its signals, and ``selected`` marks the pick. ``settings`` is a derive config node
    (`enas.config.DeriveConfig`, whose fields are the settings named below).

    ``task.score`` gives each candidate a ``score`` (higher is better: accuracy, exp(-loss), or
    80 / perplexity for language models) and a ``loss`` that breaks ties. ``record`` names signals
    computed and written for every candidate without taking part in the pick (ablations);
    ``uniform_samples`` adds that many uniformly random candidates to the strategy's (column ``source``).
    ``short_train(archs)`` returns the architecture that successive halving keeps (select=short_train).
    ``shared_weights=False`` (nothing was trained): no candidate is scored on the shared weights, their
    ``score`` is NaN, and ``select``, ``signals`` and ``record`` must not need them. With a ``latency``
    table (`enas.search.latency.LatencyTable`), every candidate gets its predicted ``latency_ms``.
    """
    s = settings if settings is not None else DeriveConfig()
    select, signals, rank_by, record = s.select, list(s.signals), s.rank_by, list(s.record)
    check_select(select, [*signals, *record], rank_by)
    if not shared_weights:
        untrained = [n for n in dict.fromkeys(record) if n in NEEDS_TRAINING]
        if not training_free_pick(select, signals, rank_by) or untrained:
            raise ValueError(f"a search without shared training cannot derive by {select!r} or record "
                             f"{untrained}: use a zero-cost proxy or az_nas (derive.select; derive.signals for "
                             "combined, derive.rank_by for short_train; derive.record)")
    unique, sources = _candidate_pool(strategy, s, constraint, predictor)
    scored = [{"architecture": arch, "score": math.nan, "loss": math.nan, "source": sources[architecture_key(arch)]}
              for arch in unique]
    if shared_weights:
        _score_shared(model, task, scored, s.num_batches, s.top_k, progress, predictor)
    needed = list(dict.fromkeys([*signals, rank_by, select, *record]))
    needed = [n for n in needed if n not in ("combined", "short_train", *(() if shared_weights else NEEDS_TRAINING))]
    add_signals(scored, needed, zero_cost, predictor, progress)
    if not shared_weights and select in scored[0]:  # rank the written candidates by what picks among them
        scored.sort(key=lambda r: -_finite(r[select]))
    if "combined" in (select, rank_by, *record):  # recorded too, so an ablation sees it beside another pick
        for row, value in zip(scored, log_rank_sum(scored, signals)):
            row["combined"] = value
    if constraint is not None and constraint.active:
        for row in scored:
            row.update(constraint.measure(row["architecture"]))
    if latency is not None:
        for row in scored:
            row["latency_ms"] = latency.predict(row["architecture"])
    best = _select(scored, select, s.top_k, rank_by, short_train)
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
        by_key = {architecture_key(r["architecture"]): r for r in scored}
        for trained in short_train.history:  # each finalist's last score, for the ablation
            by_key[architecture_key(trained["architecture"])].update(short_train=trained["score"],
                                                         short_train_epochs=trained["epochs"])
        return by_key[architecture_key(winner)]
    return max(scored, key=lambda r: (_finite(r[select]), _finite(r["score"])))


def _finite(value: float) -> float:
    return value if value is not None and math.isfinite(value) else -math.inf




def run_derive(search: Search, settings, out: Optional[Path] = None, began: Optional[float] = None) -> Dict:
    """Derive with ``settings`` (a derive node) at the end of ``search``; with a run folder ``out``, write
    ``architecture.json`` / ``.txt`` and the candidates there and print where they went. With ``began``
    (the run's start time), the summary and the JSON also say how many minutes it took."""
    cfg, model, strategy, task = search.cfg, search.model, search.strategy, search.task
    result = derive(model, strategy, task, settings, progress=lambda it: progress(it, cfg.trainer.progress, desc="derive"),
                    constraint=strategy.constraint, predictor=strategy.predictor,
                    zero_cost=derive_zero_cost(search, settings), short_train=build_short_train(search, settings),
                    shared_weights=cfg.trainer.epochs > 0, latency=search.latency)
    best = result["score"]
    metrics = {"derive_score": best.get("full_score", best["score"]), "derive_candidates": len(result["candidates"])}
    if "acc" in best:
        metrics["derive_valid_acc"] = best.get("full_acc", best["acc"])
    if "ppl" in best:
        metrics["derive_valid_ppl"] = best.get("full_ppl", best["ppl"])
    child = measure_child(search.child_model, result["architecture"], task.example_input())
    child.update(child_latency(search.latency, result["architecture"]))
    metrics.update({f"child_{k}": v for k, v in child.items()})
    extra = {"child": child, "select": settings.select}
    if search.latency is not None:
        extra["latency"] = search.latency.summary()
    chance = against_random(result["candidates"], best)
    if chance is not None:
        extra["against_random"] = chance
    if began is not None:
        extra["minutes"] = (time.time() - began) / 60
    if cfg.benchmark:
        from ..report.benchmark import lookup_benchmark

        extra["benchmark"] = lookup_benchmark(cfg.benchmark, search.child_model, result["architecture"], cfg.benchmark_file,
                                              constraint=strategy.constraint)
        metrics.update({f"benchmark_{k}": v for k, v in extra["benchmark"].items() if isinstance(v, (int, float))})
    done = {"architecture": result["architecture"], "score": best, "candidates": result["candidates"],
            **metrics, **extra}
    if out is not None:
        path = write_architecture(out, search.child_model, result, search.space, extra)
        archive_candidates(Archive(out, search.space, data_name(cfg)), result["candidates"], cfg.trainer.epochs,
                           None if cfg.trainer.epochs > 0 else settings.select)
        announce(f"\nDerived architecture (picked by derive.select={extra['select']}{_shown(metrics)}):\n"
                 f"{_summary(out, child, strategy.constraint, extra)}\nWritten to {path}\nRun folder: {out}\n")
        done["out_dir"] = str(out)
    return done


def archive_candidates(archive: Archive, candidates: List[Dict], epoch: int, signal: Optional[str] = None) -> None:
    """Derive's candidates as the archive's ``derive`` lines (those of an earlier derive of this folder replaced):
    the score on the shared weights, or ``signal``'s value when nothing was trained; every number as a signal."""
    archive.truncate(0, source="derive")
    for row in candidates:
        signals = {k: v for k, v in row.items() if k not in ("architecture", "selected")}
        archive.add(row["architecture"], row["score"] if signal is None else row.get(signal, math.nan), "derive",
                    epoch, signals)
    archive.flush()


def _shown(metrics: Dict) -> str:
    shown = ", ".join(f"{k[len('derive_'):]} {v:.4g}" for k, v in metrics.items() if k.startswith("derive_valid"))
    return f"; {shown} with the shared weights" if shown else ""


def _summary(out: Path, child: Dict, constraint, extra: Dict) -> str:
    summary = (out / "architecture.txt").read_text()
    flops = "" if math.isnan(child["flops"]) else f", {child['flops'] / 1e6:,.2f}M multiply-accumulates per example"
    summary += (f"Child at the searched size: {child['params']:,.0f} parameters{flops}"
                + (f" (budget: {constraint.describe()})" if constraint is not None else "") + "\n")
    if "latency_ms" in child:
        where = extra["latency"]
        measured = f", {child['latency_measured_ms']:.3g} ms measured" if "latency_measured_ms" in child else ""
        summary += (f"Latency: {child['latency_ms']:.3g} ms predicted by the latency table{measured} (forward "
                    f"pass, batch {where['batch_size']}, {where['device']}"
                    + (f", threads: {where['threads']}" if where["threads"] else "") + ")\n")
    if "benchmark" in extra:
        b = extra["benchmark"]
        summary += (f"NAS-Bench-201: CIFAR-10 test accuracy {b['cifar10_test_acc']:.2f}, "
                    f"in the top {b.get('top_percent', float('nan')):.2f}% of the space")
        if "budget_top_percent" in b:
            summary += f", top {b['budget_top_percent']:.2f}% of the cells within the budget"
        summary += "\n"
    if "against_random" in extra:
        r = extra["against_random"]
        summary += (f"Against chance, on the same shared weights and validation batches: the derived cell scores "
                    f"{r['derived']:.4g}, {r['count']} uniformly random cells {r['mean']:.4g} on average (best "
                    f"{r['best']:.4g}); the derived cell beats {r['beaten']} of them\n")
    if "minutes" in extra:
        summary += f"Search took {extra['minutes']:.1f} minutes (this process, including derive)\n"
    return summary


def against_random(candidates: List[Dict], picked: Dict) -> Optional[Dict]:
    """The pick's shared-weight score beside the uniformly random candidates' (``derive.uniform_samples``),
    all scored on the same batches: what a search adds over chance, as far as the shared weights can tell."""
    random_scores = [r["score"] for r in candidates if r.get("source") == "uniform" and math.isfinite(r["score"])]
    if not random_scores or not math.isfinite(picked.get("score", math.nan)):
        return None
    return {"derived": picked["score"], "count": len(random_scores), "mean": sum(random_scores) / len(random_scores),
            "best": max(random_scores), "beaten": sum(picked["score"] > s for s in random_scores)}


def derive_checkpoint(cfg) -> Dict:
    """``enas-derive checkpoint=<run dir or .pt>``: rebuild the search from the configuration stored in its
    checkpoint, load its weights and policy, and derive with this command's ``derive`` settings (e.g.
    ``derive.num_samples=500``): on a killed run, or to derive at several epochs."""
    check_config(cfg)
    run = load_search(cfg.checkpoint, cfg.device)
    out = output_dir(cfg)
    OmegaConf.save(cfg, Path(out) / "config.yaml")
    print(f"Deriving from {cfg.checkpoint} (search epoch {run.state['epoch']})")
    return run_derive(run.search, cfg.derive, out)
