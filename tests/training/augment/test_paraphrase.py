"""Paraphrases: the prefix kept, the rest sampled per text's own seed, EOS obeyed."""

from __future__ import annotations

import copy

import pytest
import torch

from llmlake.tokenizer import EOS, PAD
from training.augment.paraphrase import Plan, keep_prefix, paraphrase, plan, sample

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["The cat sees the dog in the garden. The bird likes the mouse.",
         "Which animal?\n\nThe horse follows the rabbit in the field.",
         "The dog watches the cat in the river. The mouse finds the horse in the house.",
         "A rabbit chases the bird in the market."]


def test_keep_prefix_keeps_words_and_their_gaps():
    text = "Which animal?\n\nThe  horse follows the rabbit."  # 7 words: 4 kept
    assert keep_prefix(text, 0.5) == "Which animal?\n\nThe  horse"
    assert keep_prefix(text, 1.0) == text
    assert keep_prefix("one", 0.1) == "one" and keep_prefix("   ", 0.5) == "   "


def test_paraphrase_keeps_its_prefix_and_writes_the_rest(tiny_model, tok):
    out = paraphrase(tiny_model, tok, [(t, i) for i, t in enumerate(TEXTS)], keep=0.5,
                     temperature=1.0)
    for text, new in zip(TEXTS, out, strict=True):
        prefix = keep_prefix(text, 0.5)
        assert new.startswith(prefix) and new != text and len(new) > len(prefix)


def test_paraphrase_is_seeded_per_text(tiny_model, tok):
    jobs = [(t, 100 + i) for i, t in enumerate(TEXTS)]
    first = paraphrase(tiny_model, tok, jobs, keep=0.5, temperature=1.0)
    assert paraphrase(tiny_model, tok, jobs, keep=0.5, temperature=1.0) == first
    # A text's paraphrase depends on its seed only, not on the batch it is decoded in.
    alone = [paraphrase(tiny_model, tok, [job], keep=0.5, temperature=1.0)[0] for job in jobs]
    assert alone == first
    assert paraphrase(tiny_model, tok, jobs[::-1], 0.5, 1.0, batch_size=2) == first[::-1]
    other = paraphrase(tiny_model, tok, [(t, s + 1) for t, s in jobs], keep=0.5,
                       temperature=1.0)
    assert other != first


def test_a_long_batch_mate_never_cuts_a_rows_budget(tiny_model, tok):
    # 64-token context: a prefix of ~40 tokens beside a text that may write ~30 more.
    long = " ".join(["The cat sees the dog in the garden."] * 10)
    jobs = [(TEXTS[2] * 2, 7), (long, 8)]
    plans = plan(tok, jobs, keep=0.5, context=tiny_model.config.context)
    assert len(plans) == 2 and sum(len(p.ids) for p in plans[-1:]) + max(
        p.budget for p in plans) > tiny_model.config.context  # they cannot share a batch
    together = paraphrase(tiny_model, tok, jobs, keep=0.5, temperature=1.0)
    alone = [paraphrase(tiny_model, tok, [job], keep=0.5, temperature=1.0)[0] for job in jobs]
    assert together == alone


def test_nothing_to_write_comes_back_unchanged(tiny_model, tok):
    jobs = [("single", 1), (TEXTS[0], 2), ("", 3)]
    out = paraphrase(tiny_model, tok, jobs, keep=1.0, temperature=1.0)
    assert out == ["single", TEXTS[0], ""]


def test_plan_budget_fits_the_context(tok):
    long = " ".join(["The cat sees the dog."] * 30)
    plans = plan(tok, [(TEXTS[0], 1), (long, 2)], keep=0.5, context=64)
    assert [p.index for p in plans] == [0]  # the long text's prefix fills the context
    p = plans[0]
    assert p.budget == len(tok.encode(TEXTS[0]).ids) - len(p.ids)


def test_sample_stops_at_eos_and_never_writes_padding(tiny_model, tok):
    eos, pad = tok.token_to_id(EOS), tok.token_to_id(PAD)
    plans = plan(tok, [(t, i) for i, t in enumerate(TEXTS)], keep=0.5, context=64)
    with torch.no_grad():
        written = sample(tiny_model, plans, 1.0, eos, pad)
    for p, ids in zip(plans, written, strict=True):
        assert len(ids) <= p.budget and eos not in ids and pad not in ids
    # A model whose every next token is EOS writes nothing: the text comes back unchanged.
    eager = copy.deepcopy(tiny_model)
    with torch.no_grad():
        for block in eager.blocks:  # no mixing: the last hidden state is the last token's
            block.mix.out.weight.zero_()
            block.mlp.out.weight.zero_()
        row = torch.ones(eager.config.n_embd)
        eager.wte.weight[:] = row
        eager.wte.weight[eos] = 10 * row
        assert sample(eager, [Plan(0, "The cat", tok.encode("The cat").ids, 5, 1)], 0.5,
                      eos, pad) == [[]]
    assert paraphrase(eager, tok, [(TEXTS[0], 1)], 0.5, 0.5) == [TEXTS[0]]
