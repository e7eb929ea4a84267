"""Per-token log-probabilities of texts: what ``/score`` answers.

A text is read as a document, after ``<|endoftext|>``, and each of its tokens is scored
given every token before it that fits the model's context. A text longer than the context
is cut into the overlapping :func:`training.evaluate.score.windows` evaluation uses, so
each token is scored once, and (past the first window) with ``context - stride`` tokens of
history, as ``llmlake evaluate`` scores documents. The windows of all texts are run in
batches, padded on the right (the model is causal: padding changes nothing before it).
Unlike :func:`training.evaluate.score.score`, which sums per item, every token's
log-probability comes back. Imports torch, numpy and the evaluation's scoring core.

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
import torch.nn.functional as F

from training.evaluate.score import Item, windows
from training.model import LanguageModel


@torch.inference_mode()
def token_logprobs(model: LanguageModel, sequences: Sequence[Sequence[int]], stride: int = 0,
                   batch_size: int = 16, device: torch.device | str | None = None
                   ) -> list[np.ndarray]:
    """Per sequence, ``log p(ids[i] | ids[:i])`` for every ``i >= 1`` (float64 arrays).

    ``stride``: new tokens per window past the first (0: half the context).
    """
    device = device or model.wte.weight.device
    context = model.config.context
    stride = stride or max(1, context // 2)
    jobs = [(i, w) for i, ids in enumerate(sequences) for w in windows(ids, context, stride)]
    parts: list[list[np.ndarray]] = [[] for _ in sequences]
    for lo in range(0, len(jobs), batch_size):  # in order: a text's windows stay in order
        batch = jobs[lo:lo + batch_size]
        logp = _window_logprobs(model, [w for _, w in batch], device)
        for (i, _), scores in zip(batch, logp, strict=True):
            parts[i].append(scores)
    return [np.concatenate(p) if p else np.zeros(0) for p in parts]


def _window_logprobs(model: LanguageModel, items: list[Item],
                     device: torch.device | str) -> list[np.ndarray]:
    """The log-probabilities of each item's targets ``ids[first:]``, one forward pass."""
    width = max(len(it.ids) for it in items) - 1
    idx = torch.zeros(len(items), width, dtype=torch.long)
    for row, it in enumerate(items):
        idx[row, :len(it.ids) - 1] = torch.tensor(it.ids[:-1])
    logits, _ = model(idx.to(device))
    logp = F.log_softmax(logits.float(), dim=-1).cpu()  # (B, T, V)
    out = []
    for row, it in enumerate(items):
        targets = torch.tensor(it.ids[it.first:])
        rows = logp[row, it.first - 1:len(it.ids) - 1]  # the positions predicting them
        out.append(rows.gather(-1, targets[:, None])[:, 0].double().numpy())
    return out


def summary(logprobs: np.ndarray, nbytes: int) -> dict[str, float | int]:
    """Tokens, summed negative log-likelihood (nats), perplexity and bits per byte."""
    tokens = len(logprobs)
    nll = float(-logprobs.sum())
    return {"tokens": tokens, "nll": nll,
            "perplexity": math.exp(nll / tokens) if tokens else float("nan"),
            "bits_per_byte": nll / math.log(2) / nbytes if nbytes else float("nan")}
