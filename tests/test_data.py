"""Data: the embedded subset, the shared npz layout, splits, batched augmentation, clear errors."""
import pytest
import torch

from enas.data import Augment, ImageLoader, load_cifar10, resized, search_split
from enas.tasks import Task
from enas.search import train_epoch

from conftest import shared_data


def test_embedded_subset_is_real_cifar10():
    data = load_cifar10("embedded")
    x, y = data["train"]
    assert x.shape == (3000, 3, 32, 32) and x.dtype == torch.uint8
    assert data["test"][0].shape == (1000, 3, 32, 32)
    assert torch.bincount(y).min() > 250  # every class present
    assert x[0, 0, 0, :5].tolist() == [59, 43, 50, 68, 98]  # official train image 0, red row 0
    assert data["test"][0][0, 0, 0, :4].tolist() == [158, 159, 165, 166]


def test_shared_npz_layout_matches_the_embedded_labels():
    root = shared_data("cifar10")
    data = load_cifar10("npz", str(root))
    assert data["train"][0].shape == (50000, 3, 32, 32) and data["test"][0].shape == (10000, 3, 32, 32)
    assert torch.equal(data["train"][1][:3000], load_cifar10("embedded")["train"][1])


def test_missing_data_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_cifar10("auto", str(tmp_path))
    with pytest.raises(ValueError, match="data.root is required"):
        load_cifar10("npz", None)
    with pytest.raises(ValueError, match="unknown data.source"):
        load_cifar10("imagenet", str(tmp_path))


def test_search_split_is_disjoint_seeded_and_never_touches_test():
    train, valid = search_split(1000, 100, seed=3)
    assert len(train) == 900 and len(valid) == 100
    assert not set(train.tolist()) & set(valid.tolist())
    assert torch.equal(search_split(1000, 100, seed=3)[1], valid)
    assert not torch.equal(search_split(1000, 100, seed=4)[1], valid)
    with pytest.raises(ValueError, match="valid_size"):
        search_split(100, 100, seed=0)


def test_nb201_split_file():
    path = shared_data("nasbench201", "cifar-split.txt")
    train, valid = search_split(50000, 0, seed=0, split="nb201", split_file=str(path))
    assert len(train) == len(valid) == 25000 and not set(train.tolist()) & set(valid.tolist())


def test_augmentation_crops_flips_and_cuts_out_whole_batches():
    torch.manual_seed(0)
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).view(2, 3, 8, 8) + 1
    crop = Augment(pad=2, flip=False)(x)
    assert crop.shape == x.shape
    for img, out in zip(x, crop):  # each output is a shifted window of the zero-padded image
        padded = torch.nn.functional.pad(img, (2, 2, 2, 2))
        assert any(torch.equal(out, padded[:, dy:dy + 8, dx:dx + 8]) for dy in range(5) for dx in range(5))
    flipped = Augment(pad=0, flip=True)(x.repeat(50, 1, 1, 1))
    kinds = {torch.equal(f, x[0]) for f in flipped[::2]} | {torch.equal(f, x[0].flip(2)) for f in flipped[::2]}
    assert kinds == {True, False}
    cut = Augment(pad=0, flip=False, cutout=4)(x.repeat(20, 1, 1, 1))
    holes = (cut == 0).all(1).flatten(1).sum(1)
    assert holes.max() == 16 and holes.min() >= 4  # a 4x4 square, clipped at the border


def test_loader_normalises_once_and_covers_the_split():
    x = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    y = torch.arange(10)
    loader = ImageLoader(x, y, 4, torch.device("cpu"), shuffle=True, drop_last=False)
    seen = torch.cat([yb for _, yb in loader])
    assert sorted(seen.tolist()) == list(range(10)) and len(loader) == 3
    assert abs(loader.x.mean().item()) < 1.0


def test_resize_shrinks_by_block_means_and_a_search_task_serves_the_smaller_images():
    from omegaconf import OmegaConf

    from enas.config import TrainerConfig
    from enas.tasks import build_image_task

    x = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    half = resized(x, (16, 16))
    blocks = x.float().view(5, 3, 16, 2, 16, 2).mean((3, 5))
    assert half.dtype == torch.uint8 and (half.float() - blocks).abs().max() <= 0.5
    assert resized(x, (32, 32)) is x and resized(x, (40, 36)).shape == (5, 3, 40, 36)

    data = OmegaConf.create({"source": "embedded", "root": None, "download": False, "cutout": 0, "augment": True,
                             "eval_batch_size": 64, "batch_size": 32, "valid_size": 200, "split": "random",
                             "split_file": None, "train_subset": 128, "valid_subset": 64, "num_classes": 10,
                             "resize": 16})
    trainer = TrainerConfig(epochs=1, progress=False, channels_last=False, aux_weight=0.0)
    task, _ = build_image_task(data, trainer, torch.device("cpu"), 0, "search")
    xb, _ = next(task.train_batches())
    assert xb.shape == (32, 3, 16, 16) and task.valid.x.shape[-2:] == (16, 16)
    assert task.train.augment.pad == 2  # CIFAR's 4 pixels of 32, at half the side
    with pytest.raises(ValueError, match=r"data.resize=0"):
        build_image_task(OmegaConf.merge(data, {"resize": 0}), trainer, torch.device("cpu"), 0, "search")


class _NaNTask(Task):
    steps_per_epoch = 4

    def train_batches(self):
        return iter([torch.ones(2, 1)] * 4)

    def loss(self, model, batch):
        return model(batch).sum() * float("nan"), torch.zeros(())


def test_nan_loss_stops_with_a_clear_error():
    from types import SimpleNamespace

    model = torch.nn.Linear(1, 1)
    trainer = SimpleNamespace(max_steps_per_epoch=None, epochs=1, drop_path_prob=0.0, grad_clip=5.0, log_every=2,
                              progress=False)
    with pytest.raises(FloatingPointError, match="epoch 0.*diverged"):
        train_epoch(model, _NaNTask(), torch.optim.SGD(model.parameters(), lr=0.1), trainer, 0)
