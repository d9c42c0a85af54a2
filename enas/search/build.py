"""The one assembler: a search config becomes a `Search` (task, supernet, strategy, optimizer, budget,
predictor), the same for the command line, the Python API (`enas.api.search_model`) and ``enas-derive``.

Each optional part reads its own config node (``constraint``, ``latency``, ``predictor``, ``proxies``,
``derive.short_train``) and is None when the config asks for none. From Python the model and the task
are given instead of built from ``space`` and ``data``.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from supernet import FewShotSupernet, create_space, decisions, space_kwargs

from ..config.schema import TrainerConfig
from ..predictors.performance import PerformancePredictor
from ..predictors.surrogate import Surrogate
from ..predictors.zero_cost import PROXIES, ZeroCostScorer, fresh_copy, proxy_batches
from ..runs import distributed
from ..runs.archive import Archive
from ..runs.process import seed_everything
from ..strategies import Strategy, create_strategy
from ..tasks import Task, build_task
from .constraints import Constraint
from .latency import LatencyTable, build_latency
from .short_train import SuccessiveHalving
from .signals import proxies_needed
from .training import make_optimizer, make_scheduler

__all__ = ["Search", "data_name", "build_search", "build_supernet", "build_few_shot", "build_constraint", "build_zero_cost",
           "build_predictor", "build_short_train", "to_memory_format", "trainer_settings"]


@dataclass
class Search:
    """Everything one search holds. ``space`` is ``{"name", "kwargs"}`` (name None for a model given from
    Python); ``network(overrides)`` builds an untrained network of the space (zero-cost proxies, short
    training); ``proxy_batches`` are the minibatches the proxies score on (None: drawn from the task).
    With ``few_shot``, ``model`` is a `supernet.few_shot.FewShotSupernet` and ``child_model`` its first part.
    ``latency`` is the latency table (`enas.search.latency`) when the search needs one."""

    cfg: Any
    task: Task
    model: nn.Module
    space: Dict
    strategy: Strategy
    optimizer: torch.optim.Optimizer
    scheduler: Any
    device: torch.device
    network: Callable[[Mapping], nn.Module]
    split: Dict = field(default_factory=dict)
    proxy_batches: Optional[List] = None
    child_model: Optional[nn.Module] = None  # what a child is measured on: ``model``, or one part of a few-shot one
    latency: Optional[LatencyTable] = None
    archive: Optional[Archive] = None  # what the run measured (`enas.runs.archive`); set by the loop

    def __post_init__(self):
        if self.child_model is None:
            self.child_model = self.model


def data_name(cfg) -> str:
    """What an archive calls the search's data: ``data.name``, or ``custom`` for a task given from Python."""
    data = cfg.get("data") if hasattr(cfg, "get") else getattr(cfg, "data", None)
    return str(data.name) if data is not None and data.get("name") is not None else "custom"


def build_supernet(space_cfg, device: torch.device, data_info: Optional[Dict] = None) -> Tuple[nn.Module, Dict]:
    """The space a config names; ``data_info`` (e.g. the vocabulary size) must agree with it."""
    spec = OmegaConf.to_container(space_cfg, resolve=True) if isinstance(space_cfg, DictConfig) else dict(space_cfg)
    if "name" not in spec:
        raise ValueError("the space config needs a 'name' (e.g. space=micro)")
    name = spec.pop("name")
    vocab = (data_info or {}).get("vocab_size")
    if vocab is not None and spec.setdefault("vocab_size", vocab) != vocab:
        raise ValueError(f"space.vocab_size={spec['vocab_size']} but the data has {vocab} words")
    classes = (data_info or {}).get("num_classes")
    if classes is not None and "num_classes" in space_kwargs(name):  # your images: their number of classes
        if spec.get("num_classes", classes) != classes:
            raise ValueError(f"space.num_classes={spec['num_classes']} but the data has {classes} classes")
        if classes != space_kwargs(name)["num_classes"]:  # a default stays implicit: older checkpoints still match
            spec["num_classes"] = classes
    model = create_space(name, **spec).to(device)
    return model, {"name": name, "kwargs": spec}


def to_memory_format(model: nn.Module, trainer) -> nn.Module:
    return model.to(memory_format=torch.channels_last) if trainer.channels_last else model


def _registered_network(space: Dict) -> Callable[[Mapping], nn.Module]:
    return lambda overrides: create_space(space["name"], **{**space["kwargs"], **overrides})


def _copied_network(model: nn.Module) -> Callable[[Mapping], nn.Module]:
    """Fresh networks of a model given from Python: re-initialised copies of it as it was before training."""
    initial = copy.deepcopy(model)

    def network(overrides: Mapping) -> nn.Module:
        if overrides:
            raise ValueError(f"a size override for proxies or short training ({dict(overrides)}) needs a registered "
                             "space; from Python, pass build_space= a function that builds your network at that size")
        return fresh_copy(initial)
    return network


def build_search(cfg, device: torch.device, model: Optional[nn.Module] = None, task: Optional[Task] = None,
                 network: Optional[Callable[[Mapping], nn.Module]] = None, batches: Optional[List] = None,
                 example: Optional[torch.Tensor] = None, run_folder: Optional[Path] = None) -> Search:
    """The search ``cfg`` describes, freshly initialised (seeded by ``cfg.seed``). From Python, ``model``
    and ``task`` replace ``cfg.space`` and ``cfg.data``; ``network`` (default: copies of ``model``) builds
    untrained networks of the space, ``batches`` are the zero-cost proxies' minibatches and ``example`` an
    input to count FLOPs and time children with (default: the task's). A latency table the ``run_folder``
    holds (a resumed run's) is reused."""
    seed_everything(cfg.seed)
    split: Dict = {}
    if task is None:
        task, split = build_task(cfg, device, "search")
    if model is None:
        model, space = build_supernet(cfg.space, device, split)
        network = _registered_network(space)
    else:
        space = {"name": None, "kwargs": {}}
        network = network or _copied_network(model)
    child_model = model
    model = build_few_shot(cfg.few_shot, model)
    to_memory_format(model, cfg.trainer)
    model = distributed.sync_batchnorm(model, cfg.trainer.sync_bn, device)
    example = example if example is not None else task.example_input()
    latency = build_latency(cfg, child_model, example, space, run_folder)
    constraint = build_constraint(cfg, child_model, example, latency)
    predictor = build_predictor(cfg, model, lambda names: build_zero_cost(cfg, task, network, device, names, batches))
    strategy = create_strategy(cfg, decisions(model), device, constraint, predictor)
    optimizer = make_optimizer(model, cfg.trainer)
    return Search(cfg, task, model, space, strategy, optimizer, make_scheduler(optimizer, cfg.trainer), device,
                  network, split, batches, child_model, latency)


def build_few_shot(spec, model: nn.Module) -> nn.Module:
    """``model`` split into sub-supernets on ``spec.split`` (labels) or its first ``spec.split_first`` layer
    decisions; ``model`` itself when the config splits nothing."""
    labels = list(spec.split)
    if spec.split_first:
        layers = [d.label for d in decisions(model) if d.kind == "layer"]
        if spec.split_first > len(layers):
            raise ValueError(f"few_shot.split_first={spec.split_first} but the space has {len(layers)} layer decisions")
        labels = layers[:spec.split_first]
    return FewShotSupernet(model, labels) if labels else model


def build_constraint(cfg, model: nn.Module, example: Optional[torch.Tensor],
                     latency: Optional[LatencyTable] = None) -> Optional[Constraint]:
    """The budget of ``cfg.constraint`` (None when unbounded); FLOPs are counted on ``example``, latency
    predicted by ``latency``."""
    spec = cfg.constraint
    if spec.max_params is None and spec.max_flops is None and spec.max_latency_ms is None:
        return None
    return Constraint(model, spec.max_params, spec.max_flops, example, spec.max_latency_ms, latency)


def build_zero_cost(cfg, task: Task, network: Callable[[Mapping], nn.Module], device: torch.device, names,
                    batches: Optional[List] = None) -> Optional[ZeroCostScorer]:
    """Zero-cost scorer of ``names`` on a fresh ``network`` of the searched space (size overrides from
    ``proxies.space``), on ``batches`` or ``proxies.batches`` training minibatches of the task; None when
    nothing is needed."""
    if not names:
        return None
    if batches is None:
        batches = proxy_batches(task, max(cfg.proxies.batches, 2 if "zico" in names else 1), int(cfg.seed))
    overrides = dict(cfg.proxies.space)
    return ZeroCostScorer(lambda: network(overrides), batches, task.loss, names, seed=int(cfg.seed), device=device)


def predictor_needed(cfg) -> bool:
    """Whether the learned predictor is on: ``predictor.enabled``, or ``strategy=predictor``, which is nothing
    without it. Screening and ``derive.select=predictor`` use it only when it is on."""
    if cfg.strategy == "predictor" or cfg.predictor.enabled:
        return True
    if cfg.controller.screen_keep or cfg.derive.select == "predictor":
        raise ValueError("controller.screen_keep and derive.select=predictor need the learned predictor: add "
                         "predictor.enabled=true")
    return False


def build_predictor(cfg, model: nn.Module, zero_cost: Callable[[List[str]], Optional[ZeroCostScorer]]
                    ) -> Optional[PerformancePredictor]:
    """The learned predictor, when on; ``zero_cost(names)`` builds the scorer of its zero-cost features."""
    if not predictor_needed(cfg):
        return None
    spec = cfg.predictor
    unknown = [f for f in spec.features if f not in PROXIES]
    if unknown:
        raise ValueError(f"predictor.features: {unknown[0]!r} is not a zero-cost proxy; available: {', '.join(PROXIES)}")
    surrogate = Surrogate(decisions(model), list(spec.features), spec.ensemble, spec.hidden, spec.steps,
                          holdout=spec.holdout, window=spec.window, seed=int(cfg.seed))
    return PerformancePredictor(surrogate, zero_cost(list(spec.features)), spec.min_points)


def trainer_settings(trainer) -> TrainerConfig:
    """A trainer node as the `TrainerConfig` dataclass (what ``dataclasses.replace`` needs)."""
    if isinstance(trainer, TrainerConfig):
        return trainer
    return TrainerConfig(**OmegaConf.to_container(trainer, resolve=True))


def build_short_train(search: Search, settings) -> Optional[SuccessiveHalving]:
    """Successive halving for ``derive.select=short_train`` (None for any other rule); ``settings`` is a
    derive node."""
    if settings.select != "short_train":
        return None
    spec, task = settings.short_train, search.task
    steps = max(1, spec.train_subset // task.batch_size) if spec.train_subset else None
    overrides = dict(spec.space)
    return SuccessiveHalving(lambda: search.network(overrides), task, trainer_settings(search.cfg.trainer),
                             spec.finalists, spec.epochs, spec.eta, spec.lr, steps, int(search.cfg.seed), search.device)


def derive_zero_cost(search: Search, settings) -> Optional[ZeroCostScorer]:
    """The zero-cost scorer derive's settings need (None when they need none)."""
    return build_zero_cost(search.cfg, search.task, search.network, search.device, proxies_needed(settings),
                           search.proxy_batches)
