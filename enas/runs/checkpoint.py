"""Checkpoints and run folders: atomic writes, loading that never runs code, one writer per folder.

A checkpoint is one dict with fixed keys (STYLE.md): ``supernet`` (or ``model``), ``controller``
(strategy state), ``w_optim``, ``lr_sched``, ``epoch`` (last finished), ``step``, ``rng``, ``config``,
``space`` (name + kwargs), plus ``split`` (the search split's indices) and ``metrics``. It holds tensors
and plain data only (numbers, strings, lists, tuples, dicts), so it loads with
``torch.load(weights_only=True)``: a file that holds anything else is refused, since unpickling it could
run code. ``last.pt`` is rewritten every epoch (write to a temporary file, then rename, so a kill never
leaves a torn file) and ``epoch_{n}.pt`` is kept every ``keep_every`` epochs.

A run folder belongs to one process at a time: `RunLock` holds ``.lock`` (PID, host) while a search or
retrain writes there; a second process, a fresh run or a resume, is refused with the holder's PID. A
lock whose process is gone is taken over, and temporary files its writer left behind are removed.
"""
from __future__ import annotations

import errno
import json
import os
import pickle
import random
import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

import numpy as np
import torch

__all__ = ["atomic_write", "file_mode", "save_checkpoint", "load_checkpoint", "resolve_resume", "rng_state", "set_rng_state", "RunLock",
           "CheckpointError", "RunFolderInUse"]

TEMP_PATTERNS = (".last.pt.*.tmp", ".epoch_*.pt.*.tmp", ".metrics.*.tmp", ".*.json.*.tmp")


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot (or must not) be loaded; the message names the file."""


class RunFolderInUse(RuntimeError):
    """Another live process writes this run folder."""


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
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise OSError(errno.ENOSPC, f"the disk is full: could not write {target}; the previous checkpoint "
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


def resolve_resume(resume: Optional[str], search_root: Path) -> Optional[Path]:
    """``true`` -> the newest ``last.pt`` under ``search_root``; a run folder or a file in a run's
    ``checkpoints/`` folder -> that checkpoint. A file elsewhere is refused: its run folder is unknown."""
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
    if path.parent.name != "checkpoints":
        raise ValueError(f"resume={resume!r}: {path} is not inside a run's checkpoints/ folder, so there is no run "
                         "folder to continue; pass the run folder (resume=<run dir>), or copy the file to "
                         "<run dir>/checkpoints/last.pt")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """Hold ``<run dir>/.lock`` while writing there. ``acquire`` refuses a folder a live process holds."""

    def __init__(self, directory: Union[str, Path]):
        self.directory = Path(directory)
        self.path = self.directory / ".lock"
        self.held = False

    def holder(self) -> Optional[Dict[str, Any]]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def acquire(self) -> "RunLock":
        self.directory.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                other = self.holder()
                if other and other.get("host") == me["host"] and other.get("pid") != me["pid"] and _alive(other["pid"]):
                    raise RunFolderInUse(f"run folder {self.directory} is in use by process {other['pid']} (since "
                                         f"{other.get('since')}); wait for it to finish or stop it, or pick "
                                         "another folder") from None
                if other and other.get("host") != me["host"]:
                    raise RunFolderInUse(f"run folder {self.directory} is locked by process {other.get('pid')} on "
                                         f"host {other.get('host')}; remove {self.path} if that run is gone") from None
                self.path.unlink(missing_ok=True)  # a killed writer's lock
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            self._remove_leftovers()
            return self
        raise RunFolderInUse(f"could not lock run folder {self.directory}")

    def _remove_leftovers(self) -> None:
        """Temporary files of writers that were killed mid-write (never a finished file)."""
        for folder in (self.directory, self.directory / "checkpoints"):
            for pattern in TEMP_PATTERNS:
                for tmp in folder.glob(pattern):
                    tmp.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            other = self.holder()
            if other and other.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
