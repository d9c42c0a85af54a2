"""The one packaging fact setup.cfg cannot state: the top-level ``conf/`` ships inside the package as ``enas/conf``.

The Hydra configs stay at the top of the repository, where a checkout (and an editable install) reads and edits
them, but an installed wheel has no repository, so the distribution maps the package ``enas.conf`` onto that
folder (``package_dir``) and ships its YAML files as package data (MANIFEST.in grafts them into the sdist;
``include_package_data`` in setup.cfg carries them into the wheel). setup.cfg's ``packages = find:`` only finds
packages under their parent's folder, so the package list is made here: every package of ``enas`` and
``supernet``, plus ``enas.conf`` and one package per config group folder (``enas.conf.space``, ...), found
anew at every build, so a new group folder ships without editing this file. Everything else is in setup.cfg.
``enas.cli.config_dir`` picks ``enas/conf`` when installed, the checkout's ``conf/`` otherwise.
"""
from pathlib import Path

from setuptools import find_namespace_packages, find_packages, setup

HERE = Path(__file__).resolve().parent
CONF_PACKAGES = ["enas.conf"] + [f"enas.conf.{name}" for name in find_namespace_packages(where=str(HERE / "conf"))]

setup(
    packages=find_packages(where=str(HERE), include=["supernet", "supernet.*", "enas", "enas.*"]) + CONF_PACKAGES,
    package_dir={"enas.conf": "conf"},
)
