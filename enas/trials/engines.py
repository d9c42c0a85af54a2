"""Where trials run: in this process one after another (`LocalEngine`), or on Ray workers at once (`RayEngine`).

Both take jobs (`enas.trials.child.TrialRunner.run`'s) with ``submit`` while ``free()`` says a worker is idle,
and hand back results in the order they finish with ``next_result``. Ray is an optional extra
(``pip install 'enas[ray]'``): a local Ray instance on this machine by default, with one worker per GPU
(one trial per GPU) or per CPU core, or a running cluster given by address. Each worker is a Ray actor
holding a `TrialRunner`; the task's data goes into Ray's object store once and every worker loads it once.
Ray binds to the loopback interface when it starts locally and its usage statistics are off, so it talks
only to the machines it is given. A worker that dies (killed, out of memory) is replaced, and its trial
runs again on another worker, ``retries`` times.
"""
from __future__ import annotations

import logging
import os
from collections import deque
from typing import Callable, Deque, Dict, List, Optional, Tuple

import torch

from .child import TrialRunner

__all__ = ["LocalEngine", "RayEngine", "create_engine", "ray_available", "worker_shape"]

log = logging.getLogger("enas")


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
    except ImportError:
        return False
    return True


class LocalEngine:
    """One worker: this process, one trial after another."""

    workers = 1

    def __init__(self, make_runner: Callable[[int], TrialRunner]):
        self.runner = make_runner(0)
        self.queue: Deque[Dict] = deque()

    def free(self) -> int:
        return 1 - len(self.queue)

    def running(self) -> int:
        return len(self.queue)

    def submit(self, job: Dict) -> None:
        self.queue.append(job)

    def next_result(self) -> Dict:
        return self.runner.run(self.queue.popleft())

    def close(self) -> None:
        pass


class RayEngine:
    """``workers`` Ray actors, each with ``threads`` CPU threads (or one GPU each when ``gpus``)."""

    def __init__(self, runner_args: Dict, workers: int, threads: int, gpus: bool, address: Optional[str] = None,
                 retries: int = 1):
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        import ray

        self.ray, self.retries = ray, retries
        self.started = not ray.is_initialized()
        if self.started and address:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        elif self.started:
            # Ray starts its workers at nice 15 (the driver first); here the workers do the work, and at 15
            # they would crawl beside any other busy process on the machine (30x slower, measured).
            ray.init(num_cpus=workers * threads, num_gpus=workers if gpus else 0, include_dashboard=False,
                     _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False,
                     _system_config={"worker_niceness": 0})
        self.workers = workers
        task = runner_args.pop("task")
        self.args = {**runner_args, "task": ray.put(task), "threads": threads}  # the data enters the store once
        self.actor_class = ray.remote(num_cpus=threads, num_gpus=1 if gpus else 0, max_restarts=0)(TrialRunner)
        self.idle: List = [self._actor() for _ in range(workers)]
        self.pending: Dict = {}  # object ref -> (actor, job)

    def _actor(self):
        return self.actor_class.remote(**self.args)

    def free(self) -> int:
        return len(self.idle)

    def running(self) -> int:
        return len(self.pending)

    def submit(self, job: Dict) -> None:
        actor = self.idle.pop()
        self.pending[actor.run.remote(job)] = (actor, job)

    def next_result(self) -> Dict:
        ray = self.ray
        while True:
            ready, _ = ray.wait(list(self.pending), num_returns=1)
            actor, job = self.pending.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayActorError as err:
                self.idle.append(self._actor())  # a fresh worker in its place
                attempts = job.get("attempts", 1)
                if attempts > self.retries:
                    return {"id": job["id"], "epoch": job["start"], "seconds": 0.0, "attempts": attempts,
                            "error": f"its worker died {attempts} times ({type(err).__name__})"}
                log.warning("trial %d: its worker died (%s); it runs again on another worker", job["id"],
                            type(err).__name__)
                self.submit({**job, "attempts": attempts + 1})
                continue
            self.idle.append(actor)
            return {**result, "attempts": job.get("attempts", 1)}

    def actor_pids(self) -> List[int]:
        """The process of every busy worker (tests kill one to see its trial run again elsewhere)."""
        return self.ray.get([actor.pid.remote() for actor, _ in self.pending.values()])

    def close(self) -> None:
        for actor in [*self.idle, *(a for a, _ in self.pending.values())]:
            self.ray.kill(actor)
        if self.started:
            self.ray.shutdown()


def worker_shape(settings, device: torch.device) -> Tuple[int, int, bool]:
    """(workers, torch threads each, one GPU each) that ``multi_trial`` settings ask for on ``device``."""
    gpus = device.type == "cuda"
    workers = settings.workers or (torch.cuda.device_count() if gpus else os.cpu_count() or 1)
    return workers, settings.threads or max(1, (os.cpu_count() or 1) // workers), gpus


def create_engine(settings, runner_args: Dict, device: torch.device):
    """The engine ``multi_trial`` settings ask for (`enas.config.MultiTrialConfig`)."""
    workers, threads, gpus = worker_shape(settings, device)
    use_ray = settings.engine == "ray" or (settings.engine == "auto" and (workers > 1 or settings.address))
    if use_ray and not ray_available():  # engine=ray without Ray is refused before the run starts
        print(f"Ray is not installed (pip install 'enas[ray]'): the {workers} workers' trials run one after another "
              "in this process")
        use_ray = False
    if not use_ray:
        if settings.threads:
            torch.set_num_threads(settings.threads)
        return LocalEngine(lambda _: TrialRunner(**runner_args))
    log.info("multi-trial: %d Ray workers, %d thread(s) each%s", workers, threads,
             f", cluster at {settings.address}" if settings.address else " on this machine")
    return RayEngine(dict(runner_args), workers, threads, gpus, settings.address, settings.retries)
