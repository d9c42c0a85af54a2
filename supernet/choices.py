"""Search-space primitives: `LayerChoice` and `InputChoice`.

A search space is an ordinary ``nn.Module`` with these choices written inline, as in NNI's NAS API
(microsoft/nni, ``nni/nas/nn/pytorch/choice.py``). Each choice carries a *label*; choices that carry
the same label are one decision of the space (for instance the op of node 2 in every normal cell),
while each keeps its own weights. An architecture activates one option per label; the module then
runs only that option. `supernet.freeze` replaces every choice by its fixed form (`frozen()`).

A choice may also be *relaxed* (``relaxed`` is not None), which only `supernet.weighted` sets and
`supernet.activate` clears: it then returns the architecture-weighted candidates (DARTS, GDAS).
"""
from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional, Sequence, Union

import torch
from torch import nn

__all__ = ["LayerChoice", "InputChoice", "ChosenInputs", "REDUCTIONS", "chosen_module"]

REDUCTIONS = ("sum", "mean", "concat", "none")
_LABEL = re.compile(r"^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*$")


def check_label(label: str) -> str:
    if not isinstance(label, str) or not _LABEL.match(label):
        raise ValueError(
            f"invalid choice label {label!r}: use a path of letters, digits, '_' and '-' separated by '/', "
            "e.g. 'normal/node2/op0'"
        )
    return label


def _not_active(label: str) -> RuntimeError:
    return RuntimeError(
        f"choice {label!r} has no active option: call supernet.activate(model, architecture) before forward"
    )


class LayerChoice(nn.Module):
    """Chooses one candidate module; only the chosen one runs.

    ``candidates`` is an ordered mapping of option name -> module (a list gets names "0", "1", ...).
    Candidates are registered as children under their names, so state-dict keys read
    ``...op0.sep_conv_3x3.weight``.
    """

    relaxed = None  # set by supernet.weighted (DARTS, GDAS); cleared by supernet.activate

    def __init__(self, candidates: Union[Mapping[str, nn.Module], Sequence[nn.Module]], *, label: str):
        super().__init__()
        self.label = check_label(label)
        if isinstance(candidates, Mapping):
            items = list(candidates.items())
        else:
            items = [(str(i), module) for i, module in enumerate(candidates)]
        if len(items) < 1:
            raise ValueError(f"LayerChoice {label!r} needs at least one candidate")
        for name, module in items:
            if not isinstance(module, nn.Module):
                raise TypeError(f"LayerChoice {label!r}: candidate {name!r} is not an nn.Module")
            if hasattr(self, name) or "." in name or not name:
                raise ValueError(f"LayerChoice {label!r}: {name!r} cannot be used as a candidate name")
            self.add_module(name, module)
        self.names: tuple = tuple(name for name, _ in items)
        self.active: Optional[int] = None

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, key: Union[int, str]) -> nn.Module:
        return getattr(self, self.names[key] if isinstance(key, int) else key)

    def __iter__(self) -> Iterable[nn.Module]:
        return (getattr(self, name) for name in self.names)

    @property
    def active_name(self) -> str:
        if self.active is None:
            raise _not_active(self.label)
        return self.names[self.active]

    @property
    def active_module(self) -> nn.Module:
        return self[self.active_name]

    def forward(self, *args, **kwargs):
        if self.relaxed is not None:  # DARTS / GDAS (supernet.weighted): the weighted candidates
            return self.relaxed(self, *args, **kwargs)
        return self.active_module(*args, **kwargs)

    def frozen(self) -> nn.Module:
        return self.active_module

    def extra_repr(self) -> str:
        active = "none" if self.active is None else self.names[self.active]
        return f"label={self.label!r}, active={active}"


class InputChoice(nn.Module):
    """Chooses ``n_chosen`` of ``n_candidates`` input tensors and reduces them.

    ``n_chosen=None`` lets the architecture pick any subset, including none (ENAS macro skip
    connections). ``candidates`` optionally names the earlier nodes the inputs come from; the
    ENAS controller then attends over those nodes' hidden states. ``forward`` takes the list of all
    candidate tensors; with an empty selection it returns None (``[]`` for reduction 'none').
    """

    relaxed = None  # set by supernet.weighted (DARTS, GDAS); cleared by supernet.activate

    def __init__(
        self,
        n_candidates: int,
        n_chosen: Optional[int] = 1,
        reduction: str = "sum",
        *,
        label: str,
        candidates: Optional[Sequence[str]] = None,
    ):
        super().__init__()
        self.label = check_label(label)
        if n_candidates < 1:
            raise ValueError(f"InputChoice {label!r}: n_candidates must be >= 1, got {n_candidates}")
        if n_chosen is not None and not 1 <= n_chosen <= n_candidates:
            raise ValueError(f"InputChoice {label!r}: n_chosen must be in 1..{n_candidates} or None, got {n_chosen}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"InputChoice {label!r}: reduction must be one of {REDUCTIONS}, got {reduction!r}")
        if candidates is not None:
            candidates = tuple(check_label(name) for name in candidates)
            if len(candidates) != n_candidates:
                raise ValueError(
                    f"InputChoice {label!r}: {len(candidates)} candidate names for {n_candidates} candidates"
                )
        self.n_candidates = n_candidates
        self.n_chosen = n_chosen
        self.reduction = reduction
        self.candidates = candidates
        self.active: Optional[tuple] = None

    @property
    def chosen(self) -> tuple:
        """Indices of the chosen inputs, ascending."""
        if self.active is None:
            raise _not_active(self.label)
        return self.active

    def forward(self, inputs: Sequence[torch.Tensor]):
        if len(inputs) != self.n_candidates:
            raise ValueError(f"InputChoice {self.label!r} expects {self.n_candidates} inputs, got {len(inputs)}")
        if self.relaxed is not None:  # DARTS / GDAS (supernet.weighted): the weighted inputs
            return self.relaxed(self, inputs)
        return ChosenInputs.reduce([inputs[i] for i in self.chosen], self.reduction)

    def frozen(self) -> nn.Module:
        return ChosenInputs(self.chosen, self.reduction, n_candidates=self.n_candidates)

    def extra_repr(self) -> str:
        return f"label={self.label!r}, n_candidates={self.n_candidates}, n_chosen={self.n_chosen}, active={self.active}"


class ChosenInputs(nn.Module):
    """The fixed form of an `InputChoice`: always the same inputs, same reduction."""

    def __init__(self, chosen: Sequence[int], reduction: str, n_candidates: Optional[int] = None):
        super().__init__()
        self.chosen = tuple(chosen)
        self.reduction = reduction
        self.n_candidates = n_candidates

    def forward(self, inputs: Sequence[torch.Tensor]):
        return self.reduce([inputs[i] for i in self.chosen], self.reduction)

    @staticmethod
    def reduce(tensors: list, reduction: str):
        if reduction == "none":
            return tensors
        if not tensors:
            return None
        if len(tensors) == 1:
            return tensors[0]  # no copy for the common single-input case
        if reduction == "concat":
            return torch.cat(tensors, dim=1)
        total = tensors[0]
        for t in tensors[1:]:
            total = total + t
        return total / len(tensors) if reduction == "mean" else total

    def extra_repr(self) -> str:
        return f"chosen={list(self.chosen)}, reduction={self.reduction!r}"



def chosen_module(module: nn.Module) -> nn.Module:
    """The module that actually runs: the active candidate of a `LayerChoice`, else ``module`` itself.

    Lets a space's forward treat supernet and frozen child alike (e.g. "no drop path on identity").
    Under a relaxation that runs every candidate (DARTS, `supernet.activate_weighted`) no single
    candidate runs, so the choice itself is returned: a space then neither skips it as ``none`` nor
    treats it as identity.
    """
    if not isinstance(module, LayerChoice):
        return module
    relaxed = module.relaxed
    return module if relaxed is not None and relaxed.runs_all else module.active_module
