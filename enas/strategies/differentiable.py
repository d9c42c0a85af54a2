"""Differentiable search on the shared weights: ``strategy=darts`` and ``strategy=gdas``.

Both keep architecture logits alpha (one per option of each decision) and train them with Adam on
validation minibatches, alternating step by step with the shared weights, which train on the training
split: first-order DARTS (Liu et al., ICLR 2019, arXiv:1806.09055, Algorithm 1 with xi = 0).

* ``darts``: the supernet runs every candidate, weighted by softmax(alpha) (`supernet.activate_weighted`),
  for the architecture step and for the shared-weights step alike.
* ``gdas`` (Dong & Yang, CVPR 2019, arXiv:1910.04465): each step samples one option per decision with
  the Gumbel-max trick and runs only that path; the architecture step multiplies each chosen output by
  its straight-through weight, one-hot forward and Gumbel-softmax backward at temperature tau
  (`supernet.activate_sampled`), so gradients reach every logit of a decision while a step costs what a
  single-path step costs. The shared-weights step runs a fresh sample as a plain architecture. tau falls
  linearly from ``tau_max`` at the first epoch to ``tau_min`` at the last, as the authors' code.
  Deviation: the official forward also adds the other options' weights (value 0) to each edge's output,
  which passes the edge's summed gradient to those logits; we leave that term out (the paper's eq. 7).

How it plugs into the one loop (`enas.search.loop`): `shared_archs` starts the epoch and leaves each
step's architecture to `before_step`, which the loop calls with the model and the task before every
shared-weights step: it takes the architecture step (after ``trainer.warmup_epochs``; the shared weights
of the relaxed supernet train from the first epoch), then leaves the model relaxed for the shared-weights
step. The learning phase (`learn`) only reports the
epoch's architecture steps. Derive scores the argmax architecture (top-k for k-of-n input choices) and
samples from softmax(alpha) with the shared weights, as for every strategy; with
``derive.num_samples=1 derive.uniform_samples=0`` it keeps DARTS's own rule, the argmax alone.

DARTS collapses to parameter-free cells on NAS-Bench-201 (54.30, Dong & Yang 2020): skip and pooling
help the loss before the convolutions have trained, win the softmax, and their weights then keep
growing. ``regulariser=beta`` adds Beta-Decay (beta-DARTS, Ye et al., CVPR 2022, arXiv:2203.01665), the
mean over decisions of logsumexp(alpha), to the architecture loss; its gradient is softmax(alpha), a
decay that pulls the dominant logits hardest, so the normalised weights stay smooth while the
convolutions catch up (94.36 on NAS-Bench-201 CIFAR-10). Its weight grows linearly from 0 at the first
epoch to ``regulariser_weight`` at the last, as the authors' code (50 x epoch / 100 over 50 epochs).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn

from supernet import Decision, activate, activate_sampled, activate_weighted

from ..config.schema import DifferentiableConfig
from ..runs import distributed
from .base import Reward, Strategy

__all__ = ["DARTSStrategy", "GDASStrategy", "beta_decay"]


def beta_decay(alphas: Sequence[torch.Tensor]) -> torch.Tensor:
    """Beta-Decay (Ye et al. 2022, eq. 9): the mean over decisions of logsumexp(alpha)."""
    return torch.stack([torch.logsumexp(a, 0) for a in alphas]).mean()


def refuse_unrelaxable(decisions: Sequence[Decision], strategy: str) -> None:
    """An any-subset input decision (ENAS macro's skip connections) has no weighted-sum relaxation."""
    bad = [d.label for d in decisions if d.kind == "input" and d.n_chosen is None]
    if bad:
        raise ValueError(f"strategy={strategy} cannot relax decision {bad[0]!r} ({len(bad)} such decision(s) in this "
                         "space): it picks any subset of its inputs (n_chosen=None), which has no weighted-sum "
                         "relaxation; search this space with strategy=enas, random, evolution or predictor")


class DifferentiableStrategy(Strategy):
    """Architecture logits, their Adam optimizer and the per-step hook, from a ``darts`` config node
    (`enas.config.DifferentiableConfig`). Subclasses say how the supernet is relaxed:
    ``relax_for_architecture(model)`` (differentiable in alpha) and ``relax_for_weights(model)``."""

    name = "differentiable"

    def __init__(self, decisions: Sequence[Decision], device: torch.device, seed: int = 0, settings=None,
                 constraint=None, predictor=None, trainer=None):
        super().__init__(decisions, seed, constraint, predictor, trainer)
        s = settings if settings is not None else DifferentiableConfig()
        refuse_unrelaxable(self.decisions, self.name)
        if distributed.world_size() > 1:
            raise ValueError(f"strategy={self.name} does not run under torchrun yet: its architecture step runs on "
                             "one process; run it in one process")
        # Own stream for the logits' initialisation and every Gumbel sample, saved in the checkpoint.
        self.generator = torch.Generator().manual_seed(seed)
        # Both papers' code: alpha = 1e-3 * N(0, 1), nearly uniform weights at the start.
        self.alphas = [nn.Parameter((s.init_scale * torch.randn(d.size, generator=self.generator)).to(device))
                       for d in self.decisions]
        self.optimizer = torch.optim.Adam(self.alphas, lr=s.lr, betas=tuple(s.betas), weight_decay=s.weight_decay)
        self.tau_max, self.tau_min = s.tau_max, s.tau_min
        self.regulariser, self.regulariser_weight = s.regulariser, s.regulariser_weight
        self._start_epoch(0, 1, learning=True)

    @classmethod
    def from_config(cls, cfg, decisions, device, constraint=None, predictor=None) -> "DifferentiableStrategy":
        return cls(decisions, device, cfg.seed, cfg.darts, constraint, predictor, cfg.trainer)

    # -- the loop's protocol ----------------------------------------------------------------------------
    def shared_archs(self, n: int, epoch: int) -> List[None]:
        """Starts the epoch; each step's path is drawn (GDAS) or relaxed (DARTS) in `before_step`."""
        self._start_epoch(epoch, self.trainer.epochs, learning=epoch >= self.trainer.warmup_epochs)
        return [None] * n

    def before_step(self, model: nn.Module, task, arch: None) -> None:
        """An architecture step (when learning), then the supernet relaxed for the shared-weights step."""
        self.relaxed_step(model, task)

    def learns(self, epoch: int) -> bool:
        return epoch >= self.trainer.warmup_epochs

    def learn(self, reward: Reward, steps: int, progress) -> Dict[str, float]:
        """Reports the epoch's architecture steps, which ran beside the shared ones; evaluates no reward."""
        with torch.no_grad():
            probs = [a.softmax(0) for a in self.alphas]
            entropy = torch.stack([-(p * p.clamp_min(1e-12).log()).sum() for p in probs]).mean()
        stats = {"arch_steps": float(self._steps), "arch_entropy": float(entropy),
                 "regulariser_weight": self._regulariser_weight}
        if self._steps:
            stats["arch_valid_loss"] = float(self._loss_sum) / self._steps
        return stats

    def candidates(self, n: int) -> List[Dict]:
        """The argmax architecture, then samples from softmax(alpha) (within the budget, if any)."""
        if n < 1:
            return []
        best = self.argmax_architecture()
        return [best] + self._within_budget(lambda k: [self._sample()[0] for _ in range(k)], n - 1)

    def policy_probabilities(self) -> Dict[str, List[float]]:
        return {d.label: a.detach().softmax(0).tolist() for d, a in zip(self.decisions, self.alphas)}

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "alphas": [a.detach().clone() for a in self.alphas],
                "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
        with torch.no_grad():
            for alpha, saved in zip(self.alphas, state["alphas"]):
                alpha.copy_(saved)
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"].cpu())

    # -- the step -----------------------------------------------------------------------------------------
    def _start_epoch(self, epoch: int, epochs: int, learning: bool) -> None:
        progress = epoch / max(epochs - 1, 1)
        self.tau = self.tau_max * (1 - progress) + self.tau_min * progress  # exact at both ends
        self._regulariser_weight = self.regulariser_weight * progress if self.regulariser != "none" else 0.0
        self._learning, self._valid, self._steps, self._loss_sum = learning, None, 0, 0.0

    def relaxed_step(self, model: nn.Module, task) -> None:
        """Before each shared-weights step (`before_step`)."""
        if self._learning:
            self.architecture_step(model, task)
        self.relax_for_weights(model)

    def architecture_step(self, model: nn.Module, task) -> torch.Tensor:
        """One Adam step of alpha on the next validation minibatch (the supernet's weights stay as they are)."""
        if self._valid is None:  # a fresh pass each epoch: its order comes from the run's restored random state
            self._valid = iter(task.validation_batches())
        self.relax_for_architecture(model)
        loss, _ = task.loss(model, next(self._valid))
        objective = loss + self._regulariser_weight * beta_decay(self.alphas) if self._regulariser_weight else loss
        # Gradients for alpha only: the shared weights' gradients are not needed, so not computed.
        grads = torch.autograd.grad(objective, self.alphas, allow_unused=True)
        for alpha, grad in zip(self.alphas, grads):  # an option off every sampled path: a zero gradient,
            alpha.grad = torch.zeros_like(alpha) if grad is None else grad  # as one alpha tensor would get
        self.optimizer.step()
        self._steps += 1
        self._loss_sum += loss.detach()
        return loss.detach()

    def argmax_architecture(self) -> Dict:
        return {d.label: _value(d, a.detach()) for d, a in zip(self.decisions, self.alphas)}

    def _sample(self, tau: Optional[float] = None) -> Tuple[Dict, Dict[str, torch.Tensor]]:
        """An architecture drawn from softmax(alpha) by the Gumbel-max trick (top-k without replacement for
        a k-of-n input choice) and, with ``tau``, its straight-through weights: one-hot (k-hot) values with
        the gradient of softmax((log_softmax(alpha) + gumbel) / tau) (GDAS eq. 5-7)."""
        arch, weights = {}, {}
        with torch.set_grad_enabled(tau is not None):
            for d, alpha in zip(self.decisions, self.alphas):
                # -log(E), E ~ Exp(1), is Gumbel(0, 1); clamped so that E = 0 cannot give an infinite sample
                gumbel = torch.empty(d.size).exponential_(generator=self.generator).clamp_min_(1e-20).log_().neg_()
                perturbed = alpha.log_softmax(0) + gumbel.to(alpha.device)
                arch[d.label] = _value(d, perturbed.detach())
                if tau is not None:
                    soft = (perturbed / tau).softmax(0)
                    hot = torch.zeros_like(soft)
                    hot[[d.options.index(arch[d.label])] if d.kind == "layer" else arch[d.label]] = 1.0
                    weights[d.label] = hot - soft.detach() + soft
        return arch, weights


def _value(d: Decision, scores: torch.Tensor):
    """The option (layer) or the top-k inputs (input choice) with the highest scores."""
    if d.kind == "layer":
        return d.options[int(scores.argmax())]
    return sorted(int(i) for i in scores.topk(d.n_chosen).indices)


class DARTSStrategy(DifferentiableStrategy):
    """First-order DARTS: every candidate runs, weighted by softmax(alpha)."""

    name = "darts"

    def relax_for_architecture(self, model: nn.Module) -> None:
        activate_weighted(model, {d.label: a.softmax(0) for d, a in zip(self.decisions, self.alphas)})

    def relax_for_weights(self, model: nn.Module) -> None:
        activate_weighted(model, {d.label: a.detach().softmax(0) for d, a in zip(self.decisions, self.alphas)})


class GDASStrategy(DifferentiableStrategy):
    """GDAS: one Gumbel-max sampled path per step, straight-through weights for the architecture step."""

    name = "gdas"

    def relax_for_architecture(self, model: nn.Module) -> None:
        arch, weights = self._sample(self.tau)
        activate_sampled(model, arch, weights)

    def relax_for_weights(self, model: nn.Module) -> None:
        # The hard weights' value is one-hot (up to rounding): the shared step runs the sample as a plain path.
        activate(model, self._sample()[0])

    def learn(self, reward: Reward, steps: int, progress) -> Dict[str, float]:
        return {**super().learn(reward, steps, progress), "tau": self.tau}
