"""Helpers shared by the benchmark scripts: composing the real configs, rank correlations, the git commit."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Optional, Sequence

from hydra import compose as hydra_compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from enas.config import register_configs
from enas.predictors.ranking import kendall_tau, spearman_rho  # noqa: F401  (re-exported for the scripts)

CONF = Path(__file__).resolve().parents[1] / "conf"


def compose(name: str, overrides: Sequence[str], cifar: Optional[str] = None, nb201: Optional[str] = None):
    """The config ``name`` with ``overrides``; ``cifar``/``nb201`` folders fill in the data paths."""
    paths = []
    if cifar:
        paths.append(f"data.root={cifar}")
    if nb201:
        paths += [f"data.split_file={Path(nb201) / 'cifar-split.txt'}",
                  f"benchmark_file={Path(nb201) / 'nb201_accuracies.csv'}"]
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return hydra_compose(config_name=name, overrides=[*overrides, *paths])


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except OSError:
        return "unknown"
