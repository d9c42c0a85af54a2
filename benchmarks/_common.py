"""Helpers shared by the benchmark scripts and the analyses (`benchmarks.analysis`).

- configs and provenance: composing the real ``conf/``, the git commit, building a search;
- the NAS-Bench-201 table: the ``--nb201`` argument and its table;
- finished search runs: derive's candidates (``derive_candidates.csv``), the stored config, the budget;
- zero-cost score files (``benchmarks.zero_cost --out``) and AZ-NAS's rank combinations over them;
- pools of scored cells: AZ-NAS's order over a pool, seeded pools per size, one line per pick rule.
"""
from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import os
import random
import statistics
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from hydra import compose as hydra_compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import supernet
from enas.config import register_configs
from enas.predictors.ranking import AZ_NAS, log_rank_sum, rank_sum
from enas.report.benchmark import NB201Table
from enas.search import Constraint, build_search

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# The whole space scored once (benchmarks.zero_cost --all, seed 0, AZ-NAS's parts and the parameter count).
SHIPPED = Path(__file__).resolve().parent / "data" / "nb201_az_nas_whole_space.json.gz"
AZ_NAS_PARAMS = ("az_nas", "params")  # the rank sum of AZ-NAS and the parameter count


# -- configs and provenance ------------------------------------------------------------------------------
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


def write_json(path, record: Dict) -> Dict:
    """``record`` with the git commit, as JSON at ``path`` (folders made); says where, returns the record."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {**record, "commit": git_commit()}
    out.write_text(json.dumps(record, indent=1, default=str))
    print(f"written to {out}")
    return record


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=ROOT).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def built_search(cfg, device):
    """The search ``cfg`` describes (`enas.search.build_search`), its parts by name: ``task``, ``split``,
    ``model``, ``space``, ``strategy``. The one place that knows what ``build_search`` returns."""
    built = build_search(cfg, device)
    if not isinstance(built, tuple):  # a `Search`: the parts are its attributes already
        return built
    task, split, model, space, strategy = built
    return SimpleNamespace(task=task, split=split, model=model, space=space, strategy=strategy)


# -- the NAS-Bench-201 table ------------------------------------------------------------------------------
def add_nb201_argument(parser: argparse.ArgumentParser, holds: str = "nb201_accuracies.csv") -> None:
    """``--nb201 FOLDER``, by default ``$NB201_DIR`` or ``./data/nasbench201``."""
    parser.add_argument("--nb201", type=Path, default=Path(os.environ.get("NB201_DIR", "data/nasbench201")),
                        help=f"folder with {holds} (default: $NB201_DIR, else ./data/nasbench201)")


def nb201_table(folder: Path) -> NB201Table:
    """The benchmark table in ``folder``, or an error that says where to get it."""
    path = Path(folder) / "nb201_accuracies.csv"
    if not path.is_file():
        raise SystemExit(f"{path} not found: pass --nb201 <folder with nb201_accuracies.csv> or set NB201_DIR "
                         "(benchmarks/README.md says where to get it)")
    return NB201Table(str(path))


def top5_within(table: NB201Table, budget: Optional[Constraint]) -> float:
    """Where the top 5% starts: of the cells within ``budget``, or of the whole space without one."""
    return table.quantile(5, values=table.within_budget(budget) if budget is not None else None)


# -- finished search runs ---------------------------------------------------------------------------------
def _num(value: str):
    """A CSV cell: a float, None when empty, or the text itself (e.g. ``source``)."""
    if value in ("", None):
        return None
    try:
        return float(value)
    except ValueError:
        return value


def load_candidates(run_dir: Path) -> List[Dict]:
    """Derive's candidates of a run, best first by shared-weight score, with every numeric column."""
    with open(run_dir / "derive_candidates.csv", newline="") as f:
        return [{"arch": json.loads(r.pop("architecture")), **{k: _num(v) for k, v in r.items()}}
                for r in csv.DictReader(f)]


def distinct_candidates(run_dir: Path) -> List[Dict]:
    """Derive's candidates of a run, each distinct cell once (its first row: the policy proposes repeats)."""
    distinct: Dict[str, Dict] = {}
    for cand in load_candidates(run_dir):
        distinct.setdefault(supernet.to_nb201_string(cand["arch"]), cand)
    return list(distinct.values())


def run_config(run_dir: Path):
    return OmegaConf.load(run_dir / "config.yaml")


def benchmark_acc(table: NB201Table, arch: Dict) -> float:
    return table.lookup(supernet.to_nb201_string(arch))["cifar10_test_acc"]


def run_dirs(paths: List[Path]) -> List[Path]:
    """Search run folders (holding ``derive_candidates.csv``) among ``paths`` and their subfolders."""
    found = []
    for path in paths:
        inside = [path] if (path / "derive_candidates.csv").is_file() else sorted(
            p.parent for p in path.glob("*/derive_candidates.csv"))
        if not inside:
            raise FileNotFoundError(f"no derive_candidates.csv in {path} or its subfolders: pass search run folders "
                                    "or the --out folders of benchmarks.nb201")
        found += inside
    return found


def run_budget(run_dir: Path) -> Optional[Constraint]:
    """The run's own budget over the searched supernet (None without one)."""
    cfg = run_config(run_dir)
    limit = cfg.get("constraint", {}) or {}
    if all(limit.get(k) is None for k in ("max_params", "max_flops", "max_latency_ms")):
        return None
    space = OmegaConf.to_container(cfg.space, resolve=True)
    model = supernet.create_space(space.pop("name"), **space)
    example = None
    if limit.get("max_flops") is not None:
        import torch

        example = torch.zeros(1, 3, 32, 32)
    latency = None
    if limit.get("max_latency_ms") is not None:  # the run's own predictions: the numbers its budget was set in
        from enas.search.latency import TABLE_FILE, LatencyTable

        latency = LatencyTable.load(run_dir / TABLE_FILE, model)
    return Constraint(model, limit.get("max_params"), limit.get("max_flops"), example, limit.get("max_latency_ms"),
                      latency)


def finite(value) -> float:
    """``value``, or -inf when it is missing or not finite (the worst in a ranking)."""
    return value if value is not None and math.isfinite(value) else -math.inf


# -- zero-cost score files ----------------------------------------------------------------------------------
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


def no_search(pool: List[Dict], signal: str, k: int, seed: int) -> Dict:
    """The best-by-``signal`` row among ``k`` drawn from ``pool`` (seeded): a training-free run of that size."""
    drawn = random.Random(seed).sample(pool, min(k, len(pool)))
    if signal in ("az_nas", "az_nas_params"):
        drawn = with_combinations(drawn)
    return max(drawn, key=lambda r: r[signal])  # ties: the first drawn (a seeded random order)


def cost_pair(text: str) -> Tuple[str, float]:
    """An argparse type: ``name=seconds`` (seconds a cell of one scoring) as a pair."""
    name, _, seconds = text.partition("=")
    try:
        return name, float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes name=seconds (e.g. az_nas=0.42), got {text!r}") from None


# -- pools of scored cells ------------------------------------------------------------------------------------
def az_nas_parts(rows: Sequence[Dict]) -> np.ndarray:
    """AZ-NAS's four parts of every row as a [cells, parts] array; a missing (NaN) score is the worst."""
    return np.nan_to_num(np.array([[r[n] for n in AZ_NAS] for r in rows], dtype=np.float64), nan=-np.inf)


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ascending ranks, ties sharing their average (as `enas.predictors.ranking.ranks`; -inf for
    NaN makes it the worst)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2)[inverse]


def az_nas_order(scorings: Sequence[np.ndarray], pool: np.ndarray) -> np.ndarray:
    """``pool`` (row indices of each scoring's [cells, parts] array) sorted best first by AZ-NAS's log-rank
    sum over the pool; with several scorings (seeds) each part's rank is the mean of its ranks under them.
    Ties keep the pool's order."""
    mean_ranks = np.mean([np.stack([average_ranks(p[pool, j]) for j in range(p.shape[1])], axis=1)
                          for p in scorings], axis=0)
    return pool[np.argsort(-np.log(mean_ranks / len(pool)).sum(axis=1), kind="stable")]


def az_nas_pick(scorings: Sequence[np.ndarray], pool: np.ndarray) -> int:
    """The cell (index) AZ-NAS picks in ``pool`` (`az_nas_order`'s first)."""
    return int(az_nas_order(scorings, pool)[0])


def paired_scores(first_rows: List[Dict], second_rows: List[Dict]):
    """Accuracies and both scorings' AZ-NAS parts, in the second file's cell order."""
    by_arch = {r["arch_str"]: r for r in first_rows}
    missing = [r["arch_str"] for r in second_rows if r["arch_str"] not in by_arch]
    if missing:
        raise ValueError(f"{len(missing)} cells of the second scoring are not in the first (e.g. {missing[0]}): "
                         "the first must hold them all (the whole space, zero_cost --all)")
    for name, rows in (("first", first_rows), ("second", second_rows)):
        absent = [n for n in AZ_NAS if n not in rows[0]]
        if absent:
            raise ValueError(f"the {name} scoring lacks {', '.join(absent)}: score with --proxies "
                             f"{' '.join(AZ_NAS)}")
    return (np.array([r["acc"] for r in second_rows], dtype=np.float64),
            az_nas_parts([by_arch[r["arch_str"]] for r in second_rows]), az_nas_parts(second_rows))


def add_pool_arguments(parser: argparse.ArgumentParser, sizes: Sequence[int], what: str) -> None:
    """``--sizes`` (cells a pool holds: ``what``) and ``--pools`` (pools drawn per size), for `seeded_pools`."""
    parser.add_argument("--sizes", nargs="+", type=int, default=list(sizes), help=what)
    parser.add_argument("--pools", type=int, default=400, help="pools drawn per size (pool r with seed r)")


def seeded_pools(cells: int, sizes: Sequence[int], pools: int,
                 scored: str) -> Iterator[Tuple[int, np.random.Generator]]:
    """``(N, rng)`` for ``pools`` pools of each size ``N``, pool ``r`` drawn with seed ``r``; ``cells`` are
    what the pools are drawn from (``scored`` says how, for the error when a pool is larger)."""
    for n in sizes:
        if n > cells:
            raise ValueError(f"pools of {n} cells from {cells} {scored}")
        for r in range(pools):
            yield n, np.random.default_rng(r)


def print_picks(results: Dict[str, Sequence[float]], top5, width: Optional[int] = None,
                taus: Optional[Dict[str, Sequence[float]]] = None) -> None:
    """One line per rule: mean +- std of its picks' benchmark accuracy, their share in the top 5% (``top5``:
    one threshold, or one per pick as ``{rule: [...]}``), and the mean tau of its signal when ``taus`` has it."""
    width = width or max(map(len, results))
    for rule, accs in results.items():
        accs = np.array(accs)
        start = np.array(top5[rule]) if isinstance(top5, dict) else top5
        tau = np.array((taus or {}).get(rule, [np.nan]), dtype=np.float64)
        tau = f"  tau {np.nanmean(tau):5.2f}" if np.isfinite(tau).any() else ""
        print(f"  {rule:{width}} {accs.mean():6.2f} +- {accs.std():.2f}  top 5%: {100 * np.mean(accs >= start):3.0f}%"
              f"{tau}")


def cells_summary(cells: Sequence[Dict], top5: Sequence[float]) -> str:
    """Picked NAS-Bench-201 cells (``NB201Table.describe`` rows) in one line: CIFAR-10 test accuracy mean +- std,
    the worst, how many reach their run's top 5% (``top5``, one threshold per cell), CIFAR-100 and IN16 means."""
    c10 = [c["cifar10_test_acc"] for c in cells]
    std = statistics.stdev(c10) if len(c10) > 1 else 0.0
    return (f"{statistics.mean(c10):6.2f} +- {std:4.2f}  min {min(c10):6.2f}  in the top 5%: "
            f"{sum(a >= t for a, t in zip(c10, top5)):2d}/{len(c10)}  "
            f"C-100 {statistics.mean(c['cifar100_test_acc'] for c in cells):6.2f}  "
            f"IN16 {statistics.mean(c['imagenet16_120_test_acc'] for c in cells):6.2f}")
