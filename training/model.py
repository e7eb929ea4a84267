"""The language model: a decoder-only transformer, and a hybrid with short convolutions.

Owns the architecture (:class:`LanguageModel`), its configuration and size presets
(:class:`ModelConfig`, :data:`PRESETS`), the decode cache serving uses (:class:`Cache`),
the parameter and FLOP counts the trainer reports, and the optimizer's parameter groups.
Imports only torch and the standard library: a GPU or serving machine with torch alone
can load it.

- ``gpt``: pre-norm blocks ``x + Attention(RMSNorm(x))``, ``x + SwiGLU(RMSNorm(x))`` with
  rotary positions (Su et al. 2021), RMSNorm (Zhang & Sennrich 2019), SwiGLU (Shazeer
  2020), no biases and the token embedding reused as the output head (Press & Wolf 2017):
  Llama's block, with q/k/v and gate/up each computed by one fused matmul.
- ``hybrid``: every ``attn_every``-th block keeps attention; the others mix tokens with
  a gated causal depthwise convolution (:mod:`training.conv`).

Example::

    >>> import math, torch
    >>> from training.model import LanguageModel, ModelConfig
    >>> _ = torch.manual_seed(0)
    >>> config = ModelConfig.from_preset("tiny", n_layer=1, vocab_size=256, context=32)
    >>> model = LanguageModel(config)
    >>> idx, targets = torch.randint(0, 256, (2, 16)), torch.randint(0, 256, (2, 16))
    >>> logits, loss = model(idx, targets=targets)
    >>> logits.shape, abs(loss.item() - math.log(256)) < 0.5  # near uniform at initialisation
    (torch.Size([2, 16, 256]), True)
    >>> cache = model.new_cache(batch_size=2)
    >>> _ = model(idx[:, :10], cache=cache)          # prefill
    >>> last, _ = model(idx[:, 10:11], cache=cache)  # decode one token
    >>> cache.pos, torch.allclose(last[:, 0], logits[:, 10], atol=1e-5)
    (11, True)

Rows may be at different lengths (a server's batch slots): each continues at its own.

    >>> cache.reset()
    >>> _ = model(idx[:1, :3], cache=cache.rows(0, 1))  # row 0 holds 3 tokens, row 1 holds 7
    >>> _ = model(idx[1:, :7], cache=cache.rows(1, 2))
    >>> step, _ = model(torch.stack([idx[0, 3:4], idx[1, 7:8]]), cache=cache)
    >>> cache.lengths.tolist(), torch.allclose(step[1, 0], logits[1, 7], atol=1e-5)
    ([4, 8], True)
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from training.conv import ConvMixer
from training.loss import cross_entropy

ARCHS = ("gpt", "hybrid")

# Dimensions by name; any field may be overridden. The small presets match the tokenizer's
# default vocabulary and train.context; the GPT-2 sizes (Radford et al. 2019) use 50304, the
# GPT-2 vocabulary padded to a multiple of 128 so the head's matmul tiles evenly.
_GPT2 = {"context": 1024, "vocab_size": 50304}
PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"n_layer": 4, "n_head": 4, "n_embd": 128, "context": 256, "vocab_size": 8192},
    "small": {"n_layer": 6, "n_head": 6, "n_embd": 384, "context": 256, "vocab_size": 8192},
    "gpt2-124m": {"n_layer": 12, "n_head": 12, "n_embd": 768, **_GPT2},
    "gpt2-350m": {"n_layer": 24, "n_head": 16, "n_embd": 1024, **_GPT2},
    "gpt2-774m": {"n_layer": 36, "n_head": 20, "n_embd": 1280, **_GPT2},
    "gpt2-1.5b": {"n_layer": 48, "n_head": 25, "n_embd": 1600, **_GPT2},
}


@dataclass(frozen=True)
class ModelConfig:
    """The ``model`` section of params.yaml and the model's config.json."""

    arch: str = "gpt"  # "gpt": attention everywhere; "hybrid": conv blocks between attention
    vocab_size: int = 8192  # tokenizer.vocab_size: the trainer takes it from the tokenizer
    context: int = 256  # train.context: the longest sequence, and the RoPE table's length
    n_layer: int = 4  # the tiny preset's sizes: a few minutes of training on two CPU cores
    n_head: int = 4
    n_embd: int = 128
    # 0 = auto: 8/3 * n_embd gives SwiGLU's three matrices the parameters of a 4x two-matrix
    # MLP (Shazeer 2020); rounded up to a multiple of 64 so matmuls fill whole GPU tiles.
    mlp_hidden: int = 0
    # Hybrid only: block i is attention when (i + 1) % attn_every == 0. 3 = two conv blocks
    # per attention block, Griffin's ratio (De et al. 2024): conv handles local syntax, the
    # sparser attention layers the long-range lookups.
    attn_every: int = 3
    conv_kernel: int = 4  # Mamba's and H3's short-conv width: a few tokens of local context
    rope_theta: float = 10000.0  # RoPE's base (Su et al.); ample for contexts of a few 1000
    norm_eps: float = 1e-5  # Llama 2's RMSNorm epsilon; well above bf16's resolution
    dropout: float = 0.0  # single-epoch pretraining does not overfit; dropout only slows it
    init_std: float = 0.02  # GPT-2's initialisation; output projections get / sqrt(2 n_layer)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value, kind = getattr(self, f.name), f.type
            ok = (isinstance(value, str) if kind == "str" else
                  isinstance(value, int) if kind == "int" else isinstance(value, int | float))
            if not ok or isinstance(value, bool):
                raise ValueError(f"model.{f.name}: expected {kind}, got {value!r}")
        if self.arch not in ARCHS:
            raise ValueError(f"model.arch: unknown arch {self.arch!r} (known: {', '.join(ARCHS)})")
        for name in ("vocab_size", "context", "n_layer", "n_head", "n_embd", "attn_every",
                     "rope_theta", "norm_eps", "init_std"):
            if getattr(self, name) <= 0:
                raise ValueError(f"model.{name}: must be positive, got {getattr(self, name)}")
        self._validate_shapes()

    def _validate_shapes(self) -> None:
        if self.n_embd % self.n_head:
            raise ValueError(f"model.n_head: {self.n_head} does not divide "
                             f"model.n_embd {self.n_embd}")
        if self.head_dim % 2:
            raise ValueError(f"model.n_head: head_dim n_embd/n_head = {self.head_dim} is odd; "
                             "RoPE rotates pairs of dimensions")
        if self.mlp_hidden < 0:
            raise ValueError(f"model.mlp_hidden: must be 0 (auto) or positive, "
                             f"got {self.mlp_hidden}")
        if self.conv_kernel < 2:
            raise ValueError(f"model.conv_kernel: must be at least 2, got {self.conv_kernel}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"model.dropout: must be in [0, 1), got {self.dropout}")
        if self.arch == "hybrid" and self.attn_every > self.n_layer:
            raise ValueError(f"model.attn_every: {self.attn_every} exceeds model.n_layer "
                             f"{self.n_layer}: the hybrid would have no attention block")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def hidden(self) -> int:
        """The SwiGLU width: ``mlp_hidden``, or its automatic value when 0."""
        return self.mlp_hidden or 64 * math.ceil(8 * self.n_embd / 3 / 64)

    def is_attention(self, layer: int) -> bool:
        return self.arch == "gpt" or (layer + 1) % self.attn_every == 0

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> ModelConfig:
        """A preset's dimensions with ``overrides`` on top (None values: keep the preset's)."""
        if name not in PRESETS:
            raise ValueError(f"model.preset: unknown preset {name!r} "
                             f"(known: {', '.join(PRESETS)})")
        given = {k: v for k, v in overrides.items() if v is not None}
        return cls.from_dict({**PRESETS[name], **given})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            raise ValueError(f"model.{unknown[0]}: unknown key{'s' if len(unknown) > 1 else ''} "
                             f"{', '.join(unknown)} (known: {', '.join(known)})")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def rope_table(config: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of every (position, frequency) pair: each (context, head_dim / 2)."""
    d = config.head_dim
    inv_freq = 1.0 / config.rope_theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d)
    angles = torch.outer(torch.arange(config.context, dtype=torch.float64), inv_freq)
    return angles.cos().float(), angles.sin().float()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate the pairs (x_i, x_{i + D/2}) of x (..., T, D) by each position's angles.

    The half-split pairing (GPT-NeoX, Llama) rather than adjacent pairs: two contiguous
    halves, no interleaving copies.
    """
    x1, x2 = x.chunk(2, dim=-1)  # (..., T, D/2) each
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


class Attention(nn.Module):
    """Causal multi-head self-attention with RoPE on q and k; q, k, v from one matmul."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.n_head, self.head_dim, self.dropout = config.n_head, config.head_dim, config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.out = nn.Linear(config.n_embd, config.n_embd, bias=False)  # residual projection

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                cache: Cache | None = None, layer: int = 0,
                pos: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.head_dim).permute(2, 0, 3, 1, 4)
        qk, v = qkv.split((2, 1))  # (2, B, H, T, D), (1, B, H, T, D): views, one-op backward
        cos, sin = rope[0].to(qkv.dtype), rope[1].to(qkv.dtype)  # no-ops without autocast
        q, k = apply_rope(qk, cos, sin).unbind(0)  # (B, H, T, D) each, rotated together
        v = v[0]
        if cache is None:
            p = self.dropout if self.training else 0.0
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        else:
            y = self.attend_cached(q, k, v, cache, layer, pos)
        return self.out(y.transpose(1, 2).reshape(B, T, C))  # heads side by side: (B, T, C)

    @staticmethod
    def attend_cached(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cache: Cache,
                      layer: int, pos: torch.Tensor) -> torch.Tensor:
        """Write k, v (B, H, T, D) at each row's positions ``pos`` (B, T), then attend over
        the row's cached keys up to each query's own position."""
        keys, values = cache.k[layer], cache.v[layer]  # (B, H, max_len, D)
        rows = torch.arange(q.shape[0], device=q.device)[:, None]  # (B, 1)
        keys[rows, :, pos] = k.transpose(1, 2).to(keys.dtype)  # (B, T, H, D) by (row, pos)
        values[rows, :, pos] = v.transpose(1, 2).to(values.dtype)
        end = cache.pos + q.shape[2]  # the longest row's end: no query sees a key past it
        mask = torch.arange(end, device=q.device) <= pos[..., None]  # (B, T, end)
        return F.scaled_dot_product_attention(q, keys[:, :, :end].to(q.dtype),
                                              values[:, :, :end].to(q.dtype),
                                              attn_mask=mask[:, None])  # heads share it


class SwiGLU(nn.Module):
    """x -> (SiLU(x W_gate) * x W_up) W_down, gate and up computed by one matmul."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.gate_up = nn.Linear(config.n_embd, 2 * config.hidden, bias=False)
        self.out = nn.Linear(config.hidden, config.n_embd, bias=False)  # residual projection

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)  # (B, T, hidden) each
        return self.out(F.silu(gate) * up)


class Block(nn.Module):
    """x + Mix(RMSNorm(x)), then x + SwiGLU(RMSNorm(x)); Mix is attention or the conv."""

    def __init__(self, config: ModelConfig, layer: int) -> None:
        super().__init__()
        self.layer, self.attention = layer, config.is_attention(layer)
        self.norm1 = nn.RMSNorm(config.n_embd, eps=config.norm_eps)
        self.mix = (Attention(config) if self.attention
                    else ConvMixer(config.n_embd, config.conv_kernel))
        self.norm2 = nn.RMSNorm(config.n_embd, eps=config.norm_eps)
        self.mlp = SwiGLU(config)
        self.drop = nn.Dropout(config.dropout) if config.dropout else nn.Identity()

    def forward(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor],
                cache: Cache | None, pos: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)  # (B, T, C)
        if self.attention:
            h = self.mix(h, rope, cache, self.layer, pos)
        else:
            h = self.mix(h, None if cache is None else cache.conv[self.layer])
        x = x + self.drop(h)
        return x + self.drop(self.mlp(self.norm2(x)))  # (B, T, C)


class Cache:
    """Decode state for one batch of sequences: K/V per attention layer, the last
    ``conv_kernel - 1`` inputs per conv layer, and ``lengths``, the tokens each row has seen.

    ``k[i]``/``v[i]`` are (B, n_head, max_len, head_dim) for attention layers and
    ``conv[i]`` (B, n_embd, conv_kernel - 1) for conv layers; None for the other kind.
    Rows may differ in length: each continues at its own position. ``lengths`` (B,) stays
    on the CPU, so positions are known without waiting for the device.
    """

    def __init__(self, config: ModelConfig, batch_size: int, max_len: int,
                 device: torch.device | str | None, dtype: torch.dtype) -> None:
        self.max_len = max_len
        self.lengths = torch.zeros(batch_size, dtype=torch.long)
        kv = (batch_size, config.n_head, max_len, config.head_dim)
        conv = (batch_size, config.n_embd, config.conv_kernel - 1)
        attn = [config.is_attention(i) for i in range(config.n_layer)]
        self.k = [torch.zeros(kv, device=device, dtype=dtype) if a else None for a in attn]
        self.v = [torch.zeros(kv, device=device, dtype=dtype) if a else None for a in attn]
        self.conv = [None if a else torch.zeros(conv, device=device, dtype=dtype) for a in attn]

    @property
    def pos(self) -> int:
        """The longest row's length: every row's, when the rows are decoded together."""
        return int(self.lengths.max()) if len(self.lengths) else 0

    def rows(self, start: int, stop: int) -> Cache:
        """Rows ``start .. stop - 1`` as a cache of their own, sharing this one's memory:
        decoding through the view advances those rows here."""
        view = copy.copy(self)
        view.lengths = self.lengths[start:stop]
        view.k, view.v, view.conv = ([None if t is None else t[start:stop] for t in kind]
                                     for kind in (self.k, self.v, self.conv))
        return view

    def copy_row(self, src: int, dst: int) -> None:
        """Make row ``dst`` a copy of row ``src`` (a server moves a row into a freed slot)."""
        n = int(self.lengths[src])
        for t in (*self.k, *self.v):
            if t is not None:
                t[dst, :, :n] = t[src, :, :n]
        for t in self.conv:
            if t is not None:
                t[dst] = t[src]
        self.lengths[dst] = n

    def reset(self) -> None:
        """Start new sequences: K/V past each row's length is never read; conv state
        restarts at zero."""
        self.lengths.zero_()
        for state in self.conv:
            if state is not None:
                state.zero_()


class LanguageModel(nn.Module):
    """The model: token ids (B, T) -> next-token logits (B, T, vocab_size)."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)  # also the output head
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.norm = nn.RMSNorm(config.n_embd, eps=config.norm_eps)
        cos, sin = rope_table(config)
        self.register_buffer("cos", cos, persistent=False)  # derived: not in checkpoints
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(".out.weight"):  # residual projections: GPT-2's 1/sqrt(2 L)
                nn.init.normal_(p, 0.0, config.init_std / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, 0.0, self.config.init_std)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                cache: Cache | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits for the tokens ``idx`` (B, T) and, with ``targets`` (B, T), the mean cross
        entropy over targets other than -1. With ``cache``, each row of ``idx`` continues its
        cached sequence at that row's length, and every row advances by T."""
        logits = F.linear(self.hidden(idx, cache), self.wte.weight)  # (B, T, vocab): tied head
        if targets is None:
            return logits, None
        loss = cross_entropy(logits.flatten(0, 1), targets.flatten())
        return logits, loss

    def hidden(self, idx: torch.Tensor, cache: Cache | None = None) -> torch.Tensor:
        """The final hidden states (B, T, C) of ``idx``, after the last norm: what the head
        reads, and what the drift monitor mean-pools into an embedding."""
        T = idx.shape[1]
        start = 0 if cache is None else cache.pos
        limit = self.config.context if cache is None else cache.max_len
        if start + T > limit:
            raise ValueError(f"sequence of {start + T} tokens exceeds the "
                             f"{'cache' if cache else 'context'} length {limit}")
        if cache is None:
            pos, rope = None, (self.cos[:T], self.sin[:T])  # (T, head_dim/2) each
        else:  # each row from its own length: positions (B, T), rope (B, 1, T, head_dim/2)
            pos = (cache.lengths[:, None] + torch.arange(T)).to(idx.device)
            rope = (self.cos[pos][:, None], self.sin[pos][:, None])  # shared by the heads
        x = self.wte(idx)  # (B, T, C)
        for block in self.blocks:
            x = block(x, rope, cache, pos)
        if cache is not None:
            cache.lengths += T  # in place: a view of rows advances them in its parent
        return self.norm(x)

    def new_cache(self, batch_size: int, max_len: int | None = None,
                  device: torch.device | str | None = None,
                  dtype: torch.dtype | None = None) -> Cache:
        """An empty decode cache for ``batch_size`` sequences of up to ``max_len`` tokens
        (default: the context), on the model's device and in its dtype unless given."""
        max_len = max_len or self.config.context
        if not 0 < max_len <= self.config.context:
            raise ValueError(f"cache max_len {max_len} outside 1..context "
                             f"{self.config.context} (RoPE's table ends there)")
        w = self.wte.weight
        return Cache(self.config, batch_size, max_len, device or w.device, dtype or w.dtype)

    def num_params(self, exclude_embeddings: bool = False) -> int:
        """Parameters, each counted once (the tied head is the embedding)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.wte.weight.numel() if exclude_embeddings else n

    def flops_per_token(self) -> int:
        """Training FLOPs per token, forward and backward (PaLM, Chowdhery et al. 2022, app. B).

        6 per parameter per token (2 forward, 4 backward) over the non-embedding parameters
        plus the head's matmul (the tied table, counted once; the embedding lookup is no
        matmul), plus 12 * n_embd * context per attention layer for the score and value
        matmuls. A conv block's filter is a parameter applied once per token, so its cost
        is already in the 6N term.
        """
        c = self.config
        n_attn = sum(c.is_attention(i) for i in range(c.n_layer))
        return 6 * self.num_params() + 12 * n_attn * c.n_embd * c.context

    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float],
                            device_type: str) -> torch.optim.AdamW:
        """AdamW, decaying matrices only; the fused CUDA kernel on a GPU."""
        fused = {"fused": True} if device_type == "cuda" else {}
        return torch.optim.AdamW(param_groups(self, weight_decay), lr=lr, betas=betas, **fused)

    @torch.no_grad()
    def generate(self, idx: torch.Tensor, max_new_tokens: int, temperature: float = 1.0,
                 top_k: int | None = None) -> torch.Tensor:
        """``idx`` (B, T) followed by ``max_new_tokens`` sampled tokens (greedy at
        temperature 0), decoding with the cache."""
        # The last new token is never fed back: a prompt may fill the context but one.
        cache = self.new_cache(idx.shape[0], idx.shape[1] + max_new_tokens - 1)
        logits, _ = self(idx, cache=cache)
        out = [idx]
        for i in range(max_new_tokens):
            last = logits[:, -1]  # (B, vocab)
            if temperature == 0:
                token = last.argmax(-1, keepdim=True)
            else:
                if top_k is not None:
                    kth = torch.topk(last, min(top_k, last.shape[-1])).values[:, -1:]
                    last = last.masked_fill(last < kth, float("-inf"))
                token = torch.multinomial(F.softmax(last / temperature, dim=-1), 1)
            out.append(token)  # (B, 1)
            if i + 1 < max_new_tokens:
                logits, _ = self(token, cache=cache)
        return torch.cat(out, dim=1)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices and filters (2-D and up), none on norm gains (1-D)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
