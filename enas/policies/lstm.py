"""The ENAS controller: an LSTM core under the shared policy (`enas.policies.base.DecisionPolicy`).

Pham et al. 2018 (arXiv:1802.03268), section 2.1; official ``lstm_size`` x ``lstm_num_layers`` LSTM cells,
parameters initialised uniformly in [-0.1, 0.1] as the official code.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
from torch import nn

from supernet import Decision

from .base import DecisionPolicy

__all__ = ["Controller"]


class Controller(DecisionPolicy):
    """The ENAS controller: an LSTM core (official ``lstm_size`` x ``lstm_num_layers``)."""

    def __init__(self, decisions: Sequence[Decision], lstm_size: int = 64, lstm_layers: int = 1,
                 temperature: Optional[float] = None, tanh_constant: Optional[float] = 1.1,
                 op_tanh_reduce: float = 2.5, skip_target: float = 0.4, share_heads: bool = False,
                 init_range: float = 0.1, op_prior: Optional[Mapping[str, float]] = None):
        super().__init__()
        self._setup(decisions, temperature, tanh_constant, op_tanh_reduce, skip_target)
        H = lstm_size
        self.start = nn.Parameter(torch.empty(1, H))  # official g_emb
        self.lstm = nn.ModuleList(nn.LSTMCell(H, H) for _ in range(lstm_layers))
        self._add_heads(H, share_heads)
        for p in self.parameters():
            nn.init.uniform_(p, -init_range, init_range)
        self._add_op_prior(op_prior)

    def _initial_state(self, n: int):
        H, device = self.hidden_size, self.start.device
        return [(torch.zeros(n, H, device=device), torch.zeros(n, H, device=device)) for _ in self.lstm]

    def _step(self, x, state):
        new_state = []
        for layer, (h, c) in zip(self.lstm, state):
            h, c = layer(x, (h, c))
            new_state.append((h, c))
            x = h
        return x, new_state
