"""Latency: how long the standalone child takes on the device the search runs on, measured or predicted.

`measure_latency` times a network directly: the median of ``repeats`` forward passes in eval mode without
gradients, after ``warmup`` untimed ones (caches, the allocator, cuDNN's algorithm choice), with CUDA
synchronised around each pass (kernels run asynchronously: the clock would stop at the launch).

`LatencyTable` predicts a child's latency without running it, as the lookup tables of ProxylessNAS (Cai et
al. 2019, arXiv:1812.00332) and FBNet (Wu et al. 2019, arXiv:1812.03443). Built once per device and space,
it holds the time of every candidate op of every `supernet.LayerChoice`, keyed by module path (each
repetition of a cell counts on its own), on the input that choice receives in the network, and a
calibration against children measured whole, for what the ops do not cover: stem, reductions, head, input
choices, the space's own glue and Python's per-module overhead. A prediction is a sum and a multiply-add.
A space whose cells skip work under some architectures says which of its choices never run
(``idle_choices(arch)``, e.g. NAS-Bench-201's ``none`` edges and the edges out of a node that receives
nothing); those ops are left out of the sum. The table records what its numbers hold for (device, torch
version, threads, batch size, input shape and memory format, space) and refuses to serve anything else.

`LatencyReward` is MnasNet's soft constraint (Tan et al. 2019, arXiv:1807.11626, section 3, with
alpha = beta = w): the reward times ``(latency / target) ** w``, ``w = -0.07``.

Children are measured as `supernet.freeze` builds them, the network a user deploying the child would run.
Configured by ``latency`` and ``constraint.max_latency_ms`` (`enas.config.LatencyConfig`, docs/latency.md).
"""
from __future__ import annotations

import json
import logging
import math
import os
import platform
import random
import statistics
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import torch
from torch import nn

from supernet import LayerChoice, activate, architecture_key, freeze, random_architecture

from ..runs.checkpoint import atomic_write

__all__ = ["measure_latency", "LatencyTable", "LatencyReward", "device_description", "latency_needed",
           "build_latency", "soft_latency", "child_latency", "TABLE_FILE"]

TABLE_FILE = "latency_table.json"  # in the run folder: the table a search used (resume and enas-derive reuse it)
FORMAT = 1
log = logging.getLogger("enas")


# -- direct measurement -----------------------------------------------------------------------------------
def _median_ms(run: Callable[[], object], device: torch.device, repeats: int, warmup: int) -> float:
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        sync()  # the clock starts when the work before is done, and stops when this pass's is
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def measure_latency(model: nn.Module, example: torch.Tensor, repeats: int = 30, warmup: int = 5) -> float:
    """Milliseconds of one forward pass of ``model`` on ``example`` (the whole batch): the median of
    ``repeats`` timed passes in eval mode without gradients, after ``warmup`` untimed ones."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"measure_latency needs repeats >= 1 and warmup >= 0, got {repeats} and {warmup}")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return _median_ms(lambda: model(example), example.device, repeats, warmup)
    finally:
        model.train(was_training)


def device_description(device: Union[str, torch.device]) -> str:
    """What the numbers were measured on: the CUDA device's name, or the CPU's model and core count."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    model = platform.processor() or platform.machine()
    if os.path.isfile("/proc/cpuinfo"):  # Linux names the model; platform.processor() often gives only "x86_64"
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    return f"{device.type}: {model} ({os.cpu_count()} cores)"


def _channels_last(example: torch.Tensor) -> bool:
    first = example[:1]
    return first.dim() == 4 and not first.is_contiguous() and first.is_contiguous(memory_format=torch.channels_last)


def _batched(example: torch.Tensor, batch_size: int) -> torch.Tensor:
    """``batch_size`` copies of the example's first item, in the example's memory format."""
    batch = example[:1].repeat(batch_size, *[1] * (example.dim() - 1))
    return batch.contiguous(memory_format=torch.channels_last) if _channels_last(example) else batch


def _environment(model: nn.Module, example: torch.Tensor, space: Mapping, batch_size: int) -> Dict:
    """What a table's numbers hold for; a table serves only where all of it is the same."""
    device = next(model.parameters()).device
    return json.loads(json.dumps({  # as JSON would give it back (tuples become lists)
        "device": device_description(device), "torch": torch.__version__,
        # CPU kernels' speed depends on the threads they get; a GPU's does not
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "batch_size": int(batch_size), "input_shape": list(example.shape[1:]),
        "memory_format": "channels_last" if _channels_last(example) else "contiguous",
        "space": {"name": space.get("name"), "kwargs": dict(space.get("kwargs") or {})}}))


def _choices(model: nn.Module) -> Dict[str, LayerChoice]:
    return {path: m for path, m in model.named_modules() if isinstance(m, LayerChoice)}


# -- the table --------------------------------------------------------------------------------------------
class LatencyTable:
    """Per-op latencies of a space on one device, calibrated against children measured whole.

    ``data`` is the JSON the table saves: ``environment`` (what it holds for), ``ops`` (module path ->
    ``label``, ``calls`` per forward pass and ``ms`` per option), ``calibration`` (``offset_ms``, ``scale``
    and the children it was fitted on) and ``error`` (against direct measurement, when checked). A table is
    bound to the supernet it predicts for (`build`, `load`): predictions need its choices and, for a space
    that skips work, its ``idle_choices``."""

    def __init__(self, data: Dict, model: nn.Module, example: Optional[torch.Tensor] = None):
        self.data = data
        self.model = model
        stored = {path: list(op["ms"]) for path, op in data["ops"].items()}
        actual = {path: list(c.names) for path, c in _choices(model).items()}
        if stored != actual:
            differ = sorted(set(stored) ^ set(actual)) or [p for p in stored if stored[p] != actual[p]]
            raise ValueError(f"this latency table was built for another network: its choices and the model's differ "
                             f"(first: {differ[0]!r}); build one for this space")
        self.example = _batched(example, self.batch_size) if example is not None else None
        self._idle = getattr(model, "idle_choices", None)

    @property
    def batch_size(self) -> int:
        return int(self.data["environment"]["batch_size"])

    @property
    def environment(self) -> Dict:
        return self.data["environment"]

    # -- building --------------------------------------------------------------------------------------
    @classmethod
    def build(cls, model: nn.Module, example: torch.Tensor, space: Optional[Mapping] = None, batch_size: int = 1,
              repeats: int = 30, warmup: int = 5, calibration: int = 10, seed: int = 0) -> "LatencyTable":
        """Time every candidate op of ``model`` (a supernet) on the input its choice receives, then
        calibrate on ``calibration`` children measured whole. ``example`` is one input with its batch
        dimension (its first item is repeated to ``batch_size``); ``space`` is ``{"name", "kwargs"}``."""
        if calibration < 1:
            raise ValueError(f"latency.calibration must be >= 1, got {calibration}")
        began = time.time()
        rng = random.Random(seed)  # its own stream: building a table leaves the search's random state alone
        x = _batched(example, batch_size)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                inputs, calls = _choice_inputs(model, x, rng)
                device = x.device
                ops = {path: {"label": choice.label, "calls": calls[path],
                              "ms": {name: _median_ms(lambda op=choice[name], a=inputs[path]: op(*a[0], **a[1]),
                                                      device, repeats, warmup) for name in choice.names}}
                       for path, choice in _choices(model).items()}
        finally:
            model.train(was_training)
        data = {"format": FORMAT, "environment": _environment(model, x, space or {}, batch_size),
                "settings": {"repeats": repeats, "warmup": warmup, "calibration": calibration, "seed": seed},
                "ops": ops, "calibration": {"offset_ms": 0.0, "scale": 1.0}}
        table = cls(data, model, example)
        table._calibrate(calibration, rng, repeats, warmup)
        data["build_seconds"] = time.time() - began
        return table

    def _calibrate(self, n: int, rng: random.Random, repeats: int, warmup: int) -> None:
        """Fit ``latency = offset + scale * (sum of the ops)`` on ``n`` children measured whole.

        The offset is what the ops do not cover (stem, reductions, head, input choices), which is about the
        same for every child; the scale takes up what timing an op alone misses or adds against the op
        inside a network (warm caches, the call overhead each module pays either way, a device that overlaps
        work). Least squares needs children that differ: they are chosen at evenly spaced quantiles of the
        op sum among 20 x n random ones, so the fit spans the space from light to heavy. With fewer than
        three, or a fit that makes heavier children faster (a scale <= 0), the scale stays 1 and the offset
        is the median difference."""
        pool = sorted((random_architecture(self.model, rng) for _ in range(20 * n)), key=self.op_sum)
        picks = [pool[round(i * (len(pool) - 1) / max(n - 1, 1))] for i in range(n)]
        sums = [self.op_sum(a) for a in picks]
        measured = [self.measure(a, repeats, warmup) for a in picks]
        offset, scale, fit = statistics.median(m - s for m, s in zip(measured, sums)), 1.0, "offset"
        if n >= 3:
            mean_s, mean_m = statistics.fmean(sums), statistics.fmean(measured)
            var = sum((s - mean_s) ** 2 for s in sums)
            slope = sum((s - mean_s) * (m - mean_m) for s, m in zip(sums, measured)) / var if var > 0 else 0.0
            if slope > 0:
                offset, scale, fit = mean_m - slope * mean_s, slope, "least squares"
        self.data["calibration"] = {"offset_ms": offset, "scale": scale, "fit": fit, "children": [
            {"architecture": architecture_key(a), "ops_ms": s, "measured_ms": m}
            for a, s, m in zip(picks, sums, measured)]}

    # -- using ------------------------------------------------------------------------------------------
    def op_sum(self, arch: Mapping) -> float:
        """Milliseconds of the ops ``arch`` runs, timed alone (uncalibrated)."""
        idle = self._idle(arch) if self._idle is not None else ()
        return sum(op["calls"] * op["ms"][arch[op["label"]]] for op in self.data["ops"].values()
                   if op["label"] not in idle)

    def predict(self, arch: Mapping) -> float:
        """Predicted milliseconds of a forward pass of ``arch``'s standalone child at the table's batch size."""
        c = self.data["calibration"]
        return c["offset_ms"] + c["scale"] * self.op_sum(arch)

    def measure(self, arch: Mapping, repeats: Optional[int] = None, warmup: Optional[int] = None) -> float:
        """Milliseconds of ``arch``'s standalone child measured directly (`measure_latency`), on the bound
        example at the table's batch size."""
        if self.example is None:
            raise ValueError("this latency table was loaded without an example input: it predicts, it cannot measure")
        s = self.data["settings"]
        child = freeze(self.model, arch)
        return measure_latency(child, self.example, repeats or s["repeats"], s["warmup"] if warmup is None else warmup)

    def check_error(self, archs: Union[int, Sequence[Mapping]], seed: int = 0) -> Dict:
        """The table against direct measurement on ``archs`` (or that many random children): the median and
        the largest relative error |predicted - measured| / measured. Recorded in the table's ``error``."""
        if isinstance(archs, int):
            rng = random.Random(seed + 1)  # other children than the calibration's
            archs = [random_architecture(self.model, rng) for _ in range(archs)]
        rows = [{"architecture": architecture_key(a), "predicted_ms": self.predict(a), "measured_ms": self.measure(a)}
                for a in archs]
        relative = [abs(r["predicted_ms"] - r["measured_ms"]) / r["measured_ms"] for r in rows]
        self.data["error"] = {"children": len(rows), "median_relative": statistics.median(relative),
                              "max_relative": max(relative), "rows": rows}
        return self.data["error"]

    def mismatches(self, model: nn.Module, example: torch.Tensor, space: Optional[Mapping],
                   batch_size: int) -> List[str]:
        """``key: the table's -> here`` for everything that differs between where the table was measured and
        where it would be used."""
        here = _environment(model, example, space or {}, batch_size)
        return [f"{key}: {self.environment.get(key)!r} -> {value!r}" for key, value in here.items()
                if self.environment.get(key) != value]

    def check(self, model: nn.Module, example: torch.Tensor, space: Optional[Mapping], batch_size: int,
              source: str = "this latency table") -> None:
        """Refuse to serve a device, space or batch size other than the one the table was measured for."""
        wrong = self.mismatches(model, example, space, batch_size)
        if wrong:
            raise ValueError(f"{source} was measured elsewhere, so its numbers do not hold here ({'; '.join(wrong)}): "
                             "build a table here (leave latency.table unset) or use one measured in this setting")

    def summary(self) -> Dict:
        """What a report says of the table: where it holds, its calibration and its error."""
        e, c, error = self.environment, self.data["calibration"], self.data.get("error") or {}
        checked = {"error_children": error["children"], "error_median": error["median_relative"],
                   "error_max": error["max_relative"]} if error else {}
        return {"device": e["device"], "threads": e["threads"], "batch_size": e["batch_size"], "torch": e["torch"],
                "offset_ms": c["offset_ms"], "scale": c["scale"], **checked}

    # -- files ------------------------------------------------------------------------------------------
    def save(self, path: Union[str, Path]) -> Path:
        text = json.dumps(self.data, indent=1)
        atomic_write(lambda tmp: Path(tmp).write_text(text), Path(path))
        return Path(path)

    @classmethod
    def load(cls, path: Union[str, Path], model: nn.Module, example: Optional[torch.Tensor] = None) -> "LatencyTable":
        """A saved table bound to ``model`` (it must have the table's choices). Loading checks nothing about
        the device: `check` does, before a search relies on it; reading a finished run's predictions needs
        no more than this."""
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT or "ops" not in data:
            raise ValueError(f"{path} is not a latency table (enas.search.latency, format {FORMAT})")
        return cls(data, model, example)


def _choice_inputs(model: nn.Module, x: torch.Tensor, rng: random.Random, tries: int = 100):
    """The positional and keyword inputs each `LayerChoice` receives, and how often it is called per forward
    pass (a recurrent cell calls its choices once a step), recorded by pre-hooks over passes of random
    architectures until every choice has run once (a cell may skip an op, NB201's after an empty node)."""
    choices = _choices(model)
    inputs, calls, counted = {}, {}, {}

    def hook(path):
        def record(module, args, kwargs):
            counted[path] = counted.get(path, 0) + 1
            inputs.setdefault(path, (args, kwargs))
        return record

    handles = [choice.register_forward_pre_hook(hook(path), with_kwargs=True) for path, choice in choices.items()]
    try:
        for _ in range(tries):
            counted.clear()
            activate(model, random_architecture(model, rng))
            model(x)
            for path, n in counted.items():
                calls[path] = max(calls.get(path, 0), n)
            if len(inputs) == len(choices):
                return inputs, calls
    finally:
        for h in handles:
            h.remove()
    missing = sorted(set(choices) - set(inputs))
    raise RuntimeError(f"latency table: {len(missing)} choices never ran in {tries} random architectures (first: "
                       f"{missing[0]!r}), so their ops cannot be timed on their input")


# -- the soft reward --------------------------------------------------------------------------------------
class LatencyReward:
    """``reward(arch) * (latency / target_ms) ** weight`` with the table's predicted latency (MnasNet's soft
    constraint: with ``weight`` = -0.07, twice the target costs 5% of the reward, half of it gains 5%).
    A batched reward (``many``) stays batched; `adjust` applies the factor to a reward found elsewhere
    (a predictor's estimate standing in for an evaluation)."""

    def __init__(self, reward: Callable[[Dict], float], table: LatencyTable, target_ms: float, weight: float = -0.07):
        if not target_ms > 0 or not math.isfinite(target_ms):
            raise ValueError(f"latency.target_ms must be a positive number, got {target_ms}")
        self.reward, self.table, self.target_ms, self.weight = reward, table, float(target_ms), float(weight)
        if hasattr(reward, "many"):
            self.many = lambda archs: [self.adjust(a, r) for a, r in zip(archs, reward.many(archs))]

    def factor(self, arch: Mapping) -> float:
        return (self.table.predict(arch) / self.target_ms) ** self.weight

    def adjust(self, arch: Mapping, value: float) -> float:
        return float(value) * self.factor(arch)

    def __call__(self, arch: Dict) -> float:
        return self.adjust(arch, self.reward(arch))


# -- a search's table -------------------------------------------------------------------------------------
def latency_needed(cfg) -> bool:
    """Whether a search needs its latency table: a latency budget, the soft reward, or ``latency.report``."""
    return (cfg.constraint.max_latency_ms is not None or cfg.latency.target_ms is not None
            or bool(cfg.latency.report))


def build_latency(cfg, model: nn.Module, example: Optional[torch.Tensor], space: Mapping,
                  run_folder: Optional[Path] = None) -> Optional[LatencyTable]:
    """The search's latency table, when it needs one (`latency_needed`): the run folder's own (a resumed run,
    ``enas-derive``: the numbers its budget was set in, reused as they are), else ``latency.table`` (checked:
    it must have been measured here), else built now on ``model``'s device and checked against
    ``latency.check`` children measured directly."""
    if not latency_needed(cfg):
        return None
    spec = cfg.latency
    if example is None:
        raise ValueError("latency needs an example input to time children on: an image task, or from Python "
                         "search_model(..., example_input=<one input with its batch dimension>)")
    example = example.to(next(model.parameters()).device)
    own = Path(run_folder) / TABLE_FILE if run_folder is not None else None
    if own is not None and own.is_file():
        table = LatencyTable.load(own, model, example)
        wrong = table.mismatches(model, example, space, spec.batch_size)
        if wrong:
            log.warning("the run's latency table %s was measured elsewhere (%s): its predictions (the run's budget) "
                        "are kept; latencies measured here are not comparable", own, "; ".join(wrong))
        return table
    if spec.table:
        table = LatencyTable.load(spec.table, model, example)
        table.check(model, example, space, spec.batch_size, f"latency.table={spec.table}")
        return table
    table = LatencyTable.build(model, example, space, spec.batch_size, spec.repeats, spec.warmup, spec.calibration,
                               int(cfg.seed))
    message = (f"latency table: {len(table.data['ops'])} choices timed on {table.environment['device']} "
               f"(batch {spec.batch_size}) in {table.data['build_seconds']:.1f} s")
    if spec.check:
        error = table.check_error(spec.check, int(cfg.seed))
        message += (f"; against {error['children']} children measured directly: median error "
                    f"{100 * error['median_relative']:.1f}%, largest {100 * error['max_relative']:.1f}%")
    log.info(message)
    return table


def soft_latency(reward: Callable[[Dict], float], search) -> Callable[[Dict], float]:
    """``reward`` under MnasNet's soft latency constraint when the search sets ``latency.target_ms``, else
    ``reward`` itself: what a strategy's learning phase is rewarded with."""
    target = search.cfg.latency.target_ms
    if target is None:
        return reward
    return LatencyReward(reward, search.latency, target, search.cfg.latency.weight)


def child_latency(table: Optional[LatencyTable], arch: Mapping) -> Dict[str, float]:
    """What derive reports of the chosen child: its predicted latency, and the latency measured directly
    here unless the table was measured elsewhere (a run continued on another machine)."""
    if table is None:
        return {}
    out = {"latency_ms": table.predict(arch)}
    if table.example is not None and not table.mismatches(table.model, table.example, table.environment["space"],
                                                         table.batch_size):
        out["latency_measured_ms"] = table.measure(arch)
    return out
