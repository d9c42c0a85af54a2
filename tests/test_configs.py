"""Every default is written once: the config dataclasses hold them, and a YAML file lists only what it changes."""
import dataclasses
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from enas.config import ControllerConfig, ImageDataConfig, ImageFolderDataConfig, CustomDataConfig, TextDataConfig, \
    TrainerConfig

from conftest import CONF, compose_config

DATA_SCHEMAS = {"image_schema": ImageDataConfig, "text_schema": TextDataConfig,
                "image_folder_schema": ImageFolderDataConfig, "custom_schema": CustomDataConfig}


def _leaves(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{prefix}{key}.")
    else:
        yield prefix[:-1], node


def _restated(path: Path, schema) -> list:
    raw = OmegaConf.to_container(OmegaConf.load(path))
    raw.pop("defaults", None)
    defaults = dataclasses.asdict(schema())
    return [key for key, value in raw.items() if key in defaults and defaults[key] == value]


@pytest.mark.parametrize("path", sorted((CONF / "trainer").glob("*.yaml")) + sorted((CONF / "controller").glob("*.yaml")),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_trainer_or_controller_file_lists_only_what_differs_from_the_schema(path):
    schema = TrainerConfig if path.parent.name == "trainer" else ControllerConfig
    assert _restated(path, schema) == []


@pytest.mark.parametrize("path", sorted((CONF / "data").glob("*.yaml")), ids=lambda p: p.name)
def test_a_data_file_lists_only_what_differs_from_its_schema(path):
    raw = OmegaConf.to_container(OmegaConf.load(path))
    schema = DATA_SCHEMAS[next(d for d in raw["defaults"] if isinstance(d, str) and d in DATA_SCHEMAS)]
    assert _restated(path, schema) == []


def _selections(raw) -> list:
    """An experiment's defaults as overrides: its parent experiment (or none), and its ``override
    /group: option`` lines."""
    parents = [e for e in raw.get("defaults", []) if isinstance(e, str) and e != "_self_"]
    picks = [f"experiment={parents[0]}" if parents else "~experiment"]
    for entry in raw.get("defaults", []):
        for key, value in (entry.items() if isinstance(entry, dict) else []):
            picks.append(f"{key.replace('override ', '').lstrip('/')}={value}")
    return picks


@pytest.mark.parametrize("path", sorted((CONF / "experiment").glob("*.yaml")), ids=lambda p: p.stem)
def test_an_experiment_sets_only_what_its_groups_do_not_already_give(path):
    """Against the same groups without the experiment's own keys: a key it sets to the value it would have
    anyway restates a default (of a dataclass or of a group file)."""
    raw = OmegaConf.to_container(OmegaConf.load(path))
    config = "train" if path.stem.endswith(("_final", "_retrain")) else "search"  # retrain experiments: enas-train
    base = compose_config(config, _selections(raw))
    raw.pop("defaults", None)
    restated = [key for key, value in _leaves(raw) if OmegaConf.select(base, key, default="<absent>") == value
                and key not in ("seed", "task_name")]
    assert restated == []
