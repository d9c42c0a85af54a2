"""Retrain a derived architecture from scratch as a standalone network and report test accuracy.

The child is built by `supernet.freeze` from a freshly initialised space (usually larger than the
search network: the paper's final micro network has 15 layers and 36 channels), so it holds only
the chosen ops' parameters; its batch norms get ordinary running statistics. Same loop shape as
torchvision's reference scripts: `train_epoch`, evaluate, checkpoint, resume at ``epoch + 1``.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List, Optional, Tuple

import torch
from omegaconf import OmegaConf
from torch import nn

from supernet import ArchitectureError, freeze, load_architecture, use_running_stats

from ..config import check_config, structured, validate_values
from ..runs import distributed
from ..runs.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from ..runs.console import announce
from ..runs.folder import write_record
from ..runs.lock import RunLock
from ..runs.metrics import MetricsLogger
from ..runs.process import import_modules, resolve_device, seed_everything
from ..tasks import build_task
from .build import build_few_shot, build_supernet, to_memory_format
from .constraints import count_flops
from .state import open_run
from .training import make_optimizer, make_scheduler, train_epoch

__all__ = ["retrain", "build_child", "check_architecture_file", "EarlyStopping"]

log = logging.getLogger("enas")


def searched_space(path: Path) -> Optional[Dict]:
    """The space (``{"name", "kwargs"}``) an architecture file records it was searched in, if it says."""
    try:
        meta = json.loads(path.read_text())
    except ValueError:
        return None  # load_architecture names what is wrong with the file
    space = meta.get("space") if isinstance(meta, dict) else None
    return space if isinstance(space, dict) and "name" in space else None


def _refuse_another_space(path: Path, space_cfg) -> None:
    searched = searched_space(path)
    if searched and searched["name"] != space_cfg.get("name"):
        raise ArchitectureError(f"{path} was derived in space {searched['name']!r} but this run builds space "
                                f"{space_cfg.get('name')!r}; pass space={searched['name']}")


def size_changes(searched: Optional[Dict], built: Dict) -> List[str]:
    """``key: searched -> built`` for each size setting the retrained child does not share with the search."""
    if not searched or searched.get("name") != built["name"]:
        return []
    before, after = searched.get("kwargs", {}), built["kwargs"]
    return [f"{k}: {before.get(k, '(default)')} -> {after.get(k, '(default)')}"
            for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]


def build_child(space_cfg, architecture: str, device: torch.device, data_info: Dict = None,
                init: Optional[str] = None) -> Tuple[nn.Module, Dict, Dict]:
    """(standalone child, space spec, architecture) from a space config and an architecture file; with
    ``init`` (a search run or checkpoint), the child keeps that search's trained shared weights."""
    path = Path(architecture).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"architecture={architecture!r}: no such file (use the architecture.json a search wrote)")
    _refuse_another_space(path, space_cfg)
    supernet, space = build_supernet(space_cfg, torch.device("cpu"), data_info)
    arch = load_architecture(path, supernet)
    if init:
        supernet = shared_weights(supernet, space, arch, init)
    child = use_running_stats(freeze(supernet, arch)).to(device)
    del supernet
    changed = size_changes(searched_space(path), space)
    if changed:
        log.info("retraining at another size than was searched (%s): %s", path, "; ".join(changed))
    return child, space, arch


def shared_weights(supernet: nn.Module, space: Dict, arch: Dict, init: str) -> nn.Module:
    """``supernet`` holding the shared weights a search trained (its checkpoint at ``init``); of a few-shot
    search, the sub-supernet that owns ``arch``. The search must have trained this space at this size."""
    state = load_checkpoint(Path(init).expanduser())
    if "supernet" not in state:
        raise ValueError(f"init={init} holds no shared weights (not a one-shot search's run or checkpoint)")
    if state.get("space") != space:
        searched = state.get("space") or {}
        raise ValueError(f"init={init} trained space {searched.get('name')} {searched.get('kwargs')}, but this child is "
                         f"built from {space['name']} {space['kwargs']}: its weights fit only the searched space and size "
                         "(drop the space.* overrides)")
    weights = state["supernet"]
    if any(k.startswith("parts.") for k in weights):
        few = build_few_shot(structured(state["config"]).few_shot, supernet)
        few.load_state_dict(weights)
        return few.parts[few.part_of(arch)] if bool(few.divided) else few.parts[0]
    supernet.load_state_dict(weights)
    return supernet


def _parameters(model: nn.Module, exclude: str = "aux_head") -> int:
    return sum(p.numel() for name, p in model.named_parameters() if not name.startswith(exclude))


class EarlyStopping:
    """Stop after ``patience`` epochs without a better validation score; keep the best weights."""

    def __init__(self, patience: int = 0):
        if patience < 0:
            raise ValueError(f"trainer.early_stop must be >= 0 (0: off), got {patience}")
        self.patience, self.best, self.best_epoch, self.bad_epochs = patience, -math.inf, -1, 0
        self.best_state: Optional[Dict] = None

    @property
    def stopped(self) -> bool:
        return bool(self.patience) and self.bad_epochs >= self.patience

    def update(self, score: float, epoch: int, model: nn.Module) -> None:
        if score > self.best:
            self.best, self.best_epoch, self.bad_epochs = score, epoch, 0
            self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.bad_epochs += 1

    def state_dict(self) -> Dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs,
                "best_state": self.best_state}

    def load_state_dict(self, state: Dict) -> None:
        self.best, self.best_epoch, self.bad_epochs = state["best"], state["best_epoch"], state["bad_epochs"]
        self.best_state = state["best_state"]


def check_architecture_file(space_cfg, architecture: str) -> None:
    """Fail before any data loads if the architecture file is missing, empty, not JSON, from another
    space, or does not fit this space (decisions do not depend on the data, so default sizes do)."""
    path = Path(architecture).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"architecture={architecture!r}: no such file (use the architecture.json a search wrote)")
    if not path.read_text().strip():
        raise ArchitectureError(f"{path} is empty: expected the architecture.json a search wrote")
    _refuse_another_space(path, space_cfg)
    spec = OmegaConf.to_container(space_cfg, resolve=True) if not isinstance(space_cfg, dict) else dict(space_cfg)
    spec.pop("vocab_size", None)
    supernet, _ = build_supernet(spec, torch.device("cpu"))
    load_architecture(path, supernet)


def retrain(cfg) -> Dict:
    import_modules(cfg.imports)
    check_config(cfg)
    validate_values(cfg)
    device = distributed.setup(resolve_device(cfg.device))
    check_architecture_file(cfg.space, cfg.architecture)
    if cfg.init and "supernet" not in load_checkpoint(Path(cfg.init).expanduser()):
        raise ValueError(f"init={cfg.init} holds no shared weights (not a one-shot search's run or checkpoint)")
    out, state, resume_from = open_run(cfg, device)
    with RunLock(out) if distributed.is_main() else contextlib.nullcontext():  # one writer per run folder
        return _retrain(cfg, device, out, state, resume_from)


def _retrain(cfg, device: torch.device, out: Path, state: Optional[Dict], resume_from) -> Dict:
    """Under torchrun every rank trains the same child on its shard of each batch (gradients averaged,
    as the search's shared-weights step); rank 0 alone writes."""
    main = distributed.is_main()
    started = time.time()
    seed_everything(cfg.seed)
    task, info = build_task(cfg, device, "retrain")
    model, space, arch = build_child(cfg.space, cfg.architecture, device, info, cfg.init)
    if cfg.init:
        log.info("the child starts from the shared weights of %s", cfg.init)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels once
    to_memory_format(model, cfg.trainer)
    model = distributed.sync_batchnorm(model, cfg.trainer.sync_bn, device)
    optimizer = make_optimizer(model, cfg.trainer)
    scheduler = make_scheduler(optimizer, cfg.trainer)
    logger = MetricsLogger(out, resume=bool(resume_from)) if main else None
    params = _parameters(model)
    log.info("standalone child of %s %s: %.3fM parameters (without auxiliary head); outputs in %s",
             space["name"], space["kwargs"], params / 1e6, out)
    stopper = EarlyStopping(cfg.trainer.early_stop)
    start = 0
    if state is not None:
        if state.get("space") != space or state.get("architecture") != arch:
            raise ValueError(f"cannot resume {resume_from}: it trained another space or architecture")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["w_optim"])
        scheduler.load_state_dict(state["lr_sched"])
        set_rng_state(state["rng"])
        if state.get("early_stop"):
            stopper.load_state_dict(state["early_stop"])
        start = state["epoch"] + 1
        if main:
            logger.truncate(state["epoch"])
    if main:
        write_record(out, cfg)
    run = SimpleNamespace(cfg=cfg, task=task, model=model, optimizer=optimizer, scheduler=scheduler, space=space,
                          arch=arch, stopper=stopper, logger=logger, out=out, main=main)
    row = _train(run, start)
    return _finish(run, row, params, started)


def _train(run, start: int) -> Dict:
    """Epochs ``start`` .. the last (or early stopping's): train, evaluate, log and checkpoint each."""
    cfg, task, model, stopper = run.cfg, run.task, run.model, run.stopper
    row: Dict = {}
    for epoch in range(start, cfg.trainer.epochs):
        if stopper.stopped:
            break
        began = time.time()
        row = {"epoch": epoch, "lr": run.optimizer.param_groups[0]["lr"]}
        row.update(train_epoch(model, task, run.optimizer, cfg.trainer, epoch, desc="retrain"))
        distributed.average_buffers(model)  # every rank evaluates (and rank 0 saves) the same statistics
        run.scheduler.step()
        if stopper.patience:
            row.update({f"valid_{k}": v for k, v in task.evaluate(model, task.valid).items()})
            stopper.update(row["valid_score"], epoch, model)
        row.update({f"test_{k}": v for k, v in task.evaluate(model, task.test).items()})
        row["epoch_seconds"] = time.time() - began
        if not run.main:
            continue
        run.logger.log(row)
        log.info("epoch %d: %s", epoch, ", ".join(f"{k}={v:.4g}" for k, v in row.items() if isinstance(v, float)))
        save_checkpoint({"model": model.state_dict(), "w_optim": run.optimizer.state_dict(),
                         "lr_sched": run.scheduler.state_dict(), "epoch": epoch, "rng": rng_state(),
                         "config": OmegaConf.to_container(cfg, resolve=True), "space": run.space,
                         "architecture": run.arch, "early_stop": stopper.state_dict()},
                        run.out / "checkpoints", epoch, keep_every=cfg.keep_every)
        if stopper.stopped:
            log.info("early stop after epoch %d: no better validation score for %d epochs (best: epoch %d, %.4g)",
                     epoch, stopper.patience, stopper.best_epoch, stopper.best)
    return row


def _finish(run, row: Dict, params: int, started: float) -> Dict:
    """The test score of the weights to report (early stopping's best epoch, else the last), written to
    ``results.json`` and announced."""
    cfg, task, model, stopper = run.cfg, run.task, run.model, run.stopper
    if stopper.best_state is not None:  # report the epoch early stopping chose, not the last one
        model.load_state_dict(stopper.best_state)
        row = {f"test_{k}": v for k, v in task.evaluate(model, task.test).items()}
    elif not row:  # resumed a finished run: evaluate what is there
        row = {f"test_{k}": v for k, v in task.evaluate(model, task.test).items()}
    tested = {k: v for k, v in row.items() if k.startswith("test_")}
    flops = count_flops(model, task.example_input())  # per example, in eval mode: without the auxiliary head
    result = {**tested, "params": params, "flops": flops,
              "params_with_aux": sum(p.numel() for p in model.parameters()), "epochs": cfg.trainer.epochs,
              **({"best_epoch": stopper.best_epoch, "stopped_early": stopper.stopped} if stopper.patience else {}),
              "space": run.space, "architecture": run.arch, "out_dir": str(run.out),
              "minutes": (time.time() - started) / 60}
    distributed.cleanup()
    if not run.main:
        return result
    (run.out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    run.logger.close()
    shown = ", ".join(f"{k[len('test_'):]} {v:.4f}" for k, v in tested.items())
    size = f"{params / 1e6:.3f}M parameters" + ("" if math.isnan(flops) else
                                                 f", {flops / 1e6:,.2f}M multiply-accumulates per example")
    announce(f"\nTest {shown} after {cfg.trainer.epochs} epochs; {size}; {result['minutes']:.1f} minutes. "
             f"Results in {run.out / 'results.json'}\n")
    return result
