"""Search your own supernet from Python: plain functions in, the best architecture out.

    task = SimpleTask(train_batches, loss_fn, reward_fn)
    result = search_model(model, task, epochs=20)
    child = supernet.freeze(model, result["architecture"])

``model`` is any ``nn.Module`` written with `supernet.LayerChoice` / `supernet.InputChoice`. It runs what
``enas-search`` runs (`enas.search.build_search`, `enas.search.run_search`): shared-weight training with a
sampled architecture per batch, the strategy's learning on your reward, then derive. Settings are the
config dataclasses of `enas.config` (or dicts of their fields), over these defaults for a model of your
own: 10 epochs of one cosine, no auxiliary head, NCHW memory, one validation batch per derive score.
With ``output_dir`` the run writes the same folder as the command line (config, checkpoints, metrics,
architecture files) and ``resume=True`` continues it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Union

import torch
from omegaconf import OmegaConf
from torch import nn

from .config import (ConstraintConfig, ControllerConfig, DeriveConfig, DifferentiableConfig, EvolutionConfig,
                     LatencyConfig, MultiTrialConfig, PredictorConfig, SearchConfig, TrainerConfig, validate_values)
from .runs.checkpoint import load_checkpoint
from .runs.lock import RunLock
from .search import build_search, run_search
from .search.loop import check_search_config
from .search.state import refuse_a_used_folder, refuse_changed_config
from .tasks import SimpleTask, Task
from .trials import MultiTrialSearch, multi_trial_problems

__all__ = ["SimpleTask", "search_model"]

Settings = Union[object, Dict, None]

# What differs from the command line's defaults for a model of your own (see the module docstring).
API_DEFAULTS = {"trainer": {"epochs": 10, "t0": None, "aux_weight": 0.0, "channels_last": False},
                "derive": {"num_batches": 1}}


def _config(strategy: str, seed: int, show_progress: bool, epochs: Optional[int], nodes: Mapping[str, Settings]):
    """The search config of a `search_model` call: the schema, the API's defaults, then the caller's nodes."""
    cfg = OmegaConf.structured(SearchConfig)
    cfg.data = None  # the task is given, not built from a data config
    cfg.merge_with(API_DEFAULTS)
    cfg.strategy, cfg.seed, cfg.trainer.progress = strategy, seed, show_progress
    cfg.predictor.enabled = nodes.get("predictor") is not None  # settings given: the predictor is wanted
    for name, value in nodes.items():
        if value is not None:
            given = OmegaConf.structured(value) if not isinstance(value, dict) else value
            cfg[name] = OmegaConf.merge(cfg[name], given)
    if epochs is not None:  # given explicitly, it wins over the trainer settings' own
        cfg.trainer.epochs = epochs
    return cfg


def search_model(model: nn.Module, task: Task, epochs: Optional[int] = None, strategy: str = "enas",
                 trainer: Union[TrainerConfig, Dict, None] = None, controller: Union[ControllerConfig, Dict, None] = None,
                 derive_settings: Union[DeriveConfig, Dict, None] = None, seed: int = 0, show_progress: bool = False,
                 constraint: Union[ConstraintConfig, Dict, None] = None, predictor: Union[PredictorConfig, Dict, None] = None,
                 example_input: Optional[torch.Tensor] = None, proxy_batches: Optional[List] = None,
                 build_space: Optional[Callable[[], nn.Module]] = None,
                 evolution: Union[EvolutionConfig, Dict, None] = None,
                 darts: Union[DifferentiableConfig, Dict, None] = None,
                 multi_trial: Union[MultiTrialConfig, Dict, None] = None,
                 latency: Union[LatencyConfig, Dict, None] = None,
                 output_dir: Union[str, Path, None] = None, resume: bool = False, overwrite: bool = False) -> Dict:
    """Search ``model`` on ``task``; returns ``{"architecture", "score", "history", "strategy", "candidates", ...}``
    (and ``out_dir`` with ``output_dir``).

    ``epochs`` overrides ``trainer``'s own when given; ``epochs=0`` with ``strategy="random"`` and a zero-cost
    ``derive_settings["select"]`` is a training-free search over uniform candidates. ``constraint`` bounds
    the child (``max_params``; ``max_flops`` needs ``example_input``, one input with its batch dimension;
    ``max_latency_ms`` too, on which ``latency``, fields of `enas.config.LatencyConfig`, times the children);
    ``predictor`` (fields of `enas.config.PredictorConfig`) turns on the learned predictor; ``evolution``
    and ``darts`` configure ``strategy="evolution"``, ``"darts"`` and ``"gdas"`` (which need
    ``SimpleTask(..., valid_data=...)``). Zero-cost signals are computed on ``proxy_batches`` (default: the
    first training batches) with a freshly initialised copy of ``model``, or ``build_space()`` when given.
    ``multi_trial`` (fields of `enas.config.MultiTrialConfig`) makes it a multi-trial search: each proposed
    child, a re-initialised copy of ``model`` (or ``build_space()``) running its architecture, trains on
    ``task`` and is scored with ``task.evaluate``. ``output_dir`` writes the run folder; ``resume=True`` continues the run that folder holds, and a folder that
    holds a run is refused otherwise (``overwrite=True`` starts over there).
    """
    cfg = _config(strategy, seed, show_progress, epochs, {
        "trainer": trainer, "controller": controller, "derive": derive_settings, "constraint": constraint,
        "predictor": predictor, "evolution": evolution, "darts": darts, "multi_trial": multi_trial,
        "latency": latency})
    if multi_trial is not None:
        cfg.mode = "multi_trial"
        validate_values(cfg, list(multi_trial_problems(cfg)))
    check_search_config(cfg)
    device = next(model.parameters()).device
    network = (lambda overrides: build_space()) if build_space is not None else None
    out = Path(output_dir) if output_dir is not None else None
    state = None
    if out is not None and resume:
        state = load_checkpoint(out)
        refuse_changed_config(state, cfg, out)
    elif out is not None:
        refuse_a_used_folder(out, overwrite)
    began = time.time()
    built = build_search(cfg, device, model=model, task=task, network=network, batches=proxy_batches,
                         example=example_input, run_folder=out if resume else None)
    run = (lambda o, st: MultiTrialSearch(built, o, st).run(began)) if multi_trial is not None else \
        (lambda o, st: run_search(built, o, st, began))
    if out is None:
        result = run(None, None)
    else:
        out.mkdir(parents=True, exist_ok=True)
        with RunLock(out):
            result = run(out, state)
    result["strategy"] = built.strategy
    return result
