"""Shared fixtures: the real conf/ composed through Hydra's compose API, shrunk for the CPU."""
import os
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from enas.config import register_configs

CONF = Path(__file__).resolve().parents[1] / "conf"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one test process per core (pytest-xdist): one PyTorch thread each, here and in every
    # process a test starts, since more busy threads than cores slow PyTorch down many times over.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

# A micro supernet small enough for a few CPU steps in a test.
TINY_MICRO = ["space.num_layers=1", "space.out_channels=8", "space.num_nodes=3"]
TINY_SEARCH = ["debug=cpu_tiny", *TINY_MICRO]


def compose_config(name: str, overrides, output_dir=None):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=list(overrides))
    if output_dir is not None:
        cfg.output_dir = str(output_dir)
    return cfg


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


def shared_data(*parts) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared data folder is not part of a clean clone)")
    return path


def straight_and_resumed(tmp_path: Path, monkeypatch, overrides, kill_after: int = 0):
    """A search run straight to the end (``tmp_path/straight``), and the same search killed right after
    checkpointing epoch ``kill_after`` (``tmp_path/killed``) and resumed from another working folder;
    returns both final checkpoints (straight, resumed). A resumed run finishes in the folder it continues."""
    from enas.search import loop as search_module

    def run(out, *extra):
        return search_module.search(compose_config("search", [*overrides, *extra], out))

    run(tmp_path / "straight")
    real_save = search_module.save_checkpoint

    def save_then_die(state, directory, epoch, **kw):
        path = real_save(state, directory, epoch, **kw)
        if epoch == kill_after:
            raise KeyboardInterrupt(f"killed after epoch {epoch}")
        return path

    monkeypatch.setattr(search_module, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "killed")
    monkeypatch.setattr(search_module, "save_checkpoint", real_save)
    assert torch.load(tmp_path / "killed" / "checkpoints" / "last.pt", weights_only=True)["epoch"] == kill_after
    run(tmp_path / "elsewhere", f"resume={tmp_path / 'killed'}")
    return [torch.load(tmp_path / name / "checkpoints" / "last.pt", weights_only=True)
            for name in ("straight", "killed")]


def nb201_table_reward(table):
    """A reward that looks a cell up in NAS-Bench-201 (its 12-epoch validation accuracy, nothing trained),
    and the list it appends (valid acc, 200-epoch test acc) to per lookup."""
    import supernet

    seen = []

    def reward(arch):
        row = table.lookup(supernet.to_nb201_string(arch))
        seen.append((row["cifar10_valid_acc_12ep"], row["cifar10_test_acc"]))
        return row["cifar10_valid_acc_12ep"] / 100

    return reward, seen
