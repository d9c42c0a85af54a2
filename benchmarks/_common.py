"""Helpers shared by the benchmark scripts: composing the real configs, rank correlations, the git commit,
zero-cost score files and the combinations computed over them."""
from __future__ import annotations

import gzip
import json
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from hydra import compose as hydra_compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from enas.config.schema import register_configs
from enas.predictors.ranking import AZ_NAS, kendall_tau, log_rank_sum, rank_sum, spearman_rho  # noqa: F401

AZ_NAS_PARAMS = ("az_nas", "params")  # the rank sum tested in benchmarks/README.md

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


def load_scores(paths: List[Path]) -> Dict:
    """The scored cells of one or more ``--out`` files (shards of one scoring: same size, seed and proxies),
    plain or gzipped (``.json.gz``, as `benchmarks/data/` ships the whole space)."""
    saved = [json.loads(gzip.decompress(Path(path).read_bytes()) if str(path).endswith(".gz")
                        else Path(path).read_text()) for path in paths]
    for path, other in zip(paths[1:], saved[1:]):
        for key in ("C", "N", "seed"):
            if other.get(key) != saved[0].get(key):
                raise ValueError(f"{path} was scored with {key}={other.get(key)}, {paths[0]} with "
                                 f"{key}={saved[0].get(key)}: not shards of one scoring")
    rows = list({r["arch_str"]: r for s in saved for r in s["rows"]}.values())
    cost = {k: v for s in saved for k, v in s.get("seconds_per_cell", {}).items()}
    return {**saved[0], "rows": rows, "seconds_per_cell": cost}


def with_combinations(rows: List[Dict]) -> List[Dict]:
    """Add AZ-NAS (log-rank sum of its four parts over these rows) and ``az_nas_params`` (the rank sum of
    AZ-NAS and the parameter count) to every row: both are relative to the rows they are computed over."""
    rows = [{**r, "az_nas": a} for r, a in zip(rows, log_rank_sum(rows, AZ_NAS))]
    if not all("params" in r for r in rows):
        return rows
    return [{**r, "az_nas_params": a} for r, a in zip(rows, rank_sum(rows, AZ_NAS_PARAMS))]
