"""The ENAS search loop: alternate shared-weight training and controller training, then derive.

Pham et al. 2018 (arXiv:1802.03268), section 2.2. Per epoch:

1. shared-weights phase: SGD over the search-train split, a freshly sampled architecture per
   minibatch (during ``trainer.warmup_epochs``, with ``trainer.shared_sampling=uniform``, and
   always for ``strategy=random``, sampled uniformly);
2. controller phase: ``controller.train_steps`` REINFORCE updates, each from
   ``controller.num_aggregate`` architectures rewarded by validation accuracy.

Every epoch ends with an atomic checkpoint; the run ends with an automatic derive that writes
``architecture.json``. Run it as ``enas-search`` (Hydra) or call `search(cfg)` from Python.
"""
from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Dict, Optional, Tuple

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from supernet import activate, count_architectures, count_parameters, create_space, decisions, space_kwargs

from ..runs import distributed
from .build import (build_constraint, build_predictor, build_short_train, build_zero_cost, derive_signals,
                       differentiable_options, evolution_options, example_input, predictor_options)
from ..config.schema import check_config
from ..runs.checkpoint import RunLock, load_checkpoint, resolve_resume, rng_state, save_checkpoint, set_rng_state
from .derive import derive, write_architecture
from ..runs.policy_log import record_policy
from ..runs.process import MetricsLogger, announce, output_dir, progress, resolve_device, seed_everything
from .constraints import measure_child
from ..strategies.base import create_strategy
from ..tasks.image import build_task
from .training import make_optimizer, make_scheduler, train_epoch
from ..config.checks import RESUME_MAY_CHANGE, config_differences, validate_values

__all__ = ["search", "search_epoch", "build_supernet", "build_search", "controller_kwargs", "run_derive",
           "to_memory_format", "refuse_changed_config", "open_run"]

log = logging.getLogger("enas")

TASK_KEYS = ("reward_batches", "reward")  # controller settings that the task, not the strategy, reads


def controller_kwargs(controller_cfg) -> Dict:
    kwargs = OmegaConf.to_container(controller_cfg) if isinstance(controller_cfg, DictConfig) else dict(controller_cfg)
    return {k: v for k, v in kwargs.items() if k not in TASK_KEYS}


def build_supernet(space_cfg, device: torch.device, data_info: Optional[Dict] = None) -> Tuple[nn.Module, Dict]:
    """The space a config names; ``data_info`` (e.g. the vocabulary size) must agree with it."""
    spec = OmegaConf.to_container(space_cfg, resolve=True) if isinstance(space_cfg, DictConfig) else dict(space_cfg)
    if "name" not in spec:
        raise ValueError("the space config needs a 'name' (e.g. space=micro)")
    name = spec.pop("name")
    vocab = (data_info or {}).get("vocab_size")
    if vocab is not None and spec.setdefault("vocab_size", vocab) != vocab:
        raise ValueError(f"space.vocab_size={spec['vocab_size']} but the data has {vocab} words")
    classes = (data_info or {}).get("num_classes")
    if classes is not None and "num_classes" in space_kwargs(name):  # your images: their number of classes
        if spec.get("num_classes", classes) != classes:
            raise ValueError(f"space.num_classes={spec['num_classes']} but the data has {classes} classes")
        if classes != space_kwargs(name)["num_classes"]:  # a default stays implicit: older checkpoints still match
            spec["num_classes"] = classes
    model = create_space(name, **spec).to(device)
    return model, {"name": name, "kwargs": spec}


def to_memory_format(model: nn.Module, trainer) -> nn.Module:
    return model.to(memory_format=torch.channels_last) if trainer.channels_last else model


def build_search(cfg, device: torch.device):
    """Task, supernet and strategy of a search config, freshly initialised (seeded by ``cfg.seed``).

    The strategy carries the search's budget (``strategy.constraint``) and learned predictor
    (``strategy.predictor``), either None when the config asks for none.
    """
    seed_everything(cfg.seed)
    task, split = build_task(cfg, device, "search")
    model, space = build_supernet(cfg.space, device, split)
    to_memory_format(model, cfg.trainer)
    model = distributed.sync_batchnorm(model, cfg.trainer.get("sync_bn", False), device)
    constraint = build_constraint(cfg, model, task)
    predictor = build_predictor(cfg, model, space, task, device)
    strategy = create_strategy(cfg.strategy, decisions(model), device, cfg.seed, constraint=constraint,
                               predictor=predictor, predictor_options=predictor_options(cfg),
                               evolution_options=evolution_options(cfg),
                               differentiable_options=differentiable_options(cfg), **controller_kwargs(cfg.controller))
    return task, split, model, space, strategy


def _runs_root(cfg) -> Path:
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir).parent
    except ValueError:
        return Path("outputs") / cfg.task_name


def search(cfg) -> Dict:
    """Run a whole search from a config (see ``conf/search.yaml``); returns the final metrics."""
    check_config(cfg)
    validate_values(cfg)
    device = distributed.setup(resolve_device(cfg.device))
    out, state, resume_from = open_run(cfg, device)
    with RunLock(out) if distributed.is_main() else contextlib.nullcontext():  # one writer per run folder
        return _search(cfg, device, out, state, resume_from)


def open_run(cfg, device: torch.device) -> Tuple[Path, Optional[Dict], Optional[Path]]:
    """(run folder, checkpoint state or None, checkpoint path or None) of a fresh or resumed run. A
    resume is checked before any data loads: is this the run's own configuration?"""
    resume_from = resolve_resume(cfg.resume, _runs_root(cfg))
    state = None
    if resume_from:
        state = load_checkpoint(resume_from, device)
        refuse_changed_config(state, cfg, resume_from)
    return (resume_from.parent.parent if resume_from else output_dir(cfg)), state, resume_from


def refuse_changed_config(state: Dict, cfg, path) -> None:
    """A resumed run continues the stored configuration; only `RESUME_MAY_CHANGE` keys may differ."""
    diffs = config_differences(state.get("config", {}), cfg)
    if diffs:
        raise ValueError(f"cannot resume {path}: this configuration changes what the run was doing ("
                         f"{'; '.join(diffs)}). Only {', '.join(RESUME_MAY_CHANGE)} may change at resume; "
                         "start a new run for anything else")


def _search(cfg, device: torch.device, out: Path, state: Optional[Dict], resume_from: Optional[Path]) -> Dict:
    began = time.time()
    task, split, model, space, strategy = build_search(cfg, device)
    main = distributed.is_main()
    optimizer = make_optimizer(model, cfg.trainer)
    scheduler = make_scheduler(optimizer, cfg.trainer)
    logger = MetricsLogger(out, resume=bool(resume_from)) if main else None
    decs = decisions(model)
    log.info("search space %s %s: %d decisions, %.3g architectures, %d shared parameters; outputs in %s",
             space["name"], space["kwargs"], len(decs), count_architectures(decs), count_parameters(model), out)
    start = 0
    if state is not None:
        start = _restore(state, model, strategy, optimizer, scheduler, space)
        if main:
            logger.truncate(start - 1)
        log.info("resumed from %s at epoch %d", resume_from, start)
    if main:
        OmegaConf.save(cfg, out / "config.yaml")
    steps = min(task.steps_per_epoch, cfg.trainer.max_steps_per_epoch or task.steps_per_epoch)
    for epoch in range(start, cfg.trainer.epochs):
        row = search_epoch(model, task, strategy, optimizer, scheduler, cfg.trainer, cfg.controller.train_steps, epoch)
        if not main:
            continue
        logger.log(row)
        record_policy(out, epoch, strategy)
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in row.items()
                                                  if isinstance(v, float) and v is not None))
        save_checkpoint(_state(model, strategy, optimizer, scheduler, epoch, (epoch + 1) * steps, cfg, space, split),
                        out / "checkpoints", epoch, keep_every=cfg.get("keep_every", 0))
    result = {}
    if main:  # rank 0 derives and writes; the others wait for it in cleanup()
        result = run_derive(model, strategy, task, cfg.derive, out, space, cfg, began=began)
        logger.close()
    distributed.cleanup()
    return result


def search_epoch(model: nn.Module, task, strategy, optimizer, scheduler, trainer, controller_steps: int,
                 epoch: int) -> Dict:
    """One epoch of search: the shared-weights phase, then the strategy's learning phase (if any).

    The row records each phase's seconds (``shared_seconds``, ``controller_seconds``) and, with a
    learned predictor, its held-out error after this epoch's refit.
    """
    began = time.time()
    steps = min(task.steps_per_epoch, trainer.max_steps_per_epoch or task.steps_per_epoch)
    if trainer.shared_sampling not in ("policy", "uniform"):
        raise ValueError(f"trainer.shared_sampling must be 'policy' or 'uniform', got {trainer.shared_sampling!r}")
    archs = distributed.broadcast(strategy.shared_archs(steps, epoch, trainer))
    row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
    row.update(train_epoch(model, task, optimizer, trainer, epoch, archs, desc="shared weights"))
    distributed.average_buffers(model)  # rank 0 scores rewards with statistics of the whole batch
    scheduler.step()
    row["shared_seconds"] = time.time() - began
    if strategy.learns(epoch, trainer) and controller_steps > 0 and not distributed.is_main():
        _serve_rewards(model, task)  # score rank 0's architectures on this rank's shards, until it is done
    elif strategy.learns(epoch, trainer) and controller_steps > 0:
        phase = time.time()
        try:
            row.update(_controller_phase(model, strategy, task, controller_steps, trainer.progress, epoch))
        except FloatingPointError as err:
            raise FloatingPointError(f"epoch {epoch}, controller phase: {err}; nothing of this epoch was "
                                     "checkpointed") from None
        finally:
            if distributed.world_size() > 1:
                distributed.broadcast(None)  # releases the other ranks' _serve_rewards
        if strategy.predictor is not None:
            row.update(strategy.predictor.refit())
        row["controller_seconds"] = time.time() - phase
    row["epoch_seconds"] = time.time() - began
    return row


def _controller_phase(model, strategy, task, steps: int, show: bool, epoch: int) -> Dict:
    task.start_reward_epoch()
    predictor = strategy.predictor

    spread = distributed.world_size() > 1

    def reward(arch: Dict) -> float:
        if spread:  # every rank scores this architecture on its shard of the same validation batches
            distributed.broadcast(arch)
        activate(model, arch)
        value = task.reward(model, across_ranks=True) if spread else task.reward(model)
        if predictor is not None:  # everything the search measures teaches the predictor
            predictor.observe(arch, value)
        return value

    bar = progress(range(steps), show, desc=f"controller {epoch}")

    def tick(stats: Dict) -> None:
        if hasattr(bar, "update"):  # advanced by hand: the steps run inside strategy.learn
            bar.update(1)
            bar.set_postfix(reward=f"{stats['reward']:.3f}", baseline=f"{stats['baseline']:.3f}",
                            entropy=f"{stats['entropy']:.2f}")

    stats = strategy.learn(reward, steps, progress=tick)
    if hasattr(bar, "close"):
        bar.close()
    return stats


def _serve_rewards(model, task) -> None:
    """The controller phase on ranks other than 0: rank 0 learns, and broadcasts each architecture it
    wants scored; this rank scores it on its shard (`_controller_phase`'s ``reward``) until ``None``."""
    task.start_reward_epoch()
    while (arch := distributed.broadcast(None)) is not None:
        activate(model, arch)
        task.reward(model, across_ranks=True)


def _state(model, strategy, optimizer, scheduler, epoch, step, cfg, space, split) -> Dict:
    return {
        "supernet": model.state_dict(), "controller": strategy.state_dict(), "strategy": strategy.name,
        "predictor": strategy.predictor.state_dict() if strategy.predictor is not None else None,
        "w_optim": optimizer.state_dict(), "lr_sched": scheduler.state_dict(), "epoch": epoch,
        "step": step, "rng": rng_state(), "config": OmegaConf.to_container(cfg, resolve=True),
        "space": space, "split": split,
    }


def _restore(state, model, strategy, optimizer, scheduler, space) -> int:
    if state.get("space") != space:
        raise ValueError(f"cannot resume: the checkpoint searched space {state.get('space')}, this config {space}")
    if state.get("strategy") != strategy.name:
        raise ValueError(f"cannot resume: the checkpoint used strategy={state.get('strategy')}, this config "
                         f"strategy={strategy.name}")
    model.load_state_dict(state["supernet"])
    strategy.load_state_dict(state["controller"])
    if strategy.predictor is not None and state.get("predictor") is not None:
        strategy.predictor.load_state_dict(state["predictor"])
    optimizer.load_state_dict(state["w_optim"])
    scheduler.load_state_dict(state["lr_sched"])
    set_rng_state(state["rng"])
    return state["epoch"] + 1


def _trained(cfg) -> bool:
    """Whether the run trained its shared weights (``trainer.epochs=0`` is a training-free search)."""
    return cfg is None or "trainer" not in cfg or cfg.trainer.epochs > 0


def run_derive(model, strategy, task, derive_cfg, out: Path, space: Dict, cfg=None,
               began: Optional[float] = None) -> Dict:
    """Derive, write ``architecture.json`` / ``.txt``, print where they went; returns the metrics.
    With ``began`` (the run's start time), the summary and the JSON also say how many minutes it took."""
    show = bool(cfg.trainer.progress) if cfg is not None and "trainer" in cfg else True
    device = next(model.parameters()).device
    zero_cost = build_zero_cost(cfg, space, task, device, derive_signals(derive_cfg)) if cfg is not None else None
    short_train = build_short_train(cfg, derive_cfg, space, task, device) if cfg is not None else None
    result = derive(model, strategy, task, derive_cfg.num_samples, derive_cfg.num_batches, derive_cfg.top_k,
                    derive_cfg.greedy, progress=lambda it: progress(it, show, desc="derive"),
                    select=derive_cfg.get("select", "shared"), signals=derive_cfg.get("signals", ["shared"]),
                    rank_by=derive_cfg.get("rank_by", "shared"), record=derive_cfg.get("record", []),
                    screen_samples=derive_cfg.get("screen_samples", 0),
                    uniform_samples=derive_cfg.get("uniform_samples", 0), constraint=strategy.constraint,
                    predictor=strategy.predictor, zero_cost=zero_cost, short_train=short_train,
                    shared_weights=_trained(cfg))
    best = result["score"]
    metrics = {"derive_score": best.get("full_score", best["score"]), "derive_candidates": len(result["candidates"])}
    if "acc" in best:
        metrics["derive_valid_acc"] = best.get("full_acc", best["acc"])
    if "ppl" in best:
        metrics["derive_valid_ppl"] = best.get("full_ppl", best["ppl"])
    child = measure_child(model, result["architecture"], example_input(task))
    metrics.update({f"child_{k}": v for k, v in child.items()})
    extra = {"child": child, "select": derive_cfg.get("select", "shared")}
    if began is not None:
        extra["minutes"] = (time.time() - began) / 60
    if cfg is not None and cfg.get("benchmark"):
        from ..report.benchmark import lookup_benchmark

        extra["benchmark"] = lookup_benchmark(cfg.benchmark, model, result["architecture"], cfg.get("benchmark_file"),
                                              constraint=strategy.constraint)
        metrics.update({f"benchmark_{k}": v for k, v in extra["benchmark"].items() if isinstance(v, (int, float))})
    path = write_architecture(out, model, result, space, extra)
    summary = (out / "architecture.txt").read_text()
    summary += (f"Child at the searched size: {child['params']:,.0f} parameters, {child['flops'] / 1e6:,.2f}M "
                f"multiply-accumulates per example" + (f" (budget: {strategy.constraint.describe()})"
                                                       if strategy.constraint is not None else "") + "\n")
    if "benchmark" in extra:
        b = extra["benchmark"]
        summary += (f"NAS-Bench-201: CIFAR-10 test accuracy {b['cifar10_test_acc']:.2f}, "
                    f"in the top {b.get('top_percent', float('nan')):.2f}% of the space")
        if "budget_top_percent" in b:
            summary += f", top {b['budget_top_percent']:.2f}% of the cells within the budget"
        summary += "\n"
    shown = ", ".join(f"{k[len('derive_'):]} {v:.4g}" for k, v in metrics.items() if k.startswith("derive_valid"))
    if "minutes" in extra:
        summary += f"Search took {extra['minutes']:.1f} minutes (this process, including derive)\n"
    shown = f"; {shown} with the shared weights" if shown else ""
    announce(f"\nDerived architecture (picked by derive.select={extra['select']}{shown}):\n"
             f"{summary}\nWritten to {path}\nRun folder: {out}\n")
    return {"architecture": result["architecture"], "out_dir": str(out), **metrics, **extra}

