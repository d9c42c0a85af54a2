"""Search your own supernet: a 1-D conv net for sequence classification, from Python.

The problem: classify noisy sequences by which of four motifs (short waveforms) they contain,
somewhere, among distractor noise. The supernet is an ordinary ``nn.Module``: each of its blocks
chooses a kernel size or a pooling with `LayerChoice`, and the head chooses which blocks' features
to read with `InputChoice`. The reward is our own function (validation accuracy minus a small price
per parameter), and `enas.search_model` searches it without touching the internals of ``enas``.

    python examples/sequence_classification.py               # about 2 minutes on 2 CPU cores
    python examples/sequence_classification.py --epochs 2    # a smoke test (what CI runs)
"""
from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn

import supernet
from supernet import InputChoice, LayerChoice
from enas import SimpleTask, search_model


def make_data(n: int, length: int = 64, seed: int = 0):
    """Sequences of noise with one of 4 motifs pasted at a random place; the label is the motif."""
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, 12)
    motifs = torch.stack([torch.sin(2 * math.pi * t), torch.sign(torch.sin(4 * math.pi * t)), t * 2 - 1,
                          torch.exp(-((t - 0.5) ** 2) / 0.02) * 2 - 1])
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.7 * torch.randn(n, 1, length, generator=g)
    where = torch.randint(0, length - 12, (n,), generator=g)
    for i in range(n):
        x[i, 0, where[i]:where[i] + 12] += motifs[y[i]]
    return x, y


class Block(nn.Module):
    """One searched block: conv k in {3, 5, 9}, a dilated conv, or max pooling, with a residual."""

    def __init__(self, C: int, label: str):
        super().__init__()
        conv = lambda k, d=1: nn.Sequential(nn.Conv1d(C, C, k, padding=d * (k // 2), dilation=d), nn.BatchNorm1d(C),
                                            nn.ReLU())
        self.op = LayerChoice({"conv3": conv(3), "conv5": conv(5), "conv9": conv(9), "conv3_dil4": conv(3, 4),
                               "maxpool3": nn.MaxPool1d(3, 1, 1)}, label=label)

    def forward(self, x):
        return x + self.op(x)


class MotifNet(nn.Module):
    def __init__(self, C: int = 16, blocks: int = 3, classes: int = 4):
        super().__init__()
        self.stem = nn.Conv1d(1, C, 3, padding=1)
        self.blocks = nn.ModuleList(Block(C, f"block{i}/op") for i in range(blocks))
        self.readout = InputChoice(blocks, n_chosen=None, reduction="sum", label="head/features",
                                   candidates=[f"block{i}" for i in range(blocks)])
        self.classifier = nn.Linear(C, classes)

    def forward(self, x):
        h, features = self.stem(x), []
        for block in self.blocks:
            h = block(h)
            features.append(h.amax(-1))  # global max pooling of every block
        chosen = self.readout(features)
        return self.classifier(chosen if chosen is not None else features[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description="ENAS on a custom 1-D conv supernet")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--train", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    x_train, y_train = make_data(args.train, seed=1)
    x_valid, y_valid = make_data(500, seed=2)
    batches = [(x_train[i:i + 64], y_train[i:i + 64]) for i in range(0, len(x_train), 64)]
    model = MotifNet()

    def loss_fn(model, batch):
        x, y = batch
        return F.cross_entropy(model(x), y)

    @torch.no_grad()
    def reward_fn(model):  # our own reward: accuracy, minus 0.01 per 10k parameters on the active path
        model.eval()
        accuracy = (model(x_valid).argmax(1) == y_valid).float().mean().item()
        model.train()
        return accuracy - 0.01 * active_parameters(model) / 1e4

    def active_parameters(model):
        return sum(p.numel() for m in model.modules() if isinstance(m, LayerChoice)
                   for p in m.active_module.parameters())

    result = search_model(model, SimpleTask(batches, loss_fn, reward_fn), epochs=args.epochs,
                          trainer={"lr": 0.05, "weight_decay": 1e-4},
                          controller={"train_steps": 10, "num_aggregate": 5, "tanh_constant": 2.5,
                                      "op_tanh_reduce": 1.0, "lr": 0.01},
                          derive_settings={"num_samples": 30, "top_k": 3})
    arch = result["architecture"]
    print("history (reward per epoch):", [round(h.get("reward", float("nan")), 3) for h in result["history"]])
    print("derived architecture:", arch)

    # Retrain the derived architecture from scratch as a standalone network.
    child = supernet.freeze(MotifNet(), arch)
    opt = torch.optim.Adam(child.parameters(), lr=3e-3)
    for _ in range(max(2, args.epochs // 2)):
        for x, y in batches:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(child(x), y).backward()
            opt.step()
    child.eval()
    with torch.no_grad():
        accuracy = (child(x_valid).argmax(1) == y_valid).float().mean().item()
    print(f"standalone child: {supernet.count_parameters(child)} parameters, validation accuracy {accuracy:.3f}")
    return {"architecture": arch, "child_accuracy": accuracy, "history": result["history"]}


if __name__ == "__main__":
    main()
