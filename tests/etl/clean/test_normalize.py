"""Normalization (etl.clean.normalize): repairs, whitespace rules and idempotence."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.clean.normalize import normalize

CASES = [
    ("mojibake", "The cafÃ© menu", "The café menu"),
    ("mojibake quote", "It\u00e2\u20ac\u2122s here", "It's here"),
    ("c1 control as cp1252", "\x93quoted\x94", '"quoted"'),
    ("curly quotes", "\u201cHi\u201d, \u2018yo\u2019", "\"Hi\", 'yo'"),
    ("ligature", "\ufb01sh \ufb02ow", "fish flow"),
    ("full width", "\uff21\uff22\uff23\uff11", "ABC1"),
    ("nfc", "cafe\u0301", "caf\u00e9"),
    ("control chars", "a\x00b\x07c\x1bd", "abcd"),
    ("terminal escape", "\x1b[31mred\x1b[0m text", "red text"),
    ("invisible", "zero\u200bwidth soft\u00adhyphen \ufeffbom", "zerowidth softhyphen bom"),
    ("zwj kept", "\U0001f469\u200d\U0001f4bb", "\U0001f469\u200d\U0001f4bb"),
    ("space runs", "a  \t b\u00a0\u2003c", "a b c"),
    ("tab alone", "a\tb", "a b"),
    ("line ends", "  one  \n  two  ", "one\ntwo"),
    ("crlf", "one\r\ntwo\rthree", "one\ntwo\nthree"),
    ("unicode separators", "a\u2028b\u2029c\x85d\x0be\x0cf", "a\nb\nc\nd\ne\nf"),
    ("paragraphs", "p1\n\n\n\n  \n\np2", "p1\n\np2"),
    ("blank line kept", "p1\n\np2\nl2", "p1\n\np2\nl2"),
    ("strip", "\n\n  text \n\n", "text"),
    ("html entities untouched", "AT&amp;T &lt;b&gt;", "AT&amp;T &lt;b&gt;"),
    ("lone surrogate", "a\udcffb", "ab"),
    ("empty", " \n\t ", ""),
]


@pytest.mark.parametrize(("name", "raw", "expected"), CASES, ids=[c[0] for c in CASES])
def test_normalize_cases(name: str, raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@settings(max_examples=1500, deadline=None)
@given(st.text())
def test_idempotent_on_arbitrary_text(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


# Characters that meet in mojibake, whitespace and control handling: random strings over them
# reach the ftfy path and its interaction with the whitespace and folding steps.
_TRICKY = list(
    "ÃÂâ€™œ\u201d\u201c\u2018\u2019 \n\t\xa0\x93\x94\u200bé©®ÐРСÑšž"
    "ab.\r\x85\uff01\ufb01\uffe0\x00\u0301\u2003\u2028"
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_TRICKY), max_size=40).map("".join))
def test_idempotent_on_mojibake_like_text(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=500, deadline=None)
@given(st.text())
def test_output_invariants(text: str) -> None:
    out = normalize(text)
    assert out == out.strip()
    assert "\n\n\n" not in out and "  " not in out and "\t" not in out
    assert all(line == line.strip(" ") for line in out.split("\n"))
    assert all(c == "\n" or unicodedata.category(c) != "Cc" for c in out)
    assert unicodedata.is_normalized("NFC", out)
