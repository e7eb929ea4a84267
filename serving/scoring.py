"""Per-token log-probabilities of texts: what ``/score`` answers.

A text is read as a document, after ``<|endoftext|>``, and each of its tokens is scored
given every token before it that fits the model's context. A text longer than the context
is cut into the overlapping :func:`training.evaluate.score.windows` evaluation uses, so
each token is scored once, and (past the first window) with ``context - stride`` tokens of
history, as ``llmlake evaluate`` scores documents. The windows of all texts are scored by
:func:`training.evaluate.score.target_logprobs`, which keeps every token's
log-probability where :func:`training.evaluate.score.score` sums them. Imports torch,
numpy and the evaluation's scoring core.

Example::

    >>> import torch
    >>> from training.model import LanguageModel, ModelConfig
    >>> _ = torch.manual_seed(0)
    >>> model = LanguageModel(ModelConfig.from_preset("tiny", n_layer=1, vocab_size=64,
    ...                                               context=4)).eval()
    >>> short, long = token_logprobs(model, [[0, 5, 6], [0, 1, 2, 3, 4, 5, 6, 7]], stride=2)
    >>> short.shape, long.shape, bool((long < 0).all())
    ((2,), (7,), True)
    >>> summary(short, nbytes=3)["tokens"]
    2
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from training.evaluate.score import target_logprobs, windows
from training.model import LanguageModel


@torch.inference_mode()
def token_logprobs(model: LanguageModel, sequences: Sequence[Sequence[int]], stride: int = 0,
                   batch_size: int = 16, device: torch.device | str | None = None
                   ) -> list[np.ndarray]:
    """Per sequence, ``log p(ids[i] | ids[:i])`` for every ``i >= 1`` (float64 arrays).

    ``stride``: new tokens per window past the first (0: half the context).
    """
    context = model.config.context
    stride = stride or max(1, context // 2)
    jobs = [(i, w) for i, ids in enumerate(sequences) for w in windows(ids, context, stride)]
    scored = target_logprobs(model, [w for _, w in jobs], batch_size, device)
    parts: list[list[np.ndarray]] = [[] for _ in sequences]
    for (i, _), logp in zip(jobs, scored, strict=True):  # a text's windows stay in order
        parts[i].append(logp)
    return [np.concatenate(p) if p else np.zeros(0) for p in parts]


def summary(logprobs: np.ndarray, nbytes: int) -> dict[str, float | int]:
    """Tokens, summed negative log-likelihood (nats), perplexity and bits per byte."""
    tokens = len(logprobs)
    nll = float(-logprobs.sum())
    return {"tokens": tokens, "nll": nll,
            "perplexity": math.exp(nll / tokens) if tokens else float("nan"),
            "bits_per_byte": nll / math.log(2) / nbytes if nbytes else float("nan")}
