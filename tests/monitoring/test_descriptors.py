"""Per-text descriptors (monitoring.descriptors): hand-counted figures on crafted texts, and
the model probe against evaluation's scoring and the model's own forward pass."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer, models, pre_tokenizers

from etl.tokenizer.bpe import train as train_tokenizer
from llmlake.tokenizer import save as save_tokenizer
from monitoring.descriptors import (
    CATEGORICAL,
    MODEL_DESCRIPTORS,
    TEXT_DESCRIPTORS,
    ModelProbe,
    count_sentences,
    describe,
    describe_texts,
    non_letter_share,
    text_descriptors,
    vocabulary,
    words,
)
from training.checkpoint import save_model
from training.evaluate.corpus import Doc, evaluate_documents
from training.model import LanguageModel, ModelConfig

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = 16
PARAGRAPHS = {
    "en": "The weather was lovely this morning. We walked along the river and had coffee.",
    "de": "Das Wetter war heute Morgen herrlich. Wir sind am Fluss entlang spaziert.",
    "fr": "Il faisait très beau ce matin. Nous avons marché le long de la rivière.",
}
CORPUS = [*PARAGRAPHS.values(), "the cat sat on the mat.", "a dog ran over the hill."] * 10
LONG = " ".join(PARAGRAPHS.values())  # several evaluation windows of CONTEXT tokens

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def word_tok():
    """One token per word and per run of punctuation, so token counts are countable."""
    tok = Tokenizer(models.WordLevel({"[UNK]": 0}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return tok


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A model folder as the train stage writes it: a small BPE and a random model whose
    distributions are far from flat (init_std 0.3)."""
    tmp = tmp_path_factory.mktemp("probe")
    save_tokenizer(train_tokenizer(CORPUS, vocab_size=300), tmp / "tokenizer")
    torch.manual_seed(0)
    vocab = Tokenizer.from_file(str(tmp / "tokenizer" / "tokenizer.json")).get_vocab_size()
    config = ModelConfig(vocab_size=vocab, context=CONTEXT, n_layer=2, n_head=2, n_embd=32,
                         mlp_hidden=64, init_std=0.3)
    return save_model(tmp / "model", LanguageModel(config).eval(), tmp / "tokenizer")


@pytest.fixture(scope="module")
def probe(folder) -> ModelProbe:
    return ModelProbe.load(folder, batch_size=4)


# -- text descriptors ---------------------------------------------------------------------


def test_words_are_lowercased_letter_and_digit_runs_in_any_script():
    assert words("Über-cool CAFÉ naïve_x 3D 東京!") == ["über", "cool", "café", "naïve", "x",
                                                       "3d", "東京"]


def test_exact_figures_of_a_crafted_text(word_tok):
    text = "Hi, Bob! It's 5 o'clock."
    row = text_descriptors(text, frozenset({"hi", "it", "clock"}), word_tok)
    # Words: hi bob it s 5 o clock. Characters: "Hi," 3 + "Bob!" 4 + "It's" 4 + "5" 1
    # + "o'clock." 8 = 20 visible, and 4 spaces; of the 20, 14 are letters.
    assert row["chars"] == 24 and row["words"] == 7 and row["sentences"] == 2
    assert row["non_letter_share"] == pytest.approx(6 / 20)
    assert row["oov_share"] == pytest.approx(4 / 7)  # bob, s, 5, o
    # Hi , Bob ! It ' s 5 o ' clock . : 12 tokens
    assert row["tokens_per_word"] == pytest.approx(12 / 7)
    assert row["language"] == "en"


@pytest.mark.parametrize(("text", "n"), [
    ("", 0), ("  \n ", 0), ("...!?", 0), ("no punctuation here", 1),
    ("One. Two! Three?", 3), ("Wait... what?!", 2), ("First para\n\nsecond para", 2),
    ("First line\nsame sentence", 1), ("First para\n  \nsecond", 2),
    ("Pi is 3.14 today.", 1), ('He said "stop." Then he left', 2),
])
def test_sentences(text, n):
    assert count_sentences(text) == n


@pytest.mark.parametrize(("text", "share"), [
    ("ab 12!", 3 / 5), ("", 0.0), (" \n\t", 0.0), ("日本語", 0.0), ("-- 42 --", 1.0),
])
def test_non_letter_share(text, share):
    assert non_letter_share(text) == pytest.approx(share)


@pytest.mark.parametrize("text", ["", "   \n\n  "])
def test_empty_text(text, word_tok):
    row = text_descriptors(text, frozenset({"a"}), word_tok)
    assert row == {"chars": len(text), "words": 0, "sentences": 0, "non_letter_share": 0.0,
                   "oov_share": 0.0, "tokens_per_word": 0.0, "language": "unknown"}


@pytest.mark.parametrize(("lang", "text"), sorted(PARAGRAPHS.items()))
def test_language_is_the_clean_stages_label(lang, text, word_tok):
    assert text_descriptors(text, frozenset(), word_tok)["language"] == lang


def test_describe_texts_matches_one_text_at_a_time(word_tok):
    texts = [*PARAGRAPHS.values(), "", "Hi, Bob! It's 5 o'clock."]
    vocab = vocabulary(CORPUS)
    rows = describe_texts(texts, vocab, word_tok)
    assert rows == [text_descriptors(t, vocab, word_tok) for t in texts]
    assert set(rows[0]) == set(TEXT_DESCRIPTORS) and set(TEXT_DESCRIPTORS) >= CATEGORICAL
    assert describe_texts([], vocab, word_tok) == []


def test_vocabulary_keeps_frequent_words_and_breaks_ties_alphabetically():
    texts = ["b A c", "a B", "c d", "a"]  # a 3, b 2, c 2, d 1 (case folded)
    assert vocabulary(texts) == {"a", "b", "c"}
    assert vocabulary(texts, min_count=1) == {"a", "b", "c", "d"}
    assert vocabulary(texts, max_words=2) == {"a", "b"}  # b and c tie: b first
    assert vocabulary(texts[::-1], max_words=2) == {"a", "b"}
    assert vocabulary(iter(texts), min_count=3) == {"a"}


@pytest.mark.parametrize(("call", "message"), [
    (lambda tok: text_descriptors(None, frozenset(), tok), "text 0: expected a str"),
    (lambda tok: describe_texts(["fine", 3], frozenset(), tok), "text 1: expected a str"),
    (lambda tok: vocabulary(["a"], min_count=0), "min_count"),
    (lambda tok: vocabulary(["a"], max_words=0), "max_words"),
    (lambda tok: text_descriptors("a", frozenset(), tok, lang_chars=0), "lang_chars"),
])
def test_bad_input_is_named(call, message, word_tok):
    with pytest.raises((TypeError, ValueError), match=message):
        call(word_tok)


def test_import_does_not_load_torch():
    code = "import sys, monitoring.descriptors; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


# -- model probe --------------------------------------------------------------------------


def test_perplexity_of_one_text_is_evaluations(probe):
    doc = Doc("d", "val", "en", "jsonl", LONG)
    report = evaluate_documents(probe.model, probe.tokenizer, [doc], probe.eos_id,
                                batch_size=4, stride=0, device="cpu")["val"]
    assert report["tokens"] > 2 * CONTEXT  # several windows
    ppl = probe.perplexity([LONG])
    assert ppl.shape == (1,)
    assert ppl[0] == pytest.approx(math.exp(report["nll"] / report["tokens"]), rel=1e-4)
    assert ppl[0] == pytest.approx(report["perplexity"], rel=1e-9)


def test_perplexity_of_a_short_text_from_one_forward_pass(probe):
    text = "the cat sat."
    ids = [probe.eos_id, *probe.tokenizer.encode(text, add_special_tokens=False).ids]
    assert len(ids) <= CONTEXT
    with torch.no_grad():
        logits, _ = probe.model(torch.tensor([ids[:-1]]))
    logp = F.log_softmax(logits[0].double(), dim=-1)
    nll = -logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].mean().item()
    assert probe.perplexity([text])[0] == pytest.approx(math.exp(nll), rel=1e-5)


def test_perplexity_per_text_in_a_batch_and_nan_for_no_tokens(probe):
    texts = [LONG, "", "the cat sat.", PARAGRAPHS["de"]]
    batched = probe.perplexity(texts)
    alone = [probe.perplexity([t])[0] for t in texts]
    assert math.isnan(batched[1]) and math.isnan(alone[1])
    np.testing.assert_allclose(batched[[0, 2, 3]], np.array(alone)[[0, 2, 3]], rtol=1e-5)
    assert probe.perplexity([]).shape == (0,)


@pytest.mark.parametrize("arch", ["gpt", "hybrid"])
def test_head_of_the_hidden_states_is_the_forward_logits(arch):
    torch.manual_seed(1)
    model = LanguageModel(ModelConfig(arch=arch, vocab_size=50, context=CONTEXT, n_layer=3,
                                      n_head=2, n_embd=32, attn_every=2, init_std=0.3)).eval()
    idx = torch.randint(0, 50, (2, 11))
    with torch.no_grad():
        logits, _ = model(idx)
        hidden = model.hidden(idx)
        head = F.linear(hidden, model.wte.weight)  # the tied head
    assert hidden.shape == (2, 11, 32)
    np.testing.assert_allclose(head.numpy(), logits.numpy(), rtol=1e-5, atol=1e-6)


def test_embeddings_are_the_mean_hidden_state_of_the_first_window(probe):
    ids = probe.tokenizer.encode(LONG, add_special_tokens=False).ids
    assert len(ids) > CONTEXT
    with torch.no_grad():
        hidden = probe.model.hidden(torch.tensor([[probe.eos_id, *ids[:CONTEXT - 1]]]))
        short = probe.model.hidden(torch.tensor([[probe.eos_id, *ids[:5]]]))
    got = probe.embeddings([LONG])
    np.testing.assert_allclose(got[0], hidden[0, 1:].mean(0).numpy(), atol=1e-6)
    np.testing.assert_allclose(probe.embeddings([LONG], max_tokens=6)[0],
                               short[0, 1:].mean(0).numpy(), atol=1e-6)


def test_embeddings_shape_padding_and_empty_text(probe):
    short, longer = "the cat sat.", PARAGRAPHS["en"]
    got = probe.embeddings([short, "", longer])
    assert got.shape == (3, 32) and got.dtype == np.float32
    assert not got[1].any() and got[0].any()
    # Batched with a longer text, the short one is padded: the padding must not leak in.
    np.testing.assert_allclose(got[0], probe.embeddings([short])[0], atol=1e-5)
    np.testing.assert_allclose(got[2], probe.embeddings([longer])[0], atol=1e-5)
    assert not np.allclose(got[0], got[2])
    for bad in (1, CONTEXT + 1):
        with pytest.raises(ValueError, match="max_tokens"):
            probe.embeddings([short], max_tokens=bad)


def test_describe_adds_perplexity_and_embeddings_with_a_probe(probe):
    texts = ["the cat sat.", "", PARAGRAPHS["fr"]]
    vocab = vocabulary(CORPUS)
    rows, emb = describe(texts, vocab, probe.tokenizer, probe)
    assert [list(r) for r in rows] == [[*TEXT_DESCRIPTORS, *MODEL_DESCRIPTORS]] * 3
    np.testing.assert_array_equal([r["perplexity"] for r in rows], probe.perplexity(texts))
    assert emb.shape == (3, 32)
    plain, none = describe(texts, vocab, probe.tokenizer, None)
    assert none is None and plain == [{k: r[k] for k in TEXT_DESCRIPTORS} for r in rows]


def test_load_names_a_bad_folder(folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        ModelProbe.load(tmp_path)
    small = LanguageModel(ModelConfig(vocab_size=100, context=8, n_layer=1, n_head=2,
                                      n_embd=16))
    bad = save_model(tmp_path / "small", small, folder.parent / "tokenizer")  # 300 ids
    with pytest.raises(ValueError, match="vocab_size 100"):
        ModelProbe.load(bad)
