"""Run plumbing shared by search, derive and retrain: device, seeds, output folder, metrics, progress."""
from __future__ import annotations

import csv
import io
import logging
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import numpy as np
import torch

from . import _malloc

__all__ = ["resolve_device", "seed_everything", "MetricsLogger", "progress", "output_dir", "prepare_process"]

log = logging.getLogger("enas")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device={name!r} but CUDA is not available here; use device=cpu or device=auto")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare_process(cfg) -> None:
    """Process-wide settings, applied once by the command-line entry points."""
    if getattr(cfg, "tune_malloc", False):
        _malloc.keep_freed_memory_mapped()


def output_dir(cfg) -> Path:
    if cfg.get("output_dir"):
        path = Path(cfg.output_dir)
    else:
        try:
            from hydra.core.hydra_config import HydraConfig

            path = Path(HydraConfig.get().runtime.output_dir)
        except ValueError:  # called from Python without Hydra
            path = Path("outputs") / cfg.get("task_name", "run")
    path.mkdir(parents=True, exist_ok=True)
    return path


class MetricsLogger:
    """Per-epoch metrics as ``metrics.csv`` (rewritten atomically; columns are the union of keys),
    and TensorBoard scalars when the ``tensorboard`` package is installed."""

    def __init__(self, directory: Path, filename: str = "metrics.csv", tensorboard: bool = True, resume: bool = False):
        self.path = Path(directory) / filename
        self.rows: List[Dict[str, Any]] = []
        if resume and self.path.is_file():  # continuing the run in its own folder
            with open(self.path, newline="") as f:
                self.rows = [dict(r) for r in csv.DictReader(f)]
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(Path(directory) / "tensorboard"))
            except (ImportError, ModuleNotFoundError):
                self.writer = None

    def truncate(self, epoch: int) -> None:
        """Forget rows after ``epoch`` (a resumed run redoes them)."""
        self.rows = [r for r in self.rows if int(float(r.get("epoch", -1))) <= epoch]

    def log(self, row: Dict[str, Any], step: Optional[int] = None) -> None:
        self.rows.append(row)
        keys: List[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".metrics.", suffix=".tmp")
        with os.fdopen(fd, "w", newline="") as f:
            f.write(buf.getvalue())
        os.replace(tmp, self.path)
        if self.writer is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.writer.add_scalar(k, v, row.get("epoch", step) if step is None else step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def progress(iterable: Iterable, enabled: bool, **kwargs):
    """A tqdm bar on a terminal or in a log; plain iteration when disabled."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, dynamic_ncols=True, mininterval=1.0, **kwargs)
