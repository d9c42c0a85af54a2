"""Run plumbing shared by search, derive and retrain: device, seeds, output folder, metrics, progress."""
from __future__ import annotations

import csv
import io
import logging
import os
import random
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import numpy as np
import torch

from . import malloc as _malloc
from .checkpoint import atomic_write

__all__ = ["resolve_device", "seed_everything", "MetricsLogger", "progress", "output_dir", "prepare_process",
           "announce"]

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
    cap_threads_for_parallel_jobs()


def cap_threads_for_parallel_jobs() -> Optional[int]:
    """Under a Hydra launcher that runs jobs side by side on this machine (joblib: ``n_jobs``), give each
    job ``cores // jobs`` PyTorch threads: oversubscribed, every job ran 10-100x slower. An explicit
    ``OMP_NUM_THREADS`` wins. Returns the threads set, or None when nothing was changed."""
    try:
        from hydra.core.hydra_config import HydraConfig

        launcher = HydraConfig.get().launcher
    except (ImportError, ValueError):  # not under Hydra
        return None
    n_jobs = launcher.get("n_jobs") if launcher is not None else None
    if not n_jobs:
        return None
    cores = os.cpu_count() or 1
    jobs = cores + 1 + n_jobs if n_jobs < 0 else n_jobs  # joblib: -1 means one job per core, -2 all but one
    if os.environ.get("OMP_NUM_THREADS"):  # the user's, or joblib's own cap in its workers
        log.info("%d parallel jobs on %d cores: %d PyTorch thread(s) per job (OMP_NUM_THREADS=%s)", jobs, cores,
                 torch.get_num_threads(), os.environ["OMP_NUM_THREADS"])
        return None
    threads = max(1, cores // max(1, jobs))
    torch.set_num_threads(threads)
    log.info("%d parallel jobs on %d cores: %d PyTorch thread(s) per job", jobs, cores, threads)
    return threads


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
        text = buf.getvalue()

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as f:
                f.write(text)

        atomic_write(write, self.path)
        if self.writer is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.writer.add_scalar(k, v, row.get("epoch", step) if step is None else step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def announce(text: str) -> None:
    """Print a closing summary, and write it to the run's log file (Hydra's ``search.log`` /
    ``train.log``) too; the console already shows it once, so it skips the console handlers."""
    print(text)
    record = log.makeRecord(log.name, logging.INFO, __file__, 0, text.strip("\n"), None, None)
    for handler in logging.getLogger().handlers + log.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def progress(iterable: Iterable, enabled: bool, **kwargs):
    """A tqdm bar on a terminal or in a log; plain iteration when disabled."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, dynamic_ncols=True, mininterval=1.0, **kwargs)
