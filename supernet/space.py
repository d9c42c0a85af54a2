"""What a search space says about itself, and how an architecture is applied to it.

This module is the seam between a supernet and whatever searches it: `decisions` walks
the module tree and returns plain data, and an *architecture* is a plain, JSON-serialisable mapping
from decision label to value:

* a `LayerChoice` decision takes an option name, e.g. ``"sep_conv_3x3"``;
* an `InputChoice` decision takes a sorted list of candidate indices, e.g. ``[0, 2]``.
"""
from __future__ import annotations

import json
import os
import random
import tempfile
import weakref
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from torch import nn

from .choices import InputChoice, LayerChoice

__all__ = [
    "Decision", "ArchitectureError", "decisions", "activate", "architecture_key", "validate_architecture",
    "random_architecture", "count_architectures", "save_architecture", "load_architecture", "choices_of",
]

Architecture = Dict[str, Union[str, List[int]]]


class ArchitectureError(ValueError):
    """An architecture does not fit the search space it is applied to."""


@dataclass(frozen=True)
class Decision:
    """One decision of a search space, as plain data.

    ``kind`` is ``"layer"`` (pick one of ``options``) or ``"input"`` (pick ``n_chosen`` of
    ``options``; ``n_chosen=None`` means any subset). For an input decision, ``options`` names the
    earlier nodes it picks from when the space gave names (``named_inputs``), else "0", "1", ...
    ``node`` is the node the decision belongs to: its label without the last path component.
    """

    label: str
    kind: str
    options: Tuple[str, ...]
    n_chosen: Optional[int] = 1
    named_inputs: bool = False

    @property
    def node(self) -> str:
        return self.label.rsplit("/", 1)[0] if "/" in self.label else self.label

    @property
    def size(self) -> int:
        return len(self.options)

    def to_dict(self) -> dict:
        return asdict(self)


def _decision_of(choice: nn.Module) -> Decision:
    if isinstance(choice, LayerChoice):
        return Decision(choice.label, "layer", choice.names)
    names = choice.candidates or tuple(str(i) for i in range(choice.n_candidates))
    return Decision(choice.label, "input", tuple(names), choice.n_chosen, choice.candidates is not None)


def choices_of(model: nn.Module) -> Dict[str, List[nn.Module]]:
    """Label -> the choice modules carrying it, in registration order."""
    return _indexed(model)[0]


def _indexed(model: nn.Module) -> Tuple[Dict[str, List[nn.Module]], Tuple[Decision, ...]]:
    # Walking a large supernet costs milliseconds and `activate` runs every step, so the walk is
    # cached per model object. A space is fixed once built; a copy (e.g. `freeze`) is a new key.
    cached = _INDEX_CACHE.get(model)
    if cached is None:
        index: Dict[str, List[nn.Module]] = {}
        for module in model.modules():
            if isinstance(module, (LayerChoice, InputChoice)):
                index.setdefault(module.label, []).append(module)
        cached = _INDEX_CACHE[model] = (index, _decisions_of_index(model, index))
    return cached


_INDEX_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def decisions(model: nn.Module) -> Tuple[Decision, ...]:
    """The space's decisions in a stable order (first appearance in ``model.modules()``).

    Choices sharing a label must agree on their options; anything else is a bug in the space.
    """
    return _indexed(model)[1]


def _decisions_of_index(model: nn.Module, index: Dict[str, List[nn.Module]]) -> Tuple[Decision, ...]:
    result = []
    for label, modules in index.items():
        first = _decision_of(modules[0])
        for other in modules[1:]:
            if _decision_of(other) != first:
                raise ValueError(
                    f"choices labelled {label!r} disagree ({first} vs {_decision_of(other)}); "
                    "a repeated label means one shared decision, so give the choices distinct labels"
                )
        result.append(first)
    if not result:
        raise ValueError(f"{type(model).__name__} has no LayerChoice or InputChoice: nothing to search")
    return tuple(result)


def _normalise_value(decision: Decision, value) -> Union[str, List[int]]:
    where = f"decision {decision.label!r}"
    if decision.kind == "layer":
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < decision.size:
            return decision.options[value]
        if value not in decision.options:
            raise ArchitectureError(f"{where}: {value!r} is not one of {list(decision.options)}")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ArchitectureError(f"{where}: expected a list of input indices, got {value!r}")
    chosen = sorted(value)
    if len(set(chosen)) != len(chosen):
        raise ArchitectureError(f"{where}: input indices repeat in {value!r}")
    bad = [v for v in chosen if not 0 <= v < decision.size]
    if bad:
        raise ArchitectureError(f"{where}: input index {bad[0]} is out of range 0..{decision.size - 1}")
    if decision.n_chosen is not None and len(chosen) != decision.n_chosen:
        raise ArchitectureError(f"{where}: expected exactly {decision.n_chosen} input index(es), got {value!r}")
    return chosen


def validate_architecture(space: Union[nn.Module, Sequence[Decision]], arch: Mapping) -> Architecture:
    """Check ``arch`` against the space and return it in canonical form; errors name the decision."""
    decs = decisions(space) if isinstance(space, nn.Module) else tuple(space)
    if not isinstance(arch, Mapping):
        raise ArchitectureError(f"an architecture is a mapping of decision label -> value, got {type(arch).__name__}")
    known = {d.label for d in decs}
    unknown = [label for label in arch if label not in known]
    if unknown:
        sample = ", ".join(repr(d.label) for d in decs[:4])
        raise ArchitectureError(f"unknown decision {unknown[0]!r}: this space's decisions are {sample}, ... "
                                f"({len(decs)} in all)")
    missing = [d for d in decs if d.label not in arch]
    if missing:
        d = missing[0]
        raise ArchitectureError(f"architecture is missing decision {d.label!r} ({len(missing)} missing in all)")
    return {d.label: _normalise_value(d, arch[d.label]) for d in decs}


def activate(model: nn.Module, arch: Mapping) -> Architecture:
    """Make ``model`` run ``arch``: every choice is set to its value (and leaves any relaxed mode of
    `supernet.weighted`). Returns the canonical architecture."""
    index, decs = _indexed(model)
    arch = validate_architecture(decs, arch)
    for label, value in arch.items():
        for module in index[label]:
            if module.relaxed is not None:  # leave DARTS/GDAS's relaxed mode (supernet.weighted)
                module.relaxed = None
            if isinstance(module, LayerChoice):
                module.active = module.names.index(value)
            else:
                module.active = tuple(value)
    return arch


def architecture_key(arch: Mapping) -> str:
    """One string per architecture (its JSON with sorted labels): the key under which code that compares,
    caches or deduplicates architectures files them."""
    return json.dumps(arch, sort_keys=True)


def random_architecture(space: Union[nn.Module, Iterable[Decision]], rng: Optional[random.Random] = None) -> Architecture:
    """A uniformly random architecture (each subset decision: every candidate with probability 1/2)."""
    rng = rng or random.Random()
    decs = decisions(space) if isinstance(space, nn.Module) else tuple(space)
    arch: Architecture = {}
    for d in decs:
        if d.kind == "layer":
            arch[d.label] = rng.choice(d.options)
        elif d.n_chosen is None:
            arch[d.label] = [i for i in range(d.size) if rng.random() < 0.5]
        else:
            arch[d.label] = sorted(rng.sample(range(d.size), d.n_chosen))
    return arch


def count_architectures(decs: Iterable[Decision]) -> int:
    """Number of distinct architectures (as value assignments) in the space."""
    from math import comb

    total = 1
    for d in decs:
        if d.kind == "layer":
            total *= d.size
        else:
            total *= 2 ** d.size if d.n_chosen is None else comb(d.size, d.n_chosen)
    return total


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)  # mkstemp makes 0600 files; give the mode open() would (0644 under umask 022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_architecture(path: Union[str, Path], arch: Mapping, **meta) -> Path:
    """Write ``{"architecture": arch, **meta}`` as JSON, atomically (write, then rename)."""
    path = Path(path)
    _atomic_write_text(path, json.dumps({"architecture": dict(arch), **meta}, indent=2) + "\n")
    return path


def load_architecture(path: Union[str, Path], space: Union[nn.Module, Sequence[Decision], None] = None) -> Architecture:
    """Read an architecture JSON (a bare mapping or ``{"architecture": ...}``); validate it if ``space`` is given."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"architecture file {str(path)!r} does not exist")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ArchitectureError(f"{path}: not valid JSON ({err})") from None
    arch = data.get("architecture", data) if isinstance(data, dict) else data
    if not isinstance(arch, dict):
        raise ArchitectureError(f"{path}: expected a JSON object of decision label -> value")
    if space is not None:
        try:
            arch = validate_architecture(space, arch)
        except ArchitectureError as err:
            raise ArchitectureError(f"{path}: {err}") from None
    return arch
