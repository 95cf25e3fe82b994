"""HAPA's code model: a small decoder-only transformer (RMSNorm, rotary positions, tied embeddings).

One module serves training (`forward`: causal attention over a batch) and export (`step`:
incremental decoding over a key/value cache with an explicit attention bias), so the ONNX graph
holds only plain tensor operations that tract runs natively and in WebAssembly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Config:
    vocab_size: int = 8192
    layers: int = 4
    width: int = 256
    heads: int = 4
    mlp_ratio: int = 4
    max_positions: int = 1024
    rope_base: float = 10000.0

    @property
    def head_width(self) -> int:
        return self.width // self.heads

    def as_dict(self) -> dict:
        return asdict(self)


class RmsNorm(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding on the two halves of the last dimension; cos/sin: [..., T, head_width],
    each angle's value twice (once per half).

    Written as a sum rather than a concatenation of the rotated halves (the same numbers): a
    concatenation right before the attention product leads tract to split that product in two
    and add the halves, one more pass over every attention score."""
    half = x.shape[-1] // 2
    swapped = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + swapped * sin


class Block(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.attention_norm = RmsNorm(config.width)
        self.qkv = nn.Linear(config.width, 3 * config.width, bias=False)
        self.out = nn.Linear(config.width, config.width, bias=False)
        self.mlp_norm = RmsNorm(config.width)
        self.up = nn.Linear(config.width, config.mlp_ratio * config.width, bias=False)
        self.down = nn.Linear(config.mlp_ratio * config.width, config.width, bias=False)

    def heads(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        batch, length, _ = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).split(self.config.width, dim=-1)
        shape = (batch, length, self.config.heads, self.config.head_width)
        q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))
        return rotate(q, cos, sin), rotate(k, cos, sin), v

    def finish(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        batch, _, length, _ = attended.shape
        x = x + self.out(attended.transpose(1, 2).reshape(batch, length, self.config.width))
        return x + self.down(F.gelu(self.up(self.mlp_norm(x)), approximate="tanh"))

    def forward(self, x, cos, sin):
        q, k, v = self.heads(x, cos, sin)
        return self.finish(x, F.scaled_dot_product_attention(q, k, v, is_causal=True))

    def step(self, x, cos, sin, past_k, past_v, bias, last_only=False):
        """`last_only`: attend and transform only the last new position (the keys and values
        still cover them all); what the final block does, since only the last position's
        logits leave the graph."""
        q, k, v = self.heads(x, cos, sin)
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        if last_only:
            q, x, bias = q[:, :, -1:], x[:, -1:], bias[:, :, -1:]
        # Scaling the queries, not the scores: T × head_width numbers instead of T × (P + T).
        scores = (q * (1.0 / math.sqrt(self.config.head_width))) @ k.transpose(-1, -2) + bias
        return self.finish(x, torch.softmax(scores, dim=-1) @ v), k, v


class CodeModel(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.width)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.norm = RmsNorm(config.width)
        inverse = 1.0 / config.rope_base ** (torch.arange(0, config.head_width, 2).float() / config.head_width)
        angles = torch.outer(torch.arange(config.max_positions).float(), inverse).repeat(1, 2)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)
        self.apply(self._init)
        for block in self.blocks:
            nn.init.normal_(block.out.weight, std=0.02 / math.sqrt(2 * config.layers))
            nn.init.normal_(block.down.weight, std=0.02 / math.sqrt(2 * config.layers))

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(self.norm(x), self.embed.weight)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits for every position of a batch of sequences (training)."""
        length = ids.shape[1]
        cos, sin = self.cos[:length], self.sin[:length]
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.logits(x)

    def step(self, input_ids, position_ids, attention_bias, *past):
        """One incremental decoding step (export).

        input_ids, position_ids: int64 [1, T]; attention_bias: float [1, 1, T, P + T] (0 where a
        query may look, a large negative number where it may not); past: each layer's keys, then
        its values, float [1, heads, P, head_width] each (2 × layers tensors). The final block
        attends and transforms only the last position: a prompt's other positions need only
        their keys and values from it (a fifth of a long prompt's work saved). Returns the
        next-token logits after the last input position [1, vocab] and each layer's grown keys and
        values [1, heads, P + T, head_width], in the same order. One tensor per layer and kind lets
        the runtime hand each back without slicing or stacking a cache of every layer.
        """
        # The rotary tables laid out like the queries and keys they multiply: operands of one shape
        # are what tract runs through its SIMD elementwise path when the token count is symbolic
        # (a broadcast falls to a generic loop, several times slower in WASM).
        heads = (1, self.config.heads, input_ids.shape[1], self.config.head_width)
        cos = self.cos[position_ids[0]].expand(heads)
        sin = self.sin[position_ids[0]].expand(heads)
        x = self.embed(input_ids)
        present = []
        for index, block in enumerate(self.blocks):
            last_only = index == len(self.blocks) - 1
            x, k, v = block.step(x, cos, sin, past[2 * index], past[2 * index + 1], attention_bias, last_only)
            present += [k, v]
        return (self.logits(x[:, -1]), *present)


class Exported(nn.Module):
    """The `step` signature as a module's forward, for torch.onnx.export."""

    def __init__(self, model: CodeModel):
        super().__init__()
        self.model = model

    def forward(self, input_ids, position_ids, attention_bias, *past):
        return self.model.step(input_ids, position_ids, attention_bias, *past)
