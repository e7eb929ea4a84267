"""Greedy decoding: the model's own argmax continuation, cut at EOS and at the context;
exact match counts an answer only when the model ends it where the answer ends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.finetune.decode import exact_match, greedy
from training.finetune.template import Encoded
from training.model import LanguageModel, ModelConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    """Untrained, but with large weights: a fresh model only repeats its last token."""
    torch.manual_seed(3)
    model = LanguageModel(ModelConfig.from_preset("tiny", n_layer=1, n_embd=32, n_head=2,
                                                  vocab_size=50, context=32)).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.normal_(0, 0.3)
    return model


def reference(model, prompt, n):
    """The model's own greedy generation (temperature 0), the new tokens only."""
    out = model.generate(torch.tensor([prompt]), max_new_tokens=n, temperature=0)
    return out[0, len(prompt):].tolist()


def new_token_at(ref, at_least):
    """The first step from ``at_least`` on whose token did not occur before: an EOS there
    ends the continuation exactly at that step."""
    return next(k for k in range(at_least, len(ref)) if ref[k] not in ref[:k])


def test_greedy_is_the_models_argmax_continuation_and_stops_at_eos(model):
    prompt = [4, 8, 15, 16]
    ref = reference(model, prompt, 12)
    assert greedy(model, prompt, 12, eos_id=-1) == ref  # no EOS: every step
    stop = new_token_at(ref, 3)
    assert greedy(model, prompt, 12, eos_id=ref[stop]) == ref[:stop + 1]  # EOS kept, then stops


def test_greedy_never_runs_past_the_context(model):
    assert len(greedy(model, list(range(3, 33)), 10, eos_id=-1)) == 3  # 30 + 3 - 1 fed = 32
    assert greedy(model, list(range(1, 40)), 5, eos_id=-1) == []


def test_an_answer_matches_only_when_the_model_ends_it_there(model):
    prompt = [1, 2, 3, 4]
    ref = reference(model, prompt, 12)
    stop = new_token_at(ref, 3)
    eos, answer = ref[stop], ref[:stop + 1]  # the model's answer and its (chosen) EOS

    def example(ids):
        return Encoded(np.array(prompt + ids), np.array([False] * 4 + [True] * len(ids)), 4)

    good, cut_short = example(answer), example([*answer[:-1], (eos + 1) % 50])
    longer = example([*answer[:-1], *answer])  # the model stopped before the answer did
    got = exact_match(model, [good, cut_short, longer], eos_id=eos)
    assert got == {"examples": 3, "exact": 1, "share": round(1 / 3, 4)}
    too_long = Encoded(np.arange(40), np.arange(40) > 30, 31)
    assert exact_match(model, [too_long], eos_id=eos) == {"examples": 0, "exact": 0,
                                                         "share": None}
