"""Relaxed (weighted) modes of the choices, for differentiable search; invisible to spaces.

Two relaxations of an architecture, each set on every choice of a model and left by the next
`supernet.activate`:

* `activate_weighted` (DARTS, Liu et al. 2019, arXiv:1806.09055, eq. 2): every candidate runs and a
  choice returns ``sum_i w_i * candidate_i(x)`` (an input choice ``sum_j w_j * input_j``). ``none``
  candidates are skipped: they add nothing, and the softmax still gives their weight its gradient.
* `activate_sampled` (GDAS, Dong & Yang 2019, arXiv:1910.04465, eq. 5-7): an architecture runs as
  usual, one path, but each chosen candidate's output is multiplied by its weight. With GDAS's
  straight-through weights (value one-hot, gradient of the Gumbel softmax) the forward is the
  single path's and the backward reaches every architecture logit through the chosen candidate only,
  so a step costs what a single-path step costs.

A space's own code may inspect a choice (`chosen_module`, ``InputChoice.chosen``: the ENAS micro cell
concatenates the outputs no node reads, NB201's cell skips ``none`` edges). Under either relaxation it
sees a plain architecture: the sampled one, or under `activate_weighted` the most heavily weighted
option of each choice (the top-k inputs of a k-of-n choice), while `chosen_module` returns a
relaxed layer choice itself, since all its candidates run.

Relaxable: layer choices whose candidates give outputs of one shape, and input choices of ``n_chosen=k``
inputs reduced by ``sum`` or ``mean``. A k-of-n ``sum`` is relaxed as ``k * sum_j w_j * input_j`` (the
size of k summed inputs); any-subset choices (``n_chosen=None``) and ``concat``/``none`` reductions have
no weighted sum, and are refused with an error naming the decision.
"""
from __future__ import annotations

import weakref
from typing import Dict, List, Mapping, Sequence

import torch
from torch import nn

from .choices import ChosenInputs, InputChoice, LayerChoice
from .ops import Zero
from .space import Architecture, ArchitectureError, _indexed, activate

__all__ = ["activate_weighted", "activate_sampled", "check_relaxable", "relaxation_problem"]

RELAXABLE_REDUCTIONS = ("sum", "mean")


def relaxation_problem(choice: nn.Module):
    """Why ``choice`` has no weighted relaxation, or None when it has one."""
    if not isinstance(choice, InputChoice):
        return None
    if choice.n_chosen is None:
        return ("it picks any subset of its inputs (n_chosen=None, e.g. ENAS macro skip connections), which has "
                "no weighted-sum relaxation")
    if choice.reduction not in RELAXABLE_REDUCTIONS:
        return (f"its inputs are reduced by {choice.reduction!r}; only {' or '.join(RELAXABLE_REDUCTIONS)} "
                "reductions have a weighted sum")
    return None


_CHECKED: "weakref.WeakSet" = weakref.WeakSet()


def check_relaxable(model: nn.Module) -> None:
    """Raise ArchitectureError naming the first choice of ``model`` that cannot be relaxed."""
    if model in _CHECKED:
        return
    index, _ = _indexed(model)
    for label, modules in index.items():
        for choice in modules:
            problem = relaxation_problem(choice)
            if problem:
                raise ArchitectureError(f"decision {label!r} cannot be relaxed for differentiable search: {problem}")
    _CHECKED.add(model)


class _Relaxation:
    """The weights of one choice; called by the choice's ``forward`` in place of its single path."""

    runs_all = False

    def __init__(self, weights: torch.Tensor):
        self.weights = weights


class _WeightedCandidates(_Relaxation):
    runs_all = True

    def __call__(self, choice: LayerChoice, *args, **kwargs):
        total = None
        for i, module in enumerate(choice):
            if isinstance(module, Zero):
                continue
            h = self.weights[i] * module(*args, **kwargs)
            if total is not None and h.shape != total.shape:
                raise ArchitectureError(f"decision {choice.label!r} cannot be relaxed: its candidates give outputs "
                                        f"of different shapes ({tuple(total.shape)} and {tuple(h.shape)})")
            total = h if total is None else total + h
        return total if total is not None else choice[0](*args, **kwargs)  # only `none`: its zeros


class _SampledCandidate(_Relaxation):
    def __call__(self, choice: LayerChoice, *args, **kwargs):
        return self.weights[choice.active] * choice.active_module(*args, **kwargs)


class _WeightedInputs(_Relaxation):
    runs_all = True

    def __call__(self, choice: InputChoice, inputs: Sequence[torch.Tensor]):
        missing = [j for j, x in enumerate(inputs) if x is None]
        if missing:
            raise ArchitectureError(f"decision {choice.label!r}: input {missing[0]} is None; a relaxed input "
                                    "choice needs every candidate tensor")
        shapes = {tuple(x.shape) for x in inputs}
        if len(shapes) > 1:
            raise ArchitectureError(f"decision {choice.label!r} cannot be relaxed: its inputs have different "
                                    f"shapes {sorted(shapes)}, so they have no weighted sum")
        total = self.weights[0] * inputs[0]
        for j in range(1, len(inputs)):
            total = total + self.weights[j] * inputs[j]
        # weights sum to 1: a k-of-n sum adds k inputs, so the mixture is scaled to that size
        return total * choice.n_chosen if choice.reduction == "sum" and choice.n_chosen > 1 else total


class _SampledInputs(_Relaxation):
    def __call__(self, choice: InputChoice, inputs: Sequence[torch.Tensor]):
        return ChosenInputs.reduce([self.weights[j] * inputs[j] for j in choice.chosen], choice.reduction)


def _weights_of(index: Dict[str, List[nn.Module]], weights: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    unknown = [label for label in weights if label not in index]
    if unknown:
        raise ArchitectureError(f"weights for unknown decision {unknown[0]!r}")
    checked = {}
    for label, modules in index.items():
        if label not in weights:
            raise ArchitectureError(f"relaxed architecture is missing weights for decision {label!r}")
        w, choice = weights[label], modules[0]
        size = len(choice) if isinstance(choice, LayerChoice) else choice.n_candidates
        if not isinstance(w, torch.Tensor) or w.shape != (size,):
            raise ArchitectureError(f"decision {label!r}: expected a weight tensor of shape ({size},), got "
                                    f"{tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__}")
        checked[label] = w
    return checked


def _strongest(choice: nn.Module, w: torch.Tensor):
    """The value a space sees under `activate_weighted`: the heaviest option (the top-k inputs)."""
    if isinstance(choice, LayerChoice):
        return choice.names[int(w.argmax())]
    return sorted(int(i) for i in w.topk(choice.n_chosen).indices)


def activate_weighted(model: nn.Module, weights: Mapping[str, torch.Tensor]) -> Architecture:
    """DARTS's relaxation: every choice runs all its candidates, weighted by ``weights[label]`` (one
    weight per option, e.g. ``softmax(alpha)``). Returns the architecture a space's code sees (the
    heaviest option of each decision)."""
    check_relaxable(model)
    index, _ = _indexed(model)
    weights = _weights_of(index, weights)
    arch = activate(model, {label: _strongest(modules[0], weights[label]) for label, modules in index.items()})
    for label, modules in index.items():
        for choice in modules:
            relaxed = _WeightedCandidates if isinstance(choice, LayerChoice) else _WeightedInputs
            choice.relaxed = relaxed(weights[label])
    return arch


def activate_sampled(model: nn.Module, arch: Mapping, weights: Mapping[str, torch.Tensor]) -> Architecture:
    """GDAS's relaxation: ``arch`` runs, and each chosen candidate's (input's) output is multiplied by
    its entry of ``weights[label]``; only the chosen path computes. Returns the canonical ``arch``."""
    check_relaxable(model)
    index, _ = _indexed(model)
    weights = _weights_of(index, weights)
    arch = activate(model, arch)
    for label, modules in index.items():
        for choice in modules:
            relaxed = _SampledCandidate if isinstance(choice, LayerChoice) else _SampledInputs
            choice.relaxed = relaxed(weights[label])
    return arch
