"""Byte-level BPE training and measurement: the pure core of the tokenizer stage.

:func:`train` learns a GPT-2 style byte-level BPE (lossless: any text decodes back to
itself) from any iterator of texts, with the special tokens of :mod:`llmlake.tokenizer`
first; :func:`measure` gives its bytes per token and tokens per word on other texts.

Example::

    >>> tok = train(["the cat sat on the mat"] * 50, vocab_size=300)
    >>> tok.decode(tok.encode("the cat sat").ids)
    'the cat sat'
    >>> tok.token_to_id(EOS), tok.token_to_id(PAD)
    (0, 1)
    >>> EOS in tok.decode(tok.encode("quoting <|endoftext|>").ids)   # text stays text
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import TYPE_CHECKING, Any

from llmlake.tokenizer import EOS, PAD, SPECIAL_TOKENS, for_documents

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["EOS", "PAD", "measure", "new_tokenizer", "train"]

# Texts handed to the Rust side per call when measuring.
MEASURE_BATCH = 256


def new_tokenizer() -> Tokenizer:
    """An untrained byte-level BPE: GPT-2's pre-tokenizer and decoder, no normalizer,
    so decoding an encoding gives back the exact input text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    return tok


def train(texts: Iterable[str], vocab_size: int, min_frequency: int = 2,
          length: int | None = None, progress: bool = False) -> Tokenizer:
    """Train a byte-level BPE of at most ``vocab_size`` ids on ``texts`` (consumed once).

    The vocabulary is smaller when the texts hold fewer distinct pairs occurring
    ``min_frequency`` times than merges were asked for.
    """
    from tokenizers import pre_tokenizers, trainers

    tok = new_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=progress,
        special_tokens=list(SPECIAL_TOKENS),
        # All 256 byte symbols, so no text is ever out of vocabulary.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer, length=length)
    return for_documents(tok)


def measure(tok: Tokenizer, texts: Iterable[str]) -> dict[str, Any]:
    """Bytes (UTF-8) per token and tokens per whitespace-separated word over ``texts``."""
    docs = n_bytes = n_tokens = n_words = 0
    it = iter(texts)
    while chunk := list(islice(it, MEASURE_BATCH)):
        # Offsets are not needed to count tokens, and the fast variant skips them.
        encs = tok.encode_batch_fast(chunk, add_special_tokens=False)
        for text, enc in zip(chunk, encs, strict=True):
            n_bytes += len(text.encode("utf-8"))
            n_words += len(text.split())
            n_tokens += len(enc.ids)
        docs += len(chunk)
    return {
        "documents": docs, "bytes": n_bytes, "words": n_words, "tokens": n_tokens,
        "bytes_per_token": round(n_bytes / n_tokens, 4) if n_tokens else None,
        "tokens_per_word": round(n_tokens / n_words, 4) if n_words else None,
    }
