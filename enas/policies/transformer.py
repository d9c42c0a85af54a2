"""A causal Transformer controller: the ENAS policy with self-attention in place of the LSTM.

The origin of this project names an attention controller as an alternative to the RNN policy
(Transformer: Vaswani et al. 2017, arXiv:1706.03762; pre-norm GPT-2 blocks, Radford et al. 2019,
as in nanoGPT). Everything but the core is the LSTM controller's (`enas.policies.base.DecisionPolicy`):
the same steps in the same order (one per decision, one per anchor), the same per-decision heads
and option embeddings, the same anchor attention for input decisions ``v . tanh(W1 anchor + W2 h)``,
the same ``tanh_constant * tanh(logits / temperature)``, op prior, k-of-n and any-subset (skip)
decisions with their penalty, greedy decoding and teacher-forced evaluation. So REINFORCE, PPO and
actor-critic, derive and checkpoints treat both kinds alike.

Where the LSTM carries its state forward, the Transformer attends (causally) over every earlier
step: each step's input (the start embedding, the previous choice's embedding or the chosen
anchors' mean) plus a learned position embedding becomes one token, and a key/value cache makes
sampling incremental, one token per step, exactly as a full causal pass would compute it.

Size (``lstm_size`` is the width of either kind, so one config compares both at equal width; the
default 2 blocks of 4 heads, counted by ``tests/test_controllers.py``):

===========================================  ===========  ===========  =====
space (controller config)                    LSTM         Transformer  ratio
===========================================  ===========  ===========  =====
micro, 5 nodes (controller/enas.yaml: 64)    54,500       91,620       1.68
macro, 12 layers (enas_macro.yaml: 64)       50,888       86,856       1.71
nb201 (enas_nb201.yaml: 32, LSTM 2 layers)   20,958       21,406       1.02
===========================================  ===========  ===========  =====

Most of either is the per-decision heads and embeddings they share; the MLP is twice the width
rather than GPT's four times, to stay within a factor two of the LSTM. Sampling is incremental but
a step costs more than an LSTM cell: about 2.5x the LSTM's time per batch on the micro space (CPU).
"""
from __future__ import annotations

import math
from typing import List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from supernet import Decision

from .base import DecisionPolicy

__all__ = ["TransformerController", "CausalBlock"]

KVCache = List[Tuple[torch.Tensor, torch.Tensor]]  # per layer: keys and values, (n, heads, steps, head_dim)


class CausalBlock(nn.Module):
    """One pre-norm Transformer block that attends from the newest token to all tokens so far."""

    def __init__(self, width: int, heads: int, mlp_ratio: int = 2):
        super().__init__()
        if width % heads:
            raise ValueError(f"controller.transformer_heads={heads} must divide the width controller.lstm_size={width}")
        self.heads = heads
        self.norm_attn = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm_mlp = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_ratio * width), nn.GELU(), nn.Linear(mlp_ratio * width, width))

    def forward(self, x: torch.Tensor, cache: Tuple[torch.Tensor, torch.Tensor]):
        """``x``: (n, width), the newest token; ``cache``: earlier keys and values (or empty)."""
        n, width = x.shape
        q, k, v = self.qkv(self.norm_attn(x)).view(n, 3, self.heads, 1, width // self.heads).unbind(1)
        keys, values = cache
        keys = k if keys is None else torch.cat([keys, k], 2)
        values = v if values is None else torch.cat([values, v], 2)
        # The newest token may see every cached one: that is the causal mask, one row at a time.
        attended = F.scaled_dot_product_attention(q, keys, values)  # (n, heads, 1, head_dim)
        x = x + self.proj(attended.reshape(n, width))
        x = x + self.mlp(self.norm_mlp(x))
        return x, (keys, values)


class TransformerController(DecisionPolicy):
    def __init__(self, decisions: Sequence[Decision], lstm_size: int = 64, transformer_layers: int = 2,
                 transformer_heads: int = 4, temperature: Optional[float] = None,
                 tanh_constant: Optional[float] = 1.1, op_tanh_reduce: float = 2.5, skip_target: float = 0.4,
                 share_heads: bool = False, init_range: float = 0.1,
                 op_prior: Optional[Mapping[str, float]] = None, mlp_ratio: int = 2):
        super().__init__()
        if transformer_layers < 1 or transformer_heads < 1:
            raise ValueError(f"controller.transformer_layers={transformer_layers} and controller.transformer_heads="
                             f"{transformer_heads} must both be >= 1")
        self._setup(decisions, temperature, tanh_constant, op_tanh_reduce, skip_target)
        H = lstm_size
        self.start = nn.Parameter(torch.empty(1, H))
        self.blocks = nn.ModuleList(CausalBlock(H, transformer_heads, mlp_ratio) for _ in range(transformer_layers))
        self.norm_out = nn.LayerNorm(H)
        self._add_heads(H, share_heads)
        self.position = nn.Parameter(torch.empty(self.num_steps, H))  # which step (decision or anchor) this is
        self._initialise(init_range, transformer_layers)
        self._add_op_prior(op_prior)

    def _initialise(self, init_range: float, layers: int) -> None:
        # GPT-2 initialisation for the blocks (normal 0.02; residual projections scaled by the depth),
        # the LSTM controller's uniform range for embeddings. Heads and the attention's v start at
        # zero: the normalised hidden state has unit scale (the LSTM's is ~0.1), so random heads
        # would start far from the near-uniform policy the LSTM starts with.
        for name, p in self.named_parameters():
            if ".norm" in name or name.startswith("norm_out"):
                nn.init.ones_(p) if name.endswith("weight") else nn.init.zeros_(p)
            elif name.startswith("blocks."):
                if name.endswith("bias"):
                    nn.init.zeros_(p)
                else:
                    std = 0.02 / math.sqrt(2 * layers) if name.endswith(("proj.weight", "mlp.2.weight")) else 0.02
                    nn.init.normal_(p, 0.0, std)
            elif name.startswith(("heads.", "attn_v.")):
                nn.init.zeros_(p)
            else:  # start, position, option embeddings, attention W1 and W2
                nn.init.uniform_(p, -init_range, init_range)

    def _initial_state(self, n: int):
        return 0, [(None, None) for _ in self.blocks]

    def _step(self, x: torch.Tensor, state):
        position, cache = state
        if position >= self.position.shape[0]:
            raise RuntimeError(f"transformer controller ran {position + 1} steps, planned {self.position.shape[0]}")
        x = x + self.position[position]
        new_cache: KVCache = []
        for block, layer_cache in zip(self.blocks, cache):
            x, layer_cache = block(x, layer_cache)
            new_cache.append(layer_cache)
        return self.norm_out(x), (position + 1, new_cache)
