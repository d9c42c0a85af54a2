"""NAS-Bench-201 (NATS-Bench topology) search space.

Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture Search",
ICLR 2020, arXiv:2001.00326, section 2.1 and Figure 1; original code github.com/D-X-Y/AutoDL-Projects
(``xautodl/models/cell_infers/cells.py``, ``cell_operations.py``, ``tiny_network.py``).

A cell is a DAG of 4 nodes: node 0 is the cell input and node i (1..3) sums one op per edge from
every earlier node; node 3 is the output. Each of the 6 edges is one of NB201_OPS, convolutions in
ReLU-Conv-BN order. The network: a 3x3 conv stem (C channels), then 3 stages of N cells with C,
2C and 4C channels separated by residual reduction blocks, then BN-ReLU, global pooling and a
linear classifier. All cells share one architecture, written ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

Speed: ``none`` edges are never computed, and a node that receives nothing is carried as "zero"
(None) so that ops which map zero to zero are skipped too.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional

import torch
from torch import nn

from ..choices import LayerChoice, chosen_module
from ..ops import OPS, ReLUConvBN, AvgPool3x3, batch_norm, is_zero
from .._checks import at_least
from .._registry import register_space

__all__ = ["NB201Network", "NB201_OPS", "to_nb201_string", "from_nb201_string"]

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_NODES = 4


def _label(i: int, j: int) -> str:
    return f"node{i}/edge{j}"


def to_nb201_string(arch: Dict) -> str:
    """Our architecture -> the benchmark's arch string."""
    return "+".join("|" + "|".join(f"{arch[_label(i, j)]}~{j}" for j in range(i)) + "|" for i in range(1, NUM_NODES))


def from_nb201_string(text: str) -> Dict:
    """The benchmark's arch string -> our architecture; errors name what is wrong."""
    nodes = text.strip().split("+")
    if len(nodes) != NUM_NODES - 1:
        raise ValueError(f"{text!r} is not a NAS-Bench-201 arch string: expected {NUM_NODES - 1} '+'-separated nodes")
    arch = {}
    for i, node in enumerate(nodes, start=1):
        edges = [e for e in node.split("|") if e]
        for j, edge in enumerate(edges):
            m = re.fullmatch(r"(\w+)~(\d+)", edge)
            if not m or int(m.group(2)) != j or m.group(1) not in NB201_OPS:
                raise ValueError(f"{text!r}: bad edge {edge!r} into node {i} (expected op~{j}, op in {NB201_OPS})")
            arch[_label(i, j)] = m.group(1)
        if len(edges) != i:
            raise ValueError(f"{text!r}: node {i} needs {i} edges, has {len(edges)}")
    return arch


class Cell(nn.Module):
    def __init__(self, C: int, affine: bool, track: bool):
        super().__init__()
        self.edges = nn.ModuleDict()
        for i in range(1, NUM_NODES):
            for j in range(i):
                self.edges[f"{i}_{j}"] = LayerChoice({op: OPS[op](C, 1, affine, track) for op in NB201_OPS},
                                                     label=_label(i, j))
        # ReLU-Conv-BN of zeros is zero only when BN has no bias and normalises with batch statistics.
        self._conv_keeps_zero = not affine and not track

    def _keeps_zero(self, op: nn.Module) -> bool:
        op = chosen_module(op)
        return isinstance(op, (nn.Identity, AvgPool3x3, nn.MaxPool2d)) or (
            self._conv_keeps_zero and isinstance(op, ReLUConvBN))

    def forward(self, x):
        nodes: List[Optional[torch.Tensor]] = [x]
        for i in range(1, NUM_NODES):
            total = None
            for j in range(i):
                edge = self.edges[f"{i}_{j}"]
                if is_zero(edge) or (nodes[j] is None and self._keeps_zero(edge)):
                    continue
                h = edge(nodes[j] if nodes[j] is not None else torch.zeros_like(x))
                total = h if total is None else total + h
            nodes.append(total)
        return nodes[-1] if nodes[-1] is not None else torch.zeros_like(x)


class ResidualReduction(nn.Module):
    """NB201's ResNetBasicblock with stride 2: 2 ReLU-Conv-BN 3x3 plus an avg-pool + 1x1 conv shortcut."""

    def __init__(self, C_in: int, C_out: int, affine: bool, track: bool):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, 2, affine, track)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, affine, track)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(C_in, C_out, 1, bias=False))

    def forward(self, x):
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    """Stem, 3 stages of ``N`` cells (C, 2C, 4C) with residual reductions between, BN-ReLU, classifier.

    ``affine=False`` and ``track_running_stats=False`` are the weight-sharing defaults (AutoDL's
    search models; batch statistics because running ones mean nothing across paths).
    """

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, affine: bool = False,
                 track_running_stats: bool = False):
        super().__init__()
        at_least("nb201", 1, C=C, N=N, num_classes=num_classes)
        track = track_running_stats
        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), batch_norm(C, True, track))
        layers, C_prev = [], C
        for stage, C_stage in enumerate((C, 2 * C, 4 * C)):
            if stage:
                layers.append(ResidualReduction(C_prev, C_stage, True, track))
            layers += [Cell(C_stage, affine, track) for _ in range(N)]
            C_prev = C_stage
        self.layers = nn.Sequential(*layers)
        self.last_act = nn.Sequential(batch_norm(C_prev, True, track), nn.ReLU())
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x):
        return self.classifier(self.last_act(self.layers(self.stem(x))).mean((2, 3)))

    def describe(self, arch: Dict) -> str:
        return f"NAS-Bench-201 cell: {to_nb201_string(arch)}"

    def idle_choices(self, arch: Dict) -> set:
        """The edge labels whose op never runs under ``arch``: ``none`` edges, and edges out of a node that
        receives nothing when their op maps zero to zero (`Cell.forward` skips both). A latency table
        (`enas.search.latency`) leaves them out of its sum."""
        conv_keeps_zero = next(m for m in self.modules() if isinstance(m, Cell))._conv_keeps_zero
        keeps_zero = {"skip_connect", "avg_pool_3x3"} | ({"nor_conv_1x1", "nor_conv_3x3"} if conv_keeps_zero else set())
        idle, empty = set(), [False]  # node 0, the cell's input, is never empty
        for i in range(1, NUM_NODES):
            receives = False
            for j in range(i):
                op = arch[_label(i, j)]
                if op == "none" or (empty[j] and op in keeps_zero):
                    idle.add(_label(i, j))
                else:
                    receives = True
            empty.append(not receives)
        return idle


@register_space
def nb201(**kwargs) -> NB201Network:
    """NAS-Bench-201 topology space (benchmark network: C=16, N=5)."""
    return NB201Network(**kwargs)
