"""Your own images from the CLI: data=image_folder (ImageFolder layout) and data=custom (a _target_)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from enas.data import load_image_folder
from enas.search import retrain
from enas.search import search
from enas.tasks import build_task

from conftest import TINY_SEARCH, compose_config

CLASSES = ("ant", "bee", "cat")


def write_folder(root, size=(20, 20), per_class=16, classes=CLASSES):
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (*size, 3), dtype=np.uint8) + np.uint8(80 * c)  # classes differ in brightness
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


class TinyDataset:
    """A map-style dataset as a user would write one: CHW float tensors in [0, 1] and int labels."""

    def __init__(self, n: int = 40, side: int = 12, classes: int = 4):
        g = torch.Generator().manual_seed(n)
        self.images = torch.rand(n, 3, side, side, generator=g)
        self.labels = torch.arange(n) % classes

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return self.images[i], int(self.labels[i])


def folder_config(root, out, *extra):
    return compose_config("search", [*TINY_SEARCH, "trainer.epochs=1", "data=image_folder", f"data.root={root}",
                                     *extra], out)


def test_search_on_a_folder_of_20x20_pngs_adapts_classes_and_size(tmp_path):
    root = write_folder(tmp_path / "images")
    result = search(folder_config(root, tmp_path / "run"))
    meta = json.loads((tmp_path / "run" / "architecture.json").read_text())
    assert meta["space"]["kwargs"]["num_classes"] == 3
    assert result["child_flops"] > 0  # counted on a 20x20 input
    cfg = folder_config(root, tmp_path / "run")
    task, info = build_task(cfg, torch.device("cpu"), "search")
    assert info["num_classes"] == 3 and tuple(task.train.x.shape[1:]) == (3, 20, 20)
    assert len(task.train.y) + len(task.valid.y) == 48 - round(0.2 * 48)  # the test images are held out
    assert abs(float(task.train.x.mean())) < 0.5  # normalised with the folder's own statistics
    train = compose_config("train", ["debug=cpu_tiny_train", "space.num_layers=1", "space.out_channels=8",
                                     "space.num_nodes=3", "trainer.epochs=1", "data=image_folder",
                                     f"data.root={root}", f"architecture={tmp_path / 'run' / 'architecture.json'}"],
                           tmp_path / "train")
    assert 0 <= retrain(train)["test_acc"] <= 1


def test_train_and_test_subfolders_are_the_splits(tmp_path):
    write_folder(tmp_path / "train")
    write_folder(tmp_path / "test", per_class=2, classes=CLASSES[:2])  # a test folder may lack a class
    splits, classes, has_test = load_image_folder(tmp_path)
    assert has_test and classes == list(CLASSES)
    assert len(splits["train"][1]) == 48 and sorted(set(splits["test"][1].tolist())) == [0, 1]


def test_errors_name_the_folder_and_what_is_wrong(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"empty has no class folders"):
        load_image_folder(tmp_path / "empty")
    root = write_folder(tmp_path / "bad", per_class=2)
    (root / "bee" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"broken.png is not a readable image"):
        load_image_folder(root)
    mixed = write_folder(tmp_path / "mixed", per_class=2)
    Image.new("RGB", (24, 16)).save(mixed / "cat" / "wide.png")
    with pytest.raises(ValueError, match=r"wide.png is 16x24.*data.resize"):
        load_image_folder(mixed)
    x, _ = load_image_folder(mixed, resize=[18, 18])[0]["train"]
    assert tuple(x.shape[1:]) == (3, 18, 18)


def test_custom_dataset_from_a_target(tmp_path):
    cfg = compose_config("search", [*TINY_SEARCH, "trainer.epochs=1", "data=custom",
                                    "data.dataset._target_=test_image_folder.TinyDataset", "+data.dataset.n=60"],
                         tmp_path)
    task, info = build_task(cfg, torch.device("cpu"), "search")
    assert info["num_classes"] == 4 and tuple(task.train.x.shape[1:]) == (3, 12, 12)
    search(cfg)
    assert json.loads((tmp_path / "architecture.json").read_text())["space"]["kwargs"]["num_classes"] == 4


def test_custom_data_without_a_target_says_what_to_set(tmp_path):
    cfg = compose_config("search", [*TINY_SEARCH, "data=custom"], tmp_path)
    with pytest.raises(ValueError, match=r"data.dataset._target_"):
        build_task(cfg, torch.device("cpu"), "search")
