"""The dedup stage's HTML page: counts in tables, cluster sizes as a chart, example pairs diffed.

``render_dedup`` turns this run's counts, gold's state and a few example clusters into the
page ``templates/dedup.html.j2`` describes; ``llmlake.html`` does the rendering, so every
crawled string is escaped. It takes plain named values rather than the stage's report dict,
so the report's shape can change without touching the page.

Each example pair (the kept copy and a removed one) shows the exact Jaccard similarity of
the two texts' word ``ngram``-gram shingles, the same measure the stage's verification
uses, and a word-level diff: the words only one copy has are marked on its side. The diff
runs over the full texts; each side then shows a window of it around the first difference.
Segments are plain ``{"op", "text"}`` values that the template escapes like any other text.

Example::

    >>> page = render_dedup(
    ...     batch="dedup-20240101", ngram=5,
    ...     summary={"new_documents": 10, "kept": 7, "gold_documents": 1200},
    ...     removed={"exact": 2, "near": 1}, gold_removed={"exact": 40, "near": 9},
    ...     splits={"train": 1000, "val": 100, "test": 100},
    ...     histogram={"2": 5, "3": 1},
    ...     examples=[{"cluster_id": "a1b2c3d4e5f6a7b8", "size": 3, "match": "near",
    ...                "url": None, "text": "<b>hello</b> to you all",
    ...                "survivor_url": "https://example.com/", "survivor_text": "hello to you all"}],
    ... )
    >>> "&lt;b&gt;hello&lt;/b&gt;" in page and "<b>hello" not in page
    True
    >>> '<ins class="only-removed">&lt;b&gt;hello&lt;/b&gt;</ins>' in page
    True
    >>> "Jaccard 0.00" in page and "2 words differ" in page and "1,200" in page
    True
    >>> word_diff("a b c d".split(), "a x c d".split())
    ([False, True, False, False], [False, True, False, False], False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from typing import Any

from etl.dedup.minhash import exact_jaccard, shingles
from llmlake.html import render

SNIPPET_WORDS = 120  # words of each copy shown: enough to judge a pair, short enough to scan
SNIPPET_CHARS = 1000  # and at most this many characters, for texts of very long "words"
CONTEXT = 20  # equal words shown before the first difference
# SequenceMatcher with autojunk=False grows with the square of the length (a minute for two
# 100,000-word texts); past this many words per side after the common start and end, only
# the first ones are compared and the count reads as a lower bound.
DIFF_WORDS = 10_000
SHORT_ID = 12
MATCH_KINDS = ("exact", "near")  # always listed, in this order; others follow by name
SPLITS = ("train", "val", "test")


def render_dedup(*, batch: str, ngram: int, summary: Mapping[str, int],
                 removed: Mapping[str, int], gold_removed: Mapping[str, int],
                 splits: Mapping[str, int], histogram: Mapping[str, int],
                 examples: Sequence[Mapping[str, Any]]) -> str:
    """The dedup page as a string.

    - ``batch``: this run's batch id; ``ngram``: the shingle size of the dedup config.
    - ``summary``: ``new_documents`` and ``kept`` of this run, ``gold_documents`` in gold.
    - ``removed``: this run's removed copies by how they matched (``{"exact": 3}``);
      ``gold_removed``: the same over every run, as gold holds them.
    - ``splits``: gold documents per split.
    - ``histogram``: clusters per size bin, in the order the rows should show.
    - ``examples``: one per cluster, largest first, each with ``cluster_id, size, match,
      url, text, survivor_url, survivor_text`` (either URL may be ``None``; full texts).
    """
    new, gold = summary["new_documents"], summary["gold_documents"]
    this_run = [_row("New documents", new, None), _row("Kept", summary["kept"], new)]
    this_run += [{**row, "label": f"Removed: {row['label']}"} for row in _by_kind(removed, new)]
    return render(
        "etl.dedup", "dedup.html.j2",
        batch=batch, ngram=ngram, diff_words=DIFF_WORDS, this_run=this_run,
        splits=[*(_row(name, n, gold) for name, n in _ordered(splits, SPLITS)),
                _row("total", gold, gold, total=True)],
        gold_removed=_by_kind(gold_removed, sum(gold_removed.values())),
        histogram=_histogram_rows(histogram),
        chart=[{"label": label, "value": n} for label, n in histogram.items()],
        examples=[_example(ex, ngram) for ex in examples],
    )


def _row(label: str, count: int, of: int | None, total: bool = False) -> dict[str, Any]:
    """A table row: ``count`` and its share of ``of`` (none where ``of`` is none or zero)."""
    share = f"{100 * count / of:.1f}%" if of else None
    return {"label": label, "count": count, "share": share, "total": total}


def _ordered(counts: Mapping[str, int], first: Sequence[str]) -> list[tuple[str, int]]:
    """``first`` (zero where absent), then any other keys by name."""
    return [(k, counts.get(k, 0)) for k in first] + sorted(
        (k, n) for k, n in counts.items() if k not in first)


def _by_kind(counts: Mapping[str, int], total: int) -> list[dict[str, Any]]:
    """One row per match kind and a total row, shares of ``total``."""
    rows = [_row(k, n, total) for k, n in _ordered(counts, MATCH_KINDS)]
    return [*rows, _row("total", sum(counts.values()), total, total=True)]


def _histogram_rows(histogram: Mapping[str, int]) -> list[dict[str, Any]]:
    total = sum(histogram.values())
    return [_row(label, n, total) for label, n in histogram.items()]


def _example(ex: Mapping[str, Any], ngram: int) -> dict[str, Any]:
    kept_text, removed_text = ex["survivor_text"], ex["text"]
    kept_words, removed_words = kept_text.split(), removed_text.split()
    only_kept, only_removed, partial = word_diff(kept_words, removed_words)
    # Both copies agree up to the first difference, so one window start serves both sides.
    first = _common_prefix(kept_words, removed_words)
    differ = first < max(len(kept_words), len(removed_words))
    start = max(0, first - CONTEXT) if differ else 0
    jaccard = exact_jaccard(shingles(kept_text, ngram), shingles(removed_text, ngram))
    return {
        "cluster_id": ex["cluster_id"],
        "short_id": ex["cluster_id"][:SHORT_ID],
        "size": ex["size"],
        "match": ex["match"],
        "jaccard": jaccard,
        "jaccard_text": two_places(jaccard),
        "differ": sum(only_kept) + sum(only_removed),
        "partial": partial,
        "sides": [_side("kept", ex["survivor_url"], kept_words, only_kept, start),
                  _side("removed", ex["url"], removed_words, only_removed, start)],
    }


def two_places(x: float) -> str:
    """``x`` to two decimals, except that only exactly 1 reads ``1.00`` and 0 ``0.00``.

    >>> two_places(0.8349), two_places(0.9999), two_places(1.0), two_places(0.001)
    ('0.83', '>0.99', '1.00', '<0.01')
    """
    text = f"{x:.2f}"
    if text == "1.00" and x < 1:
        return ">0.99"
    if text == "0.00" and x > 0:
        return "<0.01"
    return text


def word_diff(a: Sequence[str], b: Sequence[str]) -> tuple[list[bool], list[bool], bool]:
    """Which words of ``a`` and of ``b`` the other lacks, and whether the diff was cut short.

    The common start and end are matched first (cheap, and usually most of a near copy);
    ``SequenceMatcher`` aligns what lies between, at most ``DIFF_WORDS`` words of each.
    """
    p = _common_prefix(a, b)
    s = _common_prefix(a[p:][::-1], b[p:][::-1])
    mid_a, mid_b = a[p:len(a) - s], b[p:len(b) - s]
    partial = max(len(mid_a), len(mid_b)) > DIFF_WORDS
    only_a, only_b = [False] * len(a), [False] * len(b)
    matcher = SequenceMatcher(None, mid_a[:DIFF_WORDS], mid_b[:DIFF_WORDS], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            only_a[p + i1:p + i2] = [True] * (i2 - i1)
            only_b[p + j1:p + j2] = [True] * (j2 - j1)
    return only_a, only_b, partial


def _common_prefix(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):  # a common prefix ends with the shorter list
        if x != y:
            break
        n += 1
    return n


def _side(role: str, url: str | None, words: Sequence[str], only: Sequence[bool],
          start: int) -> dict[str, Any]:
    """One copy's window of words from ``start``, as segments of equal and marked words."""
    segments: list[dict[str, str]] = []
    end, chars = start, 0
    while end < len(words) and end - start < SNIPPET_WORDS and chars < SNIPPET_CHARS:
        word = words[end]
        if chars + len(word) > SNIPPET_CHARS:  # one very long "word": show its start only
            word = word[:max(1, SNIPPET_CHARS - chars)] + "…"
        chars += len(word) + 1
        _append(segments, "only" if only[end] else "equal", word)
        end += 1
    return {"role": role, "url": url or "", "segments": segments, "words": len(words),
            "only": sum(only), "first": start + 1, "last": end,
            "cut": start > 0 or end < len(words)}


def _append(segments: list[dict[str, str]], op: str, word: str) -> None:
    # The space between two words belongs to the equal side, so a mark never covers one.
    if not segments:
        segments.append({"op": op, "text": word})
    elif segments[-1]["op"] == op:
        segments[-1]["text"] += " " + word
    elif op == "equal":
        segments.append({"op": op, "text": " " + word})
    else:
        segments[-1]["text"] += " "
        segments.append({"op": op, "text": word})
