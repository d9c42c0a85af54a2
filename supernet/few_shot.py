"""Few-shot supernets: one copy of a supernet per value of the decisions it is split on (Zhao et al.,
"Few-shot Neural Architecture Search", ICML 2021, arXiv:2006.06863).

A single supernet makes every architecture share every weight, and their updates conflict. Splitting it on
a decision (an NB201 edge, a micro cell's first op) gives one sub-supernet per option, each shared only by the
architectures that take that option; split on several decisions, one per combination. Each architecture is
trained and scored by its own sub-supernet. As in the paper, the split may come after some one-shot
training: until `FewShotSupernet.divide` the first copy serves every architecture, and dividing copies its
weights into the others, so each sub-supernet starts from what the whole space learned.

The wrapper is an ordinary space: `decisions` and `activate` see one set of decisions (the copies share their
labels, and `activate` sets every copy), and ``forward`` runs the copy that owns the active architecture. A
child that keeps its trained weights comes from its own copy: ``freeze(few.parts[few.part_of(arch)], arch)``.
"""
from __future__ import annotations

import copy
import math
from typing import List, Mapping, Sequence

import torch
from torch import nn

from .choices import LayerChoice
from .space import choices_of, decisions

__all__ = ["FewShotSupernet"]


class FewShotSupernet(nn.Module):
    """``model`` split on the layer decisions labelled ``split`` (one copy per combination of their options).

    ``parts[0]`` is ``model`` itself; the others are copies of it. A child of any architecture is measured
    on ``parts[0]`` (every part has the same space)."""

    def __init__(self, model: nn.Module, split: Sequence[str]):
        super().__init__()
        known = {d.label: d for d in decisions(model)}
        if not split:
            raise ValueError("a few-shot supernet needs at least one decision to split on")
        for label in split:
            if label not in known:
                raise ValueError(f"cannot split on {label!r}: not a decision of the space; its decisions: "
                                 f"{', '.join(known)}")
            if known[label].kind != "layer":
                raise ValueError(f"cannot split on {label!r}: only layer decisions (a choice of op) split")
        self.split = [known[label] for label in split]
        count = math.prod(len(d.options) for d in self.split)
        self.parts = nn.ModuleList([model, *(copy.deepcopy(model) for _ in range(count - 1))])
        self.register_buffer("divided", torch.tensor(False))  # checkpointed with the weights
        self._routers: List[LayerChoice] = [choices_of(model)[d.label][0] for d in self.split]

    def part_of(self, arch: Mapping) -> int:
        """The index of the sub-supernet that owns ``arch``."""
        index = 0
        for d in self.split:
            index = index * len(d.options) + d.options.index(arch[d.label])
        return index

    def _active_part(self) -> int:
        if not bool(self.divided):
            return 0
        index = 0
        for d, router in zip(self.split, self._routers):
            if router.active is None:
                raise RuntimeError(f"{d.label!r} is not active: activate an architecture first")
            index = index * len(d.options) + router.active
        return index

    @torch.no_grad()
    def divide(self) -> None:
        """From now on each architecture runs its own sub-supernet, which starts from the first copy's weights."""
        for part in self.parts[1:]:
            part.load_state_dict(self.parts[0].state_dict())
        self.divided.fill_(True)

    def forward(self, *args, **kwargs):
        return self.parts[self._active_part()](*args, **kwargs)
