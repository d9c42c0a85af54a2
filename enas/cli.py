"""Command-line entry points: thin ``@hydra.main`` wrappers around `search`, `retrain`, `derive_checkpoint`.

    enas-search [overrides]      python -m enas.search [overrides]
    enas-train architecture=...  python -m enas.train architecture=...
    enas-derive checkpoint=...   python -m enas.derive checkpoint=...

Configs live in the repository's ``conf/`` (install with ``pip install -e .``).
"""
from __future__ import annotations

from pathlib import Path

import hydra
from omegaconf import DictConfig

from .config import register_configs
from .run import prepare_process

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")

register_configs()


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="search")
def search_main(cfg: DictConfig) -> None:
    from .search import search

    prepare_process(cfg)
    search(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
def train_main(cfg: DictConfig) -> None:
    from .retrain import retrain

    prepare_process(cfg)
    retrain(cfg)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="derive")
def derive_main(cfg: DictConfig) -> None:
    from .derive_checkpoint import derive_checkpoint

    prepare_process(cfg)
    derive_checkpoint(cfg)
