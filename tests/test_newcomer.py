"""What a new user meets: resume without retyping, retrain at the searched size, runs from Python that write a
folder, your own modules, and every mistake of a kind we know a clear line that loses nothing."""
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import supernet as S
from enas import SimpleTask, search_model
from enas.cli import prepared_argv
from enas.config import validate_values
from enas.runs import RunFolderInUse, RunLock, save_checkpoint
from enas.search import retrain, search
from enas.search.loop import check_search_config
from enas.search.state import resume_config

from conftest import CONF, TINY_MICRO, TINY_SEARCH, compose_config, straight_and_resumed

FIVE = ["trainer.epochs=3", "seed=4", "controller.lr=0.01", "derive.num_samples=3", "space.num_nodes=2"]


def test_resume_takes_the_config_from_the_checkpoint(tmp_path, monkeypatch):
    """A run with five overrides, killed, continues from ``resume=<dir>`` alone (plus an allowed key) and
    ends as the uninterrupted run; a key outside the allow-list is refused, named."""
    straight_and_resumed(tmp_path, monkeypatch, [*TINY_SEARCH, *FIVE])  # straight/ and killed/ + resumed
    killed = tmp_path / "again"
    monkeypatch.undo()
    from enas.search import loop

    real = loop.save_checkpoint

    def die(state, directory, epoch, **kw):
        path = real(state, directory, epoch, **kw)
        if epoch == 0:
            raise KeyboardInterrupt
        return path
    monkeypatch.setattr(loop, "save_checkpoint", die)
    with pytest.raises(KeyboardInterrupt):
        search(compose_config("search", [*TINY_SEARCH, *FIVE], killed))
    monkeypatch.setattr(loop, "save_checkpoint", real)
    cfg = resume_config(str(killed), ["trainer.progress=false"])
    assert cfg.seed == 4 and cfg.controller.lr == 0.01 and cfg.space.num_nodes == 2 and not cfg.trainer.progress
    search(cfg)
    straight = torch.load(tmp_path / "straight" / "checkpoints" / "last.pt", weights_only=True)
    resumed = torch.load(killed / "checkpoints" / "last.pt", weights_only=True)
    assert resumed["epoch"] == straight["epoch"] == 2
    for key, value in straight["supernet"].items():
        assert torch.equal(value, resumed["supernet"][key]), key
    with pytest.raises(ValueError, match="may change only trainer.epochs.*not seed=5"):
        resume_config(str(killed), ["seed=5", "trainer.epochs=4"])


def test_retrain_builds_the_searched_size_unless_told(tmp_path):
    run = tmp_path / "run"
    search(compose_config("search", [*TINY_SEARCH, "trainer.epochs=1"], run))
    arch = str(run / "architecture.json")
    argv = prepared_argv("train", ["enas-train", f"architecture={arch}", "debug=cpu_tiny_train"])
    assert "space=micro" in argv and "++space.num_layers=1" in argv and "++space.num_nodes=3" in argv
    told = prepared_argv("train", ["enas-train", f"architecture={arch}", "space.num_layers=2"])
    assert "space.num_layers=2" in told and "++space.num_layers=1" not in told
    paper = prepared_argv("train", ["enas-train", f"architecture={arch}", "experiment=enas_micro_final"])
    assert not any(a.startswith("++space") for a in paper)  # the paper's final training sets its size itself
    cfg = compose_config("train", argv[1:], tmp_path / "train")
    result = retrain(cfg)
    assert result["space"] == json.loads((run / "architecture.json").read_text())["space"]


def test_an_architecture_file_names_the_space_it_needs(tmp_path):
    path = tmp_path / "nb201.json"
    decs = S.decisions(S.create_space("nb201", C=4, N=1))
    S.save_architecture(path, S.random_architecture(decs), space={"name": "nb201", "kwargs": {"C": 4, "N": 1}})
    with pytest.raises(S.ArchitectureError, match="space 'nb201'.*pass space=nb201"):
        retrain(compose_config("train", ["debug=cpu_tiny_train", f"architecture={path}", *TINY_MICRO], tmp_path / "t"))
    assert not (tmp_path / "t").exists()


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.op = S.LayerChoice({"small": nn.Linear(4, 1), "big": nn.Sequential(nn.Linear(4, 8), nn.ReLU(),
                                                                              nn.Linear(8, 1))}, label="op")

    def forward(self, x):
        return self.op(x)


def _task():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen)
    batches = [(x, x.sum(1, keepdim=True))]
    loss = lambda m, b: nn.functional.mse_loss(m(b[0]), b[1])  # noqa: E731
    return SimpleTask(batches, loss, lambda m: -loss(m, batches[0]).item(), steps_per_epoch=5)


def test_search_model_writes_a_run_folder_and_resumes(tmp_path):
    out = tmp_path / "run"
    first = search_model(Tiny(), _task(), epochs=2, seed=0, output_dir=out,
                         controller={"train_steps": 2, "num_aggregate": 2}, derive_settings={"num_samples": 2})
    for name in ("config.yaml", "metrics.csv", "checkpoints/last.pt", "architecture.json", "derive_candidates.csv"):
        assert (out / name).is_file(), name
    assert first["out_dir"] == str(out)
    again = search_model(Tiny(), _task(), epochs=3, seed=0, output_dir=out, resume=True,
                         controller={"train_steps": 2, "num_aggregate": 2}, derive_settings={"num_samples": 2})
    assert [row["epoch"] for row in again["history"]] == [2]  # it continued, it did not start over
    assert torch.load(out / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 2
    with pytest.raises(FileExistsError, match="already holds a run"):
        search_model(Tiny(), _task(), epochs=1, output_dir=out)


def test_imports_register_a_space_from_a_file(tmp_path, monkeypatch):
    (tmp_path / "my_spaces.py").write_text(
        "import supernet as S\nfrom torch import nn\n\n\n"
        "class Wide(nn.Module):\n"
        "    def __init__(self, width: int = 4, num_classes: int = 10):\n"
        "        super().__init__()\n"
        "        self.stem = nn.Conv2d(3, width, 3, padding=1)\n"
        "        self.op = S.LayerChoice({'a': nn.Conv2d(width, width, 3, padding=1), 'b': nn.Identity()}, label='op')\n"
        "        self.head = nn.Linear(width, num_classes)\n\n"
        "    def forward(self, x):\n"
        "        return self.head(self.op(self.stem(x)).mean((2, 3)))\n\n\n"
        "@S.register_space\n"
        "def wide_test_space(**kwargs) -> Wide:\n"
        "    return Wide(**kwargs)\n")
    monkeypatch.chdir(tmp_path)
    from supernet import _registry

    monkeypatch.setattr(_registry, "_SPACES", dict(_registry._SPACES))  # leave the registry as it was
    cfg = compose_config("search", ["debug=cpu_tiny", "imports=[my_spaces.py]", "space=micro", "~space.num_layers",
                                    "~space.out_channels", "~space.num_nodes", "~space.aux_head", "~space.dropout",
                                    "space.name=wide_test_space", "+space.width=4", "trainer.aux_weight=0"],
                         tmp_path / "run")
    result = search(cfg)
    assert set(result["architecture"]) == {"op"}


def test_a_lock_file_is_never_seen_empty_and_an_empty_one_is_not_taken(tmp_path):
    with RunLock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["pid"] == os.getpid()
    (tmp_path / ".lock").write_text("")  # not ours (or a writer mid-write in older versions): never stale
    with pytest.raises(RunFolderInUse, match="not ours"):
        RunLock(tmp_path).acquire()


def test_a_full_disk_in_torch_save_is_one_clear_line(tmp_path, monkeypatch):
    save_checkpoint({"epoch": 0}, tmp_path, 0)

    def torn(obj, f, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file")

    monkeypatch.setattr(torch, "save", torn)
    monkeypatch.setattr("shutil.disk_usage", lambda path: SimpleNamespace(free=0))
    with pytest.raises(OSError, match="disk is full.*previous checkpoint"):
        save_checkpoint({"epoch": 1}, tmp_path, 1)


def test_an_output_path_under_a_file_is_named(tmp_path):
    (tmp_path / "out").write_text("x")
    with pytest.raises(NotADirectoryError, match=r"out/run cannot be created: .*out is a file"):
        search(compose_config("search", TINY_SEARCH, tmp_path / "out" / "run"))


def test_an_exploding_policy_stops_with_a_clear_line(tmp_path):
    with pytest.raises(FloatingPointError, match="controller's weights exploded.*controller.lr"):
        search(compose_config("search", [*TINY_SEARCH, "controller.lr=1e10"], tmp_path))


@pytest.mark.parametrize("path", sorted((CONF / "experiment").glob("*.yaml")), ids=lambda p: p.stem)
def test_debug_composes_with_every_experiment(path):
    """``debug=cpu_tiny`` (``cpu_tiny_train`` for retraining) on top of any experiment is a valid config."""
    train = path.stem.endswith(("_final", "_retrain"))
    cfg = compose_config("train" if train else "search",
                         [f"experiment={path.stem}", "debug=cpu_tiny_train" if train else "debug=cpu_tiny",
                          *(["architecture=x.json"] if train else [])])
    validate_values(cfg) if train else check_search_config(cfg)
    assert cfg.trainer.epochs <= 2 and cfg.trainer.max_steps_per_epoch <= 3


def test_strategy_predictor_needs_no_other_flag(tmp_path):
    result = search(compose_config("search", [*TINY_SEARCH, "strategy=predictor", "predictor.min_points=2",
                                              "predictor.steps=5", "predictor.pool=4", "predictor.evaluate=2"], tmp_path))
    assert result["architecture"]


def test_a_typo_is_one_line_and_a_refused_run_leaves_nothing(tmp_path):
    typo = subprocess.run([sys.executable, "-m", "enas", "search", "trainer.epochz=3"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert typo.returncode == 1 and typo.stderr.strip() == (
        "enas-search: error: unknown config key 'trainer.epochz' (a new key is added with +trainer.epochz=...)")
    bad = subprocess.run([sys.executable, "-m", "enas", "search", "debug=cpu_tiny", "trainer.lr=-1"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith("enas-search: error: invalid configuration: trainer.lr=-1")
    assert not list(tmp_path.iterdir())  # no run folder, no log, no Hydra record


def test_a_checkpoint_from_before_the_sub_packages_loads_and_resumes(tmp_path):
    """A search killed after its first epoch by the flat-package code (its config lacks data.task and every key
    added since): its config merges onto today's schema, enas-derive rebuilds it, and a resume continues it."""
    import shutil

    from enas.search import load_search

    run = tmp_path / "run"
    shutil.copytree(Path(__file__).parent / "fixtures" / "search_before_sub_packages", run)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)
    assert "task" not in state["config"]["data"] and state["epoch"] == 0
    loaded = load_search(run, "cpu")
    assert loaded.config.data.task == "image" and loaded.config.imports == []
    for key, value in state["supernet"].items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    cfg = resume_config(str(run), ["trainer.epochs=2"])
    result = search(cfg)
    rows = (run / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1"] and result["architecture"]
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["epoch"] == 1
