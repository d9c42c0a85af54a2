"""The optional parts a search config asks for, built from it: budget, predictor, proxies, short training.

Each reads its own config node (``constraint``, ``predictor``, ``proxies``, ``derive.short_train``);
a checkpoint written before a node existed lacks it, so every reader falls back to the schema's
defaults (``enas-derive`` on an old run still works).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from supernet import create_space, decisions

from ..config.schema import (ConstraintConfig, DifferentiableConfig, EvolutionConfig, PredictorConfig, ProxyConfig,
                     ShortTrainConfig, TrainerConfig)
from .constraints import Constraint
from ..predictors.performance import PerformancePredictor
from ..predictors.ranking import AZ_NAS
from ..predictors.surrogate import Surrogate
from ..predictors.zero_cost import PROXIES, ZeroCostScorer, proxy_batches
from .short_train import SuccessiveHalving

__all__ = ["node", "example_input", "build_constraint", "build_zero_cost", "build_predictor", "build_short_train",
           "derive_signals", "evolution_options", "differentiable_options"]


def node(cfg, path: str, schema):
    """``cfg.<path>`` as a plain dict over the schema's defaults (absent in older configs)."""
    value = OmegaConf.select(cfg, path, default=None) if isinstance(cfg, DictConfig) else None
    merged = dataclasses.asdict(schema())
    if value is not None:
        merged.update(OmegaConf.to_container(value, resolve=True))
    return merged


def example_input(task) -> Optional[torch.Tensor]:
    """One input example with its batch dimension, to count FLOPs (image tasks)."""
    loader = getattr(task, "valid", None)
    x = getattr(loader, "x", None)
    return x[:1] if isinstance(x, torch.Tensor) and x.dim() == 4 else None


def build_constraint(cfg, model: nn.Module, task) -> Optional[Constraint]:
    spec = node(cfg, "constraint", ConstraintConfig)
    if spec["max_params"] is None and spec["max_flops"] is None:
        return None
    return Constraint(model, spec["max_params"], spec["max_flops"], example_input(task))


def derive_signals(derive_cfg) -> Sequence[str]:
    """The zero-cost proxies derive needs (its select rule, rank_by, combined signals and record list)."""
    wanted = {derive_cfg.get("select", "shared"), derive_cfg.get("rank_by", "shared"),
              *derive_cfg.get("signals", []), *derive_cfg.get("record", [])}
    names = [n for n in PROXIES if n in wanted]
    if "az_nas" in wanted:
        names += [n for n in AZ_NAS if n not in names]
    return names


def build_zero_cost(cfg, space: Dict, task, device: torch.device, names: Sequence[str]) -> Optional[ZeroCostScorer]:
    """Zero-cost scorer of ``names`` on a fresh network of the searched space (size overrides from
    ``proxies.space``), from ``proxies.batches`` training minibatches; None when nothing is needed."""
    if not names:
        return None
    spec = node(cfg, "proxies", ProxyConfig)
    kwargs = {**space["kwargs"], **spec["space"]}
    n_batches = max(spec["batches"], 2 if "zico" in names else 1)
    batches = proxy_batches(task, n_batches, int(cfg.seed))
    return ZeroCostScorer(lambda: create_space(space["name"], **kwargs), batches, task.loss, names,
                          seed=int(cfg.seed), device=device)


def build_predictor(cfg, model: nn.Module, space: Dict, task, device: torch.device) -> Optional[PerformancePredictor]:
    spec = node(cfg, "predictor", PredictorConfig)
    needed = cfg.get("strategy") == "predictor" or OmegaConf.select(cfg, "controller.screen_keep", default=0) or \
        OmegaConf.select(cfg, "derive.select", default="shared") == "predictor"
    if not spec["enabled"]:
        if needed:
            raise ValueError("strategy=predictor, controller.screen_keep and derive.select=predictor need the "
                             "learned predictor: add predictor.enabled=true")
        return None
    unknown = [f for f in spec["features"] if f not in PROXIES]
    if unknown:
        raise ValueError(f"predictor.features: {unknown[0]!r} is not a zero-cost proxy; available: {', '.join(PROXIES)}")
    surrogate = Surrogate(decisions(model), spec["features"], spec["ensemble"], spec["hidden"], spec["steps"],
                          holdout=spec["holdout"], window=spec["window"], seed=int(cfg.seed))
    zero_cost = build_zero_cost(cfg, space, task, device, spec["features"])
    return PerformancePredictor(surrogate, zero_cost, spec["min_points"])


def predictor_options(cfg) -> Dict:
    spec = node(cfg, "predictor", PredictorConfig)
    return {k: spec[k] for k in ("pool", "evaluate", "kappa", "elite")}


def evolution_options(cfg) -> Dict:
    """``strategy=evolution``'s settings (`enas.config.EvolutionConfig`)."""
    return node(cfg, "evolution", EvolutionConfig)


def differentiable_options(cfg) -> Dict:
    """``strategy=darts`` / ``gdas``'s settings (`enas.config.DifferentiableConfig`, key ``darts``)."""
    return node(cfg, "darts", DifferentiableConfig)


def build_short_train(cfg, derive_cfg, space: Dict, task, device: torch.device) -> Optional[SuccessiveHalving]:
    """Successive halving for ``derive.select=short_train`` (None for any other rule)."""
    if derive_cfg.get("select", "shared") != "short_train":
        return None
    spec = dataclasses.asdict(ShortTrainConfig())
    given = derive_cfg.get("short_train")
    if given is not None:
        spec.update(OmegaConf.to_container(given, resolve=True) if isinstance(given, DictConfig) else dict(given))
    kwargs = {**space["kwargs"], **spec["space"]}
    trainer = TrainerConfig(**node(cfg, "trainer", TrainerConfig))
    steps = max(1, spec["train_subset"] // task.train.batch_size) if spec["train_subset"] else None
    return SuccessiveHalving(lambda: create_space(space["name"], **kwargs), task, trainer, spec["finalists"],
                             spec["epochs"], spec["eta"], spec["lr"], steps, int(cfg.seed), device)
