"""Derive on demand from a search checkpoint (``enas-derive checkpoint=<run dir or .pt>``).

Rebuilds the task, supernet and strategy from the configuration stored in the checkpoint, loads
their state, and runs the same derive as the end of a search, with this command's ``derive``
settings (e.g. ``derive.num_samples=500``). Useful on a killed run or to derive at several epochs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

from omegaconf import OmegaConf

from .config import check_config
from .checkpoint import load_checkpoint
from .run import output_dir, resolve_device
from .search import build_search, run_derive

__all__ = ["derive_checkpoint"]


def derive_checkpoint(cfg) -> Dict:
    check_config(cfg)
    device = resolve_device(cfg.device)
    state = load_checkpoint(cfg.checkpoint, device)
    if "supernet" not in state:
        raise ValueError(f"{cfg.checkpoint} is not a search checkpoint (it holds no supernet)")
    search_cfg = OmegaConf.create(state["config"])
    search_cfg.device = cfg.device
    task, _, model, space, strategy = build_search(search_cfg, device)
    model.load_state_dict(state["supernet"])
    strategy.load_state_dict(state["controller"])
    out = output_dir(cfg)
    OmegaConf.save(cfg, Path(out) / "config.yaml")
    print(f"Deriving from {cfg.checkpoint} (search epoch {state['epoch']})")
    return run_derive(model, strategy, task, cfg.derive, out, space, search_cfg)
