"""Command-line entry points: thin ``@hydra.main`` wrappers around `search`, `retrain`, `derive_checkpoint`.

    enas-search [overrides]                python -m enas search [overrides]
    enas-train architecture=...            python -m enas train architecture=...
    enas-derive checkpoint=...             python -m enas derive checkpoint=...
    enas-export run=...                    python -m enas export run=...
    enas-report <run or multirun folder>   python -m enas report <folder>

Configs come from the repository's ``conf/`` (shipped inside an installed package as ``enas/conf``); what the
user typed is prepared first (`prepared_argv`: resume into the run's own folder, retrain at the searched
size, a typo'd key as one line), and ``resume=`` continues with the run's recorded config (`resumed`).

An error this package raises on purpose (a ``raise`` in ``enas/`` or ``supernet/``: a wrong data path, an
unknown architecture, a budget nothing fits, a NaN loss) carries a message written for the user, so it is
printed as one line with where it was raised, and the command exits with 1; any other error (a bug, or one
from torch) keeps Hydra's report. ``HYDRA_FULL_ERROR=1`` prints the whole traceback for both, and a job of a
sweep (``-m``) always raises, for Hydra's launcher and sweeper to handle.
"""
from __future__ import annotations

import functools
import os
import re
import sys
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Optional

import hydra
from hydra.errors import ConfigCompositionException
from omegaconf import DictConfig

from .config import SearchConfig, TrainConfig, register_configs
from .report.auto import write_report_after_run
from .runs.process import prepare_process
from .search import derive_checkpoint, retrain, search
from .runs.folder import resolve_resume
from .search.export import export
from .search.objective import objective_value
from .search.retrain import searched_space
from .search.state import resume_config
from .trials import multi_trial_search


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
                _forget_empty_run_folder()
                where = os.path.relpath(site.filename, ROOT)
                message = error.args[0] if isinstance(error, KeyError) and len(error.args) == 1 else error  # no quotes
                print(f"{prog}: error: {message}\n  ({type(error).__name__} at {where}:{site.lineno}; "
                      "HYDRA_FULL_ERROR=1 prints the traceback)", file=sys.stderr)
                sys.exit(1)
        return run
    return wrap


def command_line(command: str) -> Callable:
    """Make what the user typed into what the command runs, before Hydra sees it (`prepared_argv`); a
    mistake found there prints one line and exits with 1. Calls with a config (tests, Hydra's sweepers)
    pass through."""
    def wrap(main: Callable) -> Callable:
        @functools.wraps(main)
        def run(*args, **kwargs):
            if not args and not kwargs:
                try:
                    sys.argv = prepared_argv(command, sys.argv)
                except Exception as error:
                    if raised_on_purpose(error) is None and not isinstance(error, ConfigCompositionException):
                        raise
                    sys.exit(f"enas-{command}: error: {_first_line(error)}")
            return main(*args, **kwargs)
        return run
    return wrap


def _first_line(error: BaseException) -> str:
    text = str(error.args[0] if isinstance(error, KeyError) and error.args else error).strip()
    typo = re.match(r"Could not override '([^']+)'", text)
    if typo and "To append to your config" in text:
        return f"unknown config key {typo.group(1)!r} (a new key is added with +{typo.group(1)}=...)"
    return " ".join(line.strip() for line in text.splitlines()[:2])


def _given(args: List[str]) -> Dict[str, str]:
    """The ``key=value`` arguments by key (``+`` and ``~`` prefixes dropped)."""
    return {a.split("=", 1)[0].lstrip("+~"): a.split("=", 1)[1] if "=" in a else "" for a in args}


def _override(value) -> str:
    """A value as Hydra's override grammar writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_override(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def prepared_argv(command: str, argv: List[str]) -> List[str]:
    """``argv`` as the command runs it:

    * ``resume=<run>`` (search, train) writes into that run's folder: Hydra is pointed there instead of
      at a new folder that would stay empty;
    * ``enas-train architecture=<file>`` retrains the space and size the file records it was searched at,
      except what the command line sets itself (``space=...``, ``space.<key>=...``) or an experiment does;
    * the overrides are composed once, so a typo'd key is one line naming it, not Hydra's report.

    Flags (``--help``, ``-m``, ``--cfg`` ...) leave everything to Hydra but ``--config-dir``."""
    args, flags = list(argv[1:]), []
    while args and args[0] in ("--config-dir", "-cd"):
        flags += args[:2]
        args = args[2:]
    if any(a.startswith("-") for a in args):
        return argv
    given = _given(args)
    if command in ("search", "train") and given.get("resume", "false").lower() not in ("", "false", "null"):
        run = resolve_resume(given["resume"], Path("outputs") / given.get("task_name", command))
        if "hydra.run.dir" not in given:
            args.append(f"hydra.run.dir={_override(str(run.parent.parent))}")
    if command == "train" and "architecture" in given and not {"experiment", "space", "resume"} & set(given):
        searched = searched_space(Path(given["architecture"]).expanduser()) if given["architecture"] else None
        if searched is not None:
            args = [f"space={searched['name']}", *[f"++space.{k}={_override(v)}" for k, v in searched["kwargs"].items()
                                                   if f"space.{k}" not in given], *args]
    _compose(command, flags, args)
    return [argv[0], *flags, *args]


def _compose(command: str, flags: List[str], args: List[str]) -> None:
    """Compose the config these arguments give (what Hydra will do next), to report a mistake in one line."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    extra = [str(Path(flags[i + 1]).expanduser().resolve()) for i in range(0, len(flags), 2)]
    overrides = [a for a in args if not a.split("=", 1)[0].lstrip("+~").startswith("hydra.")]
    if extra:
        overrides.append("hydra.searchpath=[" + ",".join(f"file://{d}" for d in extra) + "]")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            compose(config_name=command, overrides=overrides)
    finally:
        GlobalHydra.instance().clear()


def _forget_empty_run_folder() -> None:
    """A refused run leaves nothing: not even the empty folder Hydra made for it."""
    try:
        from hydra.core.hydra_config import HydraConfig

        folder = Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return
    here = Path.cwd().resolve()
    while folder.is_dir() and not any(folder.iterdir()) and here in folder.resolve().parents:
        folder.rmdir()  # and the empty outputs/<task>/ above it, when this run was the first there
        folder = folder.parent


def resumed(cfg, schema, command: str):
    """With ``resume=``, the config the run recorded and the overrides it may take (`resume_config`)."""
    if cfg.get("resume") in (None, "", "false", False) or in_multirun():
        return cfg
    from hydra.core.hydra_config import HydraConfig

    return resume_config(cfg.resume, list(HydraConfig.get().overrides.task), schema, cfg.task_name)


@command_line("search")
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="search")
@input_errors_in_one_line("enas-search")
def search_main(cfg: DictConfig) -> float:
    """Returns the search's objective (``objective=`` in the config) for Hydra's sweepers (Optuna)."""
    cfg = resumed(cfg, SearchConfig, "search")
    prepare_process(cfg)
    result = multi_trial_search(cfg) if cfg.mode == "multi_trial" else search(cfg)
    if result:
        write_report_after_run(result["out_dir"])
    return objective_value(cfg, result)


@command_line("train")
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@input_errors_in_one_line("enas-train")
def train_main(cfg: DictConfig) -> float:
    """Returns the test accuracy (or the text task's test score) of the retrained child."""
    cfg = resumed(cfg, TrainConfig, "train")
    prepare_process(cfg)
    result = retrain(cfg)
    if result.get("out_dir"):
        write_report_after_run(result["out_dir"])
    return float(result.get("test_score", result.get("test_acc", float("nan"))))


@command_line("export")
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="export")
@input_errors_in_one_line("enas-export")
def export_main(cfg: DictConfig) -> None:
    prepare_process(cfg)
    export(cfg)


@command_line("derive")
@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="derive")
@input_errors_in_one_line("enas-derive")
def derive_main(cfg: DictConfig) -> None:
    prepare_process(cfg)
    derive_checkpoint(cfg)
