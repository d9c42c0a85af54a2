"""Ground truth for NAS-Bench-201: the real trained accuracy of every cell of the space.

NAS-Bench-201 (Dong & Yang 2020, arXiv:2001.00326) trained all 15,625 cells; looking a derived cell
up tells whether a search found a good architecture, not just whether it ran. Two sources:

* the CSV ``nb201_accuracies.csv`` (one row per cell: ``arch_index, arch_str, cifar10_test_acc, ...``,
  the 200-epoch CIFAR-10 test accuracy being the standard number), found at ``benchmark_file=...``,
  ``$NB201_CSV``, or ``./data/nasbench201/nb201_accuracies.csv``;
* the official API (``nats_bench`` or ``nas_201_api``) with its data file, when installed:
  ``benchmark_file=<path to the API's file>``.
"""
from __future__ import annotations

import bisect
import csv
import os
from pathlib import Path
from typing import Dict, List, Optional

import supernet

__all__ = ["NB201Table", "find_nb201_csv", "lookup_benchmark"]

DEFAULT_CSV = Path("data") / "nasbench201" / "nb201_accuracies.csv"


def find_nb201_csv(path: Optional[str] = None) -> Path:
    candidates = [Path(p) for p in (path, os.environ.get("NB201_CSV")) if p] + [DEFAULT_CSV]
    for candidate in candidates:
        if candidate.expanduser().is_file():
            return candidate.expanduser()
    raise FileNotFoundError(
        f"NAS-Bench-201 table not found (looked at {', '.join(map(str, candidates))}). Put nb201_accuracies.csv "
        f"at {DEFAULT_CSV}, set NB201_CSV, or pass benchmark_file=/path/to/nb201_accuracies.csv")


class NB201Table:
    """The benchmark as a table: look up a cell, rank an accuracy among all 15,625."""

    def __init__(self, path: Optional[str] = None):
        self.path = find_nb201_csv(path)
        with open(self.path, newline="") as f:
            reader = csv.DictReader(f)
            if "arch_str" not in (reader.fieldnames or []):
                raise ValueError(f"{self.path} has no 'arch_str' column: not a NAS-Bench-201 accuracy table")
            self.rows: Dict[str, Dict[str, float]] = {
                r["arch_str"]: {k: (float(v) if k != "arch_str" else v) for k, v in r.items()} for r in reader}
        self._sorted: Dict[str, List[float]] = {}

    def __len__(self) -> int:
        return len(self.rows)

    def lookup(self, arch_str: str) -> Dict[str, float]:
        if arch_str not in self.rows:
            raise KeyError(f"{arch_str!r} is not a NAS-Bench-201 cell")
        return self.rows[arch_str]

    def column(self, name: str) -> List[float]:
        if name not in self._sorted:
            self._sorted[name] = sorted(r[name] for r in self.rows.values())
        return self._sorted[name]

    def subspace(self, arch_strs) -> List[float]:
        """Sorted CIFAR-10 test accuracies of the given cells (e.g. those within a budget)."""
        return sorted(self.rows[a]["cifar10_test_acc"] for a in arch_strs)

    def top_percent(self, value: float, column: str = "cifar10_test_acc", values: Optional[List[float]] = None) -> float:
        """Share of the space (in %) at least as good as ``value``: 1.0 means 'in the top 1%'.
        ``values`` (sorted) replaces the whole space by a subspace."""
        values = self.column(column) if values is None else values
        better_or_equal = len(values) - bisect.bisect_left(values, value)
        return 100.0 * better_or_equal / len(values)

    def quantile(self, top_percent: float, column: str = "cifar10_test_acc", values: Optional[List[float]] = None) -> float:
        """The accuracy at which the top ``top_percent``% of the space (or of sorted ``values``) starts."""
        values = self.column(column) if values is None else values
        return values[max(0, min(len(values) - 1, int(round(len(values) * (1 - top_percent / 100)))))]

    def within_budget(self, constraint) -> List[float]:
        """Sorted accuracies of the cells that fit ``constraint`` (an `enas.search.constraints.Constraint`
        over the searched NB201 supernet): the budgeted subspace a budgeted search is scored against."""
        return self.subspace([a for a in self.rows if constraint.feasible(supernet.from_nb201_string(a))])

    def describe(self, arch: Dict) -> Dict:
        arch_str = supernet.to_nb201_string(arch)
        row = self.lookup(arch_str)
        return {"arch_str": arch_str, "arch_index": int(row["arch_index"]),
                "cifar10_test_acc": row["cifar10_test_acc"],
                "cifar10_valid_acc_12ep": row.get("cifar10_valid_acc_12ep"),
                "cifar100_test_acc": row.get("cifar100_test_acc"),
                "imagenet16_120_test_acc": row.get("imagenet16_120_test_acc"),
                "top_percent": self.top_percent(row["cifar10_test_acc"])}


def _official_api(path: str):
    """The official API, when installed and ``path`` is its data file (not the CSV)."""
    try:
        from nats_bench import create  # type: ignore

        return lambda s: create(path, "tss", fast_mode=True, verbose=False)
    except ImportError:
        pass
    try:
        from nas_201_api import NASBench201API  # type: ignore

        return lambda s: NASBench201API(path, verbose=False)
    except ImportError:
        return None


def lookup_benchmark(name: str, model, arch: Dict, path: Optional[str] = None, constraint=None) -> Dict:
    """Benchmark numbers of a derived architecture (``benchmark=nb201`` in a search config); with an
    active ``constraint``, also its percentile among the cells within the budget."""
    if name != "nb201":
        raise ValueError(f"unknown benchmark {name!r}; available: nb201")
    if path and not str(path).endswith(".csv"):
        factory = _official_api(path)
        if factory is None:
            raise ImportError(f"benchmark_file={path!r} is not a CSV and neither nats_bench nor nas_201_api is "
                              "installed; pip install nats_bench, or point benchmark_file at nb201_accuracies.csv")
        api = factory(path)
        arch_str = supernet.to_nb201_string(arch)
        index = api.query_index_by_arch(arch_str)
        info = api.get_more_info(index, "cifar10", hp="200", is_random=False)
        return {"arch_str": arch_str, "arch_index": index, "cifar10_test_acc": info["test-accuracy"]}
    table = NB201Table(path)
    described = table.describe(arch)
    if constraint is not None and constraint.active:
        values = table.within_budget(constraint)
        described.update({"budget_cells": len(values), "budget_best": values[-1],
                          "budget_top_percent": table.top_percent(described["cifar10_test_acc"], values=values)})
    return described
