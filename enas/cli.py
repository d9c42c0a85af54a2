"""Command-line entry points: thin ``@hydra.main`` wrappers around `search`, `retrain`, `derive_checkpoint`.

    enas-search [overrides]                python -m enas search [overrides]
    enas-train architecture=...            python -m enas train architecture=...
    enas-derive checkpoint=...             python -m enas derive checkpoint=...
    enas-report <run or multirun folder>   python -m enas report <folder>

Configs live in the repository's ``conf/`` (install with ``pip install -e .``).

An error this package raises on purpose (a ``raise`` in ``enas/`` or ``supernet/``: a wrong data path, an
unknown architecture, a budget nothing fits, a NaN loss) carries a message written for the user, so it is
printed as one line with where it was raised, and the command exits with 1; any other error (a bug, or one
from torch) keeps Hydra's report. ``HYDRA_FULL_ERROR=1`` prints the whole traceback for both, and a job of a
sweep (``-m``) always raises, for Hydra's launcher and sweeper to handle.
"""
from __future__ import annotations

import functools
import os
import sys
import traceback
from pathlib import Path
from typing import Callable, Optional

import hydra
from omegaconf import DictConfig

from .config import register_configs
from .report.auto import write_report_after_run
from .runs.process import prepare_process
from .search import derive_checkpoint, retrain, search
from .search.objective import objective_value


def config_dir() -> str:
    """Hydra's config folder: ``enas/conf`` beside this module in an installed wheel or sdist (setup.py ships the
    repository's ``conf/`` there), else the checkout's ``conf/`` (a clone or an editable install, whose edits
    take effect without reinstalling)."""
    packaged = Path(__file__).resolve().parent / "conf"
    return str(packaged if (packaged / "search.yaml").is_file() else ROOT / "conf")


ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = config_dir()
OWN_PACKAGES = tuple(str(ROOT / name) + os.sep for name in ("enas", "supernet"))

register_configs()


def raised_on_purpose(error: BaseException) -> Optional[traceback.FrameSummary]:
    """Where ``error`` was raised, when that was a ``raise`` statement of this project's own packages
    (a message meant for the user); None for anything else."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames or not isinstance(error, Exception):
        return None
    last = frames[-1]
    own = last.filename.startswith(OWN_PACKAGES)
    return last if own and (last.line or "").lstrip().startswith("raise") else None


def in_multirun() -> bool:
    """True inside a job of a Hydra sweep (``-m``), where a failing job must stay an exception that Hydra's
    launcher and sweeper handle, not a SystemExit from inside the job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def input_errors_in_one_line(prog: str) -> Callable:
    """Run the decorated entry point; an error raised on purpose by this package prints as
    ``prog: error: message`` (and exits with 1) instead of a traceback, unless HYDRA_FULL_ERROR=1 or the
    run is a job of a sweep."""
    def wrap(main: Callable) -> Callable:
        @functools.wraps(main)
        def run(*args, **kwargs):
            try:
                return main(*args, **kwargs)
            except Exception as error:
                site = raised_on_purpose(error)
                if site is None or os.environ.get("HYDRA_FULL_ERROR") == "1" or in_multirun():
                    raise
                where = os.path.relpath(site.filename, ROOT)
                message = error.args[0] if isinstance(error, KeyError) and len(error.args) == 1 else error  # no quotes
                print(f"{prog}: error: {message}\n  ({type(error).__name__} at {where}:{site.lineno}; "
                      "HYDRA_FULL_ERROR=1 prints the traceback)", file=sys.stderr)
                sys.exit(1)
        return run
    return wrap


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="search")
@input_errors_in_one_line("enas-search")
def search_main(cfg: DictConfig) -> float:
    """Returns the search's objective (``objective=`` in the config) for Hydra's sweepers (Optuna)."""
    prepare_process(cfg)
    result = search(cfg)
    if result:
        write_report_after_run(result["out_dir"])
    return objective_value(cfg, result)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@input_errors_in_one_line("enas-train")
def train_main(cfg: DictConfig) -> float:
    """Returns the test accuracy (or the text task's test score) of the retrained child."""
    prepare_process(cfg)
    result = retrain(cfg)
    if result.get("out_dir"):
        write_report_after_run(result["out_dir"])
    return float(result.get("test_score", result.get("test_acc", float("nan"))))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="derive")
@input_errors_in_one_line("enas-derive")
def derive_main(cfg: DictConfig) -> None:
    prepare_process(cfg)
    derive_checkpoint(cfg)
