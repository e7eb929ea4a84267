"""FineWeb quality rules (etl.clean.filters.fineweb): both sides of every threshold."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.clean.filters.fineweb import FineWebConfig, fineweb_filter, fineweb_signals

CFG = FineWebConfig()
OFF = FineWebConfig(
    min_line_punct_frac=0.0,
    max_short_line_frac=1.0,
    max_dup_line_char_frac=1.0,
    max_newline_ratio=1e9,
)


def sentence(i: int) -> str:
    """A distinct line of more than 30 characters ending with a period."""
    return f"Line number {i} talks about the garden and the river."


def test_good_document_passes() -> None:
    assert fineweb_filter("\n".join(sentence(i) for i in range(10))) is None


@settings(max_examples=80, deadline=None)
@given(st.integers(5, 60), st.data())
def test_line_punctuation_flips_at_twelve_percent(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    lines = [sentence(i) if i < k else sentence(i).rstrip(".") for i in range(n)]
    text = "\n".join(lines)
    assert fineweb_signals(text, CFG)["fineweb_line_punct_frac"] == pytest.approx(k / n)
    cfg = FineWebConfig(max_short_line_frac=1.0, max_dup_line_char_frac=1.0, max_newline_ratio=1e9)
    expected = "fineweb_line_punct_ratio" if k / n < 0.12 else None
    assert fineweb_filter(text, cfg) == expected


def test_only_sentence_terminals_count_as_line_punctuation() -> None:
    text = 'He said "yes."\nShe asked why?\nWhat a day!\n终于到了。\nA list:'
    assert fineweb_signals(text, CFG)["fineweb_line_punct_frac"] == 3 / 5
    cfg = FineWebConfig(line_punct_exclude_zero=True)
    assert (
        fineweb_filter("no punctuation here at all in this line\nnor in this one, no", cfg) is None
    )


@settings(max_examples=80, deadline=None)
@given(st.integers(5, 60), st.data())
def test_short_lines_flip_at_sixty_seven_percent(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    lines = [f"Short {i}." if i < k else sentence(i) for i in range(n)]
    text = "\n".join(lines)
    assert fineweb_signals(text, CFG)["fineweb_short_line_frac"] == pytest.approx(k / n)
    cfg = FineWebConfig(max_dup_line_char_frac=1.0, max_newline_ratio=1e9)
    expected = "fineweb_short_line_ratio" if k / n > 0.67 else None
    assert fineweb_filter(text, cfg) == expected


def test_short_line_length_boundary() -> None:
    line30, line31 = "x" * 29 + ".", "x" * 30 + "."
    assert fineweb_signals(line30, CFG)["fineweb_short_line_frac"] == 1.0
    assert fineweb_signals(line31, CFG)["fineweb_short_line_frac"] == 0.0


def test_duplicate_line_characters() -> None:
    lines = [sentence(i) for i in range(200)]
    once = "\n".join([*lines, lines[0]])
    frac = len(lines[0]) / (len(once) - once.count("\n"))
    assert fineweb_signals(once, CFG)["fineweb_dup_line_char_frac"] == pytest.approx(frac)
    assert frac < 0.01 and fineweb_filter(once) is None
    twice = "\n".join([*lines, lines[0], lines[1], lines[2]])
    assert fineweb_filter(twice) == "fineweb_char_dup_ratio"


@pytest.mark.parametrize(("words_per_line", "reason"), [(4, None), (3, "fineweb_newline_ratio")])
def test_newline_ratio(words_per_line: int, reason: str | None) -> None:
    # n lines of w tokens each (the last token is "."): newlines / tokens = (n - 1) / (n * w).
    n = 100
    lines = [" ".join(f"w{i}x{j}" for j in range(words_per_line - 1)) + " ." for i in range(n)]
    text = "\n".join(lines)
    ratio = fineweb_signals(text, CFG)["fineweb_newline_ratio"]
    assert ratio == pytest.approx((n - 1) / (n * words_per_line))
    cfg = FineWebConfig(max_short_line_frac=1.0)
    assert fineweb_filter(text, cfg) == reason


def test_blank_lines_are_not_lines() -> None:
    text = "\n\n".join(sentence(i) for i in range(5))
    assert fineweb_signals(text, CFG)["fineweb_lines"] == 5
    assert fineweb_filter("  \n \n") == "empty_text"
    assert fineweb_filter("", OFF) == "empty_text"
