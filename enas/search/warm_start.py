"""Warm starts: a search that begins from what earlier searches measured (their archives, `enas.runs.archive`).

Each part of a strategy that learns reads the run folders or archive files it is given, of the same space
(any data, seed or size: an architecture only has to fit this search's decisions):

* ``predictor.warm_start``: the learned predictor fits the archives' scores as ranks within each group of
  comparable measurements (`enas.runs.archive.rank_targets`) beside this search's own points, and guides from
  the first step (`enas.predictors.PerformancePredictor.warm_start`); ``strategy=predictor`` also mutates the
  archives' best until it has evaluated its own;
* ``controller.warm_start``: the policy is trained by maximum likelihood to propose the archives'
  ``controller.warm_start_top`` best architectures (``controller.warm_start_steps`` Adam steps at
  ``controller.lr``), then searches as usual: a prior the rewards can overrule;
* ``evolution.warm_start``: the initial population is the archives' best, evaluated here, instead of random;
* ``controller.init``: the policy starts from the controller weights of an earlier ``strategy=enas`` run of the
  same space and controller settings (its optimizer and baseline start afresh), before any imitation.

A warm start runs once, before the first epoch (or the first trial); the checkpoint holds its result, so a
resumed run continues exactly without reading the archives again.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

import torch

from supernet import ArchitectureError, Decision, architecture_key, validate_architecture

from ..runs.archive import archive_file, read_archives, rank_targets
from ..runs.checkpoint import CheckpointError, load_checkpoint

__all__ = ["archive_points", "imitate", "start_from_weights", "warm_start", "warm_start_problems", "WARM_STARTS"]

log = logging.getLogger("enas")

# config key -> the strategies that have the part it warms
WARM_STARTS = {"predictor.warm_start": ("predictor",), "controller.warm_start": ("enas",),
               "evolution.warm_start": ("evolution",)}


def archive_points(paths: Sequence[str], decisions: Sequence[Decision]) -> List[Tuple[Dict, float]]:
    """Every distinct architecture of the archives at ``paths`` with its mean rank target in [0, 1], best
    first. An architecture that does not fit ``decisions`` is an error naming its archive."""
    rows = read_archives(paths)
    if not rows:
        raise ValueError(f"the archives {list(paths)} hold no measured architecture")
    by_key: Dict[str, List[float]] = defaultdict(list)
    archs: Dict[str, Dict] = {}
    for row, target in zip(rows, rank_targets(rows)):
        if target is None:
            continue
        key = architecture_key(row["architecture"])
        if key not in archs:
            try:
                archs[key] = dict(validate_architecture(decisions, row["architecture"]))
            except ArchitectureError as err:
                raise ValueError(f"archive {row['origin']} (space {row.get('space')}) does not fit this search's "
                                 f"space: {err}") from None
        by_key[key].append(target)
    points = [(archs[k], sum(v) / len(v)) for k, v in by_key.items()]
    return sorted(points, key=lambda p: -p[1])


def imitate(controller: torch.nn.Module, archs: Sequence[Mapping], steps: int, settings) -> Dict[str, float]:
    """Train ``controller`` for ``steps`` full-batch Adam steps (``settings``: lr, beta1, eps of a controller
    node) to maximise the mean log-probability of ``archs``; returns it before and after."""
    optimizer = torch.optim.Adam(controller.parameters(), lr=settings.lr, betas=(settings.beta1, 0.999),
                                 eps=settings.eps)
    controller.train()
    with torch.no_grad():
        before = float(controller.log_prob(archs).mean())
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = -controller.log_prob(archs).mean()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(controller.log_prob(archs).mean())
    return {"log_prob_before": before, "log_prob_after": after}


def start_from_weights(controller: torch.nn.Module, run: str) -> None:
    """Load the controller weights of the ENAS run (folder or checkpoint) ``run`` into ``controller``."""
    state = load_checkpoint(run)
    if state.get("strategy") != "enas" or "controller" not in state.get("controller", {}):
        raise ValueError(f"controller.init={run}: its checkpoint is of strategy={state.get('strategy')}, which has no "
                         "ENAS controller")
    try:
        controller.load_state_dict(state["controller"]["controller"])
    except RuntimeError as err:
        raise ValueError(f"controller.init={run}: its controller does not fit this one (another space, or other "
                         f"controller.kind / lstm_size / layers): {str(err).splitlines()[0]}") from None


def warm_start_problems(cfg) -> Iterable[str]:
    """A warm start asked of a part the strategy does not have."""
    for key, strategies in WARM_STARTS.items():
        paths = _paths(cfg, key)
        if paths and cfg.strategy not in strategies and not (key == "predictor.warm_start" and cfg.predictor.enabled):
            yield (f"{key} warms a part of strategy={' or '.join(strategies)}"
                   + (" (or predictor.enabled=true)" if key == "predictor.warm_start" else "")
                   + f", not of strategy={cfg.strategy}")
    for key in WARM_STARTS:
        for path in _paths(cfg, key):
            try:
                archive_file(path)
            except FileNotFoundError as err:
                yield f"{key}: {err}"
    init = cfg.controller.get("init")
    if init:
        if cfg.strategy != "enas":
            yield f"controller.init starts an ENAS policy: strategy={cfg.strategy} has none"
        try:
            load_checkpoint(init)
        except (FileNotFoundError, CheckpointError) as err:
            yield f"controller.init={init}: {err}"
    if _paths(cfg, "controller.warm_start") and cfg.controller.warm_start_top < 1:
        yield f"controller.warm_start_top={cfg.controller.warm_start_top} must be >= 1"
    if _paths(cfg, "controller.warm_start") and cfg.controller.warm_start_steps < 0:
        yield f"controller.warm_start_steps={cfg.controller.warm_start_steps} must be >= 0"


def _paths(cfg, key: str) -> List[str]:
    node, name = key.split(".")
    return [str(p) for p in (cfg[node].get(name) or [])]


def warm_start(strategy, cfg) -> Dict[str, float]:
    """Warm every part of ``strategy`` its config names archives for; returns what each learned. Run it once,
    on a fresh search (a resumed one restores the result from its checkpoint)."""
    report: Dict[str, float] = {}
    predictor = strategy.predictor
    paths = _paths(cfg, "predictor.warm_start")
    if paths and predictor is not None:
        points = archive_points(paths, strategy.decisions)
        predictor.warm_start(points)
        report["warm_predictor_points"] = float(len(points))
        if hasattr(strategy, "warm_parents"):
            strategy.warm_parents = [a for a, _ in _feasible(strategy, points)[:strategy.elite]]
        log.info("warm start: the predictor learned %d architectures from %s", len(points), ", ".join(paths))
    init = cfg.controller.get("init")
    if init and hasattr(strategy, "controller"):
        start_from_weights(strategy.controller, init)
        report["warm_policy_init"] = 1.0
        log.info("warm start: the policy starts from the controller of %s", init)
    paths = _paths(cfg, "controller.warm_start")
    if paths and hasattr(strategy, "controller"):
        best = [a for a, _ in _feasible(strategy, archive_points(paths, strategy.decisions))]
        best = best[:cfg.controller.warm_start_top]
        moved = imitate(strategy.controller, best, cfg.controller.warm_start_steps, cfg.controller)
        report.update({f"warm_policy_{k}": v for k, v in moved.items()})
        log.info("warm start: the policy learned the %d best architectures of %s (mean log-probability %.3g -> %.3g)",
                 len(best), ", ".join(paths), moved["log_prob_before"], moved["log_prob_after"])
    paths = _paths(cfg, "evolution.warm_start")
    if paths and hasattr(strategy, "evolution"):
        evo = strategy.evolution
        evo.seed_population([a for a, _ in _feasible(strategy, archive_points(paths, strategy.decisions))])
        report["warm_population"] = float(len(evo.seeds))
        log.info("warm start: evolution's first population is the %d best architectures of %s", len(evo.seeds),
                 ", ".join(paths))
    return report


def _feasible(strategy, points: List[Tuple[Dict, float]]) -> List[Tuple[Dict, float]]:
    """The points within the search's budget (all of them without one)."""
    constraint = strategy.constraint
    if constraint is None or not constraint.active:
        return points
    return [(a, t) for a, t in points if constraint.feasible(a)]
