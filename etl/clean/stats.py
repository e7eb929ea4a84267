"""Per-document text views shared by every quality filter: lines, paragraphs, words.

This module owns :class:`TextStats`, the one object a document's filters share so that
lines, paragraphs and words (:func:`etl.clean.words.split_words`) are each split at most
once per text, and the helpers the Gopher, C4 and FineWeb rules share: :func:`as_stats`,
:func:`ratio` and :func:`duplicate_counts`.

Example::

    >>> from etl.clean.stats import TextStats, duplicate_counts
    >>> st = TextStats("One line.\\nTwo line.\\n\\nNew para.")
    >>> len(st.lines), len(st.paragraphs), len(st.words), st.n_chars
    (4, 2, 9, 30)
    >>> duplicate_counts(["a", "bb", "a", "bb", "a"])
    (3, 4)
"""

from __future__ import annotations

import re
from functools import cached_property

from etl.clean.words import split_words

_PARAGRAPH_SPLIT = re.compile(r"\n{2,}")
_LINE_RUN_SPLIT = re.compile(r"\n+")


class TextStats:
    """Lazily computed views of one text, each computed at most once.

    Each view follows the definition of the published filter that uses it (datatrove's),
    which is why there are three kinds of "lines".
    """

    def __init__(self, text: str, words: list[str] | None = None):
        self.text = text
        self.n_chars = len(text)
        # A caller that already holds ``split_words(text)`` passes it, so that the text is
        # not tokenized again: C4 keeps whole lines, and knows their tokens.
        if words is not None:
            self.__dict__["words"] = words  # where cached_property looks first

    @cached_property
    def lines(self) -> list[str]:
        """``str.splitlines()`` lines, blank ones included (Gopher quality)."""
        return self.text.splitlines()

    @cached_property
    def line_runs(self) -> list[str]:
        """Pieces between runs of newlines (Gopher repetition's lines)."""
        return _LINE_RUN_SPLIT.split(self.text)

    @cached_property
    def nonblank_lines(self) -> list[str]:
        """``\\n``-split lines that are not blank, unstripped (FineWeb)."""
        return [line for line in self.text.split("\n") if line.strip()]

    @cached_property
    def paragraphs(self) -> list[str]:
        """Blocks separated by blank lines in the stripped text (Gopher repetition)."""
        return _PARAGRAPH_SPLIT.split(self.text.strip())

    @cached_property
    def line_words(self) -> list[list[str]]:
        """Tokens of each of :attr:`lines` (C4 counts sentences line by line)."""
        return [split_words(line) for line in self.lines]

    @cached_property
    def words(self) -> list[str]:
        """Word and punctuation tokens of the whole text.

        Tokens never span whitespace, so these are the lines' tokens in order: each line is
        tokenized once for both views.
        """
        return [tok for line in self.line_words for tok in line]


def as_stats(text: str | TextStats) -> TextStats:
    """``text`` itself if it is a :class:`TextStats` already, else a new one of it."""
    return text if isinstance(text, TextStats) else TextStats(text)


def ratio(num: float, den: float) -> float:
    """``num / den``, or 0 when there is nothing to divide by (an empty text)."""
    return num / den if den else 0.0


def duplicate_counts(items: list[str]) -> tuple[int, int]:
    """Return (number, total characters) of items equal to an earlier item."""
    unique = set(items)
    n_dup = len(items) - len(unique)
    if not n_dup:
        return 0, 0
    return n_dup, sum(map(len, items)) - sum(map(len, unique))
