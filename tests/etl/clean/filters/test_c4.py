"""C4 line cleaning and document rules (etl.clean.filters.c4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.clean.filters.c4 import C4_REASONS, C4Config, c4_clean, c4_clean_stats, c4_filter
from etl.clean.words import split_words

GOOD = [
    "The soup was warm and the bread was fresh.",
    "We sat by the window for an hour.",
    "The waiter brought us more tea.",
    "It started to rain in the afternoon.",
    "We walked home under one umbrella.",
]
CFG = C4Config()


def doc(*extra: str, lines: list[str] = GOOD) -> str:
    return "\n".join([*lines, *extra])


def test_good_document_is_kept_unchanged() -> None:
    text, reason = c4_filter(doc())
    assert reason is None
    assert text == doc()


@pytest.mark.parametrize(
    ("line", "cause"),
    [
        ("Read more", "no_punct"),
        ("Share this post...", "no_punct"),
        ("Hello there.", "few_words"),
        ("Please enable JavaScript to see the comments.", "javascript"),
        ("By using this site you agree to our Terms of Use.", "policy"),
        ("This site uses cookies to improve your experience.", "policy"),
        ("See our privacy policy for details on this.", "policy"),
        ("A line with " + "x" * 1001 + " inside it.", "long_word"),
    ],
)
def test_bad_lines_are_removed(line: str, cause: str) -> None:
    text, sig = c4_clean(doc(line), CFG)
    assert line not in text
    assert text == doc()
    assert sig[f"c4_lines_{cause}"] == 1
    assert sig["c4_lines_kept"] == len(GOOD)


def test_terminal_punctuation_variants_are_kept() -> None:
    lines = [
        "Is this the right way?",
        "What a day it was!",
        'He said "we will go."',
        "She said 'it is fine.'",
    ]
    text, _ = c4_clean(doc(*lines), CFG)
    assert all(line in text.split("\n") for line in lines)


def test_word_of_exactly_max_length_is_allowed() -> None:
    line = "A line with " + "x" * 1000 + " inside it."
    assert line in c4_clean(doc(line), CFG)[0]


def test_long_word_limit_applies_to_short_lines() -> None:
    cfg = C4Config(max_word_length=5)
    text, sig = c4_clean(doc("Ten words of longer text."), cfg)
    assert sig["c4_lines_long_word"] == len(GOOD) + 1
    assert text == ""


_LINE_PARTS = st.sampled_from(
    [*GOOD, "", "  ", "[1] Cited at the start.", "Cited at the end of it.[2]", "Read more",
     "Mr. Smith [edit] came home.", "\u201cQuoted,\u201d she said -- twice!", "x{y} is code."]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_LINE_PARTS, max_size=12))
def test_cleaned_stats_carry_the_cleaned_texts_words(lines: list[str]) -> None:
    stats, sig = c4_clean_stats("\n".join(lines), CFG)
    assert stats.words == split_words(stats.text)
    assert (stats.text, sig) == c4_clean("\n".join(lines), CFG)


def test_citations_are_removed_before_the_punctuation_test() -> None:
    text, _ = c4_clean(
        doc("The river floods every spring.[1]", "It is long.[citation needed]"), CFG
    )
    assert "The river floods every spring." in text.split("\n")
    assert "[" not in text


def test_lines_are_stripped_and_blank_lines_dropped() -> None:
    text, _ = c4_clean("  " + "\n\n".join(GOOD) + "  ", CFG)
    assert text == doc()


def test_lorem_ipsum_drops_the_document() -> None:
    assert c4_filter(doc("Lorem ipsum dolor sit amet, consectetur adipiscing.")) == (
        "\n".join(GOOD),
        "c4_lorem_ipsum",
    )


def test_curly_bracket_drops_the_document_only_on_a_surviving_line() -> None:
    assert c4_filter(doc("The function returns {x: 1} in this case."))[1] == "c4_curly_bracket"
    # The brace is on a line that the punctuation rule removes first, as in C4.
    assert c4_filter(doc("function f() { return 1 }"))[1] is None
    # A "javascript" line goes before the brace test.
    assert c4_filter(doc("Our javascript uses {braces} everywhere."))[1] is None


@pytest.mark.parametrize(("n", "reason"), [(4, "c4_too_few_sentences"), (5, None)])
def test_minimum_sentences(n: int, reason: str | None) -> None:
    assert c4_filter(doc(lines=GOOD[:n]))[1] == reason


def test_sentences_are_counted_inside_lines() -> None:
    one_line = " ".join(GOOD)
    text, sig = c4_clean(one_line, CFG)
    assert (text, sig["c4_sentences"]) == (one_line, 5)
    # Abbreviations and ellipses do not end sentences.
    _, sig = c4_clean("Mr. Smith met Dr. Jones in the U.S. today... and left.", CFG)
    assert sig["c4_sentences"] == 1
    assert c4_filter(one_line, C4Config(min_sentences=6))[1] == "c4_too_few_sentences"


def test_bad_words_default_list() -> None:
    assert c4_filter(doc("The site was full of porno clips and ads."))[1] == "c4_bad_words"
    # Whole words only: a substring of a longer word does not count.
    assert c4_filter(doc("The pornography law was debated in parliament."))[1] is None


def test_bad_words_apply_only_to_listed_languages() -> None:
    text = doc("The site was full of porno clips and ads.")
    assert c4_filter(text, CFG, lang="de")[1] is None
    assert c4_filter(text, CFG, lang="en")[1] == "c4_bad_words"
    assert c4_filter(text, C4Config(filter_bad_words=False))[1] is None


def test_bad_words_list_file_is_configurable(tmp_path: Path) -> None:
    path = tmp_path / "words.txt"
    path.write_text("# my list\numbrella\ncold tea\n", encoding="utf-8")
    cfg = C4Config(bad_words_path=str(path))
    assert c4_filter(doc(), cfg)[1] == "c4_bad_words"
    assert (
        c4_filter(doc(lines=[*GOOD[:4], "We drank cold tea by the fire."]), cfg)[1]
        == "c4_bad_words"
    )
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n", encoding="utf-8")
    assert c4_filter(doc(), C4Config(bad_words_path=str(empty)))[1] is None


def test_rules_can_be_switched_off() -> None:
    cfg = C4Config(
        filter_no_terminal_punct=False,
        min_words_per_line=0,
        filter_policy=False,
        filter_javascript=False,
        min_sentences=0,
    )
    text, reason = c4_filter("menu\nJavaScript\nPrivacy policy", cfg)
    assert (text, reason) == ("menu\nJavaScript\nPrivacy policy", None)


def test_reason_names() -> None:
    assert all(r.startswith("c4_") for r in C4_REASONS)
