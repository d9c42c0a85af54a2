"""The distribution works outside the checkout: the sdist and the wheel ship the configs (``conf/``, as
``enas/conf``) and the embedded data set, and the wheel, installed apart from the checkout, runs the four
commands from another folder, reading its own copy of the configs.

The build runs on a copy of the checkout, so the checkout gets no ``build/`` or egg-info from it and two runs
of this test do not meet; it goes the way ``python -m build`` does (sdist, then the wheel from the unpacked
sdist), so a file the sdist forgets fails here too. Nothing is downloaded: the wheel is built with the
environment's setuptools and installed without its dependencies, which the environment already has.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(path.relative_to(ROOT / "conf").as_posix() for path in (ROOT / "conf").rglob("*.yaml"))
DATA = "enas/data/assets/cifar10_mini.npz"
COMMANDS = ("enas-search", "enas-train", "enas-derive", "enas-report")
TINY = ["space.num_layers=1", "space.out_channels=8"]
# What a clean clone lacks (.gitignore) and what the build does not read.
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "outputs", "multirun", "build", "dist", "*.egg-info",
                                   "__pycache__", ".pytest_cache", "*.pt", ".device")


def run(cmd, **kwargs):
    done = subprocess.run([str(part) for part in cmd], capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(sdist, wheel, site): the two distributions, and the folder the wheel is installed into."""
    tmp = tmp_path_factory.mktemp("wheel")
    source, dist, unpacked, site = tmp / "source", tmp / "dist", tmp / "unpacked", tmp / "site"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    run([sys.executable, "-c", f"import setuptools.build_meta as b; b.build_sdist({str(dist)!r})"],
        cwd=source, env=env)
    (sdist,) = dist.glob("enas-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(unpacked, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    (sdist_root,) = unpacked.iterdir()
    pip = [sys.executable, "-m", "pip"]
    run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--no-cache-dir", sdist_root,
         "-w", dist], env=env)
    (wheel,) = dist.glob("enas-*.whl")
    run([*pip, "install", "--no-deps", "--no-index", "--no-cache-dir", "--target", site, wheel], env=env)
    return sdist, wheel, site


def test_sdist_and_wheel_ship_every_config_and_the_embedded_data(built):
    sdist, wheel, _ = built
    assert "search.yaml" in CONFIGS and "experiment/quickstart.yaml" in CONFIGS
    with tarfile.open(sdist) as archive:
        in_sdist = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {f"conf/{name}" for name in CONFIGS} | {DATA, "setup.py", "MANIFEST.in"} <= in_sdist
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = set(archive.namelist())
        (entry_points,) = [name for name in in_wheel if name.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    missing = {f"enas/conf/{name}" for name in CONFIGS} - in_wheel
    assert not missing, f"configs missing from the wheel: {sorted(missing)}"
    assert DATA in in_wheel
    assert not [name for name in in_wheel if name.startswith(("conf/", "tests/"))]  # no top-level `conf` package
    assert all(f"{command} = " in scripts for command in COMMANDS)


def test_installed_wheel_runs_the_four_commands_from_another_folder(built, tmp_path):
    _, _, site = built
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The checkout is installed editable in this environment; the target folder comes first on the path, so
    # its copy of enas wins (checked below), and the working folder is outside the checkout.
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1", "HYDRA_FULL_ERROR": "1"}
    probe = ("import json, enas, enas.cli, supernet; "
             "print(json.dumps([enas.__file__, supernet.__file__, enas.cli.CONFIG_DIR]))")
    imported = json.loads(run([sys.executable, "-c", probe], cwd=elsewhere, env=env).stdout)
    assert [Path(path).resolve() for path in imported] == [
        site.resolve() / "enas/__init__.py", site.resolve() / "supernet/__init__.py", site.resolve() / "enas/conf"]

    bin_dir = site / "bin"  # the wheel's console scripts, as `pip install` writes them
    search_run, derive_run, train_run = tmp_path / "search", tmp_path / "derive", tmp_path / "train"
    run([bin_dir / "enas-search", "debug=cpu_tiny", *TINY, f"hydra.run.dir={search_run}"], cwd=elsewhere, env=env)
    assert (search_run / "architecture.json").is_file()
    run([bin_dir / "enas-derive", f"checkpoint={search_run}", "derive.num_samples=2",
         f"hydra.run.dir={derive_run}"], cwd=elsewhere, env=env)
    assert (derive_run / "architecture.json").is_file()
    run([bin_dir / "enas-train", f"architecture={search_run / 'architecture.json'}", "debug=cpu_tiny_train", *TINY,
         f"hydra.run.dir={train_run}"], cwd=elsewhere, env=env)
    assert (train_run / "results.json").is_file()
    (search_run / "report.html").unlink(missing_ok=True)  # the search writes one at its end (with matplotlib)
    run([bin_dir / "enas-report", search_run], cwd=elsewhere, env=env)
    assert (search_run / "report.html").is_file()
    # `python -m enas` is the same program, and nothing was written into the working folder.
    run([sys.executable, "-m", "enas", "search", "--cfg", "job", "debug=cpu_tiny"], cwd=elsewhere, env=env)
    assert not list(elsewhere.iterdir())
