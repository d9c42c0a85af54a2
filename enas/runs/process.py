"""The process a run lives in: its device, its seeds, its threads and its allocator."""
from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import random
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch

from . import malloc as _malloc

__all__ = ["resolve_device", "seed_everything", "prepare_process", "cap_threads_for_parallel_jobs", "import_modules",
           "torch_threads"]

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
    if cfg.tune_malloc:
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


@contextmanager
def torch_threads(threads: Optional[int]) -> Iterator[None]:
    """PyTorch's intra-op threads set to ``threads`` inside the block, restored after (None: unchanged)."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def import_modules(names: Sequence[str]) -> None:
    """Import each module (``my_spaces``) or file (``my_spaces.py``, relative to the working folder) once:
    what ``imports=[...]`` names, so that a space or task defined outside the package registers itself
    before a run builds it."""
    for name in names:
        if name.endswith(".py"):
            path = Path(name).expanduser().resolve()
            if not path.is_file():
                raise FileNotFoundError(f"imports: no file {str(path)!r} (imports=[...] takes modules or .py files)")
            key = f"enas_user_{path.stem}_{abs(hash(str(path))):x}"
            if key in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(key, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[key] = module
            spec.loader.exec_module(module)
        else:
            if os.getcwd() not in sys.path:  # console scripts do not put the working folder on the path
                sys.path.append(os.getcwd())
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as err:
                if err.name != name.split(".")[0]:
                    raise
                raise ModuleNotFoundError(f"imports: no module {name!r} on the Python path (nor in the working folder "
                                          f"{os.getcwd()}); pass a file as imports=[path/to/{name}.py]") from None

