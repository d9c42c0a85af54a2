"""The report of a Hydra ``-m`` sweep: one row per job, then mean +- std per setting over seeds.

A multirun folder (``multirun/<task>/<time>/``) holds one run folder per job (``0/``, ``1/``, ...),
each with its ``overrides.yaml`` (``.hydra/overrides.yaml`` for older runs). Jobs whose overrides differ only in ``seed=`` are one setting;
the second table gives each setting's mean +- std. Written as ``sweep.csv``, ``sweep.md`` and
``report.html``; an Optuna sweep's ``optimization_results.yaml`` (best parameters) is shown too.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .html import Page
from .runfiles import Run, is_run_folder, number, read_run

__all__ = ["is_sweep_folder", "sweep_rows", "setting_rows", "write_sweep_report"]

NUMBERS = ("derive_score", "benchmark_acc", "test_acc", "minutes")


def _job_folders(folder: Path) -> List[Path]:
    jobs = [p for p in folder.iterdir() if p.is_dir() and is_run_folder(p)]
    return sorted(jobs, key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name))


def is_sweep_folder(folder) -> bool:
    folder = Path(folder)
    return folder.is_dir() and not is_run_folder(folder) and bool(_job_folders(folder))


def _architecture_text(run: Run) -> str:
    bench = run.arch_meta.get("benchmark") or {}
    if bench.get("arch_str"):
        return bench["arch_str"]
    if run.space.get("name") == "nb201" and run.architecture:
        from supernet import to_nb201_string

        return to_nb201_string(run.architecture)
    lines = [line for line in run.summary.splitlines() if "=" in line]
    text = "; ".join(lines) if lines else ", ".join(f"{k}={v}" for k, v in (run.architecture or {}).items())
    return text if len(text) <= 160 else text[:157] + "..."


def _score(run: Run) -> Optional[float]:
    score = run.arch_meta.get("derive_score") or {}
    return number(score.get("full_score", score.get("score")))


def sweep_rows(folder) -> List[Dict]:
    """One dict per job: job, overrides, architecture and the numbers of NUMBERS (None when unknown)."""
    runs = [read_run(job) for job in _job_folders(Path(folder))]
    shared = set.intersection(*(set(r.overrides) for r in runs)) if runs else set()  # shown once, above the table
    rows = []
    for run in runs:
        bench = run.arch_meta.get("benchmark") or {}
        own = [o for o in run.overrides if o not in shared]
        rows.append({"job": run.folder.name, "overrides": " ".join(own), "architecture": _architecture_text(run),
                     "derive_score": _score(run), "benchmark_acc": number(bench.get("cifar10_test_acc")),
                     "test_acc": number(run.results.get("test_acc")), "minutes": run.minutes,
                     "setting": " ".join(o for o in own if not o.lstrip("+~").startswith("seed=")),
                     "folder": run.folder, "shared": " ".join(o for o in run.overrides if o in shared)})
    return rows


def _mean_std(values: Sequence[float]) -> str:
    if not values:
        return ""
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.4g}"
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))  # sample std over seeds
    return f"{mean:.4g} +- {std:.2g}"


def setting_rows(rows: List[Dict]) -> List[Dict]:
    """Per setting (overrides without the seed): number of jobs and mean +- std of each number."""
    settings: Dict[str, List[Dict]] = {}
    for row in rows:
        settings.setdefault(row["setting"], []).append(row)
    out = []
    for setting, jobs in settings.items():
        entry = {"setting": setting or "(defaults)", "jobs": len(jobs)}
        for key in NUMBERS:
            entry[key] = _mean_std([r[key] for r in jobs if r[key] is not None])
        out.append(entry)
    return out


def _columns(rows: List[Dict], keys: Sequence[str]) -> List[str]:
    """The keys that hold something in at least one row (a search sweep has no test_acc, ...)."""
    return [k for k in keys if any(r.get(k) not in (None, "") for r in rows)]


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value if value is not None else "")


def _markdown(rows: List[Dict], keys: Sequence[str]) -> str:
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(_cell(r.get(k)).replace("|", "\\|") for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def write_sweep_report(folder) -> Path:
    """Write ``sweep.csv``, ``sweep.md`` and ``report.html`` into the multirun folder; print the tables."""
    folder = Path(folder)
    rows = sweep_rows(folder)
    if not rows:
        raise FileNotFoundError(f"{folder} holds no finished job folders (0/, 1/, ... with metrics.csv or "
                                "architecture.json)")
    job_keys = _columns(rows, ("job", "overrides", "architecture", *NUMBERS))
    settings = setting_rows(rows)
    setting_keys = _columns(settings, ("setting", "jobs", *NUMBERS))
    with open(folder / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=job_keys, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tables = (f"## Jobs\n\n{_markdown(rows, job_keys)}\n\n## Mean +- std over seeds\n\n"
              f"{_markdown(settings, setting_keys)}\n")
    common = f"Overrides of every job: {rows[0]['shared'] or '(none)'}\n\n"
    (folder / "sweep.md").write_text(f"# Sweep {folder}\n\n{common}" + tables)
    print(common + tables)
    page = Page(f"enas sweep: {folder.name}")
    page.note(f"{folder}. {common.strip()}")
    page.heading(f"Jobs ({len(rows)})")
    page.table(job_keys, [[_cell(r.get(k)) for k in job_keys] for r in rows])
    page.heading("Mean +- std per setting (overrides without the seed)")
    page.table(setting_keys, [[_cell(r.get(k)) for k in setting_keys] for r in settings])
    best = folder / "optimization_results.yaml"
    if best.is_file():
        page.heading("Sweeper's result (optimization_results.yaml)")
        page.text(best.read_text())
    reports = [r for r in rows if (r["folder"] / "report.html").is_file()]
    if reports:
        page.note("each job's own report: " + ", ".join(f"{r['job']}/report.html" for r in reports))
    return page.write(folder / "report.html")
