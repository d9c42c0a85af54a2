"""Faults and bad input: crafted checkpoints, busy run folders, changed configs, bad values, bad data."""
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from enas.runs import CheckpointError, RunFolderInUse, RunLock, load_checkpoint, save_checkpoint
from enas.search import derive_checkpoint
from enas.search import retrain
from enas.search import search

from conftest import TINY_MICRO, TINY_SEARCH, compose_config

ROOT = Path(__file__).resolve().parents[1]


def run_search(out, *extra):
    return search(compose_config("search", [*TINY_SEARCH, *extra], out))


class Payload:
    """Unpickling this runs code: it creates a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def crafted(tmp_path) -> Path:
    path = tmp_path / "run" / "checkpoints" / "last.pt"
    path.parent.mkdir(parents=True)
    with open(path, "wb") as f:
        pickle.dump({"epoch": 0, "config": Payload(tmp_path / "pwned")}, f, protocol=2)
    return path


def test_a_crafted_checkpoint_is_refused_and_runs_nothing(tmp_path):
    path = crafted(tmp_path)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="refused"):
        run_search(tmp_path / "other", f"resume={tmp_path / 'run'}")
    with pytest.raises(CheckpointError, match="refused"):
        derive_checkpoint(compose_config("derive", [f"checkpoint={tmp_path / 'run'}", "device=cpu"], tmp_path / "d"))
    assert not (tmp_path / "pwned").exists()


def test_our_own_checkpoints_load_safely(tmp_path):
    run_search(tmp_path, "trainer.epochs=1", "keep_every=1")
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["epoch"] == 0 and (tmp_path / "checkpoints" / "epoch_0.pt").is_file()  # keep_every


def test_a_folder_a_live_process_writes_is_refused_with_its_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".lock").write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename, "since": "now"}))
        with pytest.raises(RunFolderInUse, match=f"in use by process {holder.pid}"):
            run_search(tmp_path)
        (tmp_path / "checkpoints").mkdir()
        with pytest.raises(RunFolderInUse, match=str(holder.pid)):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_writers_lock_and_temporary_files_are_cleared(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / ".lock").write_text(json.dumps({"pid": gone.pid, "host": os.uname().nodename}))
    leftovers = [tmp_path / "checkpoints" / ".last.pt.abc.tmp", tmp_path / ".metrics.x.tmp"]
    for f in leftovers:
        f.write_text("torn")
    run_search(tmp_path, "trainer.epochs=1")
    assert not any(f.exists() for f in leftovers) and not (tmp_path / ".lock").exists()


def test_two_searches_started_together_get_two_folders(tmp_path):
    cmd = [sys.executable, "-m", "enas", "search", *TINY_SEARCH, "trainer.epochs=1", "derive.num_samples=1"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    runs = sorted((tmp_path / "outputs" / "search").glob("*/architecture.json"))
    assert len(runs) == 2


def test_resume_from_a_file_outside_a_run_folder_is_refused(tmp_path):
    run_search(tmp_path / "run", "trainer.epochs=1")
    loose = tmp_path / "loose.pt"
    loose.write_bytes((tmp_path / "run" / "checkpoints" / "last.pt").read_bytes())
    with pytest.raises(ValueError, match="not inside a run's checkpoints/ folder"):
        run_search(tmp_path / "x", "trainer.epochs=2", f"resume={loose}")


def test_resume_refuses_a_changed_configuration_and_names_every_change(tmp_path):
    run_search(tmp_path / "run", "trainer.epochs=1")
    with pytest.raises(ValueError, match=r"seed: 0 -> 3; trainer.lr: 0.05 -> 0.1"):
        run_search(tmp_path / "x", "trainer.epochs=2", "trainer.lr=0.1", "seed=3", f"resume={tmp_path / 'run'}")
    run_search(tmp_path / "x", "trainer.epochs=2", "trainer.progress=true", f"resume={tmp_path / 'run'}")
    assert load_checkpoint(tmp_path / "run")["epoch"] == 1


@pytest.mark.parametrize("override, message", [
    ("trainer.epochs=-1", "trainer.epochs=-1 must be >= 0"),
    # zero epochs is a training-free search, which only uniform cells make sense for
    ("trainer.epochs=0", "trainer.epochs=0 (a training-free search) needs strategy=random"),
    ("data.batch_size=-1", "data.batch_size=-1 must be >= 1"),
    ("trainer.lr=0", "trainer.lr=0.0 must be > 0"),
    ("controller.num_aggregate=0", "controller.num_aggregate=0 must be >= 1"),
    ("derive.num_samples=0", None),  # allowed: greedy scores the policy's best
    ("derive.greedy=false", None),
    ("controller.screen_keep=20", "screen_keep=20 must be at most controller.num_aggregate"),
    ("trainer.momentum=1.5", "trainer.momentum=1.5 must be in"),
    ("trainer.schedule=linear", "trainer.schedule='linear' must be one of cosine, decay"),
    ("constraint.max_params=-5", "constraint.max_params=-5.0 must be > 0 or null"),
])
def test_values_are_checked_before_anything_runs(tmp_path, override, message):
    cfg = compose_config("search", [*TINY_SEARCH, override, "data.root=/nowhere", "data.source=npz"], tmp_path)
    if message is None:  # a valid value: the run goes on, and fails later on the missing data
        with pytest.raises(FileNotFoundError, match="nowhere"):
            search(cfg)
        return
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        search(cfg)
    assert not (tmp_path / "config.yaml").exists()


def test_greedy_off_needs_a_sample(tmp_path):
    with pytest.raises(ValueError, match="derive.num_samples=0 must be >= 1"):
        run_search(tmp_path, "derive.greedy=false", "derive.num_samples=0")


@pytest.mark.parametrize("content, message", [("", "is empty"), ("{not json", "not valid JSON"),
                                              ('{"architecture": {"normal/node0/op0": "conv_9x9"}}', "missing decision")])
def test_a_bad_architecture_file_is_reported_before_the_data_loads(tmp_path, content, message):
    bad = tmp_path / "arch.json"
    bad.write_text(content)
    cfg = compose_config("train", ["debug=cpu_tiny_train", *TINY_MICRO, f"architecture={bad}", "data.root=/nowhere",
                                   "data.source=npz"], tmp_path / "t")
    with pytest.raises(Exception, match=message) as err:
        retrain(cfg)
    assert "nowhere" not in str(err.value)


def write_npz_layout(root: Path, n_train=8, n_test=4, labels=None, test_labels=None):
    root.mkdir(parents=True, exist_ok=True)
    np.save(root / "train_x.npy", np.zeros((n_train, 32, 32, 3), np.uint8))
    np.save(root / "train_y.npy", np.asarray(labels if labels is not None else [0] * n_train, np.uint8))
    np.save(root / "test_x.npy", np.zeros((n_test, 32, 32, 3), np.uint8))
    np.save(root / "test_y.npy", np.asarray(test_labels if test_labels is not None else [0] * n_test, np.uint8))


@pytest.mark.parametrize("damage, message", [
    (lambda r: np.save(r / "train_y.npy", np.zeros(5, np.uint8)), "8 images but labels of shape \\(5,\\)"),
    (lambda r: np.save(r / "train_y.npy", np.full(8, 12, np.uint8)), "label 12 is outside 0..9"),
    (lambda r: (r / "test_x.npy").unlink(), "neither test_x.npy nor test_jpeg.npz"),
    (lambda r: (r / "test_y.npy").unlink(), "no test_y.npy"),
    (lambda r: (r / "train_x.npy").write_bytes((r / "train_x.npy").read_bytes()[:200]), "train_x.npy is corrupt"),
    (lambda r: np.save(r / "train_x.npy", np.zeros((8, 32, 32), np.uint8)), "must be an array \\(N, height"),
])
def test_bad_data_files_are_named(tmp_path, damage, message):
    root = tmp_path / "cifar"
    write_npz_layout(root)
    damage(root)
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        run_search(tmp_path / "run", f"data.root={root}", "data.source=npz", "data.valid_size=4",
                   "data.train_subset=null", "data.valid_subset=null")


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint({"epoch": 0}, tmp_path, 0)

    def no_space(obj, f, *a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", no_space)
    with pytest.raises(OSError, match="disk is full.*previous checkpoint"):
        save_checkpoint({"epoch": 1}, tmp_path, 1)
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 0
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_diverging_controller_names_the_epoch(tmp_path, monkeypatch):
    from enas.strategies import ENASStrategy

    real = ENASStrategy.learn

    def poisoned(self, *args, **kwargs):
        with torch.no_grad():
            for p in self.controller.heads.parameters():
                p.fill_(float("nan"))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ENASStrategy, "learn", poisoned)
    with pytest.raises(FloatingPointError, match="epoch 0, controller phase: .*logits are not finite"):
        run_search(tmp_path)
