"""Per-epoch metrics of a run: ``metrics.csv`` (and TensorBoard scalars when it is installed)."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List, Optional

from .checkpoint import atomic_write

__all__ = ["MetricsLogger"]


class MetricsLogger:
    """Per-epoch metrics as ``metrics.csv`` (rewritten atomically; columns are the union of keys),
    and TensorBoard scalars when the ``tensorboard`` package is installed."""

    def __init__(self, directory: Path, filename: str = "metrics.csv", tensorboard: bool = True, resume: bool = False):
        self.path = Path(directory) / filename
        self.rows: List[Dict[str, Any]] = []
        if resume and self.path.is_file():  # continuing the run in its own folder
            with open(self.path, newline="") as f:
                self.rows = [dict(r) for r in csv.DictReader(f)]
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(Path(directory) / "tensorboard"))
            except (ImportError, ModuleNotFoundError):
                self.writer = None

    def truncate(self, epoch: int) -> None:
        """Forget rows after ``epoch`` (a resumed run redoes them)."""
        self.rows = [r for r in self.rows if int(float(r.get("epoch", -1))) <= epoch]

    def log(self, row: Dict[str, Any], step: Optional[int] = None) -> None:
        self.rows.append(row)
        keys: List[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys)
        writer.writeheader()
        writer.writerows(self.rows)
        text = buf.getvalue()

        def write(tmp: str) -> None:
            with open(tmp, "w", newline="") as f:
                f.write(text)

        atomic_write(write, self.path)
        if self.writer is not None:
            for k, v in row.items():
                if isinstance(v, (int, float)) and k != "epoch":
                    self.writer.add_scalar(k, v, row.get("epoch", step) if step is None else step)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
