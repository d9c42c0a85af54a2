"""Search, derive, retrain and resume end to end on a tiny micro supernet, through the real configs."""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import supernet as S
from enas.search import derive_checkpoint
from enas.search import retrain
from enas.search import search

from conftest import TINY_MICRO, TINY_SEARCH, compose_config, straight_and_resumed

ROOT = Path(__file__).resolve().parents[1]


def run_search(out, *extra):
    return search(compose_config("search", [*TINY_SEARCH, *extra], out))


def test_search_writes_its_outputs(tmp_path):
    result = run_search(tmp_path)
    for name in ("config.yaml", "metrics.csv", "checkpoints/last.pt", "architecture.json", "architecture.txt",
                 "derive_candidates.csv"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"train_loss", "train_acc", "reward", "baseline", "entropy", "lr"} <= set(rows[0])
    assert [float(r["rewards_evaluated"]) for r in rows] == [2 * 2] * 2  # train_steps x num_aggregate, unscreened
    saved = json.loads((tmp_path / "architecture.json").read_text())
    assert saved["space"]["name"] == "micro"
    model = S.create_space("micro", **saved["space"]["kwargs"])
    assert S.validate_architecture(model, saved["architecture"]) == result["architecture"]
    assert "normal/node0 = " in (tmp_path / "architecture.txt").read_text()
    assert 0.0 <= result["derive_valid_acc"] <= 1.0


def test_random_strategy_runs_through_the_same_loop(tmp_path):
    run_search(tmp_path, "strategy=random")
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert "reward" not in rows[0] and (tmp_path / "architecture.json").is_file()


@pytest.mark.parametrize("sampling, warmup, trained_by", [("policy", 0, "propose"), ("policy", 1, "uniform"),
                                                        ("uniform", 0, "uniform")])
def test_shared_weights_train_on_policy_or_uniform_samples(tmp_path, monkeypatch, sampling, warmup, trained_by):
    """Warm-up and shared_sampling=uniform train the shared weights on uniform samples; the
    controller learns in every epoch after warm-up either way."""
    from enas.strategies import ENASStrategy

    calls = []
    for name in ("propose", "uniform"):
        original = getattr(ENASStrategy, name)
        monkeypatch.setattr(ENASStrategy, name, lambda self, n, _o=original, _n=name: calls.append(_n) or _o(self, n))
    run_search(tmp_path, "trainer.epochs=1", f"trainer.shared_sampling={sampling}", f"trainer.warmup_epochs={warmup}")
    assert calls[0] == trained_by  # the first call samples the epoch's shared-weight architectures
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert bool(rows[0].get("reward")) == (warmup == 0)


def test_a_fresh_run_into_a_used_folder_is_refused_or_starts_over_when_told(tmp_path):
    run_search(tmp_path)
    before = (tmp_path / "architecture.json").read_text()
    with pytest.raises(FileExistsError, match="already holds a run.*resume=.*overwrite=true"):
        run_search(tmp_path, "seed=7")
    assert (tmp_path / "architecture.json").read_text() == before
    run_search(tmp_path, "overwrite=true")  # not a resume: metrics.csv starts over
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1]


def test_unknown_shared_sampling_is_named(tmp_path):
    with pytest.raises(ValueError, match="shared_sampling"):
        run_search(tmp_path, "trainer.shared_sampling=sometimes")


def _last(path):
    return torch.load(path / "checkpoints" / "last.pt", weights_only=False)


def test_resume_after_a_kill_continues_exactly(tmp_path, monkeypatch):
    reference, resumed = straight_and_resumed(tmp_path, monkeypatch, [*TINY_SEARCH, "trainer.epochs=3"])

    assert resumed["epoch"] == reference["epoch"] == 2
    for key, value in reference["supernet"].items():
        assert torch.equal(value, resumed["supernet"][key]), key
    for key, value in reference["controller"]["controller"].items():
        assert torch.equal(value, resumed["controller"]["controller"][key]), key
    assert resumed["controller"]["baseline"] == reference["controller"]["baseline"]
    rows = list(csv.DictReader(open(tmp_path / "killed" / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]


def test_resume_refuses_another_space(tmp_path):
    run_search(tmp_path / "a", "trainer.epochs=1")
    with pytest.raises(ValueError, match="cannot resume"):
        run_search(tmp_path / "b", "trainer.epochs=2", "space.out_channels=4", f"resume={tmp_path / 'a'}")


def test_derive_from_a_checkpoint(tmp_path):
    run_search(tmp_path / "search", "trainer.epochs=1")
    cfg = compose_config("derive", [f"checkpoint={tmp_path / 'search'}", "device=cpu", "derive.num_samples=3",
                                    "derive.num_batches=1"], tmp_path / "derive")
    result = derive_checkpoint(cfg)
    assert (tmp_path / "derive" / "architecture.json").is_file()
    assert result["derive_candidates"] <= 4


def test_retrain_a_derived_architecture_standalone(tmp_path):
    run_search(tmp_path / "search", "trainer.epochs=1")
    arch_file = tmp_path / "search" / "architecture.json"
    cfg = compose_config("train", ["debug=cpu_tiny_train", *TINY_MICRO, f"architecture={arch_file}",
                                   "space.num_layers=2"], tmp_path / "train")
    result = retrain(cfg)
    assert 0.0 <= result["test_acc"] <= 1.0 and result["params"] > 0
    saved = json.loads((tmp_path / "train" / "results.json").read_text())
    assert saved["architecture"] == json.loads(arch_file.read_text())["architecture"]
    state = _last(tmp_path / "train")
    ops = ("sep_conv_3x3", "sep_conv_5x5", "identity")
    assert not any(op in key for key in state["model"] for op in ops)  # no LayerChoice left, only chosen ops


def test_retrain_rejects_an_architecture_from_another_space(tmp_path):
    bad = tmp_path / "arch.json"
    bad.write_text(json.dumps({"architecture": {"normal/node0/op0": "conv_7x7"}}))
    cfg = compose_config("train", ["debug=cpu_tiny_train", *TINY_MICRO, f"architecture={bad}"], tmp_path / "t")
    with pytest.raises(S.ArchitectureError, match=r"arch.json"):
        retrain(cfg)


@pytest.mark.parametrize("override, message", [
    ("trainer.epochz=3", "epochz"),
    ("trainer.epochs=many", "trainer.epochs"),
    ("space.num_cells=3", "num_cells"),
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(Exception, match=message):
        compose_config("search", [override])


@pytest.mark.parametrize("override, message", [("+trainer.epochz=3", "trainer.epochz"),
                                               ("+data.rooot=x", "data.rooot")])
def test_keys_added_with_plus_are_rejected_before_running(override, message, tmp_path):
    with pytest.raises(KeyError, match=message):
        search(compose_config("search", [override], tmp_path))


def test_unknown_space_option_added_with_plus_is_rejected_by_the_space(tmp_path):
    with pytest.raises(TypeError, match="no option 'num_cells'"):
        run_search(tmp_path, "+space.num_cells=3")


def test_console_scripts_from_a_fresh_directory(tmp_path):
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    cmd = [sys.executable, "-m", "enas", "search", *TINY_SEARCH, "trainer.epochs=1"]
    done = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Derived architecture" in done.stdout
    runs = list((tmp_path / "outputs" / "search").glob("*/architecture.json"))
    assert len(runs) == 1
    bad = subprocess.run([sys.executable, "-m", "enas", "train", f"architecture={tmp_path / 'nope.json'}"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert bad.returncode != 0 and "nope.json" in bad.stderr


def test_an_input_error_prints_as_one_line_and_a_bug_keeps_its_traceback(tmp_path):
    """The command line shows a message this package raised on purpose (here: a wrong data path) as one line
    naming where it was raised, with no traceback; HYDRA_FULL_ERROR=1 brings the traceback back, and a job of
    a sweep keeps raising so that the sweeper can record it."""
    from enas.cli import raised_on_purpose

    cmd = [sys.executable, "-m", "enas", "search", "debug=cpu_tiny", "data=cifar10", f"data.root={tmp_path / 'nowhere'}"]
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    short = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert short.returncode == 1
    assert short.stderr.startswith("enas-search: error: no CIFAR-10 found under data.root=")
    assert "enas/data/cifar10.py:" in short.stderr and "Traceback" not in short.stderr
    full = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env={**env, "HYDRA_FULL_ERROR": "1"},
                          timeout=300)
    assert full.returncode == 1 and "Traceback" in full.stderr and "no CIFAR-10 found" in full.stderr
    sweep = subprocess.run([*cmd[:4], "-m", *cmd[4:], f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path,
                           capture_output=True, text=True, env=env, timeout=300)
    assert "enas-search: error:" not in sweep.stderr and "no CIFAR-10 found" in sweep.stderr  # the sweeper's report

    with pytest.raises(ValueError) as ours:
        S.from_nb201_string("|not_an_op~0|+|none~0|none~1|+|none~0|none~1|none~2|")
    assert raised_on_purpose(ours.value).filename.endswith(os.path.join("supernet", "spaces", "nb201.py"))
    with pytest.raises(ValueError) as elsewhere:
        raise ValueError("raised by a caller, not by the package")
    assert raised_on_purpose(elsewhere.value) is None
    with pytest.raises(KeyError) as implicit:
        {}["missing"]  # an error the package did not raise on purpose keeps its traceback
    assert raised_on_purpose(implicit.value) is None
