"""C4 line cleaning and document rules (Raffel et al. 2020, "Exploring the Limits of
Transfer Learning", section 2.2), as implemented in TFDS ``c4_utils`` and datatrove.

This module owns the C4 filter. Lines are stripped, blank ones dropped, and the rest
tested in this order; the first failing test removes the line:

1. a whitespace-separated word longer than ``max_word_length`` (1000) characters;
2. (after deleting Wikipedia citation marks ``[1]``, ``[edit]``, ``[citation needed]``) the
   line does not end in terminal punctuation (``. ? ! " '``) or ends in ``...``;
3. fewer than ``min_words_per_line`` (3) words;
4. "lorem ipsum" anywhere in the line -> the whole *document* is dropped;
5. "javascript" anywhere in the line;
6. a curly brace ``{`` -> the whole *document* is dropped;
7. cookie / terms-of-use / privacy-policy boilerplate.

The kept lines, joined by ``\\n``, are the cleaned text. Then the document rules: lorem
ipsum, curly brace (both only count on lines that reached that test, as in C4), fewer than
``min_sentences`` sentences in the kept lines, and a word of the bad-words list anywhere in
the cleaned text (lowercased, bounded by non-word characters). Sentences are counted with
the spaCy-sentencizer rule of :func:`etl.clean.stats.count_sentences`.

Example::

    >>> from etl.clean.filters.c4 import C4Config, c4_filter
    >>> page = "Home | About\\nThe soup was warm. We ate it all.\\nClick here\\n" * 3
    >>> text, reason = c4_filter(page, C4Config(min_sentences=5))
    >>> text.splitlines()[0], reason
    ('The soup was warm. We ate it all.', None)
    >>> c4_filter("Lorem ipsum dolor sit amet, consectetur.")[1]
    'c4_lorem_ipsum'
"""

from __future__ import annotations

import re
from functools import lru_cache

from etl.clean.filters.lists import BAD_WORDS_FILE, load_list
from etl.clean.stats import TextStats, as_stats
from etl.clean.words import count_sentences, split_words
from llmlake.config_clean import C4Config

Signals = dict[str, float]

_CITATION = re.compile(r"\[(?:\d*|edit|citation needed)\]", re.IGNORECASE)
_TERMINAL_END = (".", "?", "!", '"', "'")
_POLICY_PHRASES = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


@lru_cache(maxsize=8)
def bad_words_regex(path: str) -> re.Pattern[str] | None:
    """One alternation of the list's entries, longest first; ``None`` for an empty list."""
    words = sorted(load_list(path, BAD_WORDS_FILE), key=len, reverse=True)
    if not words:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, words)) + r")(?!\w)")


def _line_fate(line: str, cfg: C4Config) -> tuple[str, str]:
    """Return (fate, cleaned line); fate is "keep", a line-removal cause, or a doc cause."""
    words = line.split()
    # No word is longer than its line: most lines need no look at their words.
    limit = cfg.max_word_length
    if 0 <= limit < len(line) and any(len(w) > limit for w in words):
        return "long_word", line
    if cfg.remove_citations and "[" in line:
        line = _CITATION.sub("", line)
    if cfg.filter_no_terminal_punct and (not line.endswith(_TERMINAL_END) or line.endswith("...")):
        return "no_punct", line
    if len(words) < cfg.min_words_per_line:
        return "few_words", line
    lower = line.lower()
    if cfg.filter_lorem_ipsum and "lorem ipsum" in lower:
        return "lorem_ipsum", line
    if cfg.filter_javascript and "javascript" in lower:
        return "javascript", line
    if cfg.filter_curly_bracket and "{" in line:
        return "curly_bracket", line
    if cfg.filter_policy and any(p in lower for p in _POLICY_PHRASES):
        return "policy", line
    return "keep", line


_LINE_CAUSES = ("long_word", "no_punct", "few_words", "javascript", "policy")


def c4_clean(text: str | TextStats, cfg: C4Config, lang: str | None = None) -> tuple[str, Signals]:
    """Remove C4's bad lines from ``text``; return the cleaned text and C4 signals.

    ``lang`` is the document's language: the bad-words list is applied only when it is
    ``None`` or one of ``cfg.bad_words_languages``.
    """
    cleaned, sig = c4_clean_stats(text, cfg, lang)
    return cleaned.text, sig


def c4_clean_stats(
    text: str | TextStats, cfg: C4Config, lang: str | None = None
) -> tuple[TextStats, Signals]:
    """:func:`c4_clean`, with the cleaned text as :class:`TextStats` whose words are known."""
    st = as_stats(text)
    counts = dict.fromkeys(_LINE_CAUSES, 0)
    kept: list[str] = []
    kept_words: list[str] = []
    sentences = lorem = curly = 0
    n_lines = 0
    for i, raw_line in enumerate(st.lines):
        stripped = raw_line.strip()
        if not stripped:
            continue  # blank lines separate paragraphs; C4 drops them without a cause
        n_lines += 1
        fate, line = _line_fate(stripped, cfg)
        if fate == "keep":
            kept.append(line)
            # The line's tokens are already known unless citation removal changed it.
            tokens = st.line_words[i] if line == stripped else split_words(line)
            sentences += count_sentences(tokens)
            kept_words += tokens
        elif fate == "lorem_ipsum":
            lorem = 1
        elif fate == "curly_bracket":
            curly = 1
        else:
            counts[fate] += 1
    cleaned = "\n".join(kept).strip()
    sig: Signals = {"c4_lines": n_lines, "c4_lines_kept": len(kept)}
    sig.update({f"c4_lines_{cause}": n for cause, n in counts.items()})
    sig.update({"c4_lorem_ipsum": lorem, "c4_curly_bracket": curly, "c4_sentences": sentences})
    sig["c4_bad_words"] = int(_has_bad_word(cleaned, cfg, lang))
    # Tokens never span whitespace, so the kept lines' tokens are the cleaned text's.
    return TextStats(cleaned, words=kept_words), sig


def _has_bad_word(text: str, cfg: C4Config, lang: str | None) -> bool:
    if not cfg.filter_bad_words or (lang is not None and lang not in cfg.bad_words_languages):
        return False
    regex = bad_words_regex(cfg.bad_words_path)
    return regex is not None and regex.search(text.lower()) is not None


def c4_reason(sig: Signals, cfg: C4Config) -> str | None:
    """The C4 document rule ``sig`` breaks, or ``None``."""
    if sig["c4_lorem_ipsum"]:
        return "c4_lorem_ipsum"
    if sig["c4_curly_bracket"]:
        return "c4_curly_bracket"
    if sig["c4_sentences"] < cfg.min_sentences:
        return "c4_too_few_sentences"
    if sig["c4_bad_words"]:
        return "c4_bad_words"
    return None


def c4_filter(
    text: str, cfg: C4Config | None = None, lang: str | None = None
) -> tuple[str, str | None]:
    """Cleaned text and drop reason (``None`` to keep) of one document."""
    cfg = cfg or C4Config()
    cleaned, sig = c4_clean(text, cfg, lang)
    return cleaned, c4_reason(sig, cfg)


C4_REASONS = ("c4_lorem_ipsum", "c4_curly_bracket", "c4_too_few_sentences", "c4_bad_words")
