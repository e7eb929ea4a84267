"""EDA's four edits: each op's defining property, over many seeds and texts."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from training.augment.eda import edit, edits, join, key_of, split

TABLE = {"cat": ["kitten", "feline"], "dog": ["hound"], "garden": ["yard", "lawn"],
         "sees": ["spots"]}
TEXTS = [
    "The cat sees the dog in the garden.",
    "Which animal?\n\nThe Dog chases a CAT, then sees the garden twice.",
    "  leading and trailing spaces around a cat  ",
    "one",
    "two words",
]
SEEDS = range(40)


def words(text: str) -> list[str]:
    return text.split()


@pytest.mark.parametrize("text", TEXTS)
def test_split_join_round_trip(text):
    ws, gaps = split(text)
    assert join(ws, gaps) == text and len(gaps) == len(ws) + 1


@pytest.mark.parametrize("text", TEXTS)
def test_swap_keeps_the_multiset_of_words(text):
    changed = 0
    for seed in SEEDS:
        out = edit(text, "swap", 0.3, TABLE, random.Random(seed))
        assert Counter(words(out)) == Counter(words(text))
        changed += out != text
    assert changed > 0 or len(words(text)) < 2


def test_swap_keeps_the_layout():
    text = TEXTS[1]
    out = edit(text, "swap", 0.5, TABLE, random.Random(3))
    assert out != text and split(out)[1] == split(text)[1]  # the same gaps, in place


@pytest.mark.parametrize("text", TEXTS)
def test_delete_removes_words_in_order_but_never_empties(text):
    n = len(words(text))
    for seed in SEEDS:
        out = words(edit(text, "delete", 0.3, TABLE, random.Random(seed)))
        assert 1 <= len(out) <= n
        assert len(out) == max(1, n - edits(n, 0.3))
        it = iter(words(text))
        assert all(w in it for w in out)  # a subsequence: the rest keep their order


def test_delete_leaves_a_one_word_text_alone():
    assert edit("one", "delete", 0.5, TABLE, random.Random(0)) == "one"


def allowed_synonyms(text: str) -> set[str]:
    return {s for w in words(text) for s in TABLE.get(key_of(w) or "", [])}


@pytest.mark.parametrize("text", TEXTS[:3])
def test_insert_adds_only_synonyms_of_the_texts_words(text):
    n = len(words(text))
    for seed in SEEDS:
        out = edit(text, "insert", 0.3, TABLE, random.Random(seed))
        added = Counter(words(out)) - Counter(words(text))
        assert not Counter(words(text)) - Counter(words(out))  # nothing removed
        assert sum(added.values()) == edits(n, 0.3)
        assert set(added) <= allowed_synonyms(text)


@pytest.mark.parametrize("text", TEXTS[:3])
def test_replacement_uses_only_table_entries(text):
    n_changed = 0
    for seed in SEEDS:
        out = edit(text, "synonym", 0.3, TABLE, random.Random(seed))
        before, after = words(text), words(out)
        assert len(before) == len(after)
        changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
        assert 1 <= len(changed) <= edits(len(before), 0.3)
        for old, new in changed:
            assert key_of(new) in TABLE[key_of(old)]
            assert old[-1].isalpha() == new[-1].isalpha()  # punctuation kept
            assert old[0].isupper() == new[0].isupper()    # capitalisation kept
        n_changed += len(changed)
    assert n_changed > 0


def test_replacement_keeps_case_and_punctuation():
    out = edit("CAT, Dog.", "synonym", 1.0, {"cat": ["kitten"], "dog": ["hound"]},
               random.Random(0))
    assert out == "KITTEN, Hound."


@pytest.mark.parametrize("method", ["synonym", "insert"])
def test_no_table_word_leaves_the_text_alone(method):
    text = "numbers 1 2 3 and words without synonyms"
    assert edit(text, method, 0.5, TABLE, random.Random(0)) == text


def test_edits_follow_eda_count():
    assert [edits(n, 0.1) for n in (1, 4, 15, 25, 40)] == [1, 1, 2, 2, 4]


def test_unknown_method_is_an_error():
    with pytest.raises(ValueError, match=r"augment.methods: paraphrase is no EDA edit"):
        edit("a b", "paraphrase", 0.1, TABLE, random.Random(0))
