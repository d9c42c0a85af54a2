"""Run reports: ``enas-report <run folder>`` or ``enas-report <multirun folder>``.

A run folder gets PNG figures and one self-contained ``report.html``: training curves, the
controller's reward / baseline / entropy (and skip rate), a heat map per decision of what the policy
learned, a drawing of the derived architecture, and for NAS-Bench-201 runs derive's candidates
against the benchmark. A Hydra ``-m`` sweep folder gets a table of its jobs and mean +- std over
seeds. Needs matplotlib (``pip install "enas[report]"``); the rest of enas does not.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

__all__ = ["write_report", "main", "MISSING_MATPLOTLIB"]

MISSING_MATPLOTLIB = ('enas-report needs matplotlib, which is not installed: pip install "enas[report]" '
                      '(or pip install -e ".[report]" in a clone, or pip install matplotlib)')


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(MISSING_MATPLOTLIB) from None


def write_report(folder) -> Path:
    """The report of a run folder or of a multirun (sweep) folder; returns the ``report.html`` written."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder: pass a run folder (outputs/search/<time>) or a "
                                "multirun folder (multirun/search/<time>)")
    from .sweep import is_sweep_folder, write_sweep_report

    if is_sweep_folder(folder):
        return write_sweep_report(folder)
    _require_matplotlib()
    from .run_report import write_run_report

    return write_run_report(folder)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="enas-report", description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run folders or multirun (sweep) folders")
    args = parser.parse_args(argv)
    status = 0
    for folder in args.folders:
        try:
            print(f"Report: {write_report(folder)}")
        except (FileNotFoundError, ImportError, ValueError) as err:
            print(f"enas-report: {err}", file=sys.stderr)
            status = 1
    return status
