"""Search your own supernet from Python: plain functions in, the best architecture out.

    task = SimpleTask(train_batches, loss_fn, reward_fn)
    result = search_model(model, task, epochs=20)
    child = supernet.freeze(model, result["architecture"])

``model`` is any ``nn.Module`` written with `supernet.LayerChoice` / `supernet.InputChoice`. It runs the
same loop as ``enas-search`` (`enas.search.search_epoch`): shared-weight training with a sampled
architecture per batch, REINFORCE on your reward, then derive. Settings are the dataclasses of
`enas.config` (or dicts of their fields); defaults are the paper's controller and a single cosine.
"""
from __future__ import annotations

import itertools
from dataclasses import asdict, fields, replace
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

import torch
from torch import nn

from supernet import decisions

from .search.build import derive_signals
from .config.schema import (ConstraintConfig, ControllerConfig, DeriveConfig, DifferentiableConfig, EvolutionConfig,
                     PredictorConfig, TrainerConfig)
from .search.constraints import Constraint
from .predictors.performance import PerformancePredictor
from .predictors.surrogate import Surrogate
from .predictors.zero_cost import ZeroCostScorer, fresh_copy
from .search.derive import derive
from .runs.process import progress, seed_everything
from .search.loop import TASK_KEYS, search_epoch
from .strategies.base import create_strategy
from .search.training import make_optimizer, make_scheduler

__all__ = ["SimpleTask", "search_model"]


class SimpleTask:
    """The task protocol (see `enas.tasks`) from plain functions.

    ``train_data``: a re-iterable of batches (a list, a ``DataLoader``) or a function returning an
    iterable for one epoch. ``loss_fn(model, batch)`` returns the training loss (or ``(loss, metric)``).
    ``reward_fn(model)`` scores the active architecture, higher is better; ``score_fn(model)``, used by
    derive to compare candidates, should be deterministic (same data every call) and defaults to it.
    ``valid_data`` (a re-iterable of batches) is what ``strategy="darts"`` / ``"gdas"`` learn their
    architecture weights on: ``loss_fn`` on those batches is the differentiable validation loss.
    """

    metric = "metric"
    valid = None

    def __init__(self, train_data: Union[Iterable, Callable[[], Iterable]], loss_fn: Callable,
                 reward_fn: Callable[[nn.Module], float], score_fn: Optional[Callable[[nn.Module], float]] = None,
                 steps_per_epoch: Optional[int] = None, valid_data: Optional[Iterable] = None):
        self.train_data, self.loss_fn, self.valid_data = train_data, loss_fn, valid_data
        self.reward_fn, self.score_fn = reward_fn, score_fn or reward_fn
        if steps_per_epoch is None:
            if not hasattr(train_data, "__len__"):
                raise ValueError("pass steps_per_epoch when train_data has no len()")
            steps_per_epoch = len(train_data)
        self.steps_per_epoch = steps_per_epoch

    def train_batches(self):
        data = self.train_data() if callable(self.train_data) else self.train_data
        while True:  # a short epoch wraps around rather than ending the loop early
            yield from data

    def validation_batches(self):
        if self.valid_data is None:
            raise ValueError("strategy='darts' / 'gdas' learn architecture weights on a validation loss: pass "
                             "SimpleTask(..., valid_data=batches), on which loss_fn is computed")
        return itertools.chain.from_iterable(itertools.repeat(self.valid_data))  # pass after pass

    def loss(self, model: nn.Module, batch):
        out = self.loss_fn(model, batch)
        return out if isinstance(out, tuple) else (out, torch.zeros((), device=out.device))

    def start_reward_epoch(self) -> None:
        pass

    def reward(self, model: nn.Module) -> float:
        return float(self.reward_fn(model))

    def fixed_batches(self, n: int) -> List[Any]:
        return [None]

    def score(self, model: nn.Module, batches=None) -> Dict[str, float]:
        value = float(self.score_fn(model))
        return {"score": value, "loss": -value}

    def evaluate(self, model: nn.Module, data=None) -> Dict[str, float]:
        return self.score(model)


def _settings(cls, value, **defaults):
    base = cls(**defaults)
    if value is None:
        return base
    if isinstance(value, cls):
        return value
    unknown = set(value) - {f.name for f in fields(cls)}
    if unknown:
        raise KeyError(f"{cls.__name__} has no field {sorted(unknown)[0]!r}")
    return replace(base, **value)


def search_model(model: nn.Module, task, epochs: Optional[int] = None, strategy: str = "enas",
                 trainer: Union[TrainerConfig, Dict, None] = None, controller: Union[ControllerConfig, Dict, None] = None,
                 derive_settings: Union[DeriveConfig, Dict, None] = None, seed: int = 0, show_progress: bool = False,
                 constraint: Union[ConstraintConfig, Dict, None] = None, predictor: Union[PredictorConfig, Dict, None] = None,
                 example_input: Optional[torch.Tensor] = None, proxy_batches: Optional[List] = None,
                 build_space: Optional[Callable[[], nn.Module]] = None,
                 evolution: Union[EvolutionConfig, Dict, None] = None,
                 darts: Union[DifferentiableConfig, Dict, None] = None) -> Dict:
    """Search ``model`` on ``task``; returns ``{"architecture", "score", "history", "strategy", "candidates"}``.

    ``epochs`` (default 10) overrides ``trainer``'s own when given; ``epochs=0`` with ``strategy="random"``
    and a zero-cost ``derive_settings["select"]`` is a training-free search over uniform candidates.
    ``constraint`` bounds the child (``max_params``; ``max_flops`` needs ``example_input``, one input
    with its batch dimension); ``predictor`` (fields of `enas.config.PredictorConfig`) turns on the
    learned predictor; ``evolution`` (fields of `enas.config.EvolutionConfig`) configures ``strategy="evolution"``,
    ``darts`` (fields of `enas.config.DifferentiableConfig`) ``strategy="darts"`` and ``"gdas"`` (which need
    ``SimpleTask(..., valid_data=...)``).
    Zero-cost signals in ``derive_settings`` are computed on ``proxy_batches``
    (default: the first two training batches) with a freshly initialised copy of ``model``, or of
    ``build_space()`` when given.
    """
    trainer = _settings(TrainerConfig, trainer, epochs=10, t0=None, aux_weight=0.0, channels_last=False,
                        progress=show_progress)
    if epochs is not None:  # given explicitly, it wins over the trainer settings' own
        trainer = replace(trainer, epochs=epochs)
    if trainer.epochs == 0 and strategy != "random":  # a training-free search: uniform cells, zero-cost pick
        raise ValueError(f"epochs=0 (a training-free search) needs strategy='random', got {strategy!r}: an "
                         "untrained policy's candidates are not uniform")
    controller = _settings(ControllerConfig, controller)
    derive_cfg = _settings(DeriveConfig, derive_settings, num_batches=1)
    budget = _settings(ConstraintConfig, constraint)
    predictor_cfg = _settings(PredictorConfig, predictor, enabled=predictor is not None)
    device = next(model.parameters()).device
    seed_everything(seed)
    limits = Constraint(model, budget.max_params, budget.max_flops, example_input) \
        if budget.max_params is not None or budget.max_flops is not None else None
    names = derive_signals(asdict(derive_cfg))
    zero_cost = None
    if names or predictor_cfg.features:
        zero_cost = ZeroCostScorer(build_space or (lambda: fresh_copy(model)),
                                   proxy_batches or _first_batches(task, 2), task.loss,
                                   list(dict.fromkeys([*names, *predictor_cfg.features])), seed=seed, device=device)
    learned = None
    if predictor_cfg.enabled:
        surrogate = Surrogate(decisions(model), predictor_cfg.features, predictor_cfg.ensemble, predictor_cfg.hidden,
                              predictor_cfg.steps, holdout=predictor_cfg.holdout, window=predictor_cfg.window, seed=seed)
        learned = PerformancePredictor(surrogate, zero_cost, predictor_cfg.min_points)
    kwargs = {k: v for k, v in asdict(controller).items() if k not in TASK_KEYS}
    options = {k: getattr(predictor_cfg, k) for k in ("pool", "evaluate", "kappa", "elite")}
    evolution_options = asdict(_settings(EvolutionConfig, evolution))
    strategy = create_strategy(strategy, decisions(model), device, seed, constraint=limits, predictor=learned,
                               predictor_options=options, evolution_options=evolution_options,
                               differentiable_options=asdict(_settings(DifferentiableConfig, darts)), **kwargs)
    optimizer = make_optimizer(model, trainer)
    scheduler = make_scheduler(optimizer, trainer)
    history = [search_epoch(model, task, strategy, optimizer, scheduler, trainer, controller.train_steps, epoch)
               for epoch in range(trainer.epochs)]
    result = derive(model, strategy, task, derive_cfg.num_samples, derive_cfg.num_batches, derive_cfg.top_k,
                    derive_cfg.greedy, progress=lambda it: progress(it, show_progress, desc="derive"),
                    select=derive_cfg.select, signals=derive_cfg.signals, rank_by=derive_cfg.rank_by,
                    record=derive_cfg.record, screen_samples=derive_cfg.screen_samples,
                    uniform_samples=derive_cfg.uniform_samples, constraint=limits,
                    predictor=learned, zero_cost=zero_cost, shared_weights=trainer.epochs > 0)
    return {"architecture": result["architecture"], "score": result["score"], "history": history,
            "strategy": strategy, "candidates": result["candidates"]}


def _first_batches(task, n: int) -> List:
    batches = task.train_batches()
    return [next(batches) for _ in range(n)]
