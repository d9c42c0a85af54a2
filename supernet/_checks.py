"""Argument checks shared by the built-in spaces: a bad size fails at construction, naming the space,
the argument and the value, instead of deep inside a forward pass."""
from __future__ import annotations

from typing import Iterable

__all__ = ["at_least", "fraction", "known"]


def at_least(space: str, minimum: int, **values) -> None:
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise ValueError(f"space {space}: {name} must be an integer >= {minimum}, got {value!r}")


def fraction(space: str, **values) -> None:
    for name, value in values.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"space {space}: {name} must be in [0, 1), got {value!r}")


def known(space: str, what: str, given: Iterable[str], available: Iterable[str]) -> None:
    given, available = list(given), list(available)
    if not given:
        raise ValueError(f"space {space}: {what} must name at least one of {available}")
    unknown = [g for g in given if g not in available]
    if unknown:
        raise ValueError(f"space {space}: unknown {what[:-1] if what.endswith('s') else what} {unknown[0]!r}; "
                         f"available: {available}")
