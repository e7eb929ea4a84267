"""Gopher quality and repetition rules (etl.clean.filters.gopher): both sides of every threshold."""

from __future__ import annotations

from collections import Counter
from dataclasses import fields, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.clean.filters.gopher import (
    GOPHER_QUALITY_REASONS,
    GOPHER_REPETITION_REASONS,
    GopherQualityConfig,
    GopherRepetitionConfig,
    gopher_quality_filter,
    gopher_quality_signals,
    gopher_repetition_filter,
    gopher_repetition_signals,
)
from etl.clean.words import split_words

QCFG = GopherQualityConfig()
RCFG = GopherRepetitionConfig()
# Ten distinct, plain, 5-7 letter words; none a stop word.
VOCAB = [
    "garden",
    "river",
    "window",
    "pencil",
    "market",
    "yellow",
    "orange",
    "silver",
    "planet",
    "forest",
]


def words(n: int, start: int = 0) -> list[str]:
    """n words that never repeat a 2-gram: word i is VOCAB[i % 10] with a distinct suffix."""
    return [f"{VOCAB[(start + i) % 10]}{chr(97 + (start + i) // 10 % 26)}" for i in range(n)]


def good_doc(n: int = 60) -> str:
    return " ".join(["the", "and", *words(n - 2)])


# -- quality ------------------------------------------------------------------------------
def test_good_document_passes() -> None:
    assert gopher_quality_filter(good_doc()) is None


def test_word_count_bounds() -> None:
    assert gopher_quality_filter(good_doc(50)) is None
    assert gopher_quality_filter(good_doc(49)) == "gopher_short_doc"
    cfg = GopherQualityConfig(max_words=60)
    assert gopher_quality_filter(good_doc(60), cfg) is None
    assert gopher_quality_filter(good_doc(61), cfg) == "gopher_long_doc"


def test_punctuation_tokens_are_not_words_for_the_count() -> None:
    doc = good_doc(49) + " , . ; ( ) ! ?"
    assert gopher_quality_signals(doc, QCFG)["gopher_n_words"] == 49


@pytest.mark.parametrize(
    ("length", "reason"),
    [(2, "gopher_short_mean_word"), (3, None), (10, None), (11, "gopher_long_mean_word")],
)
def test_mean_word_length_bounds(length: int, reason: str | None) -> None:
    # "the" and "and" have 3 letters; all other words have `length` letters.
    body = [(VOCAB[i % 10] * 3)[: length - 1] + chr(97 + i % 26) for i in range(98)]
    doc = " ".join(["the", "and", *body])
    mean = gopher_quality_signals(doc, QCFG)["gopher_mean_word_len"]
    assert mean == pytest.approx((6 + 98 * length) / 100)
    cfg = GopherQualityConfig(
        min_mean_word_len=(6 + 98 * 3) / 100, max_mean_word_len=(6 + 980) / 100
    )
    assert gopher_quality_filter(doc, cfg) == reason


@pytest.mark.parametrize(
    ("symbol", "k", "reason"),
    [
        ("#", 10, None),
        ("#", 11, "gopher_symbol_ratio"),
        ("...", 10, None),
        ("…", 11, "gopher_symbol_ratio"),
    ],
)
def test_symbol_to_word_ratio(symbol: str, k: int, reason: str | None) -> None:
    # 100 - k words plus k standalone symbols: ratio k / 100 against 0.1.
    parts = good_doc(100 - k).split(" ")
    for i in range(k):
        parts.insert(2 + i * 3, symbol)
    doc = " ".join(parts)
    assert len(split_words(doc)) == 100
    assert gopher_quality_filter(doc) == reason


@settings(max_examples=60, deadline=None)
@given(st.integers(10, 40), st.data())
def test_bullet_lines_flip_at_ninety_percent(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    lines = [("• " if i < k else "") + " ".join(words(6, 6 * i)) for i in range(n)]
    lines[-1] += " the and"
    frac = gopher_quality_signals("\n".join(lines), QCFG)["gopher_bullet_lines_frac"]
    assert frac == pytest.approx(k / n)
    expected = "gopher_bullet_lines" if k / n > 0.9 else None
    assert gopher_quality_filter("\n".join(lines)) == expected


@settings(max_examples=60, deadline=None)
@given(st.integers(10, 40), st.data())
def test_ellipsis_lines_flip_at_thirty_percent(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    lines = [" ".join(words(12, 12 * i)) + ("..." if i < k else "") for i in range(n)]
    lines[-1] = "the and " + lines[-1]
    doc = "\n".join(lines)
    sig = gopher_quality_signals(doc, QCFG)
    assert sig["gopher_ellipsis_lines_frac"] == pytest.approx(k / n)
    expected = "gopher_ellipsis_lines" if k / n > 0.3 else None
    assert gopher_quality_filter(doc) == expected


@pytest.mark.parametrize(("n_numbers", "reason"), [(20, None), (21, "gopher_alpha_words")])
def test_alphabetic_word_fraction(n_numbers: int, reason: str | None) -> None:
    doc = good_doc(100 - n_numbers) + " " + " ".join(str(1000 + i) for i in range(n_numbers))
    assert gopher_quality_signals(doc, QCFG)["gopher_alpha_words_frac"] == (100 - n_numbers) / 100
    assert gopher_quality_filter(doc) == reason


def test_stop_words_are_distinct_and_case_sensitive() -> None:
    body = " ".join(words(60))
    assert gopher_quality_filter(f"the and {body}") is None
    assert gopher_quality_filter(f"the the the {body}") == "gopher_stop_words"
    assert gopher_quality_filter(f"The And {body}") == "gopher_stop_words"
    assert gopher_quality_filter(f"the with {body}") is None


def test_disabled_thresholds_follow_config() -> None:
    assert (
        gopher_quality_filter(
            "tiny", GopherQualityConfig(min_words=0, min_stop_words=0, min_alpha_words_frac=0)
        )
        is None
    )


# -- repetition ---------------------------------------------------------------------------
def only(**limits: float) -> GopherRepetitionConfig:
    """A repetition config with every limit off (1.0) except the given ones."""
    off = {f.name: 1.0 for f in fields(RCFG) if f.name.startswith("max_")}
    return replace(RCFG, **{**off, **limits})


def unique_lines(n: int) -> list[str]:
    return [" ".join(words(8, 8 * i)) for i in range(n)]


@pytest.mark.parametrize(
    ("sep", "signal"), [("\n", "gopher_dup_line_frac"), ("\n\n", "gopher_dup_para_frac")]
)
@settings(max_examples=80, deadline=None)
@given(st.integers(4, 40), st.data())
def test_dup_line_and_paragraph_fractions_flip_at_thirty_percent(
    sep: str, signal: str, n: int, data: st.DataObject
) -> None:
    k = data.draw(st.integers(0, n - 1))
    items = unique_lines(n - k)
    items += [items[i % len(items)] for i in range(k)]
    doc = sep.join(items)
    sig = gopher_repetition_signals(doc, RCFG)
    assert sig[signal] == pytest.approx(k / n)
    expected = signal if k / n > 0.3 else None
    # Limit and reason share the signal's name (max_dup_line_frac -> gopher_dup_line_frac).
    limit = {"max_" + signal.removeprefix("gopher_"): 0.3}
    assert gopher_repetition_filter(doc, only(**limit)) == expected


def test_duplicate_character_fractions() -> None:
    lines = unique_lines(10)
    doc = "\n".join([*lines, lines[0], lines[1]])
    sig = gopher_repetition_signals(doc, RCFG)
    assert sig["gopher_dup_line_char_frac"] == (len(lines[0]) + len(lines[1])) / len(doc)
    limit = sig["gopher_dup_line_char_frac"]
    assert gopher_repetition_filter(doc, only(max_dup_line_char_frac=limit)) is None
    assert gopher_repetition_filter(doc, only(max_dup_line_char_frac=limit * 0.99)) == (
        "gopher_dup_line_char_frac"
    )
    paras = "\n\n".join([*lines, lines[3]])
    assert gopher_repetition_signals(paras, RCFG)["gopher_dup_para_char_frac"] == (
        len(lines[3]) / len(paras)
    )


# Reference implementations written straight from the paper's definitions, loop by loop.
def ref_top_ngram_chars(tokens: list[str], n: int) -> int:
    grams = [" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def ref_dup_ngram_chars(tokens: list[str], n: int) -> int:
    seen: set[tuple[str, ...]] = set()
    idx = total = 0
    while idx <= len(tokens) - n:
        gram = tuple(tokens[idx : idx + n])
        if gram in seen:
            total += sum(map(len, gram))
            idx += n
        else:
            seen.add(gram)
            idx += 1
    return total


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "bb", "ccc", "dddd", "the", "x"]), min_size=0, max_size=80),
    st.sampled_from([" ", "\n", " "]),
)
def test_ngram_shares_match_reference(tokens: list[str], sep: str) -> None:
    doc = sep.join(tokens)
    if not doc:
        return
    sig = gopher_repetition_signals(doc, RCFG)
    for n in (2, 3, 4):
        assert sig[f"gopher_top_{n}gram_char_frac"] == pytest.approx(
            ref_top_ngram_chars(tokens, n) / len(doc)
        )
    for n in range(5, 11):
        assert sig[f"gopher_dup_{n}gram_char_frac"] == pytest.approx(
            ref_dup_ngram_chars(tokens, n) / len(doc)
        )


def test_top_ngram_threshold_flips() -> None:
    doc = good_doc(80)
    share = gopher_repetition_signals(doc, RCFG)["gopher_top_2gram_char_frac"]
    assert gopher_repetition_filter(doc, only(max_top_2gram_char_frac=share)) is None
    assert gopher_repetition_filter(doc, only(max_top_2gram_char_frac=share * 0.99)) == (
        "gopher_top_2gram"
    )


def test_repeated_ngram_spam_is_dropped() -> None:
    spam = " ".join(["buy", "cheap", "pills", "online", "today", "now"] * 12)
    doc = good_doc(60) + " " + spam
    assert gopher_repetition_filter(doc) in {f"gopher_dup_{n}gram" for n in range(5, 11)} | {
        "gopher_top_2gram",
        "gopher_top_3gram",
        "gopher_top_4gram",
    }
    assert gopher_repetition_filter(good_doc(200)) is None


def test_reason_names_are_unique_snake_case() -> None:
    names = GOPHER_QUALITY_REASONS + GOPHER_REPETITION_REASONS
    assert len(set(names)) == len(names)
    assert all(n.startswith("gopher_") and n == n.lower() for n in names)
