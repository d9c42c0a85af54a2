"""The weight-training step and epoch shared by search (supernet) and retrain (standalone child)."""
from __future__ import annotations

import math
from typing import Callable, Dict, Optional, Sequence

import torch
from torch import nn

from supernet import activate

from ..config.schema import OPTIMIZERS, SCHEDULES
from ..runs import distributed
from ..runs.console import progress

__all__ = ["make_optimizer", "make_scheduler", "shared_weights_step", "train_epoch"]


def make_optimizer(model: nn.Module, trainer) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if trainer.optimizer == "sgd":
        return torch.optim.SGD(params, lr=trainer.lr, momentum=trainer.momentum,
                               nesterov=trainer.nesterov and trainer.momentum > 0, weight_decay=trainer.weight_decay)
    if trainer.optimizer == "adam":
        return torch.optim.Adam(params, lr=trainer.lr, weight_decay=trainer.weight_decay)
    raise ValueError(f"unknown trainer.optimizer {trainer.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")


def make_scheduler(optimizer: torch.optim.Optimizer, trainer):
    """Stepped per epoch, as the official ENAS code: cosine with warm restarts (SGDR, the CIFAR
    settings) or a constant rate that decays geometrically from ``decay_start`` (the PTB settings)."""
    if trainer.schedule == "cosine":
        t0 = trainer.t0 or max(trainer.epochs, 1)
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=t0, T_mult=trainer.t_mult,
                                                                    eta_min=trainer.lr_min)
    if trainer.schedule == "decay":
        floor = trainer.lr_min / trainer.lr
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda e: max(floor, trainer.decay_rate ** max(0, e + 1 - trainer.decay_start)))
    raise ValueError(f"unknown trainer.schedule {trainer.schedule!r}; use one of {', '.join(SCHEDULES)}")


def shared_weights_step(model: nn.Module, task, batch, optimizer: torch.optim.Optimizer, grad_clip: float,
                        arch: Optional[Dict] = None):
    """One SGD step on ``batch``; with ``arch`` only that path of the supernet runs and learns.

    Gradients are cleared with ``set_to_none=True``, so parameters off the sampled path have no
    gradient at all and the optimizer skips them: no weight decay or momentum drift on weights that
    took no part.
    """
    if arch is not None:
        activate(model, arch)
    loss, acc = task.loss(model, batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    distributed.average_gradients(model)  # no-op in a single process
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach(), acc.detach()


def _activate(model: nn.Module, task, arch: Dict) -> None:
    activate(model, arch)


def train_epoch(model: nn.Module, task, optimizer: torch.optim.Optimizer, trainer, epoch: int,
                archs: Optional[Sequence[Dict]] = None, show_progress: bool = True, desc: str = "train",
                before_step: Callable[[nn.Module, object, Optional[Dict]], None] = _activate) -> Dict:
    """One pass over the training batches. ``archs`` gives one architecture per step (search), and
    ``before_step(model, task, arch)`` prepares the supernet for it (a strategy's `before_step`:
    activate the path, or relax it for differentiable search)."""
    model.train()
    steps = task.steps_per_epoch
    if trainer.max_steps_per_epoch:
        steps = min(steps, trainer.max_steps_per_epoch)
    total_steps = max(trainer.epochs * steps, 1)
    loss_sum = torch.zeros((), device=next(model.parameters()).device)
    acc_sum = torch.zeros_like(loss_sum)
    bar = progress(range(steps), show_progress and trainer.progress, desc=f"{desc} {epoch}")
    task.set_epoch(epoch)
    batches = task.train_batches()
    done = 0
    for step in bar:
        if hasattr(model, "drop_path_prob"):  # ramped up linearly over the whole run, as ENAS
            model.drop_path_prob = trainer.drop_path_prob * (epoch * steps + step) / total_steps
        batch = distributed.shard(next(batches))  # drawn first: a differentiable strategy's step draws after it
        if archs is not None:
            before_step(model, task, archs[step])
        loss, acc = shared_weights_step(model, task, batch, optimizer, trainer.grad_clip)
        loss_sum += loss
        acc_sum += acc
        done += 1
        if (step + 1) % trainer.log_every == 0 or step + 1 == steps:
            mean_loss = loss_sum.item() / done  # .item() syncs the device: only every log_every steps
            if not math.isfinite(mean_loss):
                raise FloatingPointError(
                    f"training loss is {mean_loss} at epoch {epoch}, step {step}: the weights diverged "
                    "(lower trainer.lr, or check the data); nothing of this epoch was checkpointed")
            if hasattr(bar, "set_postfix"):
                bar.set_postfix({"loss": f"{mean_loss:.3f}", task.metric: f"{acc_sum.item() / done:.3f}"})
    return {"train_loss": loss_sum.item() / done, f"train_{task.metric}": acc_sum.item() / done}
