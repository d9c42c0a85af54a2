"""Registry of built-in search spaces (timm's ``register_model`` / ``create_model`` pattern).

A space module marks small factory functions with ``@register_space``; the function name is the
registry key and also the config option (``space=micro``). `create_space` drops ``None`` kwargs,
so a config field left unset never overrides a space default, and rejects unknown kwargs by name.
"""
from __future__ import annotations

import fnmatch
import inspect
import warnings
from typing import Callable, Dict, List

from torch import nn

__all__ = ["register_space", "create_space", "list_spaces", "space_kwargs"]

_SPACES: Dict[str, Callable[..., nn.Module]] = {}


def register_space(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    name = fn.__name__
    if name in _SPACES and _SPACES[name] is not fn:
        warnings.warn(f"search space {name!r} registered twice; keeping the first ({_SPACES[name].__module__})")
        return fn
    _SPACES[name] = fn
    return fn


def list_spaces(pattern: str = "*") -> List[str]:
    return sorted(name for name in _SPACES if fnmatch.fnmatch(name, pattern))


def _factory(name: str) -> Callable[..., nn.Module]:
    if name not in _SPACES:
        raise KeyError(f"unknown search space {name!r}; registered spaces: {', '.join(list_spaces())}")
    return _SPACES[name]


def _signature(fn: Callable) -> inspect.Signature:
    """A factory written as ``def micro(**kwargs) -> MicroNetwork`` takes what its class takes."""
    sig = inspect.signature(fn)
    if [p.kind for p in sig.parameters.values()] == [inspect.Parameter.VAR_KEYWORD]:
        returned = fn.__annotations__.get("return")
        returned = fn.__globals__.get(returned) if isinstance(returned, str) else returned
        if inspect.isclass(returned):
            return inspect.signature(returned)
    return sig


def space_kwargs(name: str) -> Dict[str, object]:
    """The keyword arguments a space accepts, with their defaults."""
    params = _signature(_factory(name)).parameters
    return {k: p.default for k, p in params.items() if p.kind is not inspect.Parameter.VAR_KEYWORD}


def create_space(name: str, **kwargs) -> nn.Module:
    """Build the registered space ``name``; ``None`` values mean 'use the default'."""
    fn = _factory(name)
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    accepted = space_kwargs(name)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"search space {name!r} has no option {unknown[0]!r}; its options are: {', '.join(accepted)}")
    return fn(**kwargs)
