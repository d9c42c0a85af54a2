"""Budgets: the largest child a search may return, in parameters, in FLOPs and in latency.

``constraint.max_params`` and ``constraint.max_flops`` bound the standalone child at the searched
space's size (the supernet the search trains): its parameter count (what `supernet.freeze` keeps) and
its multiply-accumulates per input example (convolutions and linear layers on the path that runs).
``constraint.max_latency_ms`` bounds its forward pass on the search's device, as the search's latency
table predicts it (`enas.search.latency.LatencyTable`).
Every architecture a strategy proposes, the screening keeps and derive picks satisfies them, as
hardware-aware searches in NNI and Archai do: rejection sampling keeps each sampler's distribution,
restricted to the budget. Measures are cached per architecture (a forward pass of one example).
"""
from __future__ import annotations

from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch
from torch import nn

from supernet import architecture_key

from ..predictors.zero_cost import child_parameters

__all__ = ["Constraint", "measure_child", "count_flops"]


def measure_child(model: nn.Module, arch: Mapping, example: Optional[torch.Tensor]) -> Dict[str, float]:
    """``{"params", "flops"}`` of the child ``arch`` of ``model``; FLOPs need an ``example`` input
    (one item with its batch dimension) and are NaN without one."""
    params = float(child_parameters(model, arch))  # activates arch
    return {"params": params, "flops": count_flops(model, example)}


def count_flops(model: nn.Module, example: Optional[torch.Tensor]) -> float:
    """Multiply-accumulates per example of one forward pass (convolutions and linear layers that run;
    a supernet counts its active path only); NaN without an ``example``."""
    if example is None:
        return float("nan")
    total = [0.0]

    def count(module, inputs, output):
        total[0] += output.numel() / output.shape[0] * module.weight[0].numel()

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total[0]


class Constraint:
    """Feasibility of architectures under ``max_params`` / ``max_flops`` / ``max_latency_ms`` (None:
    unbounded); a latency budget needs ``latency``, the table that predicts it (its prediction is also
    measured, as ``latency_ms``, whenever a table is given)."""

    def __init__(self, model: nn.Module, max_params: Optional[float] = None, max_flops: Optional[float] = None,
                 example: Optional[torch.Tensor] = None, max_latency_ms: Optional[float] = None, latency=None):
        for name, value in (("max_params", max_params), ("max_flops", max_flops), ("max_latency_ms", max_latency_ms)):
            if value is not None and value <= 0:
                raise ValueError(f"constraint.{name} must be positive, got {value}")
        if max_flops is not None and example is None:
            raise ValueError("constraint.max_flops needs an example input to count FLOPs (an image task)")
        if max_latency_ms is not None and latency is None:
            raise ValueError("constraint.max_latency_ms needs a latency table to predict latencies with "
                             "(enas.search.latency.LatencyTable)")
        self.model, self.max_params, self.max_flops, self.example = model, max_params, max_flops, example
        self.max_latency_ms, self.latency = max_latency_ms, latency
        self._cache: Dict[str, Dict[str, float]] = {}

    @property
    def active(self) -> bool:
        return self.max_params is not None or self.max_flops is not None or self.max_latency_ms is not None

    def measure(self, arch: Mapping) -> Dict[str, float]:
        key = architecture_key(arch)
        if key not in self._cache:
            self._cache[key] = measure_child(self.model, arch, self.example)
            if self.latency is not None:
                self._cache[key]["latency_ms"] = self.latency.predict(arch)
        return self._cache[key]

    def feasible(self, arch: Mapping) -> bool:
        if not self.active:
            return True
        m = self.measure(arch)
        return ((self.max_params is None or m["params"] <= self.max_params)
                and (self.max_flops is None or m["flops"] <= self.max_flops)
                and (self.max_latency_ms is None or m["latency_ms"] <= self.max_latency_ms))

    def describe(self) -> str:
        parts = [f"params <= {self.max_params:.0f}" if self.max_params is not None else None,
                 f"FLOPs <= {self.max_flops:.4g}" if self.max_flops is not None else None,
                 f"latency <= {self.max_latency_ms:.4g} ms" if self.max_latency_ms is not None else None]
        return " and ".join(p for p in parts if p) or "no budget"

    def sample(self, draw: Callable[[int], List[Mapping]], n: int, max_rounds: int = 200) -> List[Mapping]:
        """``n`` feasible architectures from ``draw(k)`` (k fresh samples), by rejection: the sampler's
        own distribution restricted to the budget. Fails clearly if the budget admits almost nothing."""
        if not self.active:
            return list(draw(n))
        kept: List[Mapping] = []
        drawn = 0
        for _ in range(max_rounds):
            batch = draw(max(n - len(kept), 1) * 2)
            drawn += len(batch)
            kept += [a for a in batch if self.feasible(a)]
            if len(kept) >= n:
                return kept[:n]
        raise RuntimeError(f"the budget ({self.describe()}) admitted {len(kept)} of {drawn} sampled architectures "
                           f"({self._smallest_seen()}): raise constraint.max_params / constraint.max_flops / "
                           "constraint.max_latency_ms, or check they are at the searched space's size (and device)")

    def _smallest_seen(self) -> str:
        """The least parameters, FLOPs and latency among the architectures measured so far: where a budget
        could start."""
        seen = list(self._cache.values())
        parts = [f"the fewest parameters seen: {min(m['params'] for m in seen):,.0f}"]
        if self.max_flops is not None:
            parts.append(f"the fewest FLOPs: {min(m['flops'] for m in seen):.4g}")
        if self.max_latency_ms is not None:
            parts.append(f"the fastest seen: {min(m['latency_ms'] for m in seen):.4g} ms")
        return "; ".join(parts)

    def filter(self, archs: Sequence[Mapping]) -> List[Mapping]:
        return [a for a in archs if self.feasible(a)]
