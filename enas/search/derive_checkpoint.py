"""Derive on demand from a search checkpoint (``enas-derive checkpoint=<run dir or .pt>``).

Rebuilds the task, supernet and strategy from the configuration stored in the checkpoint, loads
their state, and runs the same derive as the end of a search, with this command's ``derive``
settings (e.g. ``derive.num_samples=500``). Useful on a killed run or to derive at several epochs.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Dict

from omegaconf import OmegaConf

from ..config.schema import check_config
from ..runs.checkpoint import load_checkpoint
from ..runs.process import output_dir, resolve_device
from .loop import build_search, run_derive

__all__ = ["derive_checkpoint", "load_search"]


def load_search(checkpoint, device: str = "auto") -> SimpleNamespace:
    """A finished (or killed) search as it was: ``state``, ``config``, ``task``, ``model``, ``space``,
    ``strategy``, rebuilt from the configuration stored in its checkpoint, weights and policy loaded."""
    torch_device = resolve_device(device)
    state = load_checkpoint(checkpoint, torch_device)
    if "supernet" not in state:
        raise ValueError(f"{checkpoint} is not a search checkpoint (it holds no supernet)")
    config = OmegaConf.create(state["config"])
    config.device = device
    task, _, model, space, strategy = build_search(config, torch_device)
    model.load_state_dict(state["supernet"])
    strategy.load_state_dict(state["controller"])
    if strategy.predictor is not None and state.get("predictor") is not None:
        strategy.predictor.load_state_dict(state["predictor"])
    return SimpleNamespace(state=state, config=config, task=task, model=model, space=space, strategy=strategy)


def derive_checkpoint(cfg) -> Dict:
    check_config(cfg)
    run = load_search(cfg.checkpoint, cfg.device)
    out = output_dir(cfg)
    OmegaConf.save(cfg, Path(out) / "config.yaml")
    print(f"Deriving from {cfg.checkpoint} (search epoch {run.state['epoch']})")
    return run_derive(run.model, run.strategy, run.task, cfg.derive, out, run.space, run.config)
