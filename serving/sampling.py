"""How the next token is chosen: a request's sampling parameters and the draw itself.

Owns :class:`SamplingParams` (validated on construction; each error names its field, so a
server can answer 4xx with it) and :func:`sample`, which picks one token per row of a batch
of logits: the argmax at temperature 0, otherwise a draw from the temperature-scaled
distribution cut to the ``top_k`` most likely tokens and then to the smallest set holding
``top_p`` of the mass (nucleus sampling, Holtzman et al. 2020). Each row draws with its own
``torch.Generator``, so a seeded request samples the same tokens whatever else is in the
batch. Imports torch and the standard library only.

Example::

    >>> import torch
    >>> logits = torch.tensor([[0.0, 3.0, 1.0], [2.0, 0.0, 1.0]])
    >>> greedy = SamplingParams(temperature=0)
    >>> sample(logits, [greedy, greedy], [None, None])
    [1, 0]
    >>> one = SamplingParams(top_k=1, seed=7)  # only the likeliest token survives the cut
    >>> sample(logits, [one, one], [new_generator(one), new_generator(one)])
    [1, 0]
    >>> SamplingParams(top_p=0)
    Traceback (most recent call last):
    ...
    ValueError: top_p: must be in (0, 1], got 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

SEED_LIMIT = 2**63  # torch.Generator.manual_seed's range for a non-negative seed


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class SamplingParams:
    """One request's decoding settings (``stop`` may be given as a list: kept as a tuple)."""

    max_new_tokens: int = 64  # capped by the engine's max_new_tokens_cap and the context
    temperature: float = 1.0  # 0: greedy (argmax)
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off
    seed: int | None = None  # None: a fresh random seed per request
    stop: tuple[str, ...] = ()  # the text ends before the first of these it contains
    ignore_eos: bool = False  # decode past <|endoftext|>: fixed-length benchmark outputs

    def __post_init__(self) -> None:
        if isinstance(self.stop, list):
            object.__setattr__(self, "stop", tuple(self.stop))
        if not _is_int(self.max_new_tokens) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens: must be a positive integer, "
                             f"got {self.max_new_tokens!r}")
        for name, ok, rule in (
            ("temperature", lambda t: t >= 0, "a non-negative number"),
            ("top_p", lambda p: 0 < p <= 1, "in (0, 1]"),
        ):
            value = getattr(self, name)
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or not math.isfinite(value) or not ok(value):
                raise ValueError(f"{name}: must be {rule}, got {value!r}")
        if not _is_int(self.top_k) or self.top_k < 0:
            raise ValueError(f"top_k: must be a non-negative integer (0: off), got {self.top_k!r}")
        if self.seed is not None and not (_is_int(self.seed) and 0 <= self.seed < SEED_LIMIT):
            raise ValueError(f"seed: must be null or an integer in [0, 2**63), got {self.seed!r}")
        if not isinstance(self.stop, tuple) or not all(isinstance(s, str) and s
                                                       for s in self.stop):
            raise ValueError(f"stop: must be a list of non-empty strings, got {self.stop!r}")
        if not isinstance(self.ignore_eos, bool):
            raise ValueError(f"ignore_eos: must be a boolean, got {self.ignore_eos!r}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def new_generator(params: SamplingParams,
                  device: torch.device | str | None = None) -> torch.Generator | None:
    """The request's own random stream: seeded by ``params.seed``, else randomly; None
    when greedy (nothing to draw)."""
    if params.greedy:
        return None
    gen = torch.Generator(device=device or "cpu")
    if params.seed is None:
        gen.seed()
    else:
        gen.manual_seed(params.seed)
    return gen


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """``logits`` (V,) with every token outside the top-k, then outside the top-p nucleus,
    set to -inf. The likeliest token always survives."""
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1:
        ranked, order = logits.sort(descending=True)
        probs = ranked.softmax(-1)
        above = probs.cumsum(-1) - probs  # the mass of the tokens ranked above each
        cut = torch.zeros_like(above, dtype=torch.bool).scatter(0, order, above >= top_p)
        logits = logits.masked_fill(cut, float("-inf"))
    return logits


def sample(logits: torch.Tensor, params: list[SamplingParams],
           generators: list[torch.Generator | None]) -> list[int]:
    """One token per row of ``logits`` (B, V), row i by ``params[i]`` with ``generators[i]``.

    Greedy rows share one batched argmax; only sampled rows are drawn one by one, each
    from its own generator.
    """
    tokens = logits.argmax(-1).tolist()
    for i, (p, gen) in enumerate(zip(params, generators, strict=True)):
        if not p.greedy:
            scaled = filter_logits(logits[i].float() / p.temperature, p.top_k, p.top_p)
            tokens[i] = int(torch.multinomial(F.softmax(scaled, -1), 1, generator=gen))
    return tokens
