"""The byte-level BPE: lossless round trips, stable special ids, transformers compatibility."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.sample.text import TOPICS, english
from etl.tokenizer.bpe import measure, train
from llmlake.tokenizer import EOS, PAD, file_hash, load, save


def corpus(n: int, seed: int = 3) -> list[str]:
    grammar, rng = english(seed), random.Random(seed)
    texts = []
    for i in range(n):
        title, paragraphs = grammar.article(rng, sorted(TOPICS)[i % len(TOPICS)])
        texts.append("\n\n".join([title, *paragraphs]))
    return texts


@pytest.fixture(scope="module")
def tok():
    return train(corpus(200), vocab_size=1000)


SPECIAL_CASES = [
    "", " ", "   leading and trailing   ", "tabs\tand\nnewlines\r\n\n\n",
    "naïve café, Straße, ﬁ ligature, é vs e\u0301", "emoji 🎉👩‍👩‍👧 and flags 🇫🇷",
    "日本語のテキスト、中文文本, ελληνικά, русский", "\x00 control \x1b chars",
    "<|endoftext|> written in text", "a" * 5000,
]


@pytest.mark.parametrize("text", SPECIAL_CASES)
def test_decode_of_encode_is_the_text(tok, text):
    assert tok.decode(tok.encode(text, add_special_tokens=False).ids) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_round_trip_on_any_unicode(tok, text):
    assert tok.decode(tok.encode(text, add_special_tokens=False).ids) == text


def test_trained_vocabulary_has_merges_and_fixed_special_ids(tok):
    assert tok.get_vocab_size() == 1000
    assert tok.token_to_id(EOS) == 0 and tok.token_to_id(PAD) == 1
    # Merges were learned: common words take fewer tokens than bytes.
    text = corpus(1, seed=99)[0]
    assert len(tok.encode(text).ids) < len(text.encode()) / 2


def test_special_ids_survive_save_and_reload(tok, tmp_path):
    path = save(tok, tmp_path / "tok")
    again = load(path.parent)
    assert again.token_to_id(EOS) == 0 and again.token_to_id(PAD) == 1
    text = "one two three"
    assert again.encode(text).ids == tok.encode(text).ids
    assert again.decode([0, *again.encode(text).ids], skip_special_tokens=False) == EOS + text


def test_document_text_cannot_forge_an_end_of_text(tok, tmp_path):
    again = load(save(tok, tmp_path / "tok"))
    text = f"quoting {EOS} and {PAD} in a page"
    for t in (tok, again):
        ids = t.encode(text).ids
        assert 0 not in ids and 1 not in ids
        assert t.decode(ids) == text


def test_training_is_deterministic(tmp_path):
    a = save(train(corpus(60), vocab_size=600), tmp_path / "a")
    b = save(train(corpus(60), vocab_size=600), tmp_path / "b")
    assert file_hash(a) == file_hash(b)


def test_transformers_loads_the_saved_folder(tok, tmp_path):
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    folder = save(tok, tmp_path / "tok").parent
    fast = PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"))
    auto = AutoTokenizer.from_pretrained(str(folder))
    plain = "Hello  world,\n\tnaïve 🎉"
    assert fast.encode(plain, add_special_tokens=False) == tok.encode(plain).ids
    # tokenizer_config.json carries split_special_tokens, so a quoted EOS stays text.
    text = f"{plain} {EOS}"
    ids = tok.encode(text, add_special_tokens=False).ids
    assert auto.encode(text, add_special_tokens=False) == ids
    assert auto.decode(ids) == text
    assert (auto.eos_token_id, auto.pad_token_id) == (0, 1)


def test_measure_counts_bytes_words_and_tokens(tok):
    texts = ["two words", "héllo"]
    stats = measure(tok, texts)
    tokens = sum(len(tok.encode(t).ids) for t in texts)
    assert (stats["documents"], stats["bytes"], stats["words"], stats["tokens"]) == (
        2, 15, 3, tokens)
    assert stats["bytes_per_token"] == round(15 / tokens, 4)
    assert stats["tokens_per_word"] == round(tokens / 3, 4)


def test_loading_a_missing_tokenizer_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="llmlake etl tokenizer"):
        load(tmp_path)


def test_stage_encoding_is_each_text_encoded_alone_then_eos(tok):
    from etl.tokenize.stage import encode_texts

    texts = [*SPECIAL_CASES, *corpus(5, seed=11)]
    flat, lengths = encode_texts(tok, texts, eos=0)
    expected = [[*tok.encode(t, add_special_tokens=False).ids, 0] for t in texts]
    assert lengths.tolist() == [len(e) for e in expected]
    assert flat.dtype == np.int32 and flat.tolist() == [t for e in expected for t in e]
