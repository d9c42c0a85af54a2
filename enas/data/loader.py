"""Image batches on the device, following airbench (KellerJordan/cifar10-airbench).

Each split is one tensor on the device, normalised once; batches are slices by a ``randperm`` made on
the device; pad-4 random crop, flip and cutout act on whole batches. No DataLoader, no workers, no
per-sample Python.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import torch

from .cifar10 import CIFAR10_MEAN, CIFAR10_STD

__all__ = ["ImageLoader", "Augment"]


@dataclass
class Augment:
    """Batched CIFAR augmentation: zero-pad + random crop, horizontal flip, optional cutout."""

    pad: int = 4
    flip: bool = True
    cutout: int = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        dev = x.device
        if self.pad:
            padded = torch.nn.functional.pad(x, (self.pad,) * 4)
            dy = torch.randint(0, 2 * self.pad + 1, (n, 1), device=dev) + torch.arange(h, device=dev)
            dx = torch.randint(0, 2 * self.pad + 1, (n, 1), device=dev) + torch.arange(w, device=dev)
            rows = torch.arange(n, device=dev)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[rows, dy[:, :, None], dx[:, None, :]].permute(0, 3, 1, 2)
        if self.flip:
            x = torch.where(torch.rand(n, 1, 1, 1, device=dev) < 0.5, x.flip(3), x)
        if self.cutout:  # a square of side `cutout` centred anywhere, clipped at the border (DeVries & Taylor 2017)
            top = torch.randint(0, h, (n, 1, 1), device=dev) - self.cutout // 2
            left = torch.randint(0, w, (n, 1, 1), device=dev) - self.cutout // 2
            ys = torch.arange(h, device=dev)[None, :, None] - top
            xs = torch.arange(w, device=dev)[None, None, :] - left
            hole = (ys >= 0) & (ys < self.cutout) & (xs >= 0) & (xs < self.cutout)
            x = x * (~hole).unsqueeze(1).to(x.dtype)
        return x


class ImageLoader:
    """Batches of one split kept on the device, normalised once."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device,
                 shuffle: bool = True, augment: Optional[Augment] = None, drop_last: bool = True,
                 channels_last: bool = False, seed: Optional[int] = None,
                 mean: Tuple[float, ...] = CIFAR10_MEAN, std: Tuple[float, ...] = CIFAR10_STD):
        """With ``seed``, the order of epoch e is a function of (seed, e) alone, not of the global random
        state: every process of a torchrun job draws the same permutation and takes its own shard of
        each batch, whatever else each has drawn (rank 0 alone trains the controller)."""
        if len(x) == 0:
            raise ValueError("empty data split")
        self.seed, self.epoch = seed, 0
        mean = torch.tensor(mean, device=device).view(1, -1, 1, 1)  # the data's own for your images
        std = torch.tensor(std, device=device).view(1, -1, 1, 1)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.x = ((x.to(device).float().div_(255) - mean) / std).contiguous(memory_format=self.memory_format)
        self.y = y.to(device)
        self.batch_size = min(batch_size, len(x))
        self.shuffle, self.augment, self.drop_last = shuffle, augment, drop_last

    def __len__(self) -> int:
        n = len(self.y)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """The epoch whose order the next pass uses (seeded loaders), as a DistributedSampler's."""
        self.epoch = epoch

    def _order(self) -> torch.Tensor:
        n, device = len(self.y), self.y.device
        if not self.shuffle:
            return torch.arange(n, device=device)
        if self.seed is None:
            return torch.randperm(n, device=device)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        self.epoch += 1  # a pass without set_epoch still gets a fresh order
        return torch.randperm(n, generator=gen).to(device)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        order = self._order()
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.x[idx]
            if self.augment:
                x = self.augment(x).contiguous(memory_format=self.memory_format)
            yield x, self.y[idx]

    def forever(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        while True:
            yield from self
