"""The report written at the end of ``enas-search`` and ``enas-train``: cheap, and never the reason a
finished run fails (a missing matplotlib is one line; any other error a warning naming the command to retry)."""
from __future__ import annotations

import logging
from pathlib import Path

__all__ = ["write_report_after_run"]

log = logging.getLogger("enas")


def write_report_after_run(folder) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print('Run report skipped: matplotlib is not installed (pip install "enas[report]", then enas-report '
              f"{folder})")
        return
    from .run_report import write_run_report

    try:
        print(f"Run report: {write_run_report(Path(folder))}")
    except Exception as err:  # the run itself succeeded; its report can be redone with enas-report
        log.warning("run report not written (%s: %s); retry with enas-report %s", type(err).__name__, err, folder)
