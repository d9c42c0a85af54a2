"""CIFAR-10 from several layouts, and the search's split of the training set.

Sources (``data.source``):

* ``embedded``: 3,000 train / 1,000 test lossless CIFAR-10 images shipped in the package;
* ``torchvision``: torchvision's layout (``<root>/cifar-10-batches-py``), downloaded with
  ``download=true`` when online;
* ``npz``: numpy files (``train_jpeg.npz`` + ``train_y.npy``,
  ``test_x.npy`` + ``test_y.npy``); JPEGs are decoded once and cached;
* ``auto``: whichever of the two directory layouts ``root`` holds.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import torch

__all__ = ["load_cifar10", "search_split", "CIFAR10_MEAN", "CIFAR10_STD", "check_labels"]

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
EMBEDDED = Path(__file__).parent / "assets" / "cifar10_mini.npz"

Split = Tuple[torch.Tensor, torch.Tensor]  # (uint8 N x 3 x 32 x 32, int64 N)


def _decode_png_mosaic(png: np.ndarray) -> np.ndarray:
    from PIL import Image

    mosaic = np.asarray(Image.open(io.BytesIO(png.tobytes())).convert("RGB"))
    return mosaic.reshape(-1, 32, 32, 3)


def _cache_dir() -> Path:
    return Path(os.environ.get("ENAS_CACHE", Path.home() / ".cache" / "enas"))


def _decode_jpegs(path: Path) -> np.ndarray:
    """Decode ``train_jpeg.npz`` once (about a minute for 50k images) and cache the pixels."""
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    cached = _cache_dir() / f"{path.stem}-{key}.npy"
    if cached.is_file():
        try:
            return _load_array(cached)
        except ValueError:  # a torn cache file: decode again
            cached.unlink(missing_ok=True)
    from PIL import Image, UnidentifiedImageError

    jpeg, offsets = _load_array(path, "jpeg"), _load_array(path, "offsets")
    try:
        images = np.stack([np.asarray(Image.open(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes())).convert("RGB"))
                           for i in range(len(offsets) - 1)])
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise ValueError(f"{path}: an image could not be decoded ({err}); the file is corrupt") from None
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".{os.getpid()}.tmp.npy")
    np.save(tmp, images)
    os.replace(tmp, cached)
    return images


def _to_tensors(x_nhwc: np.ndarray, y: np.ndarray, what: str = "data") -> Split:
    x_nhwc, y = np.asarray(x_nhwc), np.asarray(y)
    if x_nhwc.ndim != 4 or x_nhwc.shape[-1] not in (1, 3):
        raise ValueError(f"{what}: images must be an array (N, height, width, 3), got shape {x_nhwc.shape}")
    if x_nhwc.dtype != np.uint8:
        raise ValueError(f"{what}: images must be uint8 pixels, got {x_nhwc.dtype}")
    if y.ndim != 1 or len(y) != len(x_nhwc):
        raise ValueError(f"{what}: {len(x_nhwc)} images but labels of shape {y.shape}: counts must match")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{what}: labels must be integers, got {y.dtype}")
    x = torch.from_numpy(np.require(x_nhwc, requirements=["C", "W"])).permute(0, 3, 1, 2).contiguous()
    return x, torch.as_tensor(y, dtype=torch.long)


def _load_array(path: Path, key: Optional[str] = None) -> np.ndarray:
    """np.load that names the file when it is truncated or not a numpy file."""
    try:
        data = np.load(path, allow_pickle=False)
        return data[key] if key is not None else data
    except (ValueError, OSError, EOFError, KeyError) as err:
        raise ValueError(f"{path} is corrupt or not a numpy file ({err})") from None


def _load_npz_layout(root: Path) -> Dict[str, Split]:
    splits = {}
    for split in ("train", "test"):
        pixels, jpegs, labels = root / f"{split}_x.npy", root / f"{split}_jpeg.npz", root / f"{split}_y.npy"
        if pixels.is_file():
            x = _load_array(pixels)
        elif jpegs.is_file():
            x = _decode_jpegs(jpegs)
        else:
            raise FileNotFoundError(f"data.root={str(root)!r} has no {split} images: neither {pixels.name} nor "
                                    f"{jpegs.name} is there")
        if not labels.is_file():
            raise FileNotFoundError(f"data.root={str(root)!r} has {split} images but no {labels.name}")
        splits[split] = _to_tensors(x, _load_array(labels), f"{root} ({split})")
    return splits


def _load_torchvision(root: Path, download: bool) -> Dict[str, Split]:
    from torchvision.datasets import CIFAR10

    return {split: _to_tensors(ds.data, ds.targets)
            for split, ds in (("train", CIFAR10(str(root), train=True, download=download)),
                              ("test", CIFAR10(str(root), train=False, download=download)))}


def check_labels(splits: Dict[str, Split], num_classes: int, where: str) -> None:
    """Every label in 0..num_classes-1, or an error naming the split and the offending value."""
    for split, (_, y) in splits.items():
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
            raise ValueError(f"{where} ({split}): label {bad} is outside 0..{num_classes - 1} (data.num_classes="
                             f"{num_classes})")


def load_cifar10(source: str = "auto", root: Optional[str] = None, download: bool = False) -> Dict[str, Split]:
    """``{"train": (x, y), "test": (x, y)}`` with x uint8 (N, 3, 32, 32) on the CPU."""
    if source == "embedded":
        z = np.load(EMBEDDED)
        return {s: _to_tensors(_decode_png_mosaic(z[f"{s}_png"]), z[f"{s}_y"]) for s in ("train", "test")}
    if root is None:
        raise ValueError(f"data.root is required for data.source={source!r} (or use data.source=embedded)")
    path = Path(root).expanduser()
    has_torchvision = (path / "cifar-10-batches-py").is_dir()
    has_npz = (path / "train_jpeg.npz").is_file() or (path / "train_x.npy").is_file()
    if source == "auto":
        source = "torchvision" if has_torchvision or (download and not has_npz) else "npz" if has_npz else None
        if source is None:
            raise FileNotFoundError(
                f"no CIFAR-10 found under data.root={str(path)!r}: expected torchvision's 'cifar-10-batches-py/' "
                "or 'train_jpeg.npz'/'train_x.npy' + 'train_y.npy' (the npz layout); "
                "pass data.download=true to download it, or data.source=embedded for the bundled subset")
    if source == "torchvision":
        if not has_torchvision and not download:
            raise FileNotFoundError(f"{str(path / 'cifar-10-batches-py')!r} does not exist; pass data.download=true")
        return _load_torchvision(path, download)
    if source == "npz":
        if not has_npz:
            raise FileNotFoundError(f"{str(path)!r} holds neither train_jpeg.npz nor train_x.npy")
        return _load_npz_layout(path)
    raise ValueError(f"unknown data.source {source!r}; use one of auto, embedded, torchvision, npz")


def search_split(n_train: int, valid_size: int, seed: int, split: str = "random",
                 split_file: Optional[str] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, valid) into the training set: a seeded random split or NAS-Bench-201's file."""
    if split == "nb201":
        if split_file is None or not Path(split_file).is_file():
            raise FileNotFoundError(
                f"data.split=nb201 needs data.split_file pointing at NAS-Bench-201's cifar-split.txt (got {split_file!r})")
        spec = json.loads(Path(split_file).read_text())
        # {"train": ["int", ["0", "5", ...]], "valid": [...]}: a type tag, then indices as strings
        train, valid = (torch.tensor([int(i) for i in spec[k][1]]) for k in ("train", "valid"))
        if max(train.max().item(), valid.max().item()) >= n_train:
            raise ValueError(f"{split_file} indexes {max(train.max(), valid.max()) + 1} images, dataset has {n_train}")
        return train, valid
    if split != "random":
        raise ValueError(f"unknown data.split {split!r}; use 'random' or 'nb201'")
    if not 0 < valid_size < n_train:
        raise ValueError(f"data.valid_size={valid_size} must be between 1 and the {n_train} training images - 1")
    perm = torch.randperm(n_train, generator=torch.Generator().manual_seed(seed))
    return perm[valid_size:].sort().values, perm[:valid_size].sort().values
