"""Synonym tables: mined from a crafted embedding matrix, from co-occurrence, read from files."""

from __future__ import annotations

import json

import pytest
import torch

from llmlake.stage import StageError
from training.augment.synonyms import (
    STOP_WORDS,
    WORD_PREFIX,
    cooccurrence_synonyms,
    embedding_synonyms,
    embedding_words,
    read_synonyms,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_embedding_words_are_whole_lowercase_words(tok):
    words = embedding_words(tok.get_vocab())
    assert {"cat", "dog", "garden"} <= words.keys()
    assert not words.keys() & STOP_WORDS  # "the" is a token, but no synonym key
    for word, token_id in words.items():
        assert tok.id_to_token(token_id) == WORD_PREFIX + word and word.isalpha()


def crafted(tok, tiny_model):
    """The tiny model's embedding rows, with cat's and dog's made near each other."""
    weights = tiny_model.wte.weight.detach().clone()
    cat, dog = (tok.token_to_id(WORD_PREFIX + w) for w in ("cat", "dog"))
    torch.manual_seed(5)
    weights[dog] = weights[cat] + 0.05 * weights[cat].norm() * torch.randn(weights.shape[1]) \
        / weights.shape[1] ** 0.5
    return weights


def test_embedding_neighbours_on_a_crafted_matrix(tok, tiny_model):
    texts = ["The cat sees the dog in the garden.", "A horse likes the river."]
    table = embedding_synonyms(crafted(tok, tiny_model), tok.get_vocab(), texts,
                               neighbours=3, min_similarity=0.9)
    # Random rows of width 32 are nowhere near 0.9 apart from the crafted pair.
    assert table == {"cat": ["dog"], "dog": ["cat"]}


def test_embedding_neighbours_are_capped_and_ordered(tok, tiny_model):
    weights = crafted(tok, tiny_model)
    texts = ["The cat sees the dog."]
    table = embedding_synonyms(weights, tok.get_vocab(), texts, neighbours=2,
                               min_similarity=-1.0)
    assert set(table) == {"cat", "dog", "sees"}  # only words of the texts are keys
    assert all(len(v) == 2 for v in table.values()) and table["cat"][0] == "dog"
    # ... and only words seen whole in the corpus are synonyms (not every Ġ token).
    assert all(set(v) <= {"cat", "dog", "sees"} for v in table.values())
    wider = embedding_synonyms(weights, tok.get_vocab(), texts, neighbours=10,
                               min_similarity=-1.0, corpus=[*texts, "A horse in the river."])
    assert set(wider) == set(table) and set(wider["cat"]) == {"dog", "sees", "horse", "river"}
    words = embedding_words(tok.get_vocab())
    unit = torch.nn.functional.normalize(weights, dim=1)
    sims = [float(unit[words["sees"]] @ unit[words[w]]) for w in table["sees"]]
    assert sims == sorted(sims, reverse=True)


def test_cooccurrence_on_a_tiny_corpus():
    texts = ["the cat sat on the mat", "the dog sat on the mat",
             "a cat ran to the park", "a dog ran to the park",
             "the sun is hot today", "the sun is bright today"] * 3
    table = cooccurrence_synonyms(texts, neighbours=2, min_similarity=0.5)
    assert table["cat"][0] == "dog" and table["dog"][0] == "cat"
    assert table["hot"] == ["bright"]
    assert not table.keys() & STOP_WORDS
    assert all(w not in v for w, v in table.items())


def test_cooccurrence_of_nothing_is_empty():
    assert cooccurrence_synonyms(["unique words only here"], 3, 0.1) == {}


def test_tsv_file(tmp_path):
    path = tmp_path / "syn.tsv"
    path.write_text("# word -> synonyms\ncat\tkitten, feline\n\nCat\tmoggy,cat\ndog\thound\n")
    assert read_synonyms(str(path)) == {"cat": ["kitten", "feline", "moggy"],
                                        "dog": ["hound"]}


def test_json_file(tmp_path):
    path = tmp_path / "syn.json"
    path.write_text(json.dumps({"cat": ["kitten", "cat"], "dog": ["hound"], "eel": []}))
    assert read_synonyms(str(path)) == {"cat": ["kitten"], "dog": ["hound"]}


@pytest.mark.parametrize(("name", "content", "message"), [
    ("syn.tsv", "cat\tkitten\ndog hound\n", "line 2: expected word<TAB>synonym"),
    ("syn.tsv", "cat\t , \n", "line 1: expected word<TAB>synonym"),
    ("syn.json", '{"cat": ["kitten"', "not valid JSON"),
    ("syn.json", '{"cat": "kitten"}', "word -> list of synonyms"),
    ("syn.json", '{"cat": []}', "holds no synonyms"),
    ("syn.tsv", "\xff\xfe", "cannot read"),
])
def test_bad_files_name_the_key(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(StageError, match=f"augment.synonyms_file: .*{message}"):
        read_synonyms(str(path))


def test_missing_file_names_the_key(tmp_path):
    with pytest.raises(StageError, match=r"augment.synonyms_file: cannot read"):
        read_synonyms(str(tmp_path / "none.tsv"))
