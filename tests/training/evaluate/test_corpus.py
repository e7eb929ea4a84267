"""Held-out scoring (training.evaluate.score, training.evaluate.corpus) against hand
computations from the model's own logits."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from training.evaluate.corpus import Doc, corpus_signals, document_items
from training.evaluate.score import Item, context_item, score, windows
from training.model import LanguageModel, ModelConfig

VOCAB = 50


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("tiny", n_layer=2, n_embd=32, n_head=2, vocab_size=VOCAB,
                                  context=16, init_std=0.3)  # far from uniform
    return LanguageModel(cfg).eval()


def hand_nll(model, ids: list[int]) -> tuple[float, int]:
    """-sum log p(ids[t] | ids[:t]) for t >= 1 and top-1 hits, from one forward pass."""
    with torch.no_grad():
        logits, _ = model(torch.tensor([ids[:-1]]))
    logp = F.log_softmax(logits[0].double(), dim=-1)
    targets = torch.tensor(ids[1:])
    nll = -logp[torch.arange(len(targets)), targets].sum().item()
    hits = int((logp.argmax(-1) == targets).sum())
    return nll, hits


def test_perplexity_of_crafted_text_equals_the_hand_computation(model):
    ids = [0, 7, 3, 3, 9, 12, 4, 4, 4, 30, 2]
    scores = score(model, [Item(ids, first=1)])
    nll, hits = hand_nll(model, ids)
    assert scores.nll[0] == pytest.approx(nll, rel=1e-5)
    assert scores.tokens[0] == len(ids) - 1 and scores.correct[0] == hits
    docs = [Doc("d", "val", "en", "warc", "x" * 25)]
    report = corpus_signals(docs, scores, owners=[0])["val"]
    assert report["perplexity"] == pytest.approx(math.exp(nll / (len(ids) - 1)), rel=1e-5)


def test_bits_per_byte_is_the_loss_over_the_byte_count(model):
    text = "naïve café: 3 bytes € each"  # multi-byte characters: bytes != characters
    ids = [0, 5, 6, 7, 8, 9, 10]
    scores = score(model, [Item(ids, first=1)])
    report = corpus_signals([Doc("d", "test", "en", "wet", text)], scores, [0])["test"]
    nbytes = len(text.encode("utf-8"))
    assert nbytes > len(text) and report["bytes"] == nbytes
    assert report["bits_per_byte"] == pytest.approx(
        report["loss"] * report["tokens"] / (math.log(2) * nbytes))


def test_padding_and_batching_do_not_change_a_score(model):
    items = [Item([0, 1, 2, 3, 4, 5, 6, 7, 8], 1), Item([0, 9], 1), Item([0, 4, 4, 4], 2)]
    together = score(model, items, batch_size=3)
    alone = [score(model, [it], batch_size=1) for it in items]
    np.testing.assert_allclose(together.nll, [a.nll[0] for a in alone], rtol=1e-5)
    assert together.tokens.tolist() == [8, 1, 2]


@pytest.mark.parametrize("length,stride", [(5, 8), (16, 8), (17, 8), (40, 8), (40, 5),
                                           (33, 16), (40, 1)])
def test_windows_score_every_token_once_with_at_most_context_inputs(length, stride):
    ids = list(range(length + 1))
    got = windows(ids, context=16, stride=stride)
    scored = [t for w in got for t in w.ids[w.first:]]
    assert scored == ids[1:]
    assert all(len(w.ids) - 1 <= 16 for w in got)
    # After the first window every scored token sees context - stride tokens or more.
    assert all(w.first >= 16 - stride for w in got[1:])


def test_a_document_that_fits_scores_as_one_forward_pass(model):
    tokens = [5, 9, 11, 2, 7, 7, 3, 18, 4, 6]
    items, owners = document_items([tokens, []], eos_id=0, context=16, stride=8)
    assert owners == [0]  # the empty document has no window
    nll, _ = hand_nll(model, [0, *tokens])
    assert score(model, items).nll[0] == pytest.approx(nll, rel=1e-5)


def test_a_long_document_keeps_context_across_windows(model):
    rng = np.random.default_rng(1)
    tokens = rng.integers(2, VOCAB, 45).tolist()
    items, owners = document_items([tokens], eos_id=0, context=16, stride=4)
    scores = score(model, items)
    assert int(scores.tokens.sum()) == 45 and set(owners) == {0}
    # The last window's tokens, scored by hand with the same 12 tokens of history.
    last = items[-1]
    with torch.no_grad():
        logits, _ = model(torch.tensor([last.ids[:-1]]))
    logp = F.log_softmax(logits[0].double(), -1)
    want = -sum(logp[t - 1, last.ids[t]].item() for t in range(last.first, len(last.ids)))
    assert scores.nll[-1] == pytest.approx(want, rel=1e-5)


def test_context_item_keeps_the_target_and_the_nearest_context():
    item = context_item(list(range(100, 130)), [1, 2, 3], limit=16)
    assert item.ids[item.first:] == [1, 2, 3] and len(item.ids) == 17
    assert item.ids[:item.first] == list(range(116, 130))
    with pytest.raises(ValueError):
        context_item([], [1], limit=16)


def test_breakdowns_add_up_to_the_split():
    docs = [Doc("a", "val", "en", "warc", "aaaa"), Doc("b", "val", "de", "jsonl", "bb"),
            Doc("c", "val", "en", "jsonl", "cccccc"), Doc("d", "test", "en", "wet", "dd")]
    from training.evaluate.score import Scores

    scores = Scores(nll=np.array([2.0, 1.0, 4.0, 0.5, 3.0]), tokens=np.array([2, 1, 3, 1, 2]),
                    correct=np.array([1, 0, 2, 1, 0]))
    report = corpus_signals(docs, scores, owners=[0, 1, 2, 2, 3])
    val = report["val"]
    assert val["tokens"] == 7 and val["nll"] == pytest.approx(7.5) and val["bytes"] == 12
    assert sum(g["tokens"] for g in val["by_lang"].values()) == val["tokens"]
    assert val["by_source"]["jsonl"]["documents"] == 2
    assert val["by_source"]["jsonl"]["accuracy"] == pytest.approx(3 / 5)
    assert list(report["test"]["by_source"]) == ["wet"]
    assert report["test"]["by_source"]["wet"]["tokens"] == 2


@pytest.mark.gpu
def test_scores_on_a_gpu_equal_the_cpu_ones(model):
    rng = np.random.default_rng(2)
    items = [Item([0, *rng.integers(2, VOCAB, n).tolist()], 1) for n in (3, 9, 15)]
    on_cpu = score(model, items)
    on_gpu = score(model.to("cuda"), items, device="cuda")
    model.to("cpu")
    np.testing.assert_allclose(on_gpu.nll, on_cpu.nll, rtol=1e-3)
    assert on_gpu.tokens.tolist() == on_cpu.tokens.tolist()
