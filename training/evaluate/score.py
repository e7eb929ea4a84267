"""Log-likelihood scoring: the one place evaluation runs the model.

Everything evaluation measures is a sum of next-token log-probabilities over chosen target
tokens: a document's perplexity and bits per byte (all its tokens), a task choice (the
tokens of the choice after its context), a bias probe (the continuation two sentences
share). So one function scores :class:`Item`\\ s: token ids, and the index of the first id
that is a target (the ones before it are context only). Items are batched by length,
padded, and each comes back as its summed negative log-likelihood in nats, the targets
counted, and the targets the model's top token got right.

A document longer than the context is cut into :func:`windows` that overlap by
``context - stride`` tokens: each window scores only its new tokens, so every token is
scored once, most with a long history (Hugging Face's "perplexity of fixed-length models"
recipe).

Imports torch and numpy only.

Example::

    >>> import torch
    >>> from training.model import LanguageModel, ModelConfig
    >>> _ = torch.manual_seed(0)
    >>> model = LanguageModel(ModelConfig.from_preset("tiny", n_layer=1, vocab_size=64,
    ...                                               context=8)).eval()
    >>> items = [Item([0, 5, 6, 7], first=1), Item([0, 9], first=1)]
    >>> scored = score(model, items, batch_size=2)
    >>> scored.tokens.tolist()
    [3, 1]
    >>> [(w.ids, w.first) for w in windows([0, 1, 2, 3, 4, 5], context=4, stride=2)]
    [([0, 1, 2, 3, 4], 1), ([1, 2, 3, 4, 5], 4)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from training.model import LanguageModel

IGNORE = -1


@dataclass(frozen=True)
class Item:
    """``ids[first:]`` are scored, each given every id before it (``first >= 1``)."""

    ids: list[int]
    first: int


@dataclass
class Scores:
    """Per item: summed negative log-likelihood (nats), targets, top-1 hits."""

    nll: np.ndarray
    tokens: np.ndarray
    correct: np.ndarray


def windows(ids: Sequence[int], context: int, stride: int) -> list[Item]:
    """Items that together score ``ids[1:]`` once each, each at most ``context`` inputs.

    The first window takes ``context`` inputs; each next one moves ``stride`` targets on and
    keeps the ``context - stride`` ids before its new targets as history.
    """
    if not 0 < stride <= context:
        raise ValueError(f"stride {stride} must be in 1..context {context}")
    last = len(ids) - 1  # the last target's index
    out, end = [], 0     # targets 1..end are scored so far
    while end < last:
        new_end = min(end + (context if end == 0 else stride), last)
        start = max(0, new_end - context)  # inputs ids[start:new_end], targets up to new_end
        out.append(Item(list(ids[start:new_end + 1]), first=end + 1 - start))
        end = new_end
    return out


def context_item(context: Sequence[int], target: Sequence[int], limit: int) -> Item:
    """``target`` scored after ``context``; the context loses its oldest ids to fit
    ``limit`` inputs (a target longer than the limit keeps its first ``limit`` ids)."""
    if not context or not target:
        raise ValueError("context and target need at least one token each")
    target = list(target)[:limit]
    keep = max(1, limit + 1 - len(target))
    context = list(context)[-keep:]
    return Item(context + target, first=len(context))


@torch.no_grad()
def score(model: LanguageModel, items: Sequence[Item], batch_size: int = 16,
          device: str | torch.device | None = None,
          on_batch: Callable[[int], None] | None = None) -> Scores:
    """Score every item; ``on_batch(n)`` is told after each batch of ``n`` items."""
    nll = np.zeros(len(items))
    tokens = np.zeros(len(items), dtype=np.int64)
    correct = np.zeros(len(items), dtype=np.int64)
    for batch, picked, hits, mask in _batches(model, items, batch_size, device):
        nll[batch] = (-(picked * mask)).sum(1).double().cpu().numpy()
        tokens[batch] = mask.sum(1).cpu().numpy()
        correct[batch] = hits.sum(1).cpu().numpy()
        if on_batch:
            on_batch(len(batch))
    return Scores(nll, tokens, correct)


@torch.no_grad()
def target_logprobs(model: LanguageModel, items: Sequence[Item], batch_size: int = 16,
                    device: str | torch.device | None = None) -> list[np.ndarray]:
    """Per item, the log-probability of each of its targets ``ids[first:]`` (float64), in
    item order: what :func:`score` sums, token by token."""
    out: list[np.ndarray] = [np.zeros(0)] * len(items)
    for batch, picked, _, mask in _batches(model, items, batch_size, device):
        rows = picked.double().cpu().numpy()
        for row, i in enumerate(batch):
            out[i] = rows[row][mask[row].cpu().numpy()]
    return out


def _batches(model: LanguageModel, items: Sequence[Item], batch_size: int,
             device: str | torch.device | None
             ) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per batch of items (by length, for less padding): their indices, and (B, T) tensors
    of the targets' log-probabilities, top-1 hits and which positions are targets."""
    device = device or next(model.parameters()).device
    order = sorted(range(len(items)), key=lambda i: len(items[i].ids))
    for lo in range(0, len(order), batch_size):
        batch = order[lo:lo + batch_size]
        idx, targets = _pack([items[i] for i in batch], model.config.context)
        logits, _ = model(idx.to(device))
        logp = F.log_softmax(logits.float(), dim=-1)  # (B, T, V)
        targets = targets.to(device)
        mask = targets != IGNORE
        picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # (B, T)
        yield batch, picked, (logp.argmax(-1) == targets) & mask, mask


def _pack(items: Sequence[Item], limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (B, T) and targets (B, T), padded to the longest; padding is IGNOREd."""
    width = max(len(it.ids) for it in items) - 1
    if width > limit:
        raise ValueError(f"an item of {width} inputs exceeds the model context {limit}")
    idx = torch.zeros(len(items), width, dtype=torch.long)
    targets = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, it in enumerate(items):
        if not 1 <= it.first < len(it.ids):
            raise ValueError(f"item first={it.first} outside 1..{len(it.ids) - 1}")
        ids = torch.tensor(it.ids, dtype=torch.long)
        idx[row, :len(ids) - 1] = ids[:-1]
        targets[row, it.first - 1:len(ids) - 1] = ids[it.first:]
    return idx, targets
