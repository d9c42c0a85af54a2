"""Run reports, sweep tables and the search's objective (enas.report, enas.objective, enas.cli)."""
import json
import math
import os
import stat
import sys

import pytest

import supernet as S
from enas.cli import search_main
from enas.search.objective import objective_value
from enas.runs import read_policy
from enas.report import write_report
from enas.report.draw import architecture_cells
from enas.report.figures import spearman
from enas.search import search

from conftest import TINY_SEARCH, compose_config

pytest.importorskip("matplotlib")

SMALL = {"micro": dict(num_layers=1, out_channels=8, num_nodes=3), "nb201": dict(C=8, N=1),
         "rnn": dict(vocab_size=50, hidden=16, num_nodes=4), "macro": dict(num_layers=4, out_channels=8)}


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = search(compose_config("search", [*TINY_SEARCH, "trainer.epochs=3"], out))
    return out, result


def test_search_records_the_policy_each_epoch_and_reports_it(searched):
    out, result = searched
    epochs, table = read_policy(out / "policy.jsonl")
    assert epochs == [0, 1, 2]
    model = S.create_space("micro", **SMALL["micro"])
    decs = {d.label: d for d in S.decisions(model)}
    assert set(table) == set(decs)
    for label, row in table.items():
        assert row["options"] == list(decs[label].options)
        for probs in row["probs"]:  # one choice of n: a distribution over the options
            assert sum(probs) == pytest.approx(1.0, abs=1e-3)
    html = write_report(out)
    assert html == out / "report.html"
    text = html.read_text()
    for png in ("report_training.png", "report_controller.png", "report_policy.png", "report_architecture.png"):
        assert (out / png).stat().st_size > 1000, png
    assert text.count("data:image/png;base64,") == 4 and "<img src=\"report_" not in text  # self-contained
    assert "child parameters" in text and "minutes" in text
    assert result["minutes"] > 0 and json.loads((out / "architecture.json").read_text())["minutes"] > 0


def test_output_files_are_readable_by_the_group(searched):
    out, _ = searched
    umask = os.umask(0)
    os.umask(umask)
    if umask & 0o040:
        pytest.skip("this umask hides files from the group anyway")
    for name in ("metrics.csv", "architecture.json", "checkpoints/last.pt", "policy.jsonl", "report.html"):
        assert stat.S_IMODE((out / name).stat().st_mode) & 0o040, name


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_builtin_space_draws_as_a_graph(name, tmp_path):
    decs = S.decisions(S.create_space(name, **SMALL[name]))
    arch = S.random_architecture(decs, __import__("random").Random(0))
    cells = architecture_cells(decs, arch)
    assert cells and all(c.nodes for c in cells)
    if name == "macro":  # a chain of layers; skips are the edges
        assert all(c.chain for c in cells)
        assert sum(len(v) for k, v in arch.items() if k.endswith("/skip")) == len(cells[0].edges)
    else:  # a DAG: every node reached, loose ends feed the output
        edges = [e for c in cells for e in c.edges]
        assert {t for _, t, _ in edges} >= {n for c in cells for n in c.nodes}
        assert any(t == "out" for _, t, _ in edges)
    if name == "micro":  # one edge per (input, op) pair, labelled by the op
        labelled = [e for e in edges if e[2]]
        assert len(labelled) == sum(1 for d in decs if d.label.rsplit("/", 1)[-1].startswith("op"))
    from enas.report.draw import draw_architecture

    draw_architecture(decs, arch).savefig(tmp_path / "a.png")
    draw_architecture(None, arch).savefig(tmp_path / "b.png")  # a space this process cannot build


def test_spearman_matches_a_hand_computed_value():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_sweep_folder_tabulates_jobs_with_mean_and_std_over_seeds(searched, tmp_path, capsys):
    out, _ = searched
    import shutil

    for job, seed, score in ((0, 0, 0.5), (1, 1, 0.7)):
        folder = tmp_path / str(job)
        shutil.copytree(out, folder)
        (folder / ".hydra").mkdir(exist_ok=True)
        (folder / ".hydra" / "overrides.yaml").write_text(f"- controller.lr=0.01\n- seed={seed}\n")
        meta = json.loads((folder / "architecture.json").read_text())
        meta["derive_score"] = {"score": score, "full_score": score}
        (folder / "architecture.json").write_text(json.dumps(meta))
    html = write_report(tmp_path)
    printed = capsys.readouterr().out
    assert html == tmp_path / "report.html"
    assert "0.6 +- 0.14" in printed  # mean and sample std of 0.5 and 0.7
    table = (tmp_path / "sweep.csv").read_text().splitlines()
    assert len(table) == 3 and ",seed=1," in table[2]  # each job's own overrides; the shared ones once above
    assert "Overrides of every job: controller.lr=0.01" in printed


def test_report_errors_name_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        write_report(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope"):
        write_report(tmp_path / "nope")


def test_search_main_returns_its_objective_as_a_float(tmp_path):
    cfg = compose_config("search", [*TINY_SEARCH, "trainer.epochs=1"], tmp_path)
    value = search_main.__wrapped__(cfg)
    assert isinstance(value, float)
    assert value == json.loads((tmp_path / "architecture.json").read_text())["derive_score"]["full_score"]


def test_objective_benchmark_acc_needs_a_benchmark(tmp_path):
    cfg = compose_config("search", [*TINY_SEARCH, "objective=benchmark_acc"], tmp_path)
    with pytest.raises(ValueError, match="benchmark=nb201"):
        search(cfg)
    assert objective_value(cfg, {"benchmark_cifar10_test_acc": 93.5}) == 93.5
    assert math.isnan(objective_value(cfg, {}))  # a torchrun rank that derived nothing


@pytest.mark.slow
def test_optuna_sweep_of_three_trials_completes(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    import subprocess

    cmd = [sys.executable, "-m", "enas", "search", "-m", *TINY_SEARCH, "trainer.epochs=1", "hydra/sweeper=optuna",
           "hydra.sweeper.n_trials=3", "hydra.sweeper.direction=maximize", "hydra.sweeper.n_jobs=1",
           "controller.lr=interval(0.001,0.01)", f"hydra.sweep.dir={tmp_path}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "optimization_results.yaml").is_file()
    assert write_report(tmp_path).is_file()
