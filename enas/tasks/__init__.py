"""Problems a search runs on: a loss to train with, a reward, a score (`enas.tasks.base.Task`).

``data.task`` in a run's config names the task its data feeds: ``image`` (`ImageClassification`: CIFAR-10,
your image folders and datasets) or ``text`` (`LanguageModeling`: Penn Treebank). From Python, any
`Task` works, `SimpleTask` builds one from plain functions.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch

from ..runs import distributed
from .base import Task
from .image import ImageClassification, build_image_task
from .simple import SimpleTask
from .text import LanguageModeling, build_text_task

__all__ = ["TASKS", "Task", "ImageClassification", "LanguageModeling", "SimpleTask", "build_task",
           "build_image_task", "build_text_task"]


def _text_task(cfg, device, stage, reward_batches, reward):
    if distributed.world_size() > 1:
        raise ValueError("language-model tasks do not run under torchrun: their batches are token streams "
                         "cut along time, which sharding would split wrongly; run them in one process")
    return build_text_task(cfg.data, cfg.trainer, device, stage, reward_batches, reward)


def _image_task(cfg, device, stage, reward_batches, reward):
    return build_image_task(cfg.data, cfg.trainer, device, cfg.seed, stage, reward_batches, reward)


TASKS: Dict[str, Callable] = {"image": _image_task, "text": _text_task}


def build_task(cfg, device: torch.device, stage: str) -> Tuple[Task, Dict]:
    """The task a run config describes, for ``stage`` ('search' or 'retrain'): (task, info); ``info``
    holds the search split's indices, the vocabulary size or your images' number of classes."""
    if cfg.data.task not in TASKS:
        raise ValueError(f"unknown data.task {cfg.data.task!r}; available: {', '.join(TASKS)}")
    reward_batches = cfg.controller.reward_batches if stage == "search" else 1
    reward = cfg.controller.reward if stage == "search" else "default"
    return TASKS[cfg.data.task](cfg, device, stage, reward_batches, reward)
