"""Candidate operations and the small blocks cells are made of.

Op names are the papers' own. ``OPS`` maps a name to ``factory(C, stride, affine, track_running_stats)``
for the cell-based spaces (ENAS micro, Pham et al. 2018, arXiv:1802.03268; NAS-Bench-201, Dong & Yang
2020, arXiv:2001.00326). Two rules shape this file: an op that contributes nothing is
never computed (`Zero` + `is_zero`), and identity never copies (``nn.Identity``).
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .choices import chosen_module

__all__ = [
    "OPS", "ReLUConvBN", "SepConv", "AvgPool3x3", "FactorizedReduce", "Zero", "is_zero", "drop_path",
    "batch_norm",
]


def batch_norm(C: int, affine: bool = True, track_running_stats: bool = False) -> nn.BatchNorm2d:
    """BN for shared weights: by default it normalises with batch statistics only (running averages over
    different sampled paths describe none of them)."""
    return nn.BatchNorm2d(C, affine=affine, track_running_stats=track_running_stats)


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv(k x k) -> BN, the NAS-Bench-201 / DARTS ordering."""

    def __init__(self, C_in, C_out, kernel_size, stride=1, affine=True, track_running_stats=False):
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride, kernel_size // 2, bias=False),
            batch_norm(C_out, affine, track_running_stats),
        )


class SepConv(nn.Sequential):
    """(ReLU -> depthwise k x k -> pointwise 1x1 -> BN) stacked ``stack`` times.

    ENAS applies each separable conv twice (``_enas_conv(..., stack_conv=2)`` in the official
    micro_child.py, as in NASNet); only the first application strides.
    """

    def __init__(self, C_in, C_out, kernel_size, stride=1, affine=True, track_running_stats=False, stack=2):
        layers = []
        for i in range(stack):
            c_in = C_in if i == 0 else C_out
            layers += [
                nn.ReLU(inplace=False),
                nn.Conv2d(c_in, c_in, kernel_size, stride if i == 0 else 1, kernel_size // 2, groups=c_in, bias=False),
                nn.Conv2d(c_in, C_out, 1, bias=False),
                batch_norm(C_out, affine, track_running_stats),
            ]
        super().__init__(*layers)


_COUNT_CACHE: Dict[Tuple, torch.Tensor] = {}


class AvgPool3x3(nn.Module):
    """Exactly ``nn.AvgPool2d(3, stride, 1, count_include_pad=False)``, computed faster.

    On CPU the pooling kernel in NCHW was about a third of a supernet step (measured); a fixed
    all-ones depthwise convolution multiplied by a cached map of 1/(number of valid pixels) gives the
    same numbers several times faster, forward and backward. On other devices the native op runs:
    it is fast there, allocates nothing per call and keeps bf16 inputs in bf16.
    """

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def _inverse_count(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.shape[-2], x.shape[-1], self.stride, x.device, x.dtype)
        inv = _COUNT_CACHE.get(key)
        if inv is None:
            ones = torch.ones(1, 1, x.shape[-2], x.shape[-1], device=x.device, dtype=x.dtype)
            count = F.conv2d(ones, torch.ones(1, 1, 3, 3, device=x.device, dtype=x.dtype), stride=self.stride, padding=1)
            inv = _COUNT_CACHE[key] = count.reciprocal()
        return inv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":  # the trick is for CPU kernels; GPUs have a fast native op (and keep bf16)
            return F.avg_pool2d(x, 3, self.stride, 1, count_include_pad=False)
        C = x.shape[1]
        weight = torch.ones(C, 1, 3, 3, device=x.device, dtype=x.dtype)
        return F.conv2d(x, weight, stride=self.stride, padding=1, groups=C) * self._inverse_count(x)

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: two 1x1 convs on offset grids, concatenated, then BN.

    As ENAS's ``_factorized_reduction``: no ReLU inside; callers add one where the original does.
    """

    def __init__(self, C_in, C_out, affine=True, track_running_stats=False):
        super().__init__()
        if C_out % 2:
            raise ValueError(f"FactorizedReduce needs an even number of output channels, got {C_out}")
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, bias=False)
        self.bn = batch_norm(C_out, affine, track_running_stats)

    def forward(self, x):
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Zero(nn.Module):
    """The ``none`` op. Cells skip it with `is_zero` instead of adding zeros; called, it is still correct."""

    def __init__(self, stride: int = 1):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        x = x if self.stride == 1 else x[:, :, :: self.stride, :: self.stride]
        return torch.zeros_like(x)


def is_zero(module: nn.Module) -> bool:
    """True for a `Zero` op, and for a `LayerChoice` whose active option is one."""
    return isinstance(chosen_module(module), Zero)


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    """Zero whole samples of a path with probability ``drop_prob`` (NASNet's ScheduledDropPath)."""
    if not training or drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


def _identity(C, stride, affine, track):
    return nn.Identity() if stride == 1 else FactorizedReduce(C, C, affine, track)


OPS: Dict[str, Callable[[int, int, bool, bool], nn.Module]] = {
    "none": lambda C, stride, affine, track: Zero(stride),
    "identity": _identity,
    "skip_connect": _identity,
    "avg_pool_3x3": lambda C, stride, affine, track: AvgPool3x3(stride),
    "max_pool_3x3": lambda C, stride, affine, track: nn.MaxPool2d(3, stride, 1),
    "nor_conv_1x1": lambda C, stride, affine, track: ReLUConvBN(C, C, 1, stride, affine, track),
    "nor_conv_3x3": lambda C, stride, affine, track: ReLUConvBN(C, C, 3, stride, affine, track),
    "sep_conv_3x3": lambda C, stride, affine, track: SepConv(C, C, 3, stride, affine, track),
    "sep_conv_5x5": lambda C, stride, affine, track: SepConv(C, C, 5, stride, affine, track),
}
