"""Checkpoints: atomic writes, and loading that never runs code.

A checkpoint is one dict with fixed keys: ``supernet`` (or ``model``), ``controller``
(strategy state), ``w_optim``, ``lr_sched``, ``epoch`` (last finished), ``step``, ``rng``, ``config``,
``space`` (name + kwargs), plus ``split`` (the search split's indices) and ``metrics``. It holds tensors
and plain data only (numbers, strings, lists, tuples, dicts), so it loads with
``torch.load(weights_only=True)``: a file that holds anything else is refused, since unpickling it could
run code. ``last.pt`` is rewritten every epoch (write to a temporary file, then rename, so a kill never
leaves a torn file) and ``epoch_{n}.pt`` is kept every ``keep_every`` epochs.
"""
from __future__ import annotations

import errno
import os
import pickle
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any, Dict, Union

import numpy as np
import torch

__all__ = ["atomic_write", "file_mode", "save_checkpoint", "load_checkpoint", "rng_state", "set_rng_state",
           "CheckpointError", "TEMP_PATTERNS"]

# What atomic_write leaves behind when its writer is killed mid-write (removed by the next writer's lock).
TEMP_PATTERNS = (".last.pt.*.tmp", ".epoch_*.pt.*.tmp", ".metrics.*.tmp", ".*.json.*.tmp")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot (or must not) be loaded; the message names the file."""


def rng_state() -> Dict[str, Any]:
    """Every random state a run consumes, as tensors and plain data (numpy's key array as a tensor)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_tuples(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else np.asarray(keys)
    np.random.set_state((name, keys.astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _tuples(value):
    """random.setstate wants tuples where a round trip may have produced lists."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def file_mode() -> int:
    """The mode ``open()`` would give a new file (0644 under the usual umask 022). A temporary file from
    ``mkstemp`` is 0600, and renaming keeps that: run outputs would be unreadable to the group."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(write, target: Path) -> None:
    """Write ``target`` whole or not at all: ``write(tmp_path)``, then rename over ``target``."""
    _atomic_copy_or_save(write, Path(target))


def _atomic_copy_or_save(write, target: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, file_mode())
        write(tmp)
        os.replace(tmp, target)
    except (OSError, RuntimeError) as err:
        # torch.save reports a failed write as a RuntimeError from its zip writer, not as the OSError below it
        full = getattr(err, "errno", None) == errno.ENOSPC or shutil.disk_usage(target.parent).free < (1 << 20)
        if full:
            raise OSError(errno.ENOSPC, f"the disk is full: could not write {target}; the previous checkpoint there "
                                        "(if any) is intact") from None
        if isinstance(err, RuntimeError):
            raise OSError(errno.EIO, f"could not write {target} ({str(err).splitlines()[0]}); the previous checkpoint "
                                     "there (if any) is intact") from None
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_checkpoint(state: Dict[str, Any], directory: Union[str, Path], epoch: int, keep_every: int = 0) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    last = directory / "last.pt"
    _atomic_copy_or_save(lambda tmp: torch.save(state, tmp), last)
    if keep_every and (epoch + 1) % keep_every == 0:
        _atomic_copy_or_save(lambda tmp: shutil.copyfile(last, tmp), directory / f"epoch_{epoch}.pt")
    return last


def load_checkpoint(path: Union[str, Path], map_location: Union[str, torch.device] = "cpu") -> Dict[str, Any]:
    """Load a checkpoint (a ``.pt`` file, or a run folder's ``checkpoints/last.pt``) without running code."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoints" / "last.pt" if (path / "checkpoints").is_dir() else path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{path} was refused: it holds objects other than tensors and plain data, and unpickling it could "
            f"run code. Only load checkpoints you trust ({str(err).splitlines()[0]})") from None
    except Exception as err:  # a truncated or foreign file
        raise CheckpointError(f"{path} is not a readable checkpoint: {err}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not one of our checkpoints (it holds a {type(state).__name__})")
    return state
