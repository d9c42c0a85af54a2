"""ENAS recurrent cell search space, inside a word-level language model (Penn Treebank).

Pham et al. 2018, arXiv:1802.03268, section 2.1 and Table 1 (55.8 test perplexity); official
code github.com/melodyguan/enas, ``src/ptb/ptb_enas_child.py``, ``scripts/ptb_search.sh``.

The cell has ``num_nodes`` nodes. Node 0 reads the input x_t and the previous state h_{t-1};
node i > 0 reads one earlier node j (an `InputChoice`). Every node picks an activation f from
{tanh, ReLU, identity, sigmoid} (a `LayerChoice`) and is a highway layer:

    c = sigmoid(W_c in),  h = f(W_h in),  s = c * h + (1 - c) * s_prev

where s_prev is h_{t-1} for node 0 and node j otherwise (official ``s = prev_s + t * (h - prev_s)``).
The cell's output (the new state) is the mean of the loose ends, the nodes no other node reads.
The language model around it: embedding (size = hidden size) with word-level embedding dropout,
variational (locked) dropout on the cell input, state and output, one cell layer, and a decoder
tied to the embedding, as the ENAS LM code.

Deviations from the official search network, each simplifying: weights are per (node, activation),
shared across the chosen input (official: per node, input and activation; its fixed network has one
per node); no batch norm inside the cell (official search mode has it, its fixed mode does not).
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..choices import InputChoice, LayerChoice
from .._checks import at_least, fraction, known
from .._registry import register_space

__all__ = ["RNNLanguageModel", "RNN_ACTIVATIONS"]

RNN_ACTIVATIONS = ("tanh", "relu", "identity", "sigmoid")
_ACT = {"tanh": torch.tanh, "relu": F.relu, "identity": lambda x: x, "sigmoid": torch.sigmoid}


class Highway(nn.Module):
    """One node with a fixed activation: ``c * f(W_h in) + (1 - c) * s_prev``, ``c = sigmoid(W_c in)``."""

    def __init__(self, in_features: int, hidden: int, activation: str):
        super().__init__()
        self.activation = activation
        self.weight = nn.Linear(in_features, 2 * hidden, bias=False)

    def forward(self, inp: torch.Tensor, s_prev: torch.Tensor) -> torch.Tensor:
        h, c = self.weight(inp).chunk(2, dim=-1)
        c = torch.sigmoid(c)
        return s_prev + c * (_ACT[self.activation](h) - s_prev)

    def extra_repr(self) -> str:
        return f"activation={self.activation}"


class Node(nn.Module):
    """Node i: which earlier node it reads (i > 0), then its activation: the official controller's order."""

    def __init__(self, index: int, hidden: int, activations: Sequence[str]):
        super().__init__()
        if index:
            self.input = InputChoice(index, 1, label=f"node{index}/input", candidates=[f"node{j}" for j in range(index)])
        self.activation = LayerChoice({a: Highway(hidden if index else 2 * hidden, hidden, a) for a in activations},
                                      label=f"node{index}/activation")


class RecurrentCell(nn.Module):
    def __init__(self, hidden: int, num_nodes: int, activations: Sequence[str]):
        super().__init__()
        self.nodes = nn.ModuleList(Node(i, hidden, activations) for i in range(num_nodes))

    def loose_ends(self) -> List[int]:
        used = {j for node in list(self.nodes)[1:] for j in node.input.chosen}
        return [i for i in range(len(self.nodes)) if i not in used]

    def forward(self, x: torch.Tensor, h: torch.Tensor, h_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """One time step: (B, H) input and state -> new state. ``h_mask`` is the variational state dropout."""
        h_in = h * h_mask if h_mask is not None else h
        states = [self.nodes[0].activation(torch.cat([x, h_in], dim=-1), h)]
        for node in list(self.nodes)[1:]:
            s = node.input(states)
            states.append(node.activation(s * h_mask if h_mask is not None else s, s))
        loose = self.loose_ends()
        out = states[loose[0]]
        for i in loose[1:]:
            out = out + states[i]
        return out / len(loose)


def _locked_mask(x: torch.Tensor, p: float, shape) -> Optional[torch.Tensor]:
    """Variational dropout: one mask per sequence, reused at every time step."""
    if p <= 0:
        return None
    return x.new_empty(shape).bernoulli_(1 - p) / (1 - p)


class RNNLanguageModel(nn.Module):
    """Word-level LM around the searched cell. ``forward(tokens (T, B), hidden (B, H) or None)``
    returns ``(logits (T, B, V), new hidden)``. Dropout probabilities are ENAS's 1 - keep_prob."""

    def __init__(self, vocab_size: int = 10000, hidden: int = 720, num_nodes: int = 12,
                 activations: Sequence[str] = RNN_ACTIVATIONS, embedding_dropout: float = 0.25,
                 input_dropout: float = 0.75, state_dropout: float = 0.25, output_dropout: float = 0.75,
                 init_range: Optional[float] = None):
        super().__init__()
        known("rnn", "activations", activations, RNN_ACTIVATIONS)
        at_least("rnn", 1, vocab_size=vocab_size, hidden=hidden, num_nodes=num_nodes)
        fraction("rnn", embedding_dropout=embedding_dropout, input_dropout=input_dropout,
                 state_dropout=state_dropout, output_dropout=output_dropout)
        self.hidden = hidden
        self.embedding = nn.Embedding(vocab_size, hidden)
        self.cell = RecurrentCell(hidden, num_nodes, activations)
        self.decoder_bias = nn.Parameter(torch.zeros(vocab_size))
        self.embedding_dropout, self.input_dropout = embedding_dropout, input_dropout
        self.state_dropout, self.output_dropout = state_dropout, output_dropout
        # official: uniform(-r, r), r = 0.1 up to 300 units, 0.05 up to 400, else 0.04
        r = init_range or (0.1 if hidden <= 300 else 0.05 if hidden <= 400 else 0.04)
        for p in self.parameters():
            if p is not self.decoder_bias:
                nn.init.uniform_(p, -r, r)

    def init_hidden(self, batch_size: int) -> torch.Tensor:
        return self.embedding.weight.new_zeros(batch_size, self.hidden)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        weight = self.embedding.weight
        if self.training and self.embedding_dropout > 0:  # drop whole words (rows of the embedding)
            keep = weight.new_empty(weight.shape[0], 1).bernoulli_(1 - self.embedding_dropout)
            weight = weight * keep / (1 - self.embedding_dropout)
        return F.embedding(tokens, weight)

    def forward(self, tokens: torch.Tensor, hidden: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        T, B = tokens.shape
        h = self.init_hidden(B) if hidden is None else hidden
        emb = self._embed(tokens)
        masks = (None, None, None)
        if self.training:
            masks = tuple(_locked_mask(emb, p, (B, self.hidden))
                          for p in (self.input_dropout, self.state_dropout, self.output_dropout))
        x_mask, h_mask, o_mask = masks
        outputs = []
        for t in range(T):
            x = emb[t] * x_mask if x_mask is not None else emb[t]
            h = self.cell(x, h, h_mask)
            outputs.append(h)
        out = torch.stack(outputs)
        if o_mask is not None:
            out = out * o_mask
        logits = F.linear(out, self.embedding.weight, self.decoder_bias)  # decoder tied to the embedding
        return logits, h

    def describe(self, arch) -> str:
        """``node3 = tanh(node1)`` per node, and which nodes the output averages."""
        lines = [f"node0 = {arch['node0/activation']}(x_t, h_t-1)"]
        lines += [f"node{i} = {arch[f'node{i}/activation']}(node{arch[f'node{i}/input'][0]})"
                  for i in range(1, len(self.cell.nodes))]
        used = {arch[f"node{i}/input"][0] for i in range(1, len(self.cell.nodes))}
        loose = [f"node{i}" for i in range(len(self.cell.nodes)) if i not in used]
        return "\n".join(lines + [f"h_t = mean({', '.join(loose)})"])


@register_space
def rnn(**kwargs) -> RNNLanguageModel:
    """ENAS recurrent cell in a PTB language model (search: 12 nodes, 720 units)."""
    return RNNLanguageModel(**kwargs)
