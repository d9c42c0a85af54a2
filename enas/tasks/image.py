"""What the search loop, derive and retrain need from a problem: a loss to train on, a reward, a score.

`ImageClassification` serves every CIFAR space. The reward is the sampled child's accuracy on
validation minibatches with the model in eval mode: dropout and drop path off, and batch norm on
batch statistics, because the supernet's BN layers keep no running statistics (the official ENAS
evaluates in training-mode BN for the same reason: running averages over different sampled paths
describe none of them).
"""
from __future__ import annotations

import contextlib
import copy
import math
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..data import (CIFAR10_MEAN, CIFAR10_STD, USER_SOURCES, Augment, ImageLoader, channel_stats, check_labels,
                    image_size, load_cifar10, load_user_images, resized, search_split)
from ..runs import distributed
from .base import Task

__all__ = ["ImageClassification", "build_image_task"]

Batch = Tuple[torch.Tensor, torch.Tensor]


def _split_output(out):
    return out if isinstance(out, tuple) else (out, None)


class ImageClassification(Task):
    metric = "acc"  # what `loss` returns beside the loss, averaged per epoch as train_acc

    def __init__(self, train: ImageLoader, valid: ImageLoader, test: Optional[ImageLoader] = None,
                 aux_weight: float = 0.0, amp: str = "none", reward_batches: int = 1, reward: str = "default"):
        self.train, self.valid, self.test = train, valid, test
        self.aux_weight, self.reward_batches = aux_weight, reward_batches
        self.likelihood = reward == "likelihood"  # else the paper's accuracy
        self.amp = amp
        self._rewards: Optional[Iterator[Batch]] = None

    def autocast(self):
        device = self.train.y.device
        if self.amp == "bf16" and device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @property
    def steps_per_epoch(self) -> int:
        return len(self.train)

    @property
    def batch_size(self) -> int:
        return self.train.batch_size

    def example_input(self) -> torch.Tensor:
        return self.valid.x[:1]

    def train_batches(self) -> Iterator[Batch]:
        return iter(self.train)

    def set_epoch(self, epoch: int) -> None:
        """Fix the training order of this epoch (the same on every process, and on resume)."""
        self.train.set_epoch(epoch)
        self.valid.set_epoch(epoch)  # seeded (under torchrun): the reward batches too

    def loss(self, model: nn.Module, batch: Batch) -> Tuple[torch.Tensor, torch.Tensor]:
        """Training loss (with the auxiliary head when the model returns one) and batch accuracy."""
        x, y = batch
        with self.autocast():
            logits, aux = _split_output(model(x))
            loss = F.cross_entropy(logits, y)
            if aux is not None and self.aux_weight:
                loss = loss + self.aux_weight * F.cross_entropy(aux, y)
        return loss, (logits.argmax(1) == y).float().mean()

    def start_reward_epoch(self) -> None:
        """A fresh pass over the validation split for this epoch's rewards."""
        self._rewards = self.valid.forever()

    def reward(self, model: nn.Module, across_ranks: bool = False) -> float:
        """The active architecture's score on the next ``reward_batches`` validation minibatches:
        accuracy (the paper), or with ``reward=likelihood`` the geometric-mean probability of the
        right label, exp(-loss), which separates architectures that tie on accuracy. With
        ``across_ranks`` every torchrun rank scores its shard of the same batches (all must call it)."""
        if self._rewards is None:
            self.start_reward_epoch()
        batches = [next(self._rewards) for _ in range(self.reward_batches)]
        return self.score(model, batches, across_ranks)["score"]

    def validation_batches(self) -> Iterator[Batch]:
        """Shuffled validation minibatches of the training batch's size, without end: what a differentiable
        strategy (DARTS, GDAS) trains its architecture weights on, one per shared-weights step."""
        loader = copy.copy(self.valid)  # shares the normalised images; only the batching differs
        loader.batch_size, loader.drop_last = min(self.train.batch_size, len(loader.y)), True
        return loader.forever()

    def fixed_batches(self, n: int) -> List[Batch]:
        """The first ``n`` validation batches in file order: every candidate is scored on the same images."""
        batches = []
        for i, batch in enumerate(self._ordered(self.valid)):
            if i == n:
                break
            batches.append(batch)
        return batches

    @staticmethod
    def _ordered(loader: ImageLoader) -> Iterator[Batch]:
        bs = loader.batch_size
        for start in range(0, len(loader.y), bs):
            yield loader.x[start:start + bs], loader.y[start:start + bs]

    @torch.no_grad()
    def score(self, model: nn.Module, batches: Sequence[Batch], across_ranks: bool = False) -> Dict[str, float]:
        """Accuracy and mean loss over ``batches`` (eval mode); ``score`` is what derive maximises.

        With ``across_ranks`` (torchrun; every rank calls it with the same batches) each rank scores
        its shard of each batch and the sums are added over ranks: the same score, 1/N of the work."""
        model.eval()
        correct = loss = torch.zeros((), device=self.train.y.device)
        total = 0
        if across_ranks:
            batches = [distributed.shard(batch) for batch in batches]
        for x, y in batches:  # sums stay on the device: one synchronisation per score, not two per batch
            with self.autocast():
                logits = _split_output(model(x))[0].float()
            correct = correct + (logits.argmax(1) == y).sum()
            loss = loss + F.cross_entropy(logits, y, reduction="sum")
            total += len(y)
        if across_ranks:
            correct, loss, total = distributed.sum_over_ranks(correct, loss, total)
        acc, loss = correct.item() / total, loss.item() / total
        return {"acc": acc, "loss": loss, "score": math.exp(-loss) if self.likelihood else acc}

    def evaluate(self, model: nn.Module, loader: ImageLoader) -> Dict[str, float]:
        return self.score(model, list(self._ordered(loader)))


def build_image_task(data, trainer, device: torch.device, seed: int, stage: str, reward_batches: int = 1,
                     reward: str = "default") -> Tuple[ImageClassification, Dict[str, torch.Tensor]]:
    """Load the data named by ``data`` and split it for ``stage`` ('search' or 'retrain').

    Search trains on the search-train split and rewards on the validation split (the test set is
    never touched); retrain trains on all training images and reports the test set.
    """
    own = data.source in USER_SOURCES  # your images: their own classes, sizes and normalisation
    if own:
        splits, num_classes = load_user_images(data)
    else:
        splits, num_classes = load_cifar10(data.source, data.root, data.download), data.num_classes
    # data.resize on CIFAR: a cheaper proxy task (a 16-pixel side costs about a third of the 32-pixel steps);
    # your own images are resized as they are decoded
    size = None if own else image_size(data.get("resize"))
    if size is not None:
        splits = {name: (resized(images, size), labels) for name, (images, labels) in splits.items()}
    check_labels(splits, num_classes, f"data.root={data.root}" if data.root else f"data.source={data.source}")
    (x, y), (x_test, y_test) = splits["train"], splits["test"]
    mean, std = channel_stats(x) if own else (CIFAR10_MEAN, CIFAR10_STD)
    valid_size = int(round(data.valid_size * len(y))) if data.valid_size < 1 else int(data.valid_size)
    channels_last = bool(trainer.channels_last)
    # the crop's padding keeps CIFAR's 4 pixels in 32 at any size (2 at 16, as ImageNet16 in NAS-Bench-201)
    pad = 4 if size is None else max(1, round(4 * min(size) / 32))
    augment = Augment(pad=pad, cutout=data.cutout) if data.augment else None
    eval_loader = lambda xs, ys, seed=None: ImageLoader(xs, ys, data.eval_batch_size, device, shuffle=True,
                                                        drop_last=False, channels_last=channels_last, seed=seed,
                                                        mean=mean, std=std)
    info: Dict[str, torch.Tensor] = {}
    if stage == "search":
        train_idx, valid_idx = search_split(len(y), valid_size, seed, data.split, data.split_file)
        if data.train_subset:
            train_idx = train_idx[torch.randperm(len(train_idx), generator=torch.Generator().manual_seed(seed))
                                  [:data.train_subset]].sort().values
        if data.valid_subset:
            valid_idx = valid_idx[torch.randperm(len(valid_idx), generator=torch.Generator().manual_seed(seed + 1))
                                  [:data.valid_subset]].sort().values
        info = {"train_idx": train_idx, "valid_idx": valid_idx}
        train = ImageLoader(x[train_idx], y[train_idx], data.batch_size, device, augment=augment,
                            channels_last=channels_last, seed=seed, mean=mean, std=std)
        # Under torchrun the ranks score each reward on shards of the same validation batches, so their
        # order must not depend on each rank's global random state (rank 0 alone samples architectures).
        valid_seed = seed + 1 if distributed.world_size() > 1 else None
        task = ImageClassification(train, eval_loader(x[valid_idx], y[valid_idx], valid_seed), None,
                                   trainer.aux_weight, trainer.amp, reward_batches, reward)
    elif stage == "retrain":
        if data.train_subset:
            keep = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:data.train_subset]
            x, y = x[keep], y[keep]
        test = eval_loader(x_test[:data.test_subset], y_test[:data.test_subset]) if data.test_subset \
            else eval_loader(x_test, y_test)
        valid = test  # without early stopping nothing is chosen on it: it only reports
        if trainer.early_stop:
            # Early stopping chooses an epoch, so it must not look at the test set: hold out
            # data.valid_size training images (seeded) and stop on those.
            train_idx, valid_idx = search_split(len(y), valid_size, seed)
            valid = eval_loader(x[valid_idx], y[valid_idx])
            x, y = x[train_idx], y[train_idx]
            info = {"train_idx": train_idx, "valid_idx": valid_idx}
        train = ImageLoader(x, y, data.batch_size, device, augment=augment, channels_last=channels_last, seed=seed,
                            mean=mean, std=std)
        task = ImageClassification(train, valid, test, trainer.aux_weight, trainer.amp)
    else:
        raise ValueError(f"unknown stage {stage!r}")
    if own:  # the space adapts its classifier (enas.search.build.build_supernet)
        info["num_classes"] = num_classes
    return task, info
