"""The search loop: alternate shared-weight training and the strategy's learning phase, then derive.

Pham et al. 2018 (arXiv:1802.03268), section 2.2. Per epoch:

1. shared-weights phase: SGD over the search-train split, one architecture of the strategy's per
   minibatch (`Strategy.shared_archs`; the controller's samples for ENAS, uniform ones for random search,
   evolution and warm-up, a relaxed supernet for DARTS and GDAS);
2. learning phase: ``controller.train_steps`` updates of the strategy (`Strategy.learn`), each scoring
   architectures with the shared weights on validation data (`SharedWeightReward`).

Every epoch ends with an atomic checkpoint; the run ends with an automatic derive that writes
``architecture.json``. Run it as ``enas-search`` (Hydra), `search(cfg)` from Python, or on your own
model with `enas.search_model`.
"""
from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Dict, Optional


from supernet import FewShotSupernet, count_architectures, count_parameters, decisions

from ..config import check_config, validate_values
from ..runs import distributed
from ..runs.archive import Archive
from ..runs.checkpoint import save_checkpoint
from ..runs.folder import write_record
from ..runs.console import Progress, announce, progress
from ..runs.lock import RunLock
from ..runs.metrics import MetricsLogger
from ..runs.policy_log import record_policy
from ..runs.process import import_modules, resolve_device
from .build import Search, build_search, data_name
from .derive import run_derive
from .latency import TABLE_FILE, soft_latency
from .rewards import SharedWeightReward, serve_rewards
from .preferred import preferred_problems, select_preferred
from .signals import training_free_problems
from .warm_start import warm_start, warm_start_problems
from .warmup import warmup_problems, zero_cost_warmup
from .state import open_run, restore, search_state
from .training import train_epoch

__all__ = ["search", "run_search", "search_epoch"]

log = logging.getLogger("enas")


def search(cfg) -> Dict:
    """Run a whole search from a config (see ``conf/search.yaml``); returns the final metrics."""
    import_modules(cfg.imports)
    check_search_config(cfg)
    device = distributed.setup(resolve_device(cfg.device))
    out, state, resume_from = open_run(cfg, device)
    with RunLock(out) if distributed.is_main() else contextlib.nullcontext():  # one writer per run folder
        began = time.time()
        return run_search(build_search(cfg, device, run_folder=out), out, state, began)


def check_search_config(cfg) -> None:
    """Every check of a search config that needs no data: keys, values, and what a training-free run can pick."""
    check_config(cfg)
    problems = list(training_free_problems(cfg.derive)) if cfg.trainer.epochs == 0 and cfg.strategy == "random" \
        else []
    validate_values(cfg, [*problems, *preferred_problems(cfg), *warmup_problems(cfg), *warm_start_problems(cfg)])


def run_search(s: Search, out: Optional[Path] = None, state: Optional[Dict] = None,
               began: Optional[float] = None) -> Dict:
    """Train, learn and derive ``s``, continuing from a checkpoint ``state`` when given. With a run folder
    ``out`` (rank 0), every epoch is logged and checkpointed there and derive writes its files."""
    cfg = s.cfg
    main = distributed.is_main() and out is not None
    logger = MetricsLogger(out, resume=state is not None) if main else None
    decs = decisions(s.model)
    log.info("search space %s %s: %d decisions, %.3g architectures, %d shared parameters%s",
             s.space["name"], s.space["kwargs"], len(decs), count_architectures(decs), count_parameters(s.model),
             f"; outputs in {out}" if out is not None else "")
    start = 0
    s.archive = Archive(out, s.space, data_name(cfg)) if main else None
    if state is not None:
        start = restore(s, state, resume=True)
        if main:
            logger.truncate(start - 1)
            s.archive.truncate(start)  # the epochs it runs again measure their rewards again
        log.info("resumed at epoch %d", start)
    if main:
        write_record(out, cfg)
        if s.latency is not None:  # the run's own copy: resume and enas-derive reuse it
            s.latency.save(out / TABLE_FILE)
    if state is None and cfg.preferred.pool:
        _prefer(s, out if main else None)
    if state is None and distributed.is_main():  # rank 0 alone learns
        warm_start(s.strategy, cfg)
    if state is None and cfg.zero_cost_warmup.steps and distributed.is_main():
        zero_cost_warmup(s, cfg.zero_cost_warmup)
    steps = min(s.task.steps_per_epoch, cfg.trainer.max_steps_per_epoch or s.task.steps_per_epoch)
    history = []
    for epoch in range(start, cfg.trainer.epochs):
        row = search_epoch(s, epoch)
        history.append(row)
        if not main:
            continue
        logger.log(row)
        record_policy(out, epoch, s.strategy)
        s.archive.flush()  # before the checkpoint: a resume from it finds this epoch's lines
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)))
        save_checkpoint(search_state(s, epoch, (epoch + 1) * steps), out / "checkpoints", epoch,
                        keep_every=cfg.keep_every)
    result: Dict = {}
    if distributed.is_main():  # rank 0 derives and writes; the others wait for it in cleanup()
        result = run_derive(s, cfg.derive, out if main else None, began)
        result["history"] = history
        if main and learned(history):
            announce(learned(history))
    if logger is not None:
        logger.close()
    distributed.cleanup()
    return result


def _prefer(s: Search, out: Optional[Path]) -> None:
    """Preferred one-shot: rank 0 selects the set (`enas.search.preferred`), every rank searches it."""
    if distributed.is_main():
        select_preferred(s, s.cfg.preferred, out, lambda it: progress(it, s.cfg.trainer.progress, desc="preferred"))
    s.strategy.prefer(distributed.broadcast(s.strategy.preferred))


def search_epoch(s: Search, epoch: int) -> Dict:
    """One epoch of search: the shared-weights phase, then the strategy's learning phase (if any).

    The row records each phase's seconds (``shared_seconds``, ``controller_seconds``) and, with a
    learned predictor, its held-out error after this epoch's refit.
    """
    began = time.time()
    trainer, strategy = s.cfg.trainer, s.strategy
    few_shot = s.model if isinstance(s.model, FewShotSupernet) else None
    if few_shot is not None and epoch >= s.cfg.few_shot.after_epochs and not bool(few_shot.divided):
        few_shot.divide()  # each sub-supernet continues from what the one-shot epochs learned
        log.info("epoch %d: the supernet is split into %d sub-supernets", epoch, len(few_shot.parts))
    steps = min(s.task.steps_per_epoch, trainer.max_steps_per_epoch or s.task.steps_per_epoch)
    archs = distributed.broadcast(strategy.shared_archs(steps, epoch))
    row = {"epoch": epoch, "lr": s.optimizer.param_groups[0]["lr"]}
    row.update(train_epoch(s.model, s.task, s.optimizer, trainer, epoch, archs, desc="shared weights",
                           before_step=strategy.before_step))
    distributed.average_buffers(s.model)  # rank 0 scores rewards with statistics of the whole batch
    s.scheduler.step()
    row["shared_seconds"] = time.time() - began
    learning_steps = s.cfg.controller.train_steps
    if strategy.learns(epoch) and learning_steps > 0 and not distributed.is_main():
        serve_rewards(s.model, s.task)  # score rank 0's architectures on this rank's shards, until it is done
    elif strategy.learns(epoch) and learning_steps > 0:
        phase = time.time()
        row.update(_learning_phase(s, learning_steps, epoch))
        if strategy.predictor is not None:
            row.update(strategy.predictor.refit())
        row["controller_seconds"] = time.time() - phase
    row["epoch_seconds"] = time.time() - began
    return row


def _learning_phase(s: Search, steps: int, epoch: int) -> Dict:
    s.task.start_reward_epoch()
    bar = Progress(steps, s.cfg.trainer.progress, desc=f"controller {epoch}")
    try:
        record = None if s.archive is None else lambda arch, value: s.archive.add(arch, value, "reward", epoch)
        # The predictor (and the archive) see the raw reward, inside SharedWeightReward: derive scores teach it
        # raw too, so adjusted rewards would mix two scales in its data, and the latency factor needs no
        # learning (the table gives it exactly). A strategy that stands the predictor's estimate in for an
        # evaluation applies the factor itself (LatencyReward.adjust).
        reward = soft_latency(SharedWeightReward(s.model, s.task, s.strategy.predictor, record), s)
        return s.strategy.learn(reward, steps, bar)
    except FloatingPointError as err:
        raise FloatingPointError(f"epoch {epoch}, controller phase: {err}; nothing of this epoch was "
                                 "checkpointed") from None
    finally:
        bar.close()
        if distributed.world_size() > 1:
            distributed.broadcast(None)  # releases the other ranks' serve_rewards


def learned(history) -> str:
    """One line on how the policy moved over this process's epochs (entropy, reward), when it learned."""
    rows = [r for r in history if r.get("entropy") is not None and r.get("reward") is not None]
    if len(rows) < 2:
        return ""
    first, last = rows[0], rows[-1]
    return (f"The policy over epochs {first['epoch']}-{last['epoch']}: entropy {first['entropy']:.3g} -> "
            f"{last['entropy']:.3g}, mean reward {first['reward']:.3g} -> {last['reward']:.3g} (metrics.csv, report.html)\n")
