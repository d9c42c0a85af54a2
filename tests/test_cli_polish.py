"""What a user notices running the commands: module entry points, log names, threads per parallel job."""
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from enas.runs.process import cap_threads_for_parallel_jobs

from conftest import CONF, compose_config


def test_python_m_enas_search_raises_no_runpy_warning(tmp_path):
    done = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "enas", "search", "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "found in sys.modules" not in done.stderr


def test_log_files_are_named_after_the_command():
    for name in ("search", "train", "derive"):
        assert OmegaConf.load(CONF / f"{name}.yaml").hydra.job.name == name


def test_parallel_jobs_share_the_cores(monkeypatch):
    from hydra.core import hydra_config

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    try:
        for n_jobs, threads in ((2, 4), (3, 2), (16, 1), (-1, 1), (-5, 2)):
            fake = SimpleNamespace(launcher=OmegaConf.create({"n_jobs": n_jobs}))
            monkeypatch.setattr(hydra_config.HydraConfig, "get", staticmethod(lambda: fake))
            assert cap_threads_for_parallel_jobs() == threads
            assert torch.get_num_threads() == threads
        fake = SimpleNamespace(launcher=OmegaConf.create({"_target_": "hydra._internal.BasicLauncher"}))
        monkeypatch.setattr(hydra_config.HydraConfig, "get", staticmethod(lambda: fake))
        assert cap_threads_for_parallel_jobs() is None  # one job at a time: all cores
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        assert cap_threads_for_parallel_jobs() is None  # the user's explicit choice wins
    finally:
        torch.set_num_threads(before)


def test_a_two_job_joblib_sweep_runs_side_by_side_with_one_thread_each(tmp_path):
    """`enas-search -m hydra/launcher=joblib`: two seeds at once, each job with cores // 2 threads."""
    import shutil

    from conftest import TINY_MICRO

    enas_search = shutil.which("enas-search", path=os.path.dirname(sys.executable))
    assert enas_search, "enas-search is not installed next to this Python"
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run([enas_search, "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                           f"hydra.sweep.dir={tmp_path}", "debug=cpu_tiny", *TINY_MICRO, "seed=0,1"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    threads = max(1, (os.cpu_count() or 1) // 2)
    for job in ("0", "1"):
        assert (tmp_path / job / "architecture.json").is_file(), sorted(p.name for p in (tmp_path / job).iterdir())
        log = (tmp_path / job / "search.log").read_text()
        # set by us, or by joblib's workers (OMP_NUM_THREADS) before torch started: the same cap
        assert f"2 parallel jobs on {os.cpu_count()} cores: {threads} PyTorch thread(s) per job" in log, log


@pytest.mark.parametrize("space, options", [
    ("nb201", {"name": "nb201", "C": 16, "N": 5, "affine": False, "track_running_stats": False}),
    ("micro", {"name": "micro", "num_layers": 6, "out_channels": 20, "num_nodes": 5, "aux_head": True,
               "dropout": 0.1}),
])
def test_space_on_the_command_line_replaces_the_quick_starts_space_whole(space, options):
    """The quick start's smaller micro is a space file of its own, so `space=nb201` gets nb201's options
    only (not micro's num_layers), and `space=micro` the paper's size."""
    assert OmegaConf.to_container(compose_config("search", [f"space={space}"]).space) == options
    quick = compose_config("search", []).space
    assert (quick.name, quick.num_layers, quick.out_channels) == ("micro", 3, 16)
