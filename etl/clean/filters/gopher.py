"""Gopher quality and repetition rules (Rae et al. 2021, "Scaling Language Models", A.1.1).

This module owns the two Gopher document filters. Each is a frozen config (the paper's
thresholds as defaults), a ``*_signals`` function returning every measured quantity, a
``*_reason`` function turning signals into a drop reason (or ``None``), and a one-call
``*_filter(text) -> reason | None``. Quantities follow datatrove's implementation of the
paper, so keep/drop decisions agree with it:

Quality (``gopher_quality_*``)
    *words* are word and punctuation tokens (:func:`etl.clean.words.split_words`); word
    count and mean word length use only tokens with a letter or digit; the ``#`` and
    ellipsis (``...``, ``…``) ratios and the alphabetic-word fraction divide by all tokens;
    bullet (``•``, ``-``) and ellipsis-ending line fractions use ``str.splitlines()`` lines,
    blank ones included; the stop-word rule counts *distinct* stop words, case-sensitively
    (``The`` is not ``the``).

Repetition (``gopher_repetition_*``)
    paragraphs split on 2+ newlines, lines on runs of newlines; a duplicate is an element
    equal to an earlier one, and its characters count once per repeat; character shares
    divide by the whole text's length. Top n-gram share (n = 2, 3, 4) is the length of the
    most frequent n-gram (tokens joined by spaces; the first one seen wins ties) times its
    count. Duplicated n-gram share (n = 5..10) scans n-grams left to right, and on a repeat
    adds its characters (tokens joined without spaces) and jumps past it, so overlapping
    repeats are not counted twice.

Example::

    >>> from etl.clean.filters.gopher import gopher_quality_filter, gopher_repetition_filter
    >>> gopher_quality_filter("Too short to be a document.")
    'gopher_short_doc'
    >>> doc = " ".join(f"The garden number {i} has a tree and the bench." for i in range(10))
    >>> gopher_quality_filter(doc) is None, gopher_repetition_filter(doc)
    (True, 'gopher_top_2gram')
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from itertools import accumulate

from etl.clean.stats import TextStats, as_stats, duplicate_counts, ratio
from llmlake.config_clean import (
    GopherQualityConfig,
    GopherRepetitionConfig,
)

Signals = dict[str, float]


_HAS_ALNUM = re.compile(r"[^\W_]").search
_HAS_ALPHA = re.compile(r"[^\W\d_]").search


# -- quality ------------------------------------------------------------------------------
def gopher_quality_signals(text: str | TextStats, cfg: GopherQualityConfig) -> Signals:
    """Every Gopher quality quantity of one text."""
    st = as_stats(text)
    words = st.words
    n_tokens = len(words)
    # Tokens starting with a letter/digit are words; test the rest character by character.
    content_lens = [len(w) for w in words if w[0].isalnum() or _HAS_ALNUM(w)]
    n_alpha = sum(1 for w in words if w[0].isalpha() or _HAS_ALPHA(w))
    lines = st.lines
    n_bullet = sum(1 for s in lines if s.lstrip().startswith(("•", "-")))
    n_ellipsis_end = sum(1 for s in lines if s.rstrip().endswith(("...", "…")))
    ellipses = st.text.count("...") + st.text.count("…")
    return {
        "gopher_n_words": len(content_lens),
        "gopher_mean_word_len": ratio(sum(content_lens), len(content_lens)),
        "gopher_hash_ratio": ratio(st.text.count("#"), n_tokens),
        "gopher_ellipsis_ratio": ratio(ellipses, n_tokens),
        "gopher_bullet_lines_frac": ratio(n_bullet, len(lines)),
        "gopher_ellipsis_lines_frac": ratio(n_ellipsis_end, len(lines)),
        "gopher_alpha_words_frac": ratio(n_alpha, n_tokens),
        "gopher_stop_words": len(set(cfg.stop_words).intersection(words)),
    }


def gopher_quality_reason(sig: Signals, cfg: GopherQualityConfig) -> str | None:
    """The first Gopher quality rule ``sig`` breaks, in the paper's order, or ``None``."""
    if sig["gopher_n_words"] < cfg.min_words:
        return "gopher_short_doc"
    if sig["gopher_n_words"] > cfg.max_words:
        return "gopher_long_doc"
    if sig["gopher_mean_word_len"] < cfg.min_mean_word_len:
        return "gopher_short_mean_word"
    if sig["gopher_mean_word_len"] > cfg.max_mean_word_len:
        return "gopher_long_mean_word"
    symbols = max(sig["gopher_hash_ratio"], sig["gopher_ellipsis_ratio"])
    if symbols > cfg.max_symbol_word_ratio:
        return "gopher_symbol_ratio"
    if sig["gopher_bullet_lines_frac"] > cfg.max_bullet_lines_frac:
        return "gopher_bullet_lines"
    if sig["gopher_ellipsis_lines_frac"] > cfg.max_ellipsis_lines_frac:
        return "gopher_ellipsis_lines"
    if sig["gopher_alpha_words_frac"] < cfg.min_alpha_words_frac:
        return "gopher_alpha_words"
    if sig["gopher_stop_words"] < cfg.min_stop_words:
        return "gopher_stop_words"
    return None


def gopher_quality_filter(
    text: str | TextStats, cfg: GopherQualityConfig | None = None
) -> str | None:
    cfg = cfg or GopherQualityConfig()
    return gopher_quality_reason(gopher_quality_signals(text, cfg), cfg)


# -- repetition ---------------------------------------------------------------------------
TOP_NGRAM_SIZES = (2, 3, 4)
DUP_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)


def _ngrams(words: list[str], n: int) -> Iterator[tuple[str, ...]]:
    return zip(*(words[i:] for i in range(n)), strict=False)


def _top_ngram(words: list[str], n: int) -> tuple[int, int]:
    """(characters covered by the most frequent n-gram, its count); the first seen wins ties.

    Characters are the n-gram's length (tokens joined by spaces) times its count.
    """
    counts = Counter(_ngrams(words, n))
    if not counts:
        return 0, 0
    top = max(counts.values())
    gram = next(g for g, c in counts.items() if c == top)
    return (sum(map(len, gram)) + n - 1) * top, top


def _dup_ngram_chars(words: list[str], prefix: list[int], n: int) -> int:
    """Characters in repeated n-grams, scanning left to right and jumping past each repeat.

    Only positions whose n-gram occurred earlier can be repeats; the scan visits just those
    and adds the n-grams in between to ``seen`` in bulk, so it costs a Python step per
    repeat rather than per word.
    """
    grams = list(_ngrams(words, n))
    m = len(grams)
    # Index of each n-gram's first occurrence (the reversed build lets the first one win).
    first = dict(zip(reversed(grams), range(m - 1, -1, -1), strict=True))
    if len(first) == m:
        return 0
    later = sorted(set(range(m)).difference(first.values()))
    seen: set[tuple[str, ...]] = set()
    idx = repeated = 0
    for pos in later:
        if pos < idx:
            continue  # inside the window skipped after the previous repeat
        seen.update(grams[idx:pos])
        if grams[pos] in seen:
            repeated += prefix[pos + n] - prefix[pos]
            idx = pos + n
        else:  # its earlier occurrences were all skipped: it counts as new
            seen.add(grams[pos])
            idx = pos + 1
    return repeated


def gopher_repetition_signals(text: str | TextStats, cfg: GopherRepetitionConfig) -> Signals:
    """Every Gopher repetition quantity of one text."""
    st = as_stats(text)
    n_chars = st.n_chars
    paras = st.paragraphs
    lines = st.line_runs
    dup_paras, dup_para_chars = duplicate_counts(paras)
    dup_lines, dup_line_chars = duplicate_counts(lines)
    sig: Signals = {
        "gopher_dup_para_frac": ratio(dup_paras, len(paras)),
        "gopher_dup_para_char_frac": ratio(dup_para_chars, n_chars),
        "gopher_dup_line_frac": ratio(dup_lines, len(lines)),
        "gopher_dup_line_char_frac": ratio(dup_line_chars, n_chars),
    }
    words = st.words
    top_count = 0
    for n in TOP_NGRAM_SIZES:
        chars, top_count = _top_ngram(words, n)
        sig[f"gopher_top_{n}gram_char_frac"] = ratio(chars, n_chars)
    prefix = list(accumulate(map(len, words), initial=0))
    # No 4-gram occurs twice in most texts, and then no longer n-gram does: skip the scans.
    no_repeats = top_count <= 1 and TOP_NGRAM_SIZES[-1] < DUP_NGRAM_SIZES[0]
    for n in DUP_NGRAM_SIZES:
        # A text without a repeated n-gram has no repeated longer n-gram either.
        chars = 0 if no_repeats else _dup_ngram_chars(words, prefix, n)
        no_repeats = chars == 0
        sig[f"gopher_dup_{n}gram_char_frac"] = ratio(chars, n_chars)
    return sig


def _repetition_limits(cfg: GopherRepetitionConfig) -> list[tuple[str, float, str]]:
    limits = [
        ("gopher_dup_para_frac", cfg.max_dup_para_frac, "gopher_dup_para_frac"),
        ("gopher_dup_para_char_frac", cfg.max_dup_para_char_frac, "gopher_dup_para_char_frac"),
        ("gopher_dup_line_frac", cfg.max_dup_line_frac, "gopher_dup_line_frac"),
        ("gopher_dup_line_char_frac", cfg.max_dup_line_char_frac, "gopher_dup_line_char_frac"),
    ]
    for n in TOP_NGRAM_SIZES:
        limit = getattr(cfg, f"max_top_{n}gram_char_frac")
        limits.append((f"gopher_top_{n}gram_char_frac", limit, f"gopher_top_{n}gram"))
    for n in DUP_NGRAM_SIZES:
        limit = getattr(cfg, f"max_dup_{n}gram_char_frac")
        limits.append((f"gopher_dup_{n}gram_char_frac", limit, f"gopher_dup_{n}gram"))
    return limits


def gopher_repetition_reason(sig: Signals, cfg: GopherRepetitionConfig) -> str | None:
    """The first Gopher repetition limit ``sig`` exceeds (paragraphs, lines, n-grams)."""
    for key, limit, reason in _repetition_limits(cfg):
        if sig[key] > limit:
            return reason
    return None


def gopher_repetition_filter(
    text: str | TextStats, cfg: GopherRepetitionConfig | None = None
) -> str | None:
    cfg = cfg or GopherRepetitionConfig()
    return gopher_repetition_reason(gopher_repetition_signals(text, cfg), cfg)


GOPHER_QUALITY_REASONS = (
    "gopher_short_doc",
    "gopher_long_doc",
    "gopher_short_mean_word",
    "gopher_long_mean_word",
    "gopher_symbol_ratio",
    "gopher_bullet_lines",
    "gopher_ellipsis_lines",
    "gopher_alpha_words",
    "gopher_stop_words",
)
GOPHER_REPETITION_REASONS = tuple(r for _, _, r in _repetition_limits(GopherRepetitionConfig()))
