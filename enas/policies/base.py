"""What every policy over a space's decisions shares, whatever its recurrent core.

Pham et al. 2018 (arXiv:1802.03268), sections 2.2-2.4; official code github.com/melodyguan/enas,
``src/cifar10/micro_controller.py`` and ``general_controller.py``. Built from the decision list
alone (`supernet.decisions`), so any space written with the public primitives gets a policy:

* one core step per decision; a layer decision reads a softmax head, and the chosen option's
  embedding is the next input;
* an input decision over named earlier nodes attends over those nodes' "anchors" (a hidden state
  per node, produced by one extra core step after the node's last decision):
  ``v . tanh(W1 anchor + W2 h)``; one of n is a softmax, "any subset" an independent Bernoulli
  per candidate (the macro skip connections); the next input is the chosen anchors' sum over
  (1 + count), as the official macro code;
* nodes that are referenced but make no decisions (a cell's two inputs) get anchors from core steps
  on the start embedding with a zero value, as the official micro code;
* logits are ``tanh_constant * tanh(logits / temperature)``; layer decisions use
  ``tanh_constant / op_tanh_reduce`` (official ``op_tanh_reduce``).

The core runs once through all decisions in order, so the reduction cell continues from the normal
cell's state. Several architectures are sampled as one batch. ``op_prior`` adds to the initial logit
of named ops (official micro: +10 for both separable convolutions). Deviations from the official code,
each a simplification: per-decision heads (``share_heads=True`` restores one head per option set), no
fixed extra bias on the first cell's ops, the true Bernoulli KL for the skip penalty, and for the macro
space one more core step per layer (the official code uses the skip decision's hidden state as the
layer's anchor and feeds the skip-weighted anchors to the next layer's op decision; here the
skip-weighted anchors feed the anchor step, then the start embedding).

Cores: `enas.policies.lstm.Controller` (the ENAS LSTM) and `enas.policies.transformer.TransformerController`.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from supernet import Decision

__all__ = ["DecisionPolicy", "Samples"]


@dataclass
class Samples:
    """A batch of sampled architectures with the per-architecture sums the REINFORCE loss needs."""

    archs: List[Dict]
    log_prob: torch.Tensor      # (n,) summed log-probability of each architecture (differentiable)
    entropy: torch.Tensor       # (n,) summed entropy of the decision distributions
    skip_penalty: torch.Tensor  # (n,) KL(skip probabilities || target) summed per decision, mean over decisions
    skip_rate: torch.Tensor     # (n,) fraction of subset candidates taken
    # Per decision, for algorithms that credit each decision on its own (enas.actor_critic, enas.ppo):
    decision_log_prob: Optional[torch.Tensor] = None  # (n, decisions); sums to log_prob
    decision_hidden: Optional[torch.Tensor] = None    # (n, decisions, hidden): the state each decision was read from


class _Trace:
    """What one pass through the decisions accumulates, per sampled architecture."""

    def __init__(self, n: int, device: torch.device):
        self.archs: List[Dict] = [{} for _ in range(n)]
        self.rows = torch.arange(n, device=device)
        self.log_prob = torch.zeros(n, device=device)
        self.entropy = torch.zeros(n, device=device)
        self.penalty = torch.zeros(n, device=device)
        self.skips, self.skip_slots, self.subset_decisions = torch.zeros(n, device=device), 0, 0
        self.step_log_prob: List[torch.Tensor] = []
        self.hidden: List[torch.Tensor] = []

    def samples(self) -> Samples:
        rate = self.skips / self.skip_slots if self.skip_slots else torch.zeros_like(self.log_prob)
        # official general_controller: the mean over layers of each layer's summed KL
        return Samples(self.archs, self.log_prob, self.entropy, self.penalty / max(self.subset_decisions, 1), rate,
                       torch.stack(self.step_log_prob, 1), torch.stack(self.hidden, 1))


class DecisionPolicy(nn.Module):
    """What every controller shares, whatever its recurrent core: per-decision softmax heads and
    option embeddings, attention over anchors for input decisions, the logit squashing, and sampling
    or teacher-forced evaluation of whole architectures (`_run`). A core supplies
    ``_initial_state(n)`` and ``_step(x, state) -> (h, state)``, one step per decision or anchor:
    `enas.policies.lstm.Controller` and `enas.policies.transformer.TransformerController`.
    """

    def _setup(self, decisions: Sequence[Decision], temperature: Optional[float], tanh_constant: Optional[float],
               op_tanh_reduce: float, skip_target: float) -> None:
        self.decisions = tuple(decisions)
        if not self.decisions:
            raise ValueError("a controller needs at least one decision")
        self.temperature, self.tanh_constant, self.op_tanh_reduce = temperature, tanh_constant, op_tanh_reduce
        self.skip_target = skip_target

    def _add_heads(self, hidden: int, share_heads: bool) -> None:
        """Softmax heads and option embeddings per decision, the anchor attention, and the step plan."""
        H = hidden
        self.heads, self.embeddings = nn.ModuleDict(), nn.ModuleDict()
        self._head_key: Dict[str, str] = {}
        for d in self.decisions:
            if d.kind == "input" and d.named_inputs:
                continue  # attention, below
            key = f"options/{'|'.join(d.options)}" if share_heads and d.kind == "layer" else d.label
            self._head_key[d.label] = key = key.replace(".", "_")
            if key not in self.heads:
                self.heads[key] = nn.Linear(H, d.size)
                self.embeddings[key] = nn.Embedding(d.size, H)
        self.attn_anchor = nn.Linear(H, H, bias=False)  # W1
        self.attn_query = nn.Linear(H, H, bias=False)   # W2
        self.attn_v = nn.Linear(H, 1, bias=False)
        self._plan = self._make_plan()

    def _add_op_prior(self, op_prior: Optional[Mapping[str, float]]) -> None:
        # Official ENAS initialises the op-softmax bias to favour the convolutions ([10, 10, 0, 0, 0]
        # for sep_conv_3x3, sep_conv_5x5, avg_pool, max_pool, identity): a prior the policy can unlearn.
        with torch.no_grad():
            for d in self.decisions:
                if d.kind == "layer" and op_prior:
                    head = self.heads[self._head_key[d.label]]
                    for i, name in enumerate(d.options):
                        head.bias[i] += float(op_prior.get(name, 0.0))

    @property
    def hidden_size(self) -> int:
        return self.start.shape[1]

    @property
    def num_steps(self) -> int:
        """Core steps per architecture: one per decision plus one per anchor."""
        return len(self.decisions) + sum(len(before) + (after is not None) for before, after in self._plan)

    def _initial_state(self, n: int):
        raise NotImplementedError

    def _step(self, x: torch.Tensor, state):
        raise NotImplementedError

    def _make_plan(self) -> List[Tuple[List[str], Optional[str]]]:
        """For each decision: anchors to create before it (nodes without decisions), anchor to emit after it."""
        produced = {d.node for d in self.decisions}
        referenced = {name for d in self.decisions if d.kind == "input" and d.named_inputs for name in d.options}
        last_of_node = {d.node: i for i, d in enumerate(self.decisions)}
        known, plan = set(), []
        for i, d in enumerate(self.decisions):
            before = []
            if d.kind == "input" and d.named_inputs:
                for name in d.options:
                    if name not in known:
                        if name in produced:
                            raise ValueError(
                                f"decision {d.label!r} picks node {name!r} before that node's decisions end: the "
                                "controller decides in the order the choices appear in model.modules() (the order "
                                f"they are assigned in __init__), so create node {name!r}'s choices before the "
                                f"InputChoice of {d.label!r} (nodes in topological order)")
                        before.append(name)
                        known.add(name)
            after = d.node if last_of_node[d.node] == i and d.node in referenced else None
            if after:
                known.add(after)
            plan.append((before, after))
        return plan

    # ----------------------------------------------------------------------------------------- #
    def _squash(self, logits: torch.Tensor, layer: bool) -> torch.Tensor:
        if not torch.isfinite(logits).all():
            raise FloatingPointError("the controller's logits are not finite (NaN or inf): its weights diverged; "
                                     "lower controller.lr or set controller.grad_clip")
        if self.temperature:
            logits = logits / self.temperature
        if self.tanh_constant:
            logits = (self.tanh_constant / (self.op_tanh_reduce if layer else 1.0)) * torch.tanh(logits)
        return logits

    def _run(self, n: int, given: Optional[List[Mapping]] = None, greedy: bool = False,
             record: Optional[Dict[str, torch.Tensor]] = None) -> Samples:
        """``record``, when given, receives each decision's option probabilities (n, options)."""
        H = self.start.shape[1]
        state = self._initial_state(n)
        inputs = self.start.expand(n, H)
        anchors: Dict[str, Tuple[torch.Tensor, torch.Tensor]] = {}  # name -> (value, W1 value-key)
        trace = _Trace(n, self.start.device)
        for d, (before, after) in zip(self.decisions, self._plan):
            for name in before:
                h, state = self._step(self.start.expand(n, H), state)
                anchors[name] = (torch.zeros_like(h), self.attn_anchor(h))
            h, state = self._step(inputs, state)
            target = None if given is None else [g[d.label] for g in given]
            trace.hidden.append(h)
            if d.kind == "layer":
                inputs = self._decide_layer(d, h, target, greedy, trace, record)
            else:
                inputs = self._decide_inputs(d, h, anchors, target, greedy, trace, record)
            if after is not None:
                h, state = self._step(inputs, state)
                anchors[after] = (h, self.attn_anchor(h))
                inputs = self.start.expand(n, H)
        return trace.samples()

    def _decide_layer(self, d: Decision, h, target, greedy: bool, trace: "_Trace", record) -> torch.Tensor:
        """One op decision: a softmax head; the chosen option's embedding is the next input."""
        key = self._head_key[d.label]
        logits = self._squash(self.heads[key](h), layer=True)
        idx = self._categorical(logits, target, d, greedy)
        lp = F.log_softmax(logits, -1)
        if record is not None:
            record[d.label] = lp.exp()
        trace.step_log_prob.append(lp[trace.rows, idx])
        trace.log_prob = trace.log_prob + trace.step_log_prob[-1]
        trace.entropy = trace.entropy + -(lp.exp() * lp).sum(-1)
        for a, i in zip(trace.archs, idx.tolist()):
            a[d.label] = d.options[i]
        return self.embeddings[key](idx)

    def _decide_inputs(self, d: Decision, h, anchors, target, greedy: bool, trace: "_Trace", record) -> torch.Tensor:
        """One input decision: attention over earlier nodes' anchors (or a head over plain candidates);
        the next input is the chosen values' mean (over 1 + count for any subset, as the official macro)."""
        n = h.shape[0]
        if d.named_inputs:
            values = torch.stack([anchors[name][0] for name in d.options], 1)          # (n, k, H)
            keys = torch.stack([anchors[name][1] for name in d.options], 1)
            logits = self.attn_v(torch.tanh(keys + self.attn_query(h).unsqueeze(1))).squeeze(-1)
        else:
            key = self._head_key[d.label]
            values = self.embeddings[key].weight.unsqueeze(0).expand(n, -1, -1)
            logits = self.heads[key](h)
        logits = self._squash(logits, layer=False)
        if record is not None:  # any subset: P(take) per candidate; k of n: the first draw's softmax
            record[d.label] = torch.sigmoid(2.0 * logits) if d.n_chosen is None else F.softmax(logits, -1)
        if d.n_chosen is None:
            mask, lp, ent, kl = self._subset(logits, target, greedy)
            trace.penalty = trace.penalty + kl
            trace.skips, trace.skip_slots = trace.skips + mask.sum(-1), trace.skip_slots + d.size
            trace.subset_decisions += 1
            inputs = (mask.unsqueeze(-1) * values).sum(1) / (1.0 + mask.sum(-1, keepdim=True))
        else:
            mask, lp, ent = self._k_of_n(logits, target, d, greedy)
            inputs = (mask.unsqueeze(-1) * values).sum(1) / d.n_chosen
        trace.log_prob, trace.entropy = trace.log_prob + lp, trace.entropy + ent
        trace.step_log_prob.append(lp)
        for a, m in zip(trace.archs, mask.bool().tolist()):
            a[d.label] = [i for i, on in enumerate(m) if on]
        return inputs

    def _categorical(self, logits, target, d: Decision, greedy: bool) -> torch.Tensor:
        if target is not None:
            return torch.tensor([d.options.index(t) if isinstance(t, str) else t for t in target], device=logits.device)
        if greedy:
            return logits.argmax(-1)
        return torch.multinomial(F.softmax(logits, -1), 1).squeeze(1)

    def _subset(self, logits, target, greedy: bool):
        # Official macro: logits [-q, q] through a 2-way softmax, i.e. P(take) = sigmoid(2q).
        logit = 2.0 * logits
        p = torch.sigmoid(logit)
        if target is not None:
            mask = torch.zeros_like(p)
            for r, chosen in enumerate(target):
                mask[r, list(chosen)] = 1.0
        else:
            mask = (p > 0.5).float() if greedy else torch.bernoulli(p.detach())
        lp = -F.binary_cross_entropy_with_logits(logit, mask, reduction="none").sum(-1)
        ent = F.binary_cross_entropy_with_logits(logit, p, reduction="none").sum(-1)
        t = self.skip_target
        eps = 1e-7
        kl = (p * torch.log((p + eps) / t) + (1 - p) * torch.log((1 - p + eps) / (1 - t))).sum(-1)
        return mask, lp, ent, kl

    def _k_of_n(self, logits, target, d: Decision, greedy: bool):
        """k of n without replacement: k successive softmaxes, each masking what is already chosen.

        The log-probability is that of the chosen *set* (summed over the k! orders it can be drawn
        in), so it is the same whether the set was sampled or given; the entropy is the sum of the
        step entropies along the drawn order.
        """
        n, _ = logits.shape
        ent = torch.zeros(n, device=logits.device)
        taken = torch.zeros_like(logits, dtype=torch.bool)
        order = []
        for step in range(d.n_chosen):
            logp = F.log_softmax(logits.masked_fill(taken, -math.inf), -1)
            if target is not None:
                idx = torch.tensor([sorted(t)[step] for t in target], device=logits.device)
            elif greedy:
                idx = logp.argmax(-1)
            else:
                idx = torch.multinomial(logp.exp(), 1).squeeze(1)
            # masked entries have p = 0 and log p = -inf: 0 * -inf is NaN, in the gradient too, so
            # they are left out of the product rather than patched after it
            ent = ent - torch.where(taken, torch.zeros_like(logp), logp.exp() * logp.masked_fill(taken, 0.0)).sum(-1)
            taken = taken.scatter(1, idx[:, None], True)
            order.append(idx)
        per_order = []
        for perm in itertools.permutations(order):
            lp, masked = 0.0, torch.zeros_like(taken)
            for idx in perm:
                logp = F.log_softmax(logits.masked_fill(masked, -math.inf), -1)
                lp = lp + logp.gather(1, idx[:, None]).squeeze(1)
                masked = masked.scatter(1, idx[:, None], True)
            per_order.append(lp)
        return taken.float(), torch.logsumexp(torch.stack(per_order), 0), ent

    # ------------------------------------------------------------------------------------------- #
    def sample(self) -> Tuple[Dict, torch.Tensor, torch.Tensor]:
        """One architecture with its summed log-probability and entropy (both differentiable)."""
        s = self._run(1)
        return s.archs[0], s.log_prob[0], s.entropy[0]

    def sample_many(self, n: int, greedy: bool = False) -> Samples:
        """``n`` sampled architectures; with ``greedy``, the most likely one ``n`` times. Greedy decoding runs
        one row and repeats it: rows of a batch may differ in their last bits (batched kernels on some CPUs),
        and a near-tie must not decode two architectures."""
        if greedy:
            return _repeat(self._run(1, greedy=True), n)
        return self._run(n)

    def evaluate(self, archs: Sequence[Mapping]) -> Samples:
        """Given architectures with their (differentiable) log-probability, entropy and skip penalty
        under the policy (teacher forcing): REINFORCE on architectures chosen another way, such as
        the policy's samples that fit a budget."""
        return self._run(len(archs), given=list(archs))

    @torch.no_grad()
    def decision_probabilities(self) -> Dict[str, List[float]]:
        """Each decision's option probabilities along the policy's most likely architecture (the
        greedy sample; no random numbers are drawn, so recording them leaves a run's course unchanged)."""
        record: Dict[str, torch.Tensor] = {}
        was_training = self.training
        self.eval()
        try:
            self._run(1, greedy=True, record=record)
        finally:
            self.train(was_training)
        return {label: [round(p, 5) for p in probs[0].tolist()] for label, probs in record.items()}

    def log_prob(self, archs: Sequence[Mapping]) -> torch.Tensor:
        """Log-probability of given architectures under the policy (teacher forcing)."""
        return self.evaluate(archs).log_prob


def _repeat(samples: Samples, n: int) -> Samples:
    """A one-row batch as ``n`` equal rows (the tensors keep their graph)."""
    rows = lambda x: None if x is None else x.expand(n, *x.shape[1:])  # noqa: E731
    return Samples([dict(samples.archs[0]) for _ in range(n)], rows(samples.log_prob), rows(samples.entropy),
                   rows(samples.skip_penalty), rows(samples.skip_rate), rows(samples.decision_log_prob),
                   rows(samples.decision_hidden))
