"""The trials file of a multi-trial run, ``trials.jsonl``: one JSON line per finished trial, in the order they finished.

Each line holds the trial's ``id``, its ``architecture``, the ``parent`` trial it inherited weights from (or
null), its ``status`` (``finished``: trained its whole budget; ``stopped``: early stopping ended it at a
rung; ``timed_out``: ``multi_trial.time_limit`` ended it; ``failed``: it raised, and ``error`` says what),
``score`` (validation, at the last epoch it trained), ``epochs``, ``rungs`` (the score at every rung it
reached), ``seconds`` of training, ``attempts`` (2 when its first worker died) and ``worker``. The file is
rewritten whole on every trial (a temporary file, then a rename), so a kill never leaves half a line, and a
resumed search counts every line once and trains none of them again.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

from supernet import architecture_key

from ..runs.checkpoint import atomic_write

__all__ = ["TrialsFile", "STATUSES"]

STATUSES = ("finished", "stopped", "timed_out", "failed")


class TrialsFile:
    """The trials of a run (``path`` None: kept in memory only), with a lookup by architecture."""

    def __init__(self, path: Optional[Path] = None):
        self.path = Path(path) if path is not None else None
        self.records: List[Dict] = []
        if self.path is not None and self.path.is_file():
            self.records = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        self._by_arch = {architecture_key(r["architecture"]): r for r in self.records if r["status"] != "failed"}

    def __len__(self) -> int:
        return len(self.records)

    @property
    def ids(self) -> set:
        return {r["id"] for r in self.records}

    def trained(self, arch) -> Optional[Dict]:
        """The record of an earlier trial of ``arch`` that did not fail, if any."""
        return self._by_arch.get(architecture_key(arch))

    def append(self, record: Dict) -> None:
        if record["status"] not in STATUSES:
            raise ValueError(f"unknown trial status {record['status']!r}")
        self.records.append(record)
        if record["status"] != "failed":
            self._by_arch[architecture_key(record["architecture"])] = record
        if self.path is not None:
            text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.records)
            atomic_write(lambda tmp: Path(tmp).write_text(text), self.path)

    def best(self) -> Optional[Dict]:
        """The pick: the best score among the trials that trained the most epochs (an early-stopped child's
        score at a lower rung is not comparable with a fully trained one's)."""
        scored = [r for r in self.records if r["status"] != "failed"]
        if not scored:
            return None
        most = max(r["epochs"] for r in scored)
        return max((r for r in scored if r["epochs"] == most), key=lambda r: r["score"])
