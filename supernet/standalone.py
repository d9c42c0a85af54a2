"""Turn a supernet plus an architecture into a standalone child network.

`freeze` deep-copies the supernet, activates the architecture, then walks the copy bottom-up and
replaces every module that has a ``frozen()`` method by what it returns: a `LayerChoice` becomes
its chosen candidate, an `InputChoice` a `ChosenInputs`. A space's own module may implement
``frozen()`` too, to drop weights that only other options use (the ENAS micro cell slices its
loose-end projection this way). The child holds only the chosen path's parameters and computes the
same function as the supernet with that architecture active (NNI's ``freeze``, microsoft/nni).

`inherit` starts a child from another child's trained weights wherever the two architectures agree (the
weight inheritance of Real et al., "Large-Scale Evolution of Image Classifiers", ICML 2017): a mutated
child keeps its parent's training for every part the mutation left unchanged.
"""
from __future__ import annotations

import copy
from typing import Dict, List, Mapping

import torch
from torch import nn

from .choices import InputChoice, LayerChoice
from .space import activate

__all__ = ["freeze", "use_running_stats", "count_parameters", "inherit"]


def _replace_frozen(module: nn.Module) -> nn.Module:
    for name, child in list(module._modules.items()):
        if child is not None:
            module._modules[name] = _replace_frozen(child)
    frozen = getattr(module, "frozen", None)
    return frozen() if callable(frozen) else module


def freeze(model: nn.Module, arch: Mapping) -> nn.Module:
    """A standalone copy of ``model`` running ``arch``, with no choice module left in it."""
    child = copy.deepcopy(model)
    activate(child, arch)
    return _replace_frozen(child)


def use_running_stats(model: nn.Module) -> nn.Module:
    """Give every batch norm that uses only batch statistics ordinary running statistics.

    In a shared supernet, running statistics mix many paths and mean nothing, so spaces are built
    with ``track_running_stats=False``. A retrained child is an ordinary network and
    should evaluate with running statistics. Affine parameters are kept; this works in place (call it
    before moving a non-affine model to its device).
    """
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm) and not child.track_running_stats:
            bn = type(child)(child.num_features, eps=child.eps, momentum=child.momentum, affine=child.affine,
                             track_running_stats=True)
            if child.affine:
                bn.weight, bn.bias = child.weight, child.bias
                bn.to(child.weight.device)  # the new running-stat buffers follow the parameters
            setattr(model, name, bn)
        else:
            use_running_stats(child)
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _choice_prefixes(space: nn.Module) -> Dict[str, str]:
    """The module path of every choice in ``space`` -> its decision label (a frozen child keeps the paths)."""
    return {name: m.label for name, m in space.named_modules() if isinstance(m, (LayerChoice, InputChoice))}


@torch.no_grad()
def inherit(child: nn.Module, arch: Mapping, parent_state: Mapping[str, torch.Tensor], parent_arch: Mapping,
            space: nn.Module) -> List[str]:
    """Copy into ``child`` (``freeze(space, arch)``) every entry of ``parent_state`` (a child of the same
    ``space`` running ``parent_arch``) that lies under no choice whose decision the two architectures
    take differently, when its shape matches; returns the names copied. The rest keeps its initialisation."""
    prefixes = _choice_prefixes(space)
    changed = {label for label in set(arch) | set(parent_arch) if arch.get(label) != parent_arch.get(label)}
    own = child.state_dict()
    copied = []
    for name, value in own.items():
        labels = {label for path, label in prefixes.items() if name.startswith(path + ".")}
        source = parent_state.get(name)
        if labels & changed or source is None or source.shape != value.shape:
            continue
        value.copy_(source)
        copied.append(name)
    return copied
