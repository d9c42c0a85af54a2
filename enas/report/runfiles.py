"""What a run folder holds, read back as plain data for the report (no torch needed for most of it).

A search folder: ``metrics.csv``, ``policy.jsonl``, ``architecture.json`` / ``.txt``,
``derive_candidates.csv``, ``config.yaml``; a retrain folder: ``metrics.csv``, ``results.json``,
``config.yaml`` (whose ``architecture`` names the file it trained). Missing files are simply absent
from the report: a run killed mid-way still gets its curves.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

__all__ = ["Run", "read_run", "read_csv", "is_run_folder", "number", "space_decisions"]


def number(value) -> Optional[float]:
    """A CSV cell as a float; None when empty or not a number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def read_csv(path: Path) -> List[Dict[str, str]]:
    with open(path, newline="") as f:
        return [dict(r) for r in csv.DictReader(f)]


def is_run_folder(path: Path) -> bool:
    return any((path / name).is_file() for name in ("metrics.csv", "architecture.json", "results.json"))


@dataclass
class Run:
    folder: Path
    kind: str                                             # "search" | "train"
    metrics: List[Dict[str, str]] = field(default_factory=list)
    config: Dict = field(default_factory=dict)
    overrides: List[str] = field(default_factory=list)     # the command line's overrides (Hydra's record)
    architecture: Optional[Dict] = None                    # label -> value
    arch_meta: Dict = field(default_factory=dict)          # architecture.json's other keys (space, scores, ...)
    summary: str = ""                                      # architecture.txt
    candidates: List[Dict[str, str]] = field(default_factory=list)
    results: Dict = field(default_factory=dict)            # results.json (retrain)

    @property
    def space(self) -> Dict:
        return self.arch_meta.get("space") or self.results.get("space") or {}

    def column(self, name: str) -> List[Optional[float]]:
        return [number(r.get(name)) for r in self.metrics]

    def has(self, name: str) -> bool:
        return any(v is not None for v in self.column(name))

    @property
    def minutes(self) -> Optional[float]:
        """Minutes the run took: as recorded at its end, else the sum of its epochs."""
        if number(self.arch_meta.get("minutes")) is not None:
            return float(self.arch_meta["minutes"])
        if number(self.results.get("minutes")) is not None:
            return float(self.results["minutes"])
        seconds = [v for v in self.column("epoch_seconds") if v is not None]
        return sum(seconds) / 60 if seconds else None


def _yaml(path: Path):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.load(path), resolve=False)


def read_run(folder) -> Run:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    if not is_run_folder(folder):
        raise FileNotFoundError(f"{folder} is not a run folder: it has none of metrics.csv, architecture.json, "
                                "results.json (pass the folder enas-search or enas-train printed at its end)")
    run = Run(folder, "train" if (folder / "results.json").is_file() else "search")
    if (folder / "metrics.csv").is_file():
        run.metrics = read_csv(folder / "metrics.csv")
    if (folder / "config.yaml").is_file():
        run.config = _yaml(folder / "config.yaml")
    recorded = next((p for p in (folder / "overrides.yaml", folder / ".hydra" / "overrides.yaml") if p.is_file()), None)
    if recorded is not None:  # the run's own record (older runs: Hydra's)
        run.overrides = [str(o) for o in (_yaml(recorded) or [])]
    if (folder / "results.json").is_file():
        run.results = json.loads((folder / "results.json").read_text())
        run.architecture = run.results.get("architecture")
    if (folder / "architecture.json").is_file():
        data = json.loads((folder / "architecture.json").read_text())
        run.architecture = data.pop("architecture", None)
        run.arch_meta = data
    if (folder / "architecture.txt").is_file():
        run.summary = (folder / "architecture.txt").read_text()
    if (folder / "derive_candidates.csv").is_file():
        run.candidates = read_csv(folder / "derive_candidates.csv")
    return run


def space_decisions(space: Dict):
    """The decisions of a registered space (name + kwargs), built on the meta device (no memory, no
    init); None for a space this process does not know (a user's own, not imported here)."""
    if not space or "name" not in space:
        return None
    import torch

    from supernet import create_space, decisions, list_spaces

    if space["name"] not in list_spaces():
        return None
    try:
        with torch.device("meta"):
            return decisions(create_space(space["name"], **(space.get("kwargs") or {})))
    except Exception:  # a space that cannot be built this way is drawn from its labels alone
        return None
