"""Zero-cost proxies: score an untrained architecture from one or two minibatches, no training.

Every proxy runs through the public `supernet` API on the *active path* of a freshly initialised copy
of the space (`supernet.activate`), so it serves any space written with `LayerChoice`/`InputChoice`.
Only what an architecture runs takes part: inactive candidates neither compute nor receive gradients.
The network is built once per scorer from a seed, the minibatches are drawn once, and every random
draw uses a private generator: the same (space, seed, data) gives the same scores, and scoring never
moves the search's own random state. Proxies that need the same pass share it (one forward and
backward serve ``grad_norm``, ``snip``, ``naswot``, the AZ-NAS parts, ``flops`` and ZiCo's first batch).

Proxies (higher is better for each; papers give the formula, code is ours):

* ``params``: parameters of the standalone child (`supernet.freeze`).
* ``flops``: multiply-accumulates of its convolutions and linear layers per input example.
* ``grad_norm``: sum over weight layers of ||dL/dW||  (Abdelfattah et al., "Zero-Cost Proxies for
  Lightweight NAS", ICLR 2021, arXiv:2101.08134).
* ``snip``: sum |W * dL/dW|  (Lee et al., "SNIP", ICLR 2019, arXiv:1810.02340; as a proxy: Abdelfattah 2021).
* ``synflow``: sum |W * dR/dW| with R the summed output of the network with |W|, no batch norm, on an
  all-ones input, in float64  (Tanaka et al., "Pruning neural networks without any data", NeurIPS 2020,
  arXiv:2006.05467; as a proxy: Abdelfattah 2021).
* ``naswot``: log |det K| of the kernel of binary ReLU activation codes, K_ij = number of units where
  examples i and j agree  (Mellor et al., "Neural Architecture Search without Training", ICML 2021,
  arXiv:2006.04647).
* ``zico``: sum over weight layers of log(sum over weights of mean|g| / std(g)), gradient statistics
  over two minibatches  (Li et al., "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on
  Gradients", ICLR 2023, arXiv:2301.11300).
* ``expressivity``, ``progressivity``, ``trainability``: the three data-dependent parts of AZ-NAS
  (Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search", CVPR 2024,
  arXiv:2403.19232): the entropy of the normalised eigenvalues of each block's channel covariance,
  summed (expressivity) and its smallest increase from block to block (progressivity); and, from the
  largest singular value s of a random-sign estimate of each block's Jacobian, the mean of
  ``2 - s - 1/s`` (trainability). AZ-NAS itself (these three plus ``flops``, combined by the sum of
  log relative ranks) is a combination over a set of architectures: `enas.predictors.ranking`.

Blocks (for the AZ-NAS parts) are the children of the first ``nn.Sequential``/``nn.ModuleList`` that
holds at least two modules with choices inside (NB201's stages, the micro and macro layers); the
input of the first block counts as a block output too, as AZ-NAS counts the stem's.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from supernet import InputChoice, LayerChoice, activate, architecture_key, count_parameters, freeze

__all__ = ["PROXIES", "ZeroCostScorer", "proxy_batches", "feature_blocks", "child_parameters", "fresh_copy"]

PROXIES = ("params", "flops", "grad_norm", "snip", "synflow", "naswot", "zico",
           "expressivity", "progressivity", "trainability")
_PASS = {"flops", "grad_norm", "snip", "naswot", "zico", "expressivity", "progressivity", "trainability"}
_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _has_choice(module: nn.Module) -> bool:
    return any(isinstance(m, (LayerChoice, InputChoice)) for m in module.modules())


def feature_blocks(model: nn.Module) -> List[nn.Module]:
    """The blocks whose outputs AZ-NAS reads: children of the first container holding two or more
    modules with choices inside (empty when the space has no such container)."""
    for module in model.modules():
        if isinstance(module, (nn.Sequential, nn.ModuleList)):
            children = list(module.children())
            if sum(_has_choice(c) for c in children) >= 2:
                return children
    return []


def child_parameters(model: nn.Module, arch: Mapping) -> int:
    """Parameters of the standalone child of ``arch`` (what `supernet.freeze` would keep).

    Counted on the active path without copying the supernet, unless a space module of its own
    defines ``frozen()`` (it may drop weights, e.g. the micro cell's loose-end projection): then the
    child is built and counted.
    """
    activate(model, arch)

    def walk(module: nn.Module) -> Optional[int]:
        """The active path's parameters under ``module``; None where a module of the path freezes itself.
        (Budgets check every cell of a space: the class lookups and the private dicts skip nn.Module's
        __getattr__ and generators, most of the cost.)"""
        if isinstance(module, LayerChoice):
            return walk(module.active_module)
        if not isinstance(module, InputChoice) and callable(getattr(type(module), "frozen", None)):
            return None
        total = sum(p.numel() for p in module._parameters.values() if p is not None)
        for child in module._modules.values():
            inner = walk(child) if child is not None else 0
            if inner is None:
                return None
            total += inner
        return total

    counted = walk(model)
    return counted if counted is not None else count_parameters(freeze(model, arch))


def fresh_copy(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every module that can re-initialise itself (``reset_parameters``) re-initialised:
    an untrained network of the same space, for proxies of a user's own supernet instance."""
    copied = copy.deepcopy(model)
    for module in copied.modules():
        if callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
    return copied


def proxy_batches(task, n: int, seed: int) -> List:
    """``n`` training minibatches for the proxies, the same for every architecture.

    Drawn under a forked random state seeded by ``seed``, so the search's own random stream is
    untouched and the batches depend on the seed only.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        batches = task.train_batches()
        return [next(batches) for _ in range(n)]


def _split(batch):
    """(input, target) of a batch; the target may be absent."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    return batch, None


class ZeroCostScorer:
    """Zero-cost scores of architectures of one space.

    ``build`` returns a fresh instance of the space (called once, under ``seed``); ``loss_fn(model,
    batch)`` returns the training loss (``enas`` tasks' ``loss``, whose first value is used);
    ``batches`` are the minibatches (two for ``zico``, the first for everything else). Scores are
    cached per architecture, so scoring a candidate twice costs nothing.
    """

    def __init__(self, build: Callable[[], nn.Module], batches: Sequence, loss_fn: Callable,
                 names: Sequence[str] = PROXIES, seed: int = 0, device: Optional[torch.device] = None):
        unknown = [n for n in names if n not in PROXIES]
        if unknown:
            raise KeyError(f"unknown zero-cost proxy {unknown[0]!r}; available: {', '.join(PROXIES)}")
        if not batches:
            raise ValueError("zero-cost proxies need at least one minibatch")
        if "zico" in names and len(batches) < 2:
            raise ValueError("the zico proxy needs two minibatches (gradient statistics across batches)")
        self.names, self.seed, self.loss_fn = tuple(names), seed, loss_fn
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.model = build()
        if device is not None:
            self.model.to(device)
        self.batches = list(batches)
        self.blocks = feature_blocks(self.model) if {"expressivity", "progressivity", "trainability"} & set(names) else []
        if self.blocks == [] and {"expressivity", "progressivity", "trainability"} & set(names):
            raise ValueError(f"{type(self.model).__name__} has no sequence of blocks with choices inside: "
                             "the AZ-NAS parts (expressivity, progressivity, trainability) cannot be computed")
        self._synflow_model: Optional[nn.Module] = None
        self._cache: Dict[str, Dict[str, float]] = {}
        self.seconds: Dict[str, float] = {}  # time spent per group of proxies, for the benchmark

    # ------------------------------------------------------------------------------------------ #
    def score(self, arch: Mapping) -> Dict[str, float]:
        key = architecture_key(arch)
        if key not in self._cache:
            scores: Dict[str, float] = {}
            if "params" in self.names:
                scores.update(self._timed("params", lambda: {"params": float(child_parameters(self.model, arch))}))
            if _PASS & set(self.names):
                scores.update(self._timed("pass", lambda: self._pass_proxies(arch)))
            if "synflow" in self.names:
                scores.update(self._timed("synflow", lambda: {"synflow": self._synflow(arch)}))
            self._cache[key] = {n: scores[n] for n in self.names}
        return dict(self._cache[key])

    def score_many(self, archs: Sequence[Mapping], progress=None) -> List[Dict[str, float]]:
        return [self.score(a) for a in (progress(archs) if progress else archs)]

    def _timed(self, group: str, fn):
        began = time.perf_counter()
        out = fn()
        self.seconds[group] = self.seconds.get(group, 0.0) + time.perf_counter() - began
        return out

    # ------------------------------------------------------------------------------------------ #
    def _pass_proxies(self, arch: Mapping) -> Dict[str, float]:
        """Everything that one forward/backward on the first batch (and a second for zico) gives."""
        model, want = self.model, set(self.names)
        activate(model, arch)
        model.train()
        hooks, state = [], {"K": None, "macs": 0.0, "features": []}
        if "naswot" in want:
            def relu_codes(module, inputs, output):
                codes = (output.detach().reshape(output.shape[0], -1) > 0).float()
                k = codes @ codes.t() + (1 - codes) @ (1 - codes).t()
                state["K"] = k if state["K"] is None else state["K"] + k
            hooks += [m.register_forward_hook(relu_codes) for m in model.modules() if isinstance(m, nn.ReLU)]
        if "flops" in want:
            def count_macs(module, inputs, output):
                per_output = module.weight[0].numel()  # in_features, or in_channels/groups * kernel size
                state["macs"] += output.numel() / output.shape[0] * per_output  # per input example
            hooks += [m.register_forward_hook(count_macs) for m in model.modules() if isinstance(m, _WEIGHTED)]
        if want & {"expressivity", "progressivity", "trainability"}:
            def keep_output(module, inputs, output):
                state["features"].append(output)

            def keep_input(module, inputs):
                state["features"].append(inputs[0])
            hooks.append(self.blocks[0].register_forward_pre_hook(keep_input))
            hooks += [b.register_forward_hook(keep_output) for b in self.blocks]
        try:
            model.zero_grad(set_to_none=True)
            loss = self._loss(model, self.batches[0])
        finally:
            for h in hooks:
                h.remove()
        scores: Dict[str, float] = {}
        feats = [f for f in state["features"] if isinstance(f, torch.Tensor) and f.dim() >= 2]
        if want & {"expressivity", "progressivity"}:
            per_block = [_isotropy(f.detach()) for f in feats]
            scores["expressivity"] = float(sum(per_block))
            steps = [b - a for a, b in zip(per_block, per_block[1:])]
            scores["progressivity"] = float(min(steps)) if steps else float("nan")
        if "trainability" in want:
            scores["trainability"] = _trainability(feats, self.seed)
        loss.backward()
        if "naswot" in want:
            scores["naswot"] = (float(torch.linalg.slogdet(state["K"].double())[1]) if state["K"] is not None
                                else float("nan"))  # no ReLU ran
        if "flops" in want:
            scores["flops"] = float(state["macs"])
        layers = [m for m in model.modules() if isinstance(m, _WEIGHTED) and m.weight.grad is not None]
        if "grad_norm" in want:
            scores["grad_norm"] = float(sum(m.weight.grad.norm() for m in layers))
        if "snip" in want:
            scores["snip"] = float(sum((m.weight.detach() * m.weight.grad).abs().sum() for m in layers))
        if "zico" in want:
            first = {id(m): m.weight.grad.detach().clone() for m in layers}
            model.zero_grad(set_to_none=True)
            self._loss(model, self.batches[1]).backward()
            scores["zico"] = _zico([(first[id(m)], m.weight.grad) for m in layers if id(m) in first
                                    and m.weight.grad is not None])
        model.zero_grad(set_to_none=True)
        return scores

    def _loss(self, model: nn.Module, batch) -> torch.Tensor:
        out = self.loss_fn(model, batch)
        return out[0] if isinstance(out, tuple) else out

    def _synflow(self, arch: Mapping) -> float:
        if self._synflow_model is None:  # once: |W| in float64, batch norm removed (as Abdelfattah et al.)
            model = copy.deepcopy(self.model).double()
            with torch.no_grad():
                for p in model.parameters():
                    p.abs_()
            for parent in list(model.modules()):
                for name, child in list(parent.named_children()):
                    if isinstance(child, nn.modules.batchnorm._BatchNorm):
                        setattr(parent, name, nn.Identity())
            self._synflow_model = model
        model = self._synflow_model
        activate(model, arch)
        model.train()
        x, _ = _split(self.batches[0])
        if not torch.is_floating_point(x):
            raise ValueError("synflow needs a floating-point input (images); this task's input is "
                             f"{x.dtype}")
        model.zero_grad(set_to_none=True)
        out = model(torch.ones_like(x[:1], dtype=torch.float64))
        out = out[0] if isinstance(out, tuple) else out
        out.sum().backward()
        total = sum((m.weight.detach() * m.weight.grad).abs().sum() for m in model.modules()
                    if isinstance(m, _WEIGHTED) and m.weight.grad is not None)
        model.zero_grad(set_to_none=True)
        return float(total)


def _isotropy(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalues of the channel covariance (channels on dim 1)."""
    c = feature.shape[1]
    flat = feature.transpose(0, 1).reshape(c, -1).double()
    flat = flat - flat.mean(1, keepdim=True)
    eig = torch.linalg.eigvalsh(flat @ flat.t() / flat.shape[1]).clamp_min(0)
    p = eig / eig.sum().clamp_min(1e-30)
    return float(-(p * torch.log(p + 1e-8)).sum())


def _trainability(feats: List[torch.Tensor], seed: int) -> float:
    """Mean over consecutive blocks of 2 - s - 1/s, s the top singular value of E[g_in g_out^T]."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    scores = []
    for f_in, f_out in zip(feats, feats[1:]):
        if not (f_in.requires_grad and f_out.requires_grad):
            continue
        g_out = (torch.randint(0, 2, f_out.shape, generator=gen) * 2 - 1).to(f_out)
        g_in = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)[0]
        if g_in is None:
            continue
        if g_in.shape == g_out.shape and torch.equal(g_in, g_out):
            scores.append(-math.inf)  # an identity block: no transformation to judge
            continue
        if g_in.dim() == 4 and g_in.shape[-1] != g_out.shape[-1]:
            g_in = F.pixel_unshuffle(g_in, g_in.shape[-1] // g_out.shape[-1])
        a = g_in.transpose(0, 1).reshape(g_in.shape[1], -1)
        b = g_out.transpose(0, 1).reshape(g_out.shape[1], -1)
        s = torch.linalg.svdvals((a @ b.t() / b.shape[1]).double()).max().item()
        scores.append(2.0 - s - 1.0 / (s + 1e-6))
    return float(sum(scores) / len(scores)) if scores else float("nan")


def _zico(grads: List) -> float:
    total = 0.0
    for g1, g2 in grads:
        g = torch.stack([g1.flatten(), g2.flatten()]).double()
        std, mean_abs = g.std(0), g.abs().mean(0)
        nonzero = std != 0
        ratio = (mean_abs[nonzero] / std[nonzero]).sum().item()
        if ratio > 0:
            total += math.log(ratio)
    return total
