"""Several processes (``torchrun --nproc_per_node=N -m enas.search ...``): one architecture, shared gradients.

ENAS trains one sampled architecture per step; with N processes, rank 0 samples the step's
architectures and broadcasts them, every rank runs the same architecture on its shard of the batch,
and the gradients of the parameters on that path are averaged with ``all_reduce`` (a plain DDP
wrapper would expect every parameter to take part). The controller learns on rank 0, which
broadcasts each architecture it wants a reward for; every rank scores it on its shard of the same
validation batches and the sums are added (`sum_over_ranks`), so rewards cost 1/N each. Rank 0
alone derives and writes checkpoints; the other ranks wait. Image tasks only. Without ``torchrun`` (no
``WORLD_SIZE`` in the environment) every function here is a no-op.
"""
from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["setup", "is_main", "world_size", "rank", "broadcast", "average_gradients", "average_buffers", "sum_over_ranks", "sync_batchnorm", "shard", "barrier", "cleanup"]


_joined_here = False  # cleanup() only leaves a group that setup() joined, not a caller's own


def setup(device: torch.device) -> torch.device:
    """Join the process group when launched by torchrun; returns this rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    # An hour, not the default 10-30 minutes: the other ranks wait in cleanup() while rank 0 derives.
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=timedelta(hours=1))
    global _joined_here
    _joined_here = True
    return device


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (e.g. the architectures of an epoch)."""
    if not dist.is_initialized():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def _average(tensors) -> None:
    """Each tensor replaced by its mean over ranks, in one all_reduce of their concatenation."""
    if not dist.is_initialized() or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for t in tensors:
        t.copy_(flat[offset:offset + t.numel()].view_as(t))
        offset += t.numel()


def average_gradients(model: nn.Module) -> None:
    """Mean of each existing gradient over ranks; ranks run the same path, so the same ones exist."""
    _average([p.grad for p in model.parameters() if p.grad is not None])


def average_buffers(model: nn.Module) -> None:
    """Mean of the floating-point buffers (BatchNorm running statistics) over ranks.

    Gradients are averaged, so the weights agree, but each rank's running statistics saw only its own
    shard; averaging them before an evaluation (as timm's ``distribute_bn``) makes every rank evaluate
    the same model and rank 0 save statistics of the whole batch, not of its half."""
    _average([b for b in model.buffers() if b.is_floating_point()])


def sum_over_ranks(*values):
    """Each value (a tensor or a number) summed over ranks, in one all_reduce; as given without torchrun."""
    if not dist.is_initialized():
        return values
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    device = tensors[0].device if tensors else torch.device("cpu")
    flat = torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device).reshape(()) for v in values])
    dist.all_reduce(flat)
    return tuple(type(v)(x) if not isinstance(v, torch.Tensor) else x.to(v.dtype) for v, x in zip(values, flat))


def sync_batchnorm(model: nn.Module, enabled: bool, device: torch.device) -> nn.Module:
    """With ``enabled`` and several ranks, every BatchNorm normalises with the statistics of the whole
    batch (all ranks' shards), not of this rank's shard: ``trainer.sync_bn``. PyTorch's SyncBatchNorm
    runs on GPUs only, so asking for it elsewhere is an error rather than a silent no-op."""
    if not enabled or world_size() == 1:
        return model
    if device.type != "cuda":
        raise ValueError(f"trainer.sync_bn=true needs CUDA (torch's SyncBatchNorm runs on GPUs only); this run "
                         f"is on {device.type}: drop the override")
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def shard(batch: Any) -> Any:
    """This rank's share of a batch of tensors (along the first dimension)."""
    n = world_size()
    if n == 1:
        return batch
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(b) for b in batch)
    if isinstance(batch, torch.Tensor) and batch.dim() > 0:
        return batch[rank()::n]
    return batch


def cleanup() -> None:
    """Leave the process group together: a rank that exits while a peer still holds its gloo
    connection can make that peer abort (pytorch/gloo#155), so every rank waits for the others first."""
    global _joined_here
    if dist.is_initialized():
        dist.barrier()
        if _joined_here:
            dist.destroy_process_group()
            _joined_here = False
