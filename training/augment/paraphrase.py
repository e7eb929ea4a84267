"""Paraphrases sampled from the model: a text's opening kept, the rest rewritten.

Back-translation's idea (Sennrich et al. 2016), done with the one model there is: the first
``keep`` share of a text's words stays as written (with its spaces and line breaks), and the
model writes the rest at ``temperature``, about as many tokens as the rest had, stopping at
``<|endoftext|>``. The padding token is never sampled. A text with nothing left to write
(one word, or ``keep: 1``) comes back unchanged, so augment drops it as identical.

Each text is sampled with its own seed: every token by inverse-CDF sampling (the first
token whose cumulative softmax probability passes a uniform draw) with uniforms from a
generator of that seed alone, so a text's paraphrase depends on its seed, not on the texts
batched with it. Texts are sorted by prefix length and batched; prefixes of one length fill
their rows of the decode cache together (no padding in attention), then the batch decodes
together, the head applied to last tokens only, under ``torch.no_grad`` with the model in
eval mode.

Example::

    >>> import torch
    >>> from etl.tokenizer.bpe import train
    >>> from training.model import LanguageModel, ModelConfig
    >>> tok = train(["the cat sat on the mat and the dog sat on the rug"] * 20, 300)
    >>> _ = torch.manual_seed(0)
    >>> model = LanguageModel(ModelConfig.from_preset("tiny", n_layer=1, n_embd=32, n_head=2,
    ...                                               vocab_size=300, context=32))
    >>> text = "the cat sat on the mat"
    >>> out = paraphrase(model, tok, [(text, 7), (text, 7)], keep=0.5, temperature=1.0)
    >>> out[0].startswith("the cat sat"), out[0] == out[1]
    (True, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmlake.tokenizer import EOS, PAD
from training.augment.eda import split

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

    from training.model import Cache, LanguageModel

BATCH = 32  # texts decoded together
# Up to this width a decode step's matmuls take well under a millisecond on one core: waking
# more threads costs more than they save (on a busy 2-core machine, several times more).
SMALL_WIDTH = 256


@dataclass(frozen=True)
class Plan:
    index: int       # the text's place in the input
    prefix: str      # what is kept
    ids: list[int]   # the prefix's tokens
    budget: int      # tokens the model may write
    seed: int


def keep_prefix(text: str, keep: float) -> str:
    """The first ``keep`` share of ``text``'s words (at least one), with the spaces
    between them, as written."""
    words, gaps = split(text)
    if not words:
        return text
    k = max(1, round(keep * len(words)))
    return gaps[0] + "".join(w + g for w, g in zip(words[:k - 1], gaps[1:k], strict=True)) \
        + words[k - 1]


def plan(tok: Tokenizer, jobs: list[tuple[str, int]], keep: float, context: int
         ) -> list[Plan]:
    """What each text keeps and how much the model writes; texts with nothing to write or
    no room left in the context are left out."""
    plans = []
    for index, (text, seed) in enumerate(jobs):
        prefix = keep_prefix(text, keep)
        if not prefix.strip() or prefix == text:
            continue
        ids = tok.encode(prefix).ids
        rest = len(tok.encode(text).ids) - len(ids)
        budget = min(max(rest, 1), context - len(ids))
        if budget >= 1:
            plans.append(Plan(index, prefix, ids, budget, seed))
    return sorted(plans, key=lambda p: (len(p.ids), p.index))


def uniforms(n: int, seed: int) -> torch.Tensor:
    """``n`` uniform draws from a generator seeded with ``seed`` alone: one per token."""
    import torch

    return torch.rand(n, generator=torch.Generator().manual_seed(seed % 2**63),
                      dtype=torch.float64)


def prefill(model: LanguageModel, plans: list[Plan], cache: Cache) -> torch.Tensor:
    """Each prefix into its own cache rows (prefixes of one length together); the logits
    (B, vocab) of each prefix's last token."""
    import torch
    import torch.nn.functional as F

    last, start = [], 0
    while start < len(plans):
        stop = start
        while stop < len(plans) and len(plans[stop].ids) == len(plans[start].ids):
            stop += 1
        idx = torch.tensor([p.ids for p in plans[start:stop]])
        hidden = model.hidden(idx, cache=cache.rows(start, stop))[:, -1]  # (rows, C)
        last.append(F.linear(hidden, model.wte.weight))  # the head on the last token only
        start = stop
    return torch.cat(last)


def sample(model: LanguageModel, plans: list[Plan], temperature: float, eos: int,
           pad: int) -> list[list[int]]:
    """The tokens the model writes after each plan's prefix (EOS not included)."""
    import torch

    longest = max(len(p.ids) for p in plans)
    steps = max(p.budget for p in plans)  # chunks(): every row gets its whole budget
    # Each row's full draw, then cut or padded: the same uniforms whatever the batch.
    u = torch.stack([torch.nn.functional.pad(uniforms(p.budget, p.seed)[:steps],
                                             (0, steps - min(p.budget, steps)))
                     for p in plans])  # (B, steps)
    cache = model.new_cache(len(plans), longest + steps)
    logits = prefill(model, plans, cache)  # (B, vocab)
    out: list[list[int]] = [[] for _ in plans]
    done = [False] * len(plans)
    for t in range(steps):
        logits[:, pad] = float("-inf")
        cdf = torch.softmax(logits.double() / temperature, dim=-1).cumsum(-1)
        # Inverse-CDF sampling: the first token whose cumulative probability passes u.
        token = (cdf < u[:, t:t + 1] * cdf[:, -1:]).sum(-1).clamp_(max=cdf.shape[1] - 1)
        for i, p in enumerate(plans):
            if not done[i]:
                done[i] = int(token[i]) == eos or t >= p.budget
                if not done[i]:
                    out[i].append(int(token[i]))
        if all(done) or t + 1 == steps:
            break
        hidden = model.hidden(token[:, None], cache=cache)[:, -1]
        logits = torch.nn.functional.linear(hidden, model.wte.weight)
    return out


def chunks(plans: list[Plan], batch_size: int, context: int) -> Iterator[list[Plan]]:
    """Batches of at most ``batch_size`` plans whose longest prefix plus largest budget fits
    the context, so no row's budget is cut for its batch-mates: a row writes the same
    whatever rows share its batch."""
    chunk: list[Plan] = []
    for p in plans:
        grown = [*chunk, p]
        if chunk and (len(grown) > batch_size or max(len(q.ids) for q in grown)
                      + max(q.budget for q in grown) > context):
            yield chunk
            grown = [p]
        chunk = grown
    if chunk:
        yield chunk


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` inside (None: left as they are)."""
    import torch

    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def paraphrase(model: LanguageModel, tok: Tokenizer, jobs: list[tuple[str, int]],
               keep: float, temperature: float, batch_size: int = BATCH) -> list[str]:
    """A paraphrase of each ``(text, seed)`` (see the module doc), in order."""
    import torch

    model.eval()
    eos, pad = tok.token_to_id(EOS), tok.token_to_id(PAD)
    out = [text for text, _ in jobs]
    plans = plan(tok, jobs, keep, model.config.context)
    with torch.no_grad(), threads(1 if model.config.n_embd <= SMALL_WIDTH else None):
        for chunk in chunks(plans, batch_size, model.config.context):
            for p, ids in zip(chunk, sample(model, chunk, temperature, eos, pad), strict=True):
                # The prefix as written, then the new tokens: byte-level BPE decodes them
                # exactly; a character cut at the end decodes to U+FFFD, dropped.
                written = tok.decode(ids).rstrip().rstrip("\ufffd").rstrip()
                out[p.index] = p.prefix + written if written else jobs[p.index][0]
    return out
