"""Command-line entry points: thin ``@hydra.main`` wrappers around `search`, `retrain`, `derive_checkpoint`.

    enas-search [overrides]      python -m enas.search [overrides]
    enas-train architecture=...  python -m enas.train architecture=...
    enas-derive checkpoint=...   python -m enas.derive checkpoint=...
    enas-report <run or multirun folder>   python -m enas.report <folder>

Configs live in the repository's ``conf/`` (install with ``pip install -e .``).
"""
from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from .config import register_configs
from .report.auto import write_report_after_run
from .run import prepare_process

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")

register_configs()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="search")
def search_main(cfg: DictConfig) -> float:
    """Returns the search's objective (``objective=`` in the config) for Hydra's sweepers (Optuna)."""
    from .objective import objective_value
    from .search import search

    prepare_process(cfg)
    result = search(cfg)
    if result:
        write_report_after_run(result["out_dir"])
    return objective_value(cfg, result)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train_main(cfg: DictConfig) -> float:
    """Returns the test accuracy (or the text task's test score) of the retrained child."""
    from .retrain import retrain

    prepare_process(cfg)
    result = retrain(cfg)
    if result.get("out_dir"):
        write_report_after_run(result["out_dir"])
    return float(result.get("test_score", result.get("test_acc", float("nan"))))


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="derive")
def derive_main(cfg: DictConfig) -> None:
    from .derive_checkpoint import derive_checkpoint

    prepare_process(cfg)
    derive_checkpoint(cfg)
