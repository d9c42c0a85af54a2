"""A search's checkpoint: what it holds, how it is restored, and how a finished or killed run is rebuilt.

The checkpoint is one dict with fixed keys: ``supernet``, ``controller`` (the strategy's state),
``strategy``, ``predictor``, ``w_optim``, ``lr_sched``, ``epoch`` (last finished), ``step``, ``rng``,
``config``, ``space`` (name + kwargs), ``split`` (the search split's indices) and ``preferred`` (the
preferred set of a preferred one-shot search, else None). `restore` is the one
loader: a resume takes everything, ``enas-derive`` (`load_search`) the learned parts only.
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Optional, Sequence, Tuple

import torch
from omegaconf import OmegaConf

from ..config import RESUME_MAY_CHANGE, SearchConfig, config_differences, structured
from ..runs.checkpoint import load_checkpoint, rng_state, set_rng_state
from ..runs.folder import output_dir, resolve_resume, runs_root
from ..runs.process import import_modules, resolve_device
from .build import Search, build_search

__all__ = ["search_state", "restore", "load_search", "open_run", "refuse_changed_config", "resume_config",
           "refuse_a_used_folder"]


def search_state(search: Search, epoch: int, step: int) -> Dict:
    """The checkpoint of ``search`` after ``epoch``."""
    strategy = search.strategy
    return {
        "supernet": search.model.state_dict(), "controller": strategy.state_dict(), "strategy": strategy.name,
        "predictor": strategy.predictor.state_dict() if strategy.predictor is not None else None,
        "w_optim": search.optimizer.state_dict(), "lr_sched": search.scheduler.state_dict(), "epoch": epoch,
        "step": step, "rng": rng_state(), "config": OmegaConf.to_container(search.cfg, resolve=True),
        "space": search.space, "split": search.split, "preferred": strategy.preferred,
    }


def restore(search: Search, state: Dict, resume: bool) -> int:
    """Load a checkpoint into ``search``: the shared weights, the strategy and the predictor; with ``resume``
    also the optimizer, the schedule and every random state. Returns the epoch to continue from."""
    if state.get("space") != search.space:
        raise ValueError(f"cannot resume: the checkpoint searched space {state.get('space')}, this config "
                         f"{search.space}")
    if state.get("strategy") != search.strategy.name:
        raise ValueError(f"cannot resume: the checkpoint used strategy={state.get('strategy')}, this config "
                         f"strategy={search.strategy.name}")
    search.model.load_state_dict(state["supernet"])
    search.strategy.load_state_dict(state["controller"])
    if state.get("preferred"):
        search.strategy.prefer(state["preferred"])
    if search.strategy.predictor is not None and state.get("predictor") is not None:
        search.strategy.predictor.load_state_dict(state["predictor"])
    if resume:
        search.optimizer.load_state_dict(state["w_optim"])
        search.scheduler.load_state_dict(state["lr_sched"])
        set_rng_state(state["rng"])
    return state["epoch"] + 1


def load_search(checkpoint, device: str = "auto") -> SimpleNamespace:
    """A finished (or killed) search as it was: ``state``, ``config``, ``task``, ``model``, ``space``,
    ``strategy`` and the whole ``search``, rebuilt from the configuration stored in its checkpoint."""
    torch_device = resolve_device(device)
    state = load_checkpoint(checkpoint, torch_device)
    if state.get("mode") == "multi_trial":
        raise ValueError(f"{checkpoint} is a multi-trial search: it trained children, not shared weights, and its "
                         "pick is the run's architecture.json (the trials are in trials.jsonl)")
    if "supernet" not in state:
        raise ValueError(f"{checkpoint} is not a search checkpoint (it holds no supernet)")
    config = structured(state["config"])
    config.device = device
    import_modules(config.imports)  # the run's own spaces, registered as it registered them
    path = Path(checkpoint)  # the run folder: a run dir, or the one holding checkpoints/<file>.pt
    folder = path if path.is_dir() else path.parent.parent if path.parent.name == "checkpoints" else path.parent
    search = build_search(config, torch_device, run_folder=folder)  # the run's own latency table, if any
    restore(search, state, resume=False)
    return SimpleNamespace(state=state, config=config, task=search.task, model=search.model, space=search.space,
                           strategy=search.strategy, search=search)


def refuse_changed_config(state: Dict, cfg, path) -> None:
    """A resumed run continues the stored configuration; only `RESUME_MAY_CHANGE` keys may differ."""
    diffs = config_differences(state.get("config", {}), cfg)
    if diffs:
        raise ValueError(f"cannot resume {path}: this configuration changes what the run was doing ("
                         f"{'; '.join(diffs)}). Only {', '.join(RESUME_MAY_CHANGE)} may change at resume; "
                         "start a new run for anything else")


def open_run(cfg, device: torch.device) -> Tuple[Path, Optional[Dict], Optional[Path]]:
    """(run folder, checkpoint state or None, checkpoint path or None) of a fresh or resumed run. A
    resume is checked before any data loads: is this the run's own configuration? A fresh run never
    writes over another run's folder unless told to (``overwrite=true``)."""
    resume_from = resolve_resume(cfg.resume, runs_root(cfg))
    if resume_from:
        state = load_checkpoint(resume_from, device)
        refuse_changed_config(state, cfg, resume_from)
        return resume_from.parent.parent, state, resume_from
    out = output_dir(cfg)
    refuse_a_used_folder(out, cfg.overwrite)
    return out, None, None


def refuse_a_used_folder(out: Path, overwrite: bool) -> None:
    """A fresh run never writes over another run's folder unless told to."""
    held = [name for name in HOLDS_A_RUN if (out / name).exists()]
    if held and not overwrite:
        raise FileExistsError(f"run folder {out} already holds a run ({', '.join(held)}): continue it with "
                              f"resume={out}, pick another folder (output_dir=... or hydra.run.dir=...), or start "
                              "over there with overwrite=true")


HOLDS_A_RUN = ("checkpoints/last.pt", "architecture.json", "results.json")  # what a started or finished run leaves


def resume_config(resume: str, overrides: Sequence[str], schema=SearchConfig, task_name: str = "search"):
    """The config a resumed run continues with: the one its checkpoint recorded, with ``overrides`` (the
    command line's ``key=value`` strings) applied where `RESUME_MAY_CHANGE` allows them; any other key
    is refused, named. ``resume`` is a run folder, a checkpoint in one, or ``true`` (the latest run)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    path = resolve_resume(resume, Path("outputs") / task_name) if str(resume).lower() == "true" else \
        resolve_resume(resume, Path("."))
    cfg = structured(load_checkpoint(path)["config"], schema)
    refused = []
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.key_or_group
        if key == "resume" or key.startswith("hydra"):
            continue
        if override.is_delete() or not any(key == k or key.startswith(k + ".") for k in RESUME_MAY_CHANGE):
            refused.append(override.input_line)
            continue
        OmegaConf.update(cfg, key, override.value(), merge=True, force_add=override.is_force_add())
    if refused:
        raise ValueError(f"resume={resume} continues the run's recorded config ({path}); it may change only "
                         f"{', '.join(RESUME_MAY_CHANGE)}, not {', '.join(refused)}: start a new run for that")
    cfg.resume = str(path)
    return cfg
