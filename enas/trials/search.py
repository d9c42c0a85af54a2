"""Multi-trial search (``enas-search mode=multi_trial``): the loop the field started from (Zoph & Le, ICLR 2017),
with its standard cost cuts.

The strategy proposes a child, the child is trained on the task for a proxy budget and scored on the
validation split (`enas.trials.child`), and the score goes back to the strategy as its reward or fitness.
Many children train at once on Ray workers (`enas.trials.engines`):

* evolution and random search run **asynchronously**: a worker that finishes gets the next child at once
  (regularized evolution asks for a child and is told its fitness whenever it arrives, as Real et al. 2019
  ran it on many workers);
* the policy strategies (``enas``, with any controller and update rule, and ``predictor``) run in
  **synchronous batches**: one update's ``controller.num_aggregate`` children (the predictor's ``evaluate``)
  train at once, and the update waits for all of them.

Early stopping (``multi_trial.rung_epochs``, `enas.trials.rungs`) ends a child at a rung unless it is among
the best there; a child stopped early reports its score at that rung. With ``multi_trial.inherit``, a
mutated child of evolution starts from its parent's trained weights for every part the mutation left
unchanged (Real et al. 2017). An architecture already trained is looked up, not trained again.

Every finished trial goes to ``trials.jsonl`` (`enas.trials.records`) and then the checkpoint
(``checkpoints/last.pt``: the strategy, the random state, the trials still running), so a killed search
resumes (``resume=<run>``) without training a finished trial again: trials that were running start over.
With ``zero_cost_warmup.steps``, the strategy first learns from zero-cost scores (evolution then trains the
proxy's best as its initial population). The run ends like a one-shot search: ``architecture.json`` holds
the pick among the children that trained the whole budget (``multi_trial.select``: by validation score, or by
its rank and AZ-NAS's together), ``derive_candidates.csv`` every trial, best first, ready for
``enas-train architecture=...``.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import deque
from pathlib import Path
from typing import Deque, Dict, Iterable, Iterator, List, Optional

import torch
from omegaconf import OmegaConf

from supernet import architecture_key

from ..config import validate_values
from ..runs.archive import Archive
from ..runs.checkpoint import atomic_write, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..runs.folder import write_record
from ..runs.console import Progress
from ..runs.lock import RunLock
from ..runs.metrics import MetricsLogger
from ..runs.policy_log import record_policy
from ..runs.process import import_modules, resolve_device, torch_threads
from ..predictors.ranking import AZ_NAS
from ..search.build import Search, build_search, build_zero_cost, data_name, trainer_settings
from ..search.latency import TABLE_FILE
from ..search.state import open_run
from ..search.warm_start import warm_start
from ..search.warmup import selector_proxies, zero_cost_warmup
from .engines import create_engine, ray_available, worker_shape
from .records import TrialsFile
from .rungs import Rungs

__all__ = ["multi_trial_search", "MultiTrialSearch", "multi_trial_problems"]

log = logging.getLogger("enas")

ASYNCHRONOUS = ("random", "evolution")
SYNCHRONOUS = ("enas", "predictor")


def multi_trial_problems(cfg) -> Iterable[str]:
    """What a multi-trial config asks that cannot work."""
    if cfg.strategy not in ASYNCHRONOUS + SYNCHRONOUS:
        yield (f"mode=multi_trial trains the children a strategy proposes: strategy={cfg.strategy} has no proposals "
               f"(use one of {', '.join(ASYNCHRONOUS + SYNCHRONOUS)})")
    for key in ("preferred.pool", "few_shot.split", "few_shot.split_first"):
        if OmegaConf.select(cfg, key):
            yield f"{key} shapes how shared weights train; mode=multi_trial trains every child on its own: drop it"
    if cfg.multi_trial.engine == "ray" and not ray_available():
        yield "multi_trial.engine=ray needs Ray: pip install 'enas[ray]' (or multi_trial.engine=auto runs in-process)"
    if cfg.multi_trial.inherit and cfg.strategy != "evolution":
        yield "multi_trial.inherit needs strategy=evolution: only a mutated child has a parent to inherit from"
    if OmegaConf.select(cfg, "latency.target_ms") is not None:
        yield ("latency.target_ms (the soft latency reward) shapes a one-shot search's learning phase; a multi-trial "
               "search takes a hard budget: constraint.max_latency_ms")


def multi_trial_search(cfg) -> Dict:
    """Run a multi-trial search from a config (``mode=multi_trial``); returns what derive returns."""
    from ..search.loop import check_search_config

    import_modules(cfg.imports)
    check_search_config(cfg)
    validate_values(cfg, list(multi_trial_problems(cfg)))
    device = resolve_device(cfg.device)
    out, state, _ = open_run(cfg, device)
    with RunLock(out):
        began = time.time()
        search = MultiTrialSearch(build_search(cfg, device, run_folder=out), out, state)
        return search.run(began)


class _Batch:
    """The reward the policy strategies learn from: ``many(archs)`` trains a batch of children at once."""

    def __init__(self, search: "MultiTrialSearch"):
        self.search = search

    def __call__(self, arch) -> float:
        return self.many([arch])[0]

    def many(self, archs) -> List[float]:
        return self.search.train_batch(archs)


class MultiTrialSearch:
    """A multi-trial search over ``s`` (a `enas.search.Search`: its task, space and strategy); with a run
    folder ``out``, its trials, checkpoint and derive go there; ``state`` is a checkpoint to resume from."""

    def __init__(self, s: Search, out: Optional[Path] = None, state: Optional[Dict] = None):
        self.s, self.cfg, self.settings, self.out = s, s.cfg, s.cfg.multi_trial, out
        self.strategy = s.strategy
        self.trials = TrialsFile(out / "trials.jsonl" if out is not None else None)
        self.archive = Archive(out, s.space, data_name(s.cfg))
        self.rungs = Rungs(self.settings.epochs, self.settings.rung_epochs, self.settings.eta)
        for record in self.trials.records:
            self.rungs.replay(record.get("rungs", {}))
        self.live: Dict[int, Dict] = {}      # trials started and not finished: id -> architecture, parent, rungs
        self.queue: Deque[Dict] = deque()    # jobs waiting for a worker (continuations first)
        self.weights: Dict[int, Dict] = {}   # trained weights of finished trials a child may inherit from
        self.next_id, self.looked_up, self.updates = 0, 0, 0
        self.metrics = MetricsLogger(out, resume=state is not None) if out is not None else None
        # one zero-cost scorer (one cache) for the warm-up's selector and the pick's AZ-NAS, when either is on
        names = [*(selector_proxies(self.cfg.zero_cost_warmup.selector) if self.cfg.zero_cost_warmup.steps else []),
                 *(AZ_NAS if self.settings.select == "score_az_nas" else [])]
        self.zero_cost = build_zero_cost(self.cfg, s.task, s.network, s.device, list(dict.fromkeys(names)),
                                         s.proxy_batches)
        if state is not None:
            self._restore(state)
        else:
            warm_start(self.strategy, self.cfg)
            if self.cfg.zero_cost_warmup.steps:
                self._zero_cost_warmup()
        self.engine = None

    def _zero_cost_warmup(self) -> None:
        """The strategy learns from zero-cost scores first (`enas.search.warmup`), on the threads the workers
        will use (none has started); evolution then trains the proxy's best as its initial population."""
        workers, threads, gpus = worker_shape(self.settings, self.s.device)
        with torch_threads(None if gpus or self.settings.address else workers * threads):
            zero_cost_warmup(self.s, self.cfg.zero_cost_warmup, self.zero_cost)
        if self.strategy.name == "evolution":
            evo = self.strategy.evolution
            evo.restart([arch for arch, _ in evo.best(evo.population_size)])

    # -- the budget -------------------------------------------------------------------------------------------
    @property
    def launched(self) -> int:
        """Trials finished or running: what counts against ``multi_trial.trials``."""
        return len(self.trials) + len(self.live)

    @property
    def open(self) -> bool:
        """Whether a new child may start: trials left in the budget, and time (``multi_trial.max_minutes``)."""
        minutes = self.settings.max_minutes
        return self.launched < self.settings.trials and not (minutes and time.time() - self.began > 60 * minutes)

    def _job(self, arch: Dict, parent: Optional[Dict] = None) -> Dict:
        trial = self.next_id
        self.next_id += 1
        parent_id = self._trial_of(parent) if parent is not None else None
        self.live[trial] = {"architecture": dict(arch), "parent": parent_id, "rungs": {}, "seconds": 0.0}
        return self._first_job(trial)

    def _first_job(self, trial: int) -> Dict:
        info = self.live[trial]
        job = {"id": trial, "architecture": info["architecture"], "start": 0, "stop": self.rungs.next_stop(0)}
        if self.settings.inherit and info["parent"] is not None and info["parent"] in self.weights:
            parent = self.trials_by_id[info["parent"]]
            job["parent"] = {"architecture": parent["architecture"], "weights": self.weights[info["parent"]]}
        return job

    @property
    def trials_by_id(self) -> Dict[int, Dict]:
        return {r["id"]: r for r in self.trials.records}

    def _trial_of(self, arch: Dict) -> Optional[int]:
        record = self.trials.trained(arch)
        return record["id"] if record is not None else None

    # -- proposals ----------------------------------------------------------------------------------------------
    def _propose(self) -> Optional[Dict]:
        """The next job of an asynchronous strategy, or None when its proposal was looked up instead."""
        if self.strategy.name == "evolution":
            arch, parent = self.strategy.evolution.ask_child()
        else:
            arch, parent = self.strategy.uniform(1)[0], None
        earlier = self.trials.trained(arch)
        if earlier is not None:
            self.looked_up += 1
            if self.looked_up > 20 * max(self.settings.trials, 1):
                raise RuntimeError(f"the strategy proposed {self.looked_up} architectures that were already trained: "
                                   "the space is exhausted for it; lower multi_trial.trials")
            self._tell(arch, earlier["score"])
            return None
        return self._job(arch, parent)

    def _tell(self, arch: Dict, score: float) -> None:
        if self.strategy.name == "evolution":
            self.strategy.evolution.tell(arch, score)

    def _failure_score(self) -> float:
        """What a failed child reports to the strategy: the worst score seen (0 before any)."""
        scores = [r["score"] for r in self.trials.records if r["status"] != "failed"]
        return min(scores) if scores else 0.0

    # -- running trials -------------------------------------------------------------------------------------
    def _fill(self, propose: bool) -> None:
        while self.engine.free() > 0:
            if self.queue:
                self.engine.submit(self.queue.popleft())
            elif propose and self.open:
                job = self._propose()
                if job is not None:
                    self.engine.submit(job)
            else:
                return

    def _handle(self, result: Dict) -> Optional[Dict]:
        """Record a worker's result; returns the trial's record when it finished (else it continues)."""
        trial = result["id"]
        info = self.live[trial]
        info["seconds"] += result.get("seconds", 0.0)
        if "error" not in result:
            epoch, score = result["epoch"], result["score"]
            info["rungs"][str(epoch)] = score
            if not result.get("timed_out") and epoch < self.settings.epochs and self.rungs.record(epoch, score):
                self.queue.appendleft({"id": trial, "architecture": info["architecture"], "start": epoch,
                                       "stop": self.rungs.next_stop(epoch), "state": result["state"],
                                       "seconds": info["seconds"]})
                return None
        del self.live[trial]
        record = {"id": trial, "architecture": info["architecture"], "parent": info["parent"],
                  "rungs": info["rungs"], "seconds": round(info["seconds"], 3), "worker": result.get("worker"),
                  "attempts": result.get("attempts", 1)}
        if "error" in result:
            record.update(status="failed", score=self._failure_score(), epochs=result.get("epoch", 0),
                          error=result["error"])
            log.warning("trial %d failed: %s", trial, result["error"])
        else:
            status = "finished" if result["epoch"] >= self.settings.epochs else \
                "timed_out" if result.get("timed_out") else "stopped"
            record.update(status=status, score=result["score"], epochs=result["epoch"],
                          inherited=result.get("inherited", 0))
            if self.settings.select == "score_az_nas":  # scored here while the workers train: the pick needs it
                record["zero_cost"] = self.zero_cost_signals(record["architecture"])
            if self.settings.inherit:
                self._keep_weights(trial, result["state"]["model"])
        self.trials.append(record)
        self.archive.rewrite(self._archive_rows())
        if self.strategy.name in ASYNCHRONOUS:  # the policy strategies learn from their batch's scores instead
            self._tell(record["architecture"], record["score"])
        self._log(record)
        return record

    def zero_cost_signals(self, arch: Dict) -> Dict[str, float]:
        """AZ-NAS's signals of ``arch`` on one thread (the workers have the others)."""
        with torch_threads(1):
            scores = self.zero_cost.score(arch)
        return {name: scores[name] for name in AZ_NAS}

    def _archive_rows(self) -> List[Dict]:
        """The archive's lines: every score a trial reached, one per rung (its epochs trained: scores after as
        many epochs compare with each other), failed trials left out."""
        return [self.archive.row(r["architecture"], score, "trial", int(epoch), {"trial": r["id"]})
                for r in self.trials.records if r["status"] != "failed"
                for epoch, score in sorted(r.get("rungs", {}).items(), key=lambda kv: int(kv[0]))]

    def _keep_weights(self, trial: int, weights: Dict) -> None:
        self.weights[trial] = weights
        if self.out is not None:
            folder = self.out / "trial_weights"
            folder.mkdir(exist_ok=True)
            atomic_write(lambda tmp: torch.save(weights, tmp), folder / f"{trial}.pt")

    def _log(self, record: Dict) -> None:
        best = self.trials.best()
        log.info("trial %d %s after %d epochs: score %.4g (best %.4g; %d of %d trials)", record["id"],
                 record["status"], record["epochs"], record["score"], best["score"] if best else math.nan,
                 len(self.trials), self.settings.trials)
        if self.metrics is not None:
            self.metrics.log({"epoch": len(self.trials) - 1, "trial": record["id"], "score": record["score"],
                              "best_score": best["score"] if best else math.nan, "child_epochs": record["epochs"],
                              "trial_seconds": record["seconds"], "failed": float(record["status"] == "failed"),
                              "minutes": (time.time() - self.began) / 60})

    def _drain(self) -> None:
        """Run the queue and everything running to the end (proposing nothing new)."""
        while self.queue or self.engine.running():
            self._fill(propose=False)
            self._handle(self.engine.next_result())

    def train_batch(self, archs) -> List[float]:
        """Train a synchronous batch (each distinct new architecture once) and return every member's score;
        the new scores also teach the strategy's learned predictor, if it has one."""
        fresh: Dict[str, Dict] = {}
        for arch in archs:
            key = architecture_key(arch)
            if key not in fresh and self.trials.trained(arch) is None:
                fresh[key] = arch
                self.queue.append(self._job(arch))
        self._drain()
        predictor = self.strategy.predictor
        scores = []
        for arch in archs:
            record = self.trials.trained(arch)
            scores.append(record["score"] if record is not None else self._failure_score())
            if predictor is not None and record is not None and fresh.pop(architecture_key(arch), None) is not None:
                predictor.observe(arch, record["score"])
        return scores

    def run(self, began: Optional[float] = None) -> Dict:
        from .finish import finish

        self.began = began or time.time()
        if self.out is not None:
            write_record(self.out, self.cfg)
            if self.s.latency is not None:  # the run's own copy: a resume reuses it
                self.s.latency.save(self.out / TABLE_FILE)
        try:
            with self.workers():
                self._requeue_live()
                if self.strategy.name in ASYNCHRONOUS:
                    self._run_async()
                else:
                    self._run_sync()
        finally:
            if self.metrics is not None:
                self.metrics.close()
        return finish(self, self.began)

    @contextlib.contextmanager
    def workers(self) -> Iterator[None]:
        """The trial engine (Ray workers, or this process) for the block: `train_batch` needs it."""
        runner = {"task": self.s.task, "network": self.s.network, "trainer": trainer_settings(self.cfg.trainer),
                  "epochs": self.settings.epochs, "seed": int(self.cfg.seed), "time_limit": self.settings.time_limit,
                  "imports": list(self.cfg.imports), "device": self.s.device,
                  "tune_malloc": bool(self.cfg.tune_malloc)}
        self.engine = create_engine(self.settings, runner, self.s.device)
        try:
            yield
        finally:
            self.engine.close()

    def _run_async(self) -> None:
        while True:
            self._fill(propose=True)
            if not self.engine.running():
                return
            self._handle(self.engine.next_result())
            self._save()

    def _run_sync(self) -> None:
        reward = _Batch(self)
        while self.open:
            before = len(self.trials)
            stats = self.strategy.learn(reward, 1, Progress(1, False))
            self.updates += 1
            if self.strategy.predictor is not None:
                stats.update(self.strategy.predictor.refit())
            self._save()
            if self.out is not None:
                record_policy(self.out, self.updates - 1, self.strategy)  # the report's heat map, one row an update
            log.info("update %d: %d children trained (%d in all)", self.updates, len(self.trials) - before,
                     len(self.trials))
            if len(self.trials) == before:
                self.looked_up += 1
                if self.looked_up > 20 * max(self.settings.trials, 1):
                    raise RuntimeError("the policy keeps proposing architectures already trained: it has converged; "
                                       "lower multi_trial.trials")

    # -- checkpoints --------------------------------------------------------------------------------------------
    def _save(self) -> None:
        if self.out is None:
            return
        strategy = self.strategy
        state = {"mode": "multi_trial", "controller": strategy.state_dict(), "strategy": strategy.name,
                 "predictor": strategy.predictor.state_dict() if strategy.predictor is not None else None,
                 "rng": rng_state(), "config": OmegaConf.to_container(self.cfg, resolve=True), "space": self.s.space,
                 "epoch": len(self.trials), "next_id": self.next_id, "looked_up": self.looked_up,
                 "updates": self.updates,
                 "live": [{"id": i, "architecture": v["architecture"], "parent": v["parent"]} for i, v in self.live.items()]}
        save_checkpoint(state, self.out / "checkpoints", len(self.trials))

    def _restore(self, state: Dict) -> None:
        if state.get("mode") != "multi_trial":
            raise ValueError("cannot resume a one-shot search as mode=multi_trial: its checkpoint holds a supernet, "
                             "not trials")
        self.strategy.load_state_dict(state["controller"])
        if self.strategy.predictor is not None and state.get("predictor") is not None:
            self.strategy.predictor.load_state_dict(state["predictor"])
        set_rng_state(state["rng"])
        done = self.trials.ids
        self.next_id = max([state["next_id"], *(i + 1 for i in done)])
        self.looked_up, self.updates = state["looked_up"], state["updates"]
        for trial in state["live"]:
            if trial["id"] not in done:  # it was running: it starts over
                self.live[trial["id"]] = {"architecture": trial["architecture"], "parent": trial["parent"],
                                          "rungs": {}, "seconds": 0.0}
        if self.settings.inherit and self.out is not None:
            for path in (self.out / "trial_weights").glob("*.pt"):
                self.weights[int(path.stem)] = load_checkpoint(path)
        # finished trials the checkpoint had not yet recorded (killed between the two writes) reach the strategy now
        if self.strategy.name in ASYNCHRONOUS:
            for record in self.trials.records:
                if record["id"] in {t["id"] for t in state["live"]}:
                    self._tell(record["architecture"], record["score"])
        if self.metrics is not None:
            self.metrics.truncate(len(self.trials) - 1)
        log.info("resumed: %d trials finished, %d to run again", len(self.trials), len(self.live))

    def _requeue_live(self) -> None:
        for trial in sorted(self.live):
            self.queue.append(self._first_job(trial))

