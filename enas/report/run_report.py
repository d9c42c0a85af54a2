"""The report of one run folder (a search or a retrain): PNG figures and ``report.html``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..runs.policy_log import POLICY_FILE, read_policy
from .figures import candidates_figure, controller_figure, policy_figure, spearman, training_figure, trials_figure
from .html import Page
from .runfiles import Run, number, read_run, space_decisions

__all__ = ["write_run_report", "summary_rows", "benchmark_of_candidates"]


def _save(fig, path: Path) -> Optional[Path]:
    import matplotlib.pyplot as plt

    if fig is None:
        return None
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(value, digits: int = 4) -> str:
    v = number(value)
    if v is None:
        return str(value)
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.{digits}g}"


def summary_rows(run: Run) -> List[Tuple[str, str]]:
    """The numbers a reader wants first: what was run, what came out, how long it took."""
    rows = [("run folder", str(run.folder)), ("kind", run.kind)]
    if run.space:
        rows.append(("space", f"{run.space.get('name')} {json.dumps(run.space.get('kwargs', {}))}"))
    if run.overrides:
        rows.append(("overrides", " ".join(run.overrides)))
    if run.metrics:
        rows.append(("epochs", str(len(run.metrics))))
    meta, results = run.arch_meta, run.results
    score = meta.get("derive_score") or {}
    by = "trained child, validation" if meta.get("select") == "multi_trial" else "shared weights"
    for key in ("full_acc", "acc", "full_ppl", "ppl", "full_score", "score"):
        if key in score:
            rows.append((f"derive {key.replace('full_', '')} ({by})", _fmt(score[key])))
            break
    if "trials" in meta:
        rows.append(("children trained", ", ".join([str(meta["trials"])] + [f"{n} {status.replace('_', ' ')}"
                                                     for status, n in meta.get("statuses", {}).items() if n])))
    child = meta.get("child") or {}
    if child:
        rows.append(("child parameters", _fmt(child.get("params"))))
        if number(child.get("flops")) is not None:
            rows.append(("child multiply-accumulates / example", f"{float(child['flops']) / 1e6:,.2f}M"))
    bench = meta.get("benchmark") or {}
    if "cifar10_test_acc" in bench:
        rows.append(("NAS-Bench-201 CIFAR-10 test acc", f"{bench['cifar10_test_acc']:.2f} "
                     f"(top {bench.get('top_percent', float('nan')):.2f}%)"))
    for key, value in results.items():
        if key.startswith("test_") or key in ("params", "flops", "best_epoch"):
            rows.append((key.replace("_", " "), _fmt(value)))
    if run.minutes is not None:
        rows.append(("minutes", f"{run.minutes:.1f}"))
    return rows


def benchmark_of_candidates(run: Run) -> Tuple[Optional[Dict], str]:
    """({"scores", "accuracies", "selected", "score_name"}, "") for an NB201 run whose config names the
    benchmark table, else (None, why not)."""
    if run.space.get("name") != "nb201" or not run.candidates:
        return None, ""
    if not run.config.get("benchmark"):
        return None, "derive's candidates are not compared with NAS-Bench-201: the run's config has no benchmark=nb201"
    path = run.config.get("benchmark_file")
    if path and not str(path).endswith(".csv"):
        return None, f"benchmark_file={path} is not the CSV table; the candidates' plot reads the CSV only"
    from supernet import to_nb201_string

    from .benchmark import NB201Table

    try:
        table = NB201Table(path)
    except (FileNotFoundError, ValueError) as err:
        return None, f"derive's candidates are not compared with NAS-Bench-201: {err}"
    scores, accuracies, selected = [], [], []
    for row in run.candidates:  # "score": every candidate on the same batches (full_score: the top_k only)
        score = number(row.get("score"))
        try:
            acc = table.lookup(to_nb201_string(json.loads(row["architecture"])))["cifar10_test_acc"]
        except (KeyError, ValueError):
            continue
        if score is not None:
            scores.append(score)
            accuracies.append(acc)
            selected.append(number(row.get("selected")) == 1)
    return {"scores": scores, "accuracies": accuracies, "selected": selected, "score_name": "score"}, ""


def write_run_report(folder) -> Path:
    """Write the figures (``report_*.png``) and ``report.html`` into ``folder``; returns the HTML's path."""
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window, work without a display
    from .draw import draw_architecture

    run = read_run(folder)
    out = run.folder
    page = Page(f"enas {run.kind}: {out.name}")
    page.pairs(summary_rows(run))
    figures = []  # (heading, png, caption)
    png = _save(training_figure(run), out / "report_training.png")
    if png:
        figures.append(("Training", png, "loss, accuracy and learning rate per epoch (metrics.csv)"))
    if (out / "trials.jsonl").is_file():
        trials = [json.loads(line) for line in (out / "trials.jsonl").read_text().splitlines() if line.strip()]
        png = _save(trials_figure(trials), out / "report_trials.png")
        if png:
            figures.append(("Trials", png, "each child's validation score, in the order they finished (trials.jsonl)"))
    png = _save(controller_figure(run), out / "report_controller.png")
    if png:
        figures.append(("Controller", png, "REINFORCE reward (validation), its moving-average baseline, entropy"))
    if (out / POLICY_FILE).is_file():
        png = _save(policy_figure(*read_policy(out / POLICY_FILE)), out / "report_policy.png")
        if png:
            figures.append(("What the controller learned", png, "per decision, each option's probability per epoch"))
    if run.architecture:
        title = f"derived architecture ({run.space.get('name', 'space')})"
        png = _save(draw_architecture(space_decisions(run.space), run.architecture, title),
                    out / "report_architecture.png")
        figures.append(("Derived architecture", png, ""))
    bench, why = benchmark_of_candidates(run)
    if bench:
        png = _save(candidates_figure(bench["scores"], bench["accuracies"], bench["selected"], bench["score_name"]),
                    out / "report_candidates.png")
        if png:
            figures.append(("Derive's candidates against NAS-Bench-201", png,
                            f"Spearman {spearman(bench['scores'], bench['accuracies']):.3f} over "
                            f"{len(bench['scores'])} candidates"))
    for heading, png, caption in figures:
        page.heading(heading)
        page.image(png, caption)
        if heading == "Derived architecture" and run.summary:
            page.text(run.summary)
    if why:
        page.note(why)
    if not figures:
        page.note("nothing to plot yet: the run has no finished epoch")
    return page.write(out / "report.html")
