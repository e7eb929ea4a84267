"""The tokenizer's two batch calls give the same ids, so the stage may use the faster, and
the stage's encoder appends EOS to every document, empty ones included."""

from __future__ import annotations

import random

import pytest

from etl.sample.text import TOPICS, english
from etl.tokenize.stage import encode_texts
from etl.tokenizer.bpe import train
from llmlake.tokenizer import EOS, for_documents


@pytest.fixture(scope="module")
def texts_and_tokenizer():
    grammar, rng = english(3), random.Random(3)
    texts = ["\n\n".join([title, *paragraphs]) for title, paragraphs in
             (grammar.article(rng, topic) for topic in sorted(TOPICS) * 4)]
    texts += ["", " ", "quoting <|endoftext|> and <|pad|> as text", "naïve 🎉 日本語 \t\r\n",
              "x" * 5000]
    return texts, for_documents(train(texts, 400))


def test_encode_batch_fast_gives_the_ids_of_encode_batch(texts_and_tokenizer):
    texts, tok = texts_and_tokenizer
    slow = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
    fast = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
    assert fast == slow
    assert tok.token_to_id(EOS) not in {i for ids in slow for i in ids}  # text stays text


@pytest.mark.parametrize("call", ["encode_batch", "encode_batch_fast"])
def test_encoder_appends_eos_to_each_document(texts_and_tokenizer, call):
    texts, tok = texts_and_tokenizer
    eos = tok.token_to_id(EOS)
    flat, lengths = encode_texts(tok, texts, eos, call)
    expected = [[*e.ids, eos] for e in tok.encode_batch(texts, add_special_tokens=False)]
    assert lengths.tolist() == [len(x) for x in expected]
    assert flat.tolist() == [i for x in expected for i in x]
