"""Tokenizer, sentence counter and shared text views (etl.clean.words, etl.clean.stats)."""

from __future__ import annotations

import doctest
import importlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.clean.stats import TextStats, duplicate_counts
from etl.clean.words import count_sentences, split_words

# (text, tokens) pairs: what spaCy's blank English tokenizer produces for each.
SPACY_LIKE = [
    ("The cat sat.", ["The", "cat", "sat", "."]),
    ("don't can't it's we're I'm", ["do", "n't", "ca", "n't", "it", "'s", "we", "'re", "I", "'m"]),
    ("O'Neil students' rock'n'roll", ["O'Neil", "students", "'", "rock'n'roll"]),
    ("well-known COVID-19 2020-2021", ["well", "-", "known", "COVID-19", "2020", "-", "2021"]),
    ("$19.99 (50%) 1,299.00", ["$", "19.99", "(", "50", "%", ")", "1,299.00"]),
    ("3.2.1 v1.10.4 10:30 1/2", ["3.2.1", "v1.10.4", "10:30", "1/2"]),
    ("Mr. Smith, U.S. e.g. A. etc.", ["Mr.", "Smith", ",", "U.S.", "e.g.", "A.", "etc", "."]),
    ("cargo::build --help -C allow(x", ["cargo::build", "--help", "-C", "allow(x"]),
    ("path/to/file and/or", ["path", "/", "to", "/", "file", "and/or"]),
    ("Really?! Yes... no..", ["Really", "?", "!", "Yes", "...", "no", ".."]),
    ('"Hello," she said.', ['"', "Hello", ",", '"', "she", "said", "."]),
    ("#tag x_y _z_ AT&T", ["#", "tag", "x_y", "_", "z", "_", "AT&T"]),
    ("10km 5kg 2nd 4K", ["10", "km", "5", "kg", "2nd", "4", "K"]),
    ("end.Next abc.def USA. iPhone.", ["end", ".", "Next", "abc.def", "USA", ".", "iPhone", "."]),
    (
        "see https://a.example/x?y=1. or jo@a.example",
        ["see", "https://a.example/x?y=1", ".", "or", "jo@a.example"],
    ),
    ("• item\n- item — dash", ["•", "item", "-", "item", "—", "dash"]),
    ("I cannot go", ["I", "can", "not", "go"]),
]


@pytest.mark.parametrize(("text", "tokens"), SPACY_LIKE)
def test_split_words_follows_spacy_rules(text: str, tokens: list[str]) -> None:
    assert split_words(text) == tokens


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokens_cover_every_non_space_character_in_order(text: str) -> None:
    tokens = split_words(text)
    assert all(tok and not any(c.isspace() for c in tok) for tok in tokens)
    assert "".join(tokens) == "".join(text.split())


@pytest.mark.parametrize("chunk", ["a" + ').,"' * 50_000, "a" + "_" * 200_000, "x-" * 100_000])
def test_long_pathological_chunks_stay_linear(chunk: str) -> None:
    start = time.perf_counter()
    tokens = split_words(chunk)
    assert time.perf_counter() - start < 2.0
    assert "".join(tokens) == chunk


@pytest.mark.parametrize(
    ("text", "n"),
    [
        ("", 0),
        ("One sentence without end", 1),
        ("One. Two! Three? Four.", 4),
        ("Mr. Smith met Dr. Jones in the U.S. today.", 1),
        ("It trailed off... and went on.", 1),
        ('He said "stop." Then left.', 2),
        ("Prices rose in 2020. Then they fell.", 2),
        ("Wait!! What?!", 2),
    ],
)
def test_count_sentences(text: str, n: int) -> None:
    assert count_sentences(split_words(text)) == n


def test_text_stats_views() -> None:
    st_ = TextStats("A bc.\nC de.\n\n\nE fg.\n")
    assert st_.lines == ["A bc.", "C de.", "", "", "E fg."]
    assert st_.line_runs == ["A bc.", "C de.", "E fg.", ""]
    assert st_.nonblank_lines == ["A bc.", "C de.", "E fg."]
    assert st_.paragraphs == ["A bc.\nC de.", "E fg."]
    assert st_.words == ["A", "bc", ".", "C", "de", ".", "E", "fg", "."]
    assert st_.line_words[1] == ["C", "de", "."]
    assert st_.n_chars == len(st_.text)


@given(st.lists(st.sampled_from(["a", "bb", "ccc", ""]), max_size=30))
def test_duplicate_counts_match_a_plain_loop(items: list[str]) -> None:
    seen: set[str] = set()
    n = chars = 0
    for x in items:
        if x in seen:
            n, chars = n + 1, chars + len(x)
        seen.add(x)
    assert duplicate_counts(items) == (n, chars)


MODULES = [
    "etl.clean",
    "etl.clean.filters.c4",
    "llmlake.config_clean",
    "etl.clean.extract",
    "etl.clean.filters.fineweb",
    "etl.clean.filters.gopher",
    "etl.clean.langid",
    "etl.clean.filters.lists",
    "etl.clean.normalize",
    "etl.clean.pii",
    "etl.clean.document",
    "etl.clean.stats",
    "etl.clean.words",
    "etl.clean.filters.url",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0, f"{name} has no runnable example"
    assert failed == 0
