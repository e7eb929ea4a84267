"""Per-text descriptors: what the drift monitor compares between a reference and a batch.

This module owns the numbers (and the one label) computed for each text, so that the
reference sample and every current batch are described by exactly the same code:

* :data:`TEXT_DESCRIPTORS`, from the text alone (and a tokenizer and a vocabulary): its
  length in characters, :func:`words` and sentences, the share of non-whitespace characters
  that are not letters, the share of words outside the reference :func:`vocabulary`, the
  tokenizer's tokens per word, and the clean stage's language label
  (:func:`etl.clean.langid.detect_language`; ``"unknown"`` for an empty text);
* :data:`MODEL_DESCRIPTORS`, from the champion model (:class:`ModelProbe`): each text's
  perplexity, scored exactly as the evaluate stage scores a held-out document; the probe
  also gives each text an embedding (the mean of the model's final hidden states).

:data:`CATEGORICAL` names the descriptors that are labels, not numbers. torch is imported
only by :class:`ModelProbe`, so the text descriptors load without it. Each text is
tokenized once (:func:`describe`), however many descriptors read its tokens.

Example::

    >>> from tokenizers import Tokenizer, models, pre_tokenizers
    >>> tok = Tokenizer(models.WordLevel({"the": 0, "cat": 1, "[UNK]": 2}, unk_token="[UNK]"))
    >>> tok.pre_tokenizer = pre_tokenizers.Whitespace()  # "purred!" -> "purred" "!"
    >>> row = text_descriptors("The cat sat. It purred!", frozenset({"the", "cat"}), tok)
    >>> row["chars"], row["words"], row["sentences"], row["language"]
    (23, 5, 2, 'en')
    >>> row["non_letter_share"] == 2 / 19, row["oov_share"], row["tokens_per_word"]
    (True, 0.6, 1.4)
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from etl.clean.langid import UNKNOWN, detect_language

if TYPE_CHECKING:

    from training.model import LanguageModel

TEXT_DESCRIPTORS: tuple[str, ...] = ("chars", "words", "sentences", "non_letter_share",
                                     "oov_share", "tokens_per_word", "language")
MODEL_DESCRIPTORS: tuple[str, ...] = ("perplexity",)
CATEGORICAL: frozenset[str] = frozenset({"language"})
UNKNOWN_LANGUAGE = "unknown"  # what gold/documents and evaluation call a missing language

# Runs of letters and digits in any script; "_" is a word character to `\w` but not a letter.
_WORD = re.compile(r"[^\W_]+")
# A sentence ends at . ! or ? (closing quotes or brackets may follow) before whitespace or
# the end, or at a blank line; "3.14" and "e.g.x" end none.
_SENTENCE_END = re.compile(r"[.!?]+[\"'»”’)\]]*(?=\s|\Z)|\n[^\S\n]*\n")


def words(text: str) -> list[str]:
    """The lowercased runs of letters and digits of ``text``: every descriptor's words."""
    return [w.lower() for w in _WORD.findall(text)]


def count_sentences(text: str) -> int:
    """Pieces of ``text`` between sentence ends that hold a word (0 for a text of none)."""
    return sum(1 for piece in _SENTENCE_END.split(text) if _WORD.search(piece))


def non_letter_share(text: str) -> float:
    """The share of non-whitespace characters that are not letters (0.0 when none)."""
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return 0.0
    return sum(1 for c in visible if not c.isalpha()) / len(visible)


def vocabulary(texts: Iterable[str], min_count: int = 2,
               max_words: int = 50_000) -> frozenset[str]:
    """The words seen at least ``min_count`` times in ``texts``, at most the ``max_words``
    most frequent of them; equal counts are broken alphabetically, so the set does not
    depend on the texts' order."""
    if min_count < 1:
        raise ValueError(f"vocabulary: min_count must be at least 1, got {min_count}")
    if max_words < 1:
        raise ValueError(f"vocabulary: max_words must be at least 1, got {max_words}")
    counts: Counter[str] = Counter()
    for i, text in enumerate(texts):
        counts.update(words(_checked(text, i)))
    kept = sorted((w for w, n in counts.items() if n >= min_count),
                  key=lambda w: (-counts[w], w))
    return frozenset(kept[:max_words])


def text_descriptors(text: str, vocab: frozenset[str], tokenizer: Any,
                     lang_chars: int = 10_000) -> dict[str, float | str]:
    """The :data:`TEXT_DESCRIPTORS` of one text; ``tokenizer`` is a ``tokenizers.Tokenizer``
    (:func:`llmlake.tokenizer.load`), ``lang_chars`` the characters language ID reads."""
    text = _checked(text, 0)
    n_tokens = len(tokenizer.encode(text, add_special_tokens=False).ids)
    return _row(text, vocab, n_tokens, lang_chars)


def encode(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Each text's token ids (no special tokens), the tokenizer run once over the batch."""
    texts = [_checked(t, i) for i, t in enumerate(texts)]
    if not texts:
        return []
    # Offsets are not needed, and the fast variant skips them.
    return [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


def describe_texts(texts: Sequence[str], vocab: frozenset[str], tokenizer: Any,
                   lang_chars: int = 10_000, encoded: Sequence[Sequence[int]] | None = None
                   ) -> list[dict[str, float | str]]:
    """:func:`text_descriptors` of each text; ``encoded`` (the texts' ids) when the caller
    has them already."""
    ids = encode(tokenizer, texts) if encoded is None else encoded
    return [_row(_checked(text, i), vocab, len(tokens), lang_chars)
            for i, (text, tokens) in enumerate(zip(texts, ids, strict=True))]


def describe(texts: Sequence[str], vocab: frozenset[str], tokenizer: Any,
             probe: ModelProbe | None = None, lang_chars: int = 10_000
             ) -> tuple[list[dict[str, float | str]], np.ndarray | None]:
    """Every descriptor of each text (``perplexity`` only with a ``probe``), and the probe's
    embeddings of the texts ([n, n_embd]; None without a probe). The texts are tokenized
    once when the probe reads them with the same tokenizer (the monitor's case)."""
    encoded = encode(tokenizer, texts)
    rows = describe_texts(texts, vocab, tokenizer, lang_chars, encoded)
    if probe is None:
        return rows, None
    ids = encoded if probe.tokenizer is tokenizer else probe.encode(texts)
    for row, value in zip(rows, probe.perplexity_of(ids), strict=True):
        row["perplexity"] = float(value)
    return rows, probe.embeddings_of(ids)


def _row(text: str, vocab: frozenset[str], n_tokens: int,
         lang_chars: int) -> dict[str, float | str]:
    if lang_chars < 1:
        raise ValueError(f"lang_chars must be at least 1, got {lang_chars}")
    found = words(text)
    n = len(found)
    lang, _ = detect_language(text, lang_chars)
    return {
        "chars": len(text),
        "words": n,
        "sentences": count_sentences(text),
        "non_letter_share": non_letter_share(text),
        "oov_share": sum(1 for w in found if w not in vocab) / n if n else 0.0,
        "tokens_per_word": n_tokens / n if n else 0.0,
        "language": UNKNOWN_LANGUAGE if lang == UNKNOWN else lang,
    }


def _checked(text: Any, index: int) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text {index}: expected a str, got {type(text).__name__}")
    return text


@dataclass(frozen=True)
class ModelProbe:
    """The champion model seen through its tokenizer: perplexity and embeddings of texts.

    ``stride`` is evaluation's window advance on texts longer than the context (0 = half
    the context, ``evaluate.stride``'s default).
    """

    model: LanguageModel
    tokenizer: Any
    eos_id: int
    device: str = "cpu"
    batch_size: int = 16
    stride: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"ModelProbe: batch_size must be at least 1, got {self.batch_size}")
        if self.stride < 0:
            raise ValueError(f"ModelProbe: stride must be 0 (half the context) or positive, "
                             f"got {self.stride}")

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu", batch_size: int = 16,
             stride: int = 0) -> ModelProbe:
        """A model folder (``artifacts/model``, the champion's) with its tokenizer, as the
        evaluate stage loads them."""
        from llmlake.tokenizer import EOS
        from llmlake.tokenizer import load as load_tokenizer
        from training.checkpoint import load_model

        model, _ = load_model(folder, device)
        tokenizer = load_tokenizer(folder)
        eos_id = tokenizer.token_to_id(EOS)
        if eos_id is None:
            raise ValueError(f"{folder}: the tokenizer has no {EOS} token")
        if tokenizer.get_vocab_size() > model.config.vocab_size:
            raise ValueError(f"{folder}: the tokenizer's {tokenizer.get_vocab_size()} ids do "
                             f"not fit the model's vocab_size {model.config.vocab_size}")
        return cls(model, tokenizer, eos_id, device, batch_size, stride)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        return encode(self.tokenizer, texts)

    def perplexity(self, texts: Sequence[str]) -> np.ndarray:
        """Per text, exp(mean NLL per token) of all its tokens after ``<|endoftext|>``,
        windowed and scored as evaluation scores a document; nan for a text of no tokens."""
        return self.perplexity_of(self.encode(texts))

    def embeddings(self, texts: Sequence[str], max_tokens: int | None = None) -> np.ndarray:
        """[n, n_embd] float32: per text, the mean final hidden state over its tokens in
        its first window: ``<|endoftext|>`` and the text's first ``max_tokens - 1`` tokens
        (``max_tokens`` defaults to the context); zeros for a text of no tokens."""
        return self.embeddings_of(self.encode(texts), max_tokens)

    def perplexity_of(self, encoded: Sequence[Sequence[int]]) -> np.ndarray:
        """:meth:`perplexity` of texts already tokenized."""
        from training.evaluate.corpus import document_items
        from training.evaluate.score import score

        context = self.model.config.context
        items, owners = document_items(encoded, self.eos_id, context,
                                       self.stride or max(1, context // 2))
        nll, tokens = np.zeros(len(encoded)), np.zeros(len(encoded))
        if items:
            scores = score(self.model, items, self.batch_size, self.device)
            np.add.at(nll, owners, scores.nll)
            np.add.at(tokens, owners, scores.tokens)
        return np.array([math.exp(s / n) if n else math.nan
                         for s, n in zip(nll, tokens, strict=True)])

    def embeddings_of(self, encoded: Sequence[Sequence[int]],
                      max_tokens: int | None = None) -> np.ndarray:
        """:meth:`embeddings` of texts already tokenized."""
        context = self.model.config.context
        width = context if max_tokens is None else max_tokens
        if not 2 <= width <= context:
            raise ValueError(f"max_tokens {width} must be in 2..context {context} "
                             "(one position holds <|endoftext|>)")
        out = np.zeros((len(encoded), self.model.config.n_embd), dtype=np.float32)
        # Shortest first, so each batch pads little; empty texts keep their zeros.
        order = sorted((i for i, ids in enumerate(encoded) if ids),
                       key=lambda i: len(encoded[i]))
        for lo in range(0, len(order), self.batch_size):
            batch = order[lo:lo + self.batch_size]
            out[batch] = self._mean_hidden([list(encoded[i][:width - 1]) for i in batch])
        return out

    def _mean_hidden(self, batch: list[Sequence[int]]) -> np.ndarray:
        """Mean final hidden state over each row's text positions. Rows are right-padded:
        the model is causal, so padding changes no real position, and the mask keeps it
        out of the mean."""
        import torch

        width = 1 + max(len(ids) for ids in batch)
        idx = torch.full((len(batch), width), self.eos_id, dtype=torch.long)
        mask = torch.zeros(len(batch), width)
        for row, ids in enumerate(batch):
            idx[row, 1:1 + len(ids)] = torch.tensor(ids, dtype=torch.long)
            mask[row, 1:1 + len(ids)] = 1.0  # position 0, the <|endoftext|>, is no text
        with torch.no_grad():
            hidden = self.model.hidden(idx.to(self.device)).float()
        mask = mask.to(hidden.device)[..., None]
        return ((hidden * mask).sum(1) / mask.sum(1)).cpu().numpy()
