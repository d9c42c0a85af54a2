"""ENAS macro (whole-network) search space.

Pham et al., "Efficient Neural Architecture Search via Parameter Sharing", ICML 2018,
arXiv:1802.03268, section 2.3 and Table 2 ("ENAS + macro search space"); original code
github.com/melodyguan/enas, ``src/cifar10/general_child.py`` (``--controller_search_whole_channels``)
and ``scripts/cifar10_macro_search.sh``.

A stem (3x3 conv + BN) feeds a chain of ``num_layers`` layers. Layer i applies one of six ops to
layer i-1's output and, for i > 0, adds any subset of the outputs of layers 0..i-1 (skip
connections), then applies BN: ``BN(op(x) + sum of chosen)``; layer 0 is the op alone. Every op
starts with a 1x1 conv-BN-ReLU; convolutions then apply a k x k (or depthwise-separable k x k)
conv-BN-ReLU, pooling a 3x3 pool at stride 1. After layers ``L//3 - 1`` and ``2*(L//3) - 1`` the
resolution halves: every earlier output is brought to the new size by its own factorized
reduction, since any later layer may read it. The head is global average pooling, dropout and a
linear layer without bias, as the official network (no ReLU before the pooling).

Choices, with the reason for each:

* ``double_channels_at_pool=False`` (default) is the official search network, whose width stays
  ``out_channels`` throughout; ``True`` doubles it at each pooling, as the official
  fixed-architecture network (``scripts/cifar10_macro_final.sh``). Either way the standalone child
  is this same network, so a retrained child equals the supernet built with the same kwargs.
* Deviation: skip candidate j of layer i is layer j's output. Official ``general_child.py`` keeps
  the stem at the front of its list of earlier outputs, so its skip bit j reads the stem (j=0) or
  layer j-1, while its controller attends over layer j's hidden state for that bit; we follow the
  controller's and the paper's meaning ("previous layers"), so candidate names match the tensors.
* Deviation: the official fixed-architecture layer differs from its search layer (ReLU-conv-BN
  ordering, concatenated skips projected by a 1x1 conv, separable convs built as plain convs); a
  child here keeps the search layer, so the weights, and the function, are the searched ones.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence

import torch
from torch import nn

from ..choices import InputChoice, LayerChoice
from ..ops import AvgPool3x3, FactorizedReduce, batch_norm
from .._checks import at_least, fraction, known
from .._registry import register_space

__all__ = ["MacroNetwork", "MACRO_OPS"]

# Official branch numbering: 0 conv_3x3, 1 sep_conv_3x3, 2 conv_5x5, 3 sep_conv_5x5, 4 avg, 5 max.
MACRO_OPS = ("conv_3x3", "conv_5x5", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3")


def _conv1x1_bn_relu(C_in: int, C: int, affine: bool, track: bool) -> List[nn.Module]:
    return [nn.Conv2d(C_in, C, 1, bias=False), batch_norm(C, affine, track), nn.ReLU()]


class ConvBranch(nn.Sequential):
    """Official ``_conv_branch``: 1x1 conv-BN-ReLU, then k x k conv (or depthwise + pointwise)-BN-ReLU."""

    def __init__(self, C_in: int, C: int, kernel_size: int, separable: bool, affine: bool, track: bool):
        pad = kernel_size // 2
        if separable:
            conv = [nn.Conv2d(C, C, kernel_size, padding=pad, groups=C, bias=False), nn.Conv2d(C, C, 1, bias=False)]
        else:
            conv = [nn.Conv2d(C, C, kernel_size, padding=pad, bias=False)]
        super().__init__(*_conv1x1_bn_relu(C_in, C, affine, track), *conv, batch_norm(C, affine, track), nn.ReLU())


class PoolBranch(nn.Sequential):
    """Official ``_pool_branch``: 1x1 conv-BN-ReLU, then a 3x3 pool at stride 1 (SAME padding)."""

    def __init__(self, C_in: int, C: int, pool: nn.Module, affine: bool, track: bool):
        super().__init__(*_conv1x1_bn_relu(C_in, C, affine, track), pool)


# name -> factory(C_in, C, affine, track_running_stats)
MACRO_BRANCHES: Dict[str, Callable[[int, int, bool, bool], nn.Module]] = {
    "conv_3x3": lambda C_in, C, affine, track: ConvBranch(C_in, C, 3, False, affine, track),
    "conv_5x5": lambda C_in, C, affine, track: ConvBranch(C_in, C, 5, False, affine, track),
    "sep_conv_3x3": lambda C_in, C, affine, track: ConvBranch(C_in, C, 3, True, affine, track),
    "sep_conv_5x5": lambda C_in, C, affine, track: ConvBranch(C_in, C, 5, True, affine, track),
    # TF's SAME average pooling divides by the number of valid pixels, as AvgPool3x3 does.
    "avg_pool_3x3": lambda C_in, C, affine, track: PoolBranch(C_in, C, AvgPool3x3(1), affine, track),
    "max_pool_3x3": lambda C_in, C, affine, track: PoolBranch(C_in, C, nn.MaxPool2d(3, 1, 1), affine, track),
}


class MacroLayer(nn.Module):
    """One layer. Registration order = the controller's order: the op, then the skip connections."""

    def __init__(self, index: int, C: int, ops: Sequence[str], affine: bool, track: bool):
        super().__init__()
        self.op = LayerChoice({name: MACRO_BRANCHES[name](C, C, affine, track) for name in ops},
                              label=f"layer_{index}/op")
        if index > 0:
            self.skip = InputChoice(index, None, "sum", label=f"layer_{index}/skip",
                                    candidates=[f"layer_{j}" for j in range(index)])
            self.bn = batch_norm(C, affine, track)
        else:
            self.skip = None  # official: layer 0 has no skip decision and no final BN

    def skips_chosen(self) -> tuple:
        return () if self.skip is None else tuple(self.skip.chosen)

    def forward(self, x: torch.Tensor, earlier: Sequence) -> torch.Tensor:
        out = self.op(x)
        if self.skip is None:
            return out
        skip = self.skip(earlier)  # None when no skip is chosen
        return self.bn(out if skip is None else out + skip)


class MacroNetwork(nn.Module):
    """The ENAS macro network (search: 12 layers x 36 channels).

    ``ops`` restricts the options (official ``--child_num_branches=4`` keeps the four convolutions);
    ``double_channels_at_pool`` is explained in the module docstring.
    """

    def __init__(self, num_layers: int = 12, out_channels: int = 36, num_classes: int = 10, ops=MACRO_OPS,
                 double_channels_at_pool: bool = False, dropout: float = 0.1, affine: bool = True,
                 track_running_stats: bool = False):
        super().__init__()
        known("macro", "ops", ops, list(MACRO_BRANCHES))
        at_least("macro", 1, num_layers=num_layers, out_channels=out_channels, num_classes=num_classes)
        fraction("macro", dropout=dropout)
        if out_channels % 2 and num_layers >= 3:  # factorized reductions split the channels in two halves
            raise ValueError(f"space macro: out_channels must be even with pooling layers, got {out_channels}")
        track = track_running_stats
        pool_distance = num_layers // 3
        self.pool_layers = tuple(p for p in (pool_distance - 1, 2 * pool_distance - 1) if p >= 0)
        # stage[i]: poolings before layer i; channels per stage.
        self.stage = [sum(p < i for p in self.pool_layers) for i in range(num_layers)]
        widths = [out_channels * (2 ** s if double_channels_at_pool else 1) for s in range(len(self.pool_layers) + 1)]
        self.stem = nn.Sequential(nn.Conv2d(3, out_channels, 3, padding=1, bias=False),
                                  batch_norm(out_channels, affine, track))
        self.layers = nn.ModuleList(MacroLayer(i, widths[self.stage[i]], ops, affine, track) for i in range(num_layers))
        # pools[k][f"layer_{j}"] brings layer j's output (already through pools < k) past pooling k.
        self.pools = nn.ModuleList(
            nn.ModuleDict({f"layer_{j}": FactorizedReduce(widths[k], widths[k + 1], affine, track) for j in range(p + 1)})
            for k, p in enumerate(self.pool_layers))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(widths[-1], num_classes, bias=False)

    def _reduced(self, outputs: List[torch.Tensor], stages: List[int], j: int, stage: int) -> torch.Tensor:
        """Layer j's output at resolution ``stage``; reduced on first use and kept, so only what is read runs."""
        while stages[j] < stage:
            outputs[j] = self.pools[stages[j]][f"layer_{j}"](outputs[j])
            stages[j] += 1
        return outputs[j]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        outputs: List[torch.Tensor] = []
        stages: List[int] = []
        for i, layer in enumerate(self.layers):
            stage = self.stage[i]
            if i > 0:
                x = self._reduced(outputs, stages, i - 1, stage)
            chosen = layer.skips_chosen()
            # Unchosen candidates are never reduced; the input choice reads only the chosen ones.
            earlier = [self._reduced(outputs, stages, j, stage) if j in chosen else None for j in range(i)]
            outputs.append(layer(x, earlier))
            stages.append(stage)
        return self.classifier(self.dropout(outputs[-1].mean((2, 3))))

    def frozen(self) -> nn.Module:
        """Drop the factorized reductions of outputs that no later layer reads in this architecture."""
        readers = {j: {j + 1} for j in range(len(self.layers))}
        for i, layer in enumerate(self.layers):
            for j in layer.skips_chosen():
                readers[j].add(i)
        for pools, p in zip(self.pools, self.pool_layers):
            for j in range(p + 1):
                if max(readers[j]) <= p:
                    del pools[f"layer_{j}"]
        return self


@register_space
def macro(**kwargs) -> MacroNetwork:
    """ENAS macro space (search: 12 layers x 36 channels; official final: 24 x 96, doubling at pools)."""
    return MacroNetwork(**kwargs)
