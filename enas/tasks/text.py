"""The language-modelling task for the ENAS recurrent cell, on Penn Treebank (`enas.data.ptb`).

Each split is one token tensor on the device, cut into ``batch_size`` parallel streams. Training uses
truncated BPTT with variable sequence length (AWD-LSTM, Merity et al. 2017: ``bptt`` with probability
0.95, else ``bptt / 2``, then jittered by a normal with std 5) and carries the hidden state across
batches. The reward is ENAS's ``80 / perplexity`` on a random validation window, from a zero state
(official ``valid_rl``).
"""
from __future__ import annotations

import math
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..data.ptb import batchify, load_ptb
from .base import Task

__all__ = ["LanguageModeling", "build_text_task"]


class LanguageModeling(Task):
    """The task protocol (`enas.tasks.base.Task`) for a model ``(tokens, hidden) -> (logits, hidden)``."""

    metric = "ppl"  # what `loss` returns beside the loss, averaged per epoch as train_ppl

    def __init__(self, train: torch.Tensor, valid: torch.Tensor, test: Optional[torch.Tensor], bptt: int,
                 eval_batch_size: int, variable_length: bool = True, reward_batches: int = 1,
                 reward: str = "default"):
        self.train, self.valid, self.test = train, valid, test
        self.bptt, self.eval_batch_size, self.variable_length = bptt, eval_batch_size, variable_length
        self.reward_batches = reward_batches
        self.reward_constant = 80.0 if reward == "default" else 1.0  # 1 / perplexity is the likelihood
        self.hidden: Optional[torch.Tensor] = None

    @property
    def steps_per_epoch(self) -> int:
        # nominal: variable lengths average about bptt
        return max(1, (self.train.shape[0] - 1) // self.bptt)

    def _length(self) -> int:
        if not self.variable_length:
            return self.bptt
        base = self.bptt if torch.rand(()) < 0.95 else self.bptt / 2
        return max(5, int(torch.normal(float(base), 5.0, ()).item()))

    def train_batches(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor, float]]:
        """(inputs, targets, length / bptt) windows over the training streams; the state resets each epoch."""
        self.hidden = None
        i, data = 0, self.train
        while True:  # the loop asks for steps_per_epoch batches; wrap around if lengths ran short
            if i >= data.shape[0] - 2:
                i, self.hidden = 0, None
            seq = min(self._length(), data.shape[0] - 1 - i)
            yield data[i:i + seq], data[i + 1:i + 1 + seq], seq / self.bptt
            i += seq

    def loss(self, model: nn.Module, batch) -> Tuple[torch.Tensor, torch.Tensor]:
        x, y, scale = batch
        logits, hidden = model(x, self.hidden)
        self.hidden = hidden.detach()  # truncated BPTT
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        # AWD-LSTM scales the lr by length / bptt; scaling the loss does the same for plain SGD.
        return loss * scale, loss.detach().exp()

    def _window(self, data: torch.Tensor, start: int) -> Tuple[torch.Tensor, torch.Tensor]:
        return data[start:start + self.bptt], data[start + 1:start + 1 + self.bptt]

    @torch.no_grad()
    def _nll(self, model: nn.Module, windows: Sequence[Tuple[torch.Tensor, torch.Tensor]], carry: bool) -> float:
        model.eval()
        total, count, hidden = None, 0, None
        for x, y in windows:  # the sum stays on the device: one synchronisation per call
            logits, h = model(x, hidden if carry else None)
            hidden = h
            nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
            total = nll if total is None else total + nll
            count += y.numel()
        return total.item() / count

    def reward(self, model: nn.Module, across_ranks: bool = False) -> float:
        """``80 / perplexity`` on ``reward_batches`` random validation windows, each from a zero state."""
        n = self.valid.shape[0] - self.bptt - 1
        starts = torch.randint(0, max(n, 1), (self.reward_batches,)).tolist()
        nll = self._nll(model, [self._window(self.valid, s) for s in starts], carry=False)
        return self.reward_constant / math.exp(min(nll, 20.0))

    def fixed_batches(self, n: int) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """The first ``n`` validation windows: every candidate is scored on the same text."""
        return [self._window(self.valid, i * self.bptt) for i in range(min(n, (self.valid.shape[0] - 1) // self.bptt))]

    def score(self, model: nn.Module, batches, across_ranks: bool = False) -> Dict[str, float]:
        nll = self._nll(model, batches, carry=True)
        ppl = math.exp(min(nll, 20.0))
        return {"ppl": ppl, "loss": nll, "score": self.reward_constant / ppl}

    def evaluate(self, model: nn.Module, data: torch.Tensor) -> Dict[str, float]:
        """Perplexity over a whole split, state carried from window to window."""
        windows = [self._window(data, i) for i in range(0, data.shape[0] - 1, self.bptt)]
        windows = [(x[:len(y)], y) for x, y in windows if len(y)]
        return self.score(model, windows)


def build_text_task(data, trainer, device: torch.device, stage: str, reward_batches: int = 1, reward: str = "default"):
    if trainer.amp != "none":
        raise ValueError(f"trainer.amp={trainer.amp}: the language-model task runs in fp32 only (its recurrent cell "
                         "sums many small steps; bf16 autocast is for the image tasks); use trainer.amp=none")
    splits, vocab = load_ptb(data.root)
    train = splits["train"][:data.train_subset] if data.train_subset else splits["train"]
    valid = splits["valid"][:data.valid_subset] if data.valid_subset else splits["valid"]
    task = LanguageModeling(batchify(train, data.batch_size, device), batchify(valid, data.eval_batch_size, device),
                            batchify(splits["test"][:data.test_subset] if data.test_subset else splits["test"],
                                     data.eval_batch_size, device) if stage == "retrain" else None,
                            data.bptt, data.eval_batch_size, data.variable_length, reward_batches, reward)
    return task, {"vocab_size": len(vocab)}
