"""Your own images as CIFAR-style tensors: a torchvision ``ImageFolder`` tree, or any dataset Hydra builds.

Both end where `enas.data.load_cifar10` ends: ``{"train": (x, y), "test": (x, y)}`` with x uint8
(N, 3, H, W) and y int64, decoded once, so the task keeps each split on the device as it does CIFAR
(airbench's loader). Images become RGB (the spaces' stems take 3 channels; grey images repeat their
channel) and must share one size unless ``data.resize`` gives one. Errors name the folder or file
and what is wrong.

* ``data=image_folder data.root=<dir>``: ``<dir>/<class>/<image>`` (classes sorted by name, as
  torchvision's ``ImageFolder``); with ``<dir>/train/`` and ``<dir>/test/`` (or ``val/``) each in
  that layout, those are the splits, otherwise ``data.test_size`` of the images are held out.
* ``data=custom data.dataset._target_=my.module.Dataset``: a map-style dataset of ``(image, label)``
  pairs (PIL images, HWC arrays or CHW tensors; floats in [0, 1] or uint8), ``data.test_dataset``
  likewise or held out as above.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

__all__ = ["IMAGE_SUFFIXES", "USER_SOURCES", "load_user_images", "load_image_folder", "load_custom_dataset",
           "hold_out", "channel_stats", "image_size", "resized"]

USER_SOURCES = ("image_folder", "custom")  # data.source values served here (CIFAR's are in enas.data)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".ppm", ".pgm", ".tif", ".tiff", ".webp")

Split = Tuple[torch.Tensor, torch.Tensor]
Size = Optional[Tuple[int, int]]


def image_size(resize) -> Size:
    """``data.resize``: null (keep), one side (square) or [height, width]."""
    if resize is None:
        return None
    sides = [int(resize)] * 2 if isinstance(resize, (int, float)) else [int(v) for v in resize]
    if len(sides) != 2 or min(sides) < 1:
        raise ValueError(f"data.resize={resize!r} must be one side or [height, width], each at least 1")
    return sides[0], sides[1]


def resized(x: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """uint8 images (N, C, H, W) resampled to ``size`` (height, width) once, at load: shrunk by area averaging
    (half the side: the mean of each 2x2 block, as downsampled ImageNet), enlarged bilinearly. In chunks, so a
    large split never holds a float copy whole."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] <= x.shape[-2] and size[1] <= x.shape[-1]
    resample = dict(mode="area") if shrink else dict(mode="bilinear", align_corners=False)
    chunks = [torch.nn.functional.interpolate(part.float(), size=size, **resample).round_().clamp_(0, 255)
              .to(torch.uint8) for part in x.split(4096)]
    return torch.cat(chunks)


def _to_rgb_array(image, size: Size, where: str) -> np.ndarray:
    """One image as uint8 (H, W, 3), resized to ``size`` (height, width) when given."""
    from PIL import Image

    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
        if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[-1] not in (1, 3, 4):
            image = image.transpose(1, 2, 0)  # CHW -> HWC
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            if not np.issubdtype(image.dtype, np.floating):
                raise ValueError(f"{where}: pixels of type {image.dtype}; give uint8 or floats in [0, 1]")
            image = (np.clip(image, 0.0, 1.0) * 255).round().astype(np.uint8)
        image = Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1 else image)
    if not isinstance(image, Image.Image):
        raise ValueError(f"{where}: an image must be a PIL image, an array or a tensor, got {type(image).__name__}")
    image = image.convert("RGB")
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(image)


def _stack(arrays: List[np.ndarray], labels: List[int], names: Sequence[str], where: str) -> Split:
    if not arrays:
        raise ValueError(f"{where}: no images")
    sizes = {a.shape[:2] for a in arrays}
    if len(sizes) > 1:
        first = arrays[0].shape[:2]
        odd = next(i for i, a in enumerate(arrays) if a.shape[:2] != first)
        raise ValueError(f"{where}: images differ in size ({names[0]} is {first[0]}x{first[1]}, {names[odd]} is "
                         f"{arrays[odd].shape[0]}x{arrays[odd].shape[1]}; {len(sizes)} sizes in all); set "
                         "data.resize=<side> or data.resize=[height,width] to resize them all")
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.long)


def _class_folders(root: Path) -> List[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"data.root={str(root)!r} is not a folder")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"{root} has no class folders: expected the ImageFolder layout "
                                "<root>/<class name>/<image files> (e.g. <root>/cat/1.png, <root>/dog/2.png)")
    return classes


def _read_folder(root: Path, classes: Sequence[str], size: Size, every_class: bool = True) -> Split:
    """Every image under ``root/<class>/`` for the given class names, labelled by their index; with
    ``every_class``, a class without images is an error (a test folder may lack some)."""
    from PIL import Image, UnidentifiedImageError

    arrays, labels, names = [], [], []
    for label, name in enumerate(classes):
        folder = root / name
        files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")) \
            if folder.is_dir() else []
        for path in files:
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(path) as image:
                    arrays.append(_to_rgb_array(image, size, str(path)))
            except (UnidentifiedImageError, OSError) as err:
                raise ValueError(f"{path} is not a readable image ({err}); remove or replace it") from None
            labels.append(label)
            names.append(str(path.relative_to(root)))
    empty = [c for c in classes if c not in {Path(n).parts[0] for n in names}]
    if empty and every_class:
        raise ValueError(f"{root}: class folder(s) {', '.join(empty[:5])} hold no images "
                         f"({', '.join(IMAGE_SUFFIXES)})")
    return _stack(arrays, labels, names, str(root))


def load_image_folder(root: Union[str, Path], resize=None) -> Tuple[Dict[str, Split], List[str], bool]:
    """(splits, class names, whether the folder had its own test split). Without ``train/`` and
    ``test/`` (or ``val/``) subfolders, ``splits`` has only "train": the caller holds a test set out."""
    root = Path(root).expanduser()
    size = image_size(resize)
    test_dir = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_dir is not None:
        classes = [p.name for p in _class_folders(root / "train")]
        missing = sorted({p.name for p in _class_folders(test_dir)} - set(classes))
        if missing:
            raise ValueError(f"{test_dir} has class folders that {root / 'train'} lacks: {', '.join(missing)}")
        return {"train": _read_folder(root / "train", classes, size),
                "test": _read_folder(test_dir, classes, size, every_class=False)}, classes, True
    classes = [p.name for p in _class_folders(root)]
    if len(classes) < 2:
        raise ValueError(f"{root} has one class folder ({classes[0]}); classification needs at least two")
    return {"train": _read_folder(root, classes, size)}, classes, False


def _read_dataset(dataset, size: Size, what: str) -> Split:
    try:
        n = len(dataset)
    except TypeError:
        raise ValueError(f"{what} must be a map-style dataset (with __len__ and __getitem__), got "
                         f"{type(dataset).__name__}") from None
    arrays, labels = [], []
    for i in range(n):
        item = dataset[i]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise ValueError(f"{what}[{i}] must be an (image, label) pair, got {type(item).__name__}")
        arrays.append(_to_rgb_array(item[0], size, f"{what}[{i}]"))
        labels.append(int(item[1]))
    return _stack(arrays, labels, [f"{what}[{i}]" for i in range(n)], what)


def load_custom_dataset(dataset_cfg, test_cfg=None, resize=None) -> Tuple[Dict[str, Split], bool]:
    """(splits, whether a test dataset was given) from Hydra ``_target_`` configs of map-style datasets."""
    from hydra.utils import instantiate

    if not dataset_cfg or "_target_" not in dataset_cfg:
        raise ValueError("data=custom needs data.dataset._target_: the dotted path of a dataset class or function "
                         "(e.g. data.dataset._target_=my_package.MyDataset +data.dataset.root=...)")
    size = image_size(resize)
    splits = {"train": _read_dataset(instantiate(dataset_cfg), size, f"data.dataset ({dataset_cfg['_target_']})")}
    if test_cfg:
        splits["test"] = _read_dataset(instantiate(test_cfg), size, f"data.test_dataset ({test_cfg['_target_']})")
    return splits, bool(test_cfg)


def hold_out(split: Split, size: Union[int, float], seed: int, what: str) -> Tuple[Split, Split]:
    """(kept, held out): ``size`` images (or that fraction, below 1) drawn at random, fixed by ``seed``."""
    x, y = split
    count = int(round(size * len(y))) if size < 1 else int(size)
    if not 0 < count < len(y):
        raise ValueError(f"{what}={size} leaves no images on one side of the split ({len(y)} images in all)")
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    kept, held = order[count:].sort().values, order[:count].sort().values
    return (x[kept], y[kept]), (x[held], y[held])


def channel_stats(x: torch.Tensor) -> Tuple[Tuple[float, ...], Tuple[float, ...]]:
    """Per-channel mean and std of uint8 images, in [0, 1] units: the normalisation of this data."""
    pixels = x.float().div_(255).transpose(0, 1).reshape(x.shape[1], -1)
    std = pixels.std(1).clamp_min(1e-3)  # a constant channel would otherwise divide by zero
    return tuple(pixels.mean(1).tolist()), tuple(std.tolist())


def load_user_images(data) -> Tuple[Dict[str, Split], int]:
    """({"train", "test"} splits, number of classes) for ``data.source`` image_folder or custom.

    A test set held out of the training images is drawn with a fixed seed, not the run's: it is a
    property of the data, the same for every search and retrain seed, and no search ever sees it.
    """
    if data.source == "image_folder":
        if not data.get("root"):
            raise ValueError("data=image_folder needs data.root=<folder of class folders>")
        splits, classes, has_test = load_image_folder(data.root, data.get("resize"))
        num_classes, where = len(classes), f"data.root={data.root}"
    else:
        splits, has_test = load_custom_dataset(data.get("dataset"), data.get("test_dataset"), data.get("resize"))
        num_classes = int(max(int(y.max()) for _, y in splits.values())) + 1
        where = "data.dataset"
    if data.get("num_classes") and data.num_classes != num_classes:
        raise ValueError(f"{where} has {num_classes} classes but data.num_classes={data.num_classes}; leave "
                         "data.num_classes unset to take it from the data")
    if not has_test:
        splits["train"], splits["test"] = hold_out(splits["train"], data.test_size, 0, "data.test_size")
    return splits, data.get("num_classes") or num_classes
