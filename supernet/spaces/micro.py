"""ENAS micro (convolutional cell) search space.

Pham et al., "Efficient Neural Architecture Search via Parameter Sharing", ICML 2018,
arXiv:1802.03268, section 2.4 and Table 2; original code github.com/melodyguan/enas,
``src/cifar10/micro_child.py`` and ``scripts/cifar10_micro_search.sh``.

A cell has 2 inputs (the outputs of the two previous cells) and ``num_nodes`` searched nodes; each
node picks two inputs among earlier nodes and one op for each, and sums the results. Outputs no node
consumed ("loose ends") are concatenated and projected back to C channels by ReLU-1x1 conv-BN. The
network is a stem (3x3 conv, 3C channels), then ``num_layers + 2`` cells; reduction cells sit at
layers ``L//3`` and ``2*(L//3)+1`` and double C. Normal and reduction cells are separate decisions.

Faithful to the official search network, including two of its quirks: a reduction layer first
halves the resolution with a factorized reduction and runs the reduction cell's ops at stride 1
on the already reduced inputs, and the search network is also the retrained network's skeleton
(the official fixed-architecture network instead strides the ops on the cell inputs). Deviation:
op weights are shared per (node, slot) and not per (node, slot, chosen input) as in the official
code, as in NNI's and most re-implementations.
"""
from __future__ import annotations

from typing import List, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..choices import InputChoice, LayerChoice, chosen_module
from ..ops import OPS, FactorizedReduce, batch_norm, drop_path
from .._checks import at_least, fraction, known
from .._registry import register_space

__all__ = ["MicroNetwork", "MICRO_OPS"]

MICRO_OPS = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")


def _relu_conv1x1_bn(C_in, C_out, affine, track):
    return nn.Sequential(nn.ReLU(), nn.Conv2d(C_in, C_out, 1, bias=False), batch_norm(C_out, affine, track))


class Node(nn.Module):
    """Two (input, op) slots summed. Registration order = the controller's order: inputs, then ops."""

    def __init__(self, cell: str, index: int, C: int, ops: Sequence[str], affine: bool, track: bool):
        super().__init__()
        names = [f"{cell}/input0", f"{cell}/input1"] + [f"{cell}/node{j}" for j in range(index)]
        for slot in (0, 1):
            setattr(self, f"input{slot}", InputChoice(len(names), 1, label=f"{cell}/node{index}/input{slot}",
                                                      candidates=names))
        for slot in (0, 1):
            setattr(self, f"op{slot}", LayerChoice({op: OPS[op](C, 1, affine, track) for op in ops},
                                                   label=f"{cell}/node{index}/op{slot}"))

    def forward(self, states: List[torch.Tensor], drop_prob: float) -> torch.Tensor:
        out = None
        for inp, op in ((self.input0, self.op0), (self.input1, self.op1)):
            h = op(inp(states))
            if not isinstance(chosen_module(op), nn.Identity):  # ENAS drops every path but identity
                h = drop_path(h, drop_prob, self.training)
            out = h if out is None else out + h
        return out

    def inputs_used(self) -> set:
        return set(self.input0.chosen) | set(self.input1.chosen)


class LooseEndProjection(nn.Module):
    """ReLU -> 1x1 conv over the concatenated loose ends -> BN, with one weight block per state.

    Blocks of states that are not loose ends in the current architecture take no part, so they get
    no gradient (official ENAS gathers rows of one weight; separate parameters give the same
    forward and keep weight decay off the unused blocks). Frozen, it keeps only the used blocks.
    """

    def __init__(self, n_states: int, C: int, affine: bool, track: bool, states: Sequence[int] = None):
        super().__init__()
        self.states = tuple(range(n_states) if states is None else states)
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.empty(C, C, 1, 1)) for _ in self.states])
        for w in self.weights:
            nn.init.kaiming_normal_(w)
        self.bn = batch_norm(C, affine, track)

    def forward(self, tensors: List[torch.Tensor], indices: Sequence[int]) -> torch.Tensor:
        position = {s: i for i, s in enumerate(self.states)}
        weight = torch.cat([self.weights[position[i]] for i in indices], dim=1)
        x = torch.cat(tensors, dim=1) if len(tensors) > 1 else tensors[0]
        return self.bn(F.conv2d(F.relu(x), weight))

    def keep(self, indices: Sequence[int]) -> "LooseEndProjection":
        position = {s: i for i, s in enumerate(self.states)}
        self.weights = nn.ParameterList([self.weights[position[i]] for i in indices])
        self.states = tuple(indices)
        return self


class Cell(nn.Module):
    def __init__(self, cell: str, C_pp: int, C_p: int, C: int, reduce_pp: bool, num_nodes: int,
                 ops: Sequence[str], affine: bool, track: bool):
        super().__init__()
        # ENAS `_maybe_calibrate_size`: bring both inputs to C channels at the same resolution.
        if reduce_pp:
            self.calibrate0 = nn.Sequential(nn.ReLU(), FactorizedReduce(C_pp, C, affine, track))
        else:
            self.calibrate0 = _relu_conv1x1_bn(C_pp, C, affine, track) if C_pp != C else nn.Identity()
        self.calibrate1 = _relu_conv1x1_bn(C_p, C, affine, track) if C_p != C else nn.Identity()
        self.nodes = nn.ModuleList(Node(cell, i, C, ops, affine, track) for i in range(num_nodes))
        self.project = LooseEndProjection(num_nodes + 2, C, affine, track)

    def loose_ends(self) -> List[int]:
        used = set().union(*(node.inputs_used() for node in self.nodes))
        return [i for i in range(len(self.nodes) + 2) if i not in used]

    def forward(self, s0, s1, drop_prob: float = 0.0):
        states = [self.calibrate0(s0), self.calibrate1(s1)]
        for node in self.nodes:
            states.append(node(states, drop_prob))
        loose = self.loose_ends()
        return self.project([states[i] for i in loose], loose)

    def frozen(self) -> nn.Module:
        self.project.keep(self.loose_ends())
        return self


class ReductionLayer(nn.Module):
    """ENAS search-mode pooling layer: factorized reduction, then the reduction cell at the new size."""

    def __init__(self, C_p: int, C: int, num_nodes: int, ops, affine, track):
        super().__init__()
        self.reduce = FactorizedReduce(C_p, C, affine, track)
        self.cell = Cell("reduce", C_p, C, C, True, num_nodes, ops, affine, track)

    def forward(self, s0, s1, drop_prob: float = 0.0):
        reduced = self.reduce(s1)
        return reduced, self.cell(s1, reduced, drop_prob)


class NormalLayer(nn.Module):
    def __init__(self, C_pp, C_p, C, num_nodes, ops, affine, track):
        super().__init__()
        self.cell = Cell("normal", C_pp, C_p, C, False, num_nodes, ops, affine, track)

    def forward(self, s0, s1, drop_prob: float = 0.0):
        return s1, self.cell(s0, s1, drop_prob)


class AuxiliaryHead(nn.Module):
    """ENAS / NASNet auxiliary classifier, placed after the second reduction (8x8 input on CIFAR)."""

    def __init__(self, C: int, num_classes: int, affine: bool, track: bool):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(), nn.AvgPool2d(5, stride=3), nn.Conv2d(C, 128, 1, bias=False), batch_norm(128, affine, track),
            nn.ReLU(), nn.Conv2d(128, 768, 2, bias=False), batch_norm(768, affine, track), nn.ReLU(),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        if min(x.shape[-2:]) < 8:  # images smaller than CIFAR's 32x32: its 5x5 pool and 2x2 conv need 8x8
            x = F.interpolate(x, size=(8, 8), mode="nearest")
        return self.classifier(self.features(x).mean((2, 3)))


class MicroNetwork(nn.Module):
    """The ENAS micro network. In training with ``aux_head`` it returns ``(logits, aux_logits)``.

    ``drop_path_prob`` is the current maximum drop-path probability; deeper layers get
    proportionally more (``(layer+1)/(L+2)`` of it, as ENAS). Trainers ramp it up over training.
    """

    def __init__(self, num_layers=6, out_channels=20, num_nodes=5, num_classes=10, ops=MICRO_OPS, aux_head=False,
                 dropout=0.1, stem_multiplier=3, affine=True, track_running_stats=False):
        super().__init__()
        known("micro", "ops", ops, sorted(OPS))
        at_least("micro", 1, num_layers=num_layers, out_channels=out_channels, num_nodes=num_nodes,
                 num_classes=num_classes, stem_multiplier=stem_multiplier)
        fraction("micro", dropout=dropout)
        C = out_channels
        pool_distance = num_layers // 3
        self.pool_layers = (pool_distance, 2 * pool_distance + 1)
        self.drop_path_prob = 0.0  # set by the trainer as training progresses
        track = track_running_stats
        self.stem = nn.Sequential(nn.Conv2d(3, C * stem_multiplier, 3, padding=1, bias=False),
                                  batch_norm(C * stem_multiplier, affine, track))
        C_pp = C_p = C * stem_multiplier
        self.layers = nn.ModuleList()
        self.aux_index = self.pool_layers[-1] + 1 if aux_head else None
        for layer_id in range(num_layers + 2):
            if layer_id in self.pool_layers:
                C *= 2
                self.layers.append(ReductionLayer(C_p, C, num_nodes, ops, affine, track))
                C_pp, C_p = C, C
            else:
                self.layers.append(NormalLayer(C_pp, C_p, C, num_nodes, ops, affine, track))
                C_pp, C_p = C_p, C
            if layer_id == self.aux_index:
                self.aux_head = AuxiliaryHead(C, num_classes, affine, track)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(C, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        aux = None
        n = len(self.layers)
        for layer_id, layer in enumerate(self.layers):
            s0, s1 = layer(s0, s1, self.drop_path_prob * (layer_id + 1) / n)
            if layer_id == self.aux_index and self.training:
                aux = self.aux_head(s1)
        logits = self.classifier(self.dropout(F.relu(s1).mean((2, 3))))
        return (logits, aux) if aux is not None else logits


@register_space
def micro(**kwargs) -> MicroNetwork:
    """ENAS micro space (search: 6 layers, 20 channels, 5 nodes; final: 15 layers, 36 channels)."""
    return MicroNetwork(**kwargs)
