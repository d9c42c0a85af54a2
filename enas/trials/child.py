"""One trial: a proposed child built standalone, trained on the task for a proxy budget, scored on validation.

A `TrialRunner` lives in each worker (a Ray actor, or this process) and holds the task's data from the
start, so the data reaches a worker once, not once per trial. ``run(job)`` trains one child from epoch
``start`` to epoch ``stop`` and returns its validation score with the state to continue from (the model,
its optimizer and its schedule), so early stopping can continue a child past a rung on any worker.

Every child trains under one cosine schedule planned over the whole budget (``multi_trial.epochs``), so a
child continued past its rungs ends exactly as if it had trained alone for the budget (as
`enas.search.short_train` does). It starts from a fresh initialisation drawn from the run's seed and its
trial id, or, with a parent, from the parent's trained weights wherever the two architectures agree
(`supernet.inherit`). A child that raises (an architecture that cannot run, a NaN loss) is returned as
failed, with its error; the search records it and goes on.
"""
from __future__ import annotations

import dataclasses
import math
import os
import socket
import time
from typing import Callable, Dict, Mapping, Optional

import torch
from torch import nn

from supernet import freeze, inherit, use_running_stats

from ..runs.malloc import keep_freed_memory_mapped
from ..runs.process import import_modules
from ..search.training import make_optimizer, train_epoch

__all__ = ["TrialRunner", "to_cpu"]


def to_cpu(state):
    """A (nested) state with every tensor on the CPU: what a worker hands back and a checkpoint keeps."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if isinstance(state, dict):
        return {k: to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(to_cpu(v) for v in state)
    return state


class TrialRunner:
    """Trains children of the space ``network({})`` builds on ``task``, with the ``trainer`` settings
    (a `enas.config.TrainerConfig`), for ``epochs`` at most and ``time_limit`` seconds (0: none).

    ``tune_malloc`` (the run's setting) keeps freed activation memory mapped in this process, as the command
    line does in its own (`enas.runs.malloc`): a Ray worker receives its data instead of loading it, so glibc
    never raises its thresholds by itself there, and each step's activations would be mapped and unmapped again
    (12-19% of a 2-core machine's time in the kernel, measured).
    """

    def __init__(self, task, network: Callable[[Mapping], nn.Module], trainer, epochs: int, seed: int = 0,
                 time_limit: float = 0.0, device: Optional[torch.device] = None, threads: int = 0,
                 imports=(), tune_malloc: bool = True):
        if threads:
            torch.set_num_threads(threads)
        if tune_malloc:
            keep_freed_memory_mapped()
        import_modules(list(imports))  # a worker process needs the run's own spaces registered too
        self.task, self.network, self.epochs, self.seed, self.time_limit = task, network, epochs, seed, time_limit
        self.trainer = dataclasses.replace(trainer, epochs=epochs, warmup_epochs=0, progress=False)
        self.device = device or torch.device("cpu")
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def pid(self) -> int:
        return os.getpid()

    def _child(self, job: Dict) -> Dict:
        torch.manual_seed(self.seed * 1_000_003 + job["id"] * 1_009 + job["start"])
        space = self.network({})
        model = use_running_stats(freeze(space, job["architecture"])).to(self.device)
        inherited = 0
        parent = job.get("parent")
        if parent is not None and job.get("state") is None:
            weights = {k: v.to(self.device) for k, v in parent["weights"].items()}
            inherited = len(inherit(model, job["architecture"], weights, parent["architecture"], space))
        optimizer = make_optimizer(model, self.trainer)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.epochs, eta_min=self.trainer.lr_min)
        if job.get("state") is not None:  # continued past a rung
            model.load_state_dict(job["state"]["model"])
            optimizer.load_state_dict(job["state"]["optimizer"])
            schedule.load_state_dict(job["state"]["schedule"])
        return {"model": model, "optimizer": optimizer, "schedule": schedule, "inherited": inherited}

    def run(self, job: Dict) -> Dict:
        """Train ``job["architecture"]`` from epoch ``job["start"]`` to ``job["stop"]``; the result dict holds
        ``score``, ``epoch`` (reached), ``state`` and ``seconds``, or ``error``."""
        began = time.time()
        result = {"id": job["id"], "worker": self.worker, "epoch": job["start"]}
        try:
            with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
                child = self._child(job)
                epoch, timed_out = job["start"], False
                while epoch < job["stop"]:
                    train_epoch(child["model"], self.task, child["optimizer"], self.trainer, epoch, show_progress=False)
                    child["schedule"].step()
                    epoch += 1
                    spent = job.get("seconds", 0.0) + time.time() - began
                    if self.time_limit and spent > self.time_limit and epoch < job["stop"]:
                        timed_out = True
                        break
                score = float(self.task.evaluate(child["model"], getattr(self.task, "valid", None))["score"])
            if not math.isfinite(score):
                raise FloatingPointError(f"the child's validation score is {score}")
            result.update(score=score, epoch=epoch, timed_out=timed_out, inherited=child["inherited"],
                          state=to_cpu({k: child[k].state_dict() for k in ("model", "optimizer", "schedule")}))
        except Exception as err:  # noqa: BLE001 -- a child that cannot train is a result, not the search's end
            result["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        result["seconds"] = time.time() - began
        return result
