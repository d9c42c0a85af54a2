"""Checkpoints: one dict with fixed keys, written atomically, enough to rebuild the run alone.

Keys (STYLE.md): ``supernet`` (or ``model``), ``controller`` (strategy state), ``w_optim``,
``lr_sched``, ``epoch`` (last finished), ``step``, ``rng``, ``config``, ``space`` (name + kwargs),
plus ``split`` (the search split's indices) and ``metrics``. ``last.pt`` is rewritten every epoch
(write to a temporary file, then rename, so a kill never leaves a torn file) and ``epoch_{n}.pt``
is kept every ``keep_every`` epochs.
"""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

__all__ = ["save_checkpoint", "load_checkpoint", "resolve_resume", "rng_state", "set_rng_state"]


def rng_state() -> Dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: Dict[str, Any], directory: Union[str, Path], epoch: int, keep_every: int = 0) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".last.pt.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, directory / "last.pt")
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if keep_every and (epoch + 1) % keep_every == 0:
        kept = directory / f"epoch_{epoch}.pt"
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{kept.name}.", suffix=".tmp")
        os.close(fd)
        shutil.copyfile(directory / "last.pt", tmp)
        os.replace(tmp, kept)
    return directory / "last.pt"


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoints" / "last.pt" if (path / "checkpoints").is_dir() else path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # a truncated or foreign file
        raise RuntimeError(f"{path} is not a readable checkpoint: {err}") from None


def resolve_resume(resume: Optional[str], search_root: Path) -> Optional[Path]:
    """``true`` -> the newest ``last.pt`` under ``search_root``; a directory or file -> its checkpoint."""
    if resume in (None, "", "false", "False"):
        return None
    if str(resume).lower() == "true":
        found = sorted(search_root.glob("**/checkpoints/last.pt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise FileNotFoundError(f"resume=true but no checkpoints/last.pt under {str(search_root)!r}; "
                                    "pass resume=<run dir or checkpoint file>")
        return found[-1]
    path = Path(resume).expanduser()
    if path.is_dir():
        path = path / "checkpoints" / "last.pt" if (path / "checkpoints").is_dir() else path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"resume={resume!r}: no checkpoint at {str(path)!r}")
    return path
