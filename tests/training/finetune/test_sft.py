"""SFT data: lines parsed or reported with their numbers, the bad-line decision, the split,
packed and padded rows, the loss on answers only, and a model taught its answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from training.data import IGNORE, Sequences, to_batch
from training.finetune.sft import (
    BadLine,
    layout,
    parse_line,
    read_examples,
    sft_reason,
    sft_signals,
    split_examples,
    split_indices,
)
from training.finetune.template import TEMPLATES, Encoded, encode
from training.loss import cross_entropy

pytestmark = pytest.mark.usefixtures("one_thread")

PAIR = [("user", "p"), ("assistant", "r")]


@pytest.mark.parametrize(("line", "reason"), [
    ('{"prompt": "p"', "not JSON"),
    ('["p", "r"]', "not a JSON object (list)"),
    ('{"response": "r"}', "no 'prompt'"),
    ('{"prompt": "p"}', "no 'response'"),
    ('{"prompt": "  ", "response": "r"}', "'prompt' is empty"),
    ('{"prompt": "p", "response": 4}', "'response' is not a string (int)"),
    ('{"prompt": "p", "response": null}', "'response' is not a string (NoneType)"),
    ('{"messages": []}', "messages: not a non-empty list"),
    ('{"messages": ["hi"]}', "messages: message 1 is not an object"),
    ('{"messages": [{"role": "bot", "content": "x"}]}', "messages: message 1: unknown role 'bot'"),
    ('{"messages": [{"role": "user"}]}', "messages: message 1: no 'content'"),
    ('{"messages": [{"role": "user", "content": "x"}]}', "messages: no assistant turn"),
])
def test_a_malformed_line_says_why(line, reason):
    assert parse_line(line).startswith(reason)


def test_pairs_and_chats_parse_and_extra_keys_are_ignored():
    assert parse_line('{"prompt": "p", "response": "r", "x": 1}') == PAIR
    chat = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                         {"role": "assistant", "content": "a", "name": "bot"}]}
    assert parse_line(json.dumps(chat)) == [("system", "s"), ("user", "u"), ("assistant", "a")]


def test_the_feedback_exports_lines_parse(tmp_path):
    from datetime import UTC, datetime

    from monitoring.feedback.signals import feedback_signals
    from monitoring.feedback.stage import jsonl

    at = datetime(2026, 1, 1, tzinfo=UTC)
    requests = [{"request_id": "a", "ts": at, "model": "m@1", "prompt": "hi", "response": "yo"}]
    ratings = [{"request_id": "a", "ts": at, "rating": 1, "comment": None}]
    signals = feedback_signals(requests, ratings, good=1, bad=-1)
    path = tmp_path / "sft.jsonl"
    path.write_bytes(jsonl(signals.sft))  # the export's own bytes
    examples, bad = read_examples(path)
    assert bad == [] and [e.turns for e in examples] == [[("user", "hi"), ("assistant", "yo")]]


def test_bad_lines_are_counted_with_their_numbers_and_skipped(tmp_path, jsonl):
    path = jsonl(tmp_path / "sft.jsonl", [{"prompt": "a", "response": "b"}, "{oops", "",
                                          {"prompt": "c", "response": ""},
                                          {"prompt": "d", "response": "e"}])
    with open(path, "ab") as fh:
        fh.write(b'{"prompt": "\xff", "response": "x"}\n')
    examples, bad = read_examples(path)
    assert [e.line for e in examples] == [1, 5]  # line 3 is blank: neither
    assert [(b.line, b.reason.split(" (")[0]) for b in bad] == [
        (2, "not JSON"), (4, "'response' is empty"), (6, "not UTF-8 text")]


def test_more_bad_lines_than_allowed_is_a_named_decision():
    bad = [BadLine(n, "x") for n in range(1, 13)]
    signals = sft_signals(88, bad, max_bad_fraction=0.1)
    assert signals["bad_fraction"] == 0.12 and len(signals["first_bad"]) == 10
    assert sft_reason(signals) == "too_many_bad_lines"
    assert sft_reason(sft_signals(88, bad[:8], 0.1)) == "train"
    assert sft_reason(sft_signals(0, bad[:1], 1.0)) == "no_examples"


def test_the_split_is_by_example_seeded_and_keeps_both_sides():
    train, val = split_indices(20, 0.1, seed=3)
    assert len(val) == 2 and sorted([*train, *val]) == list(range(20))
    assert [list(x) for x in split_indices(20, 0.1, seed=3)] == [list(train), list(val)]
    assert list(split_indices(20, 0.1, seed=4)[1]) != list(val)
    assert len(split_indices(3, 0.01, 0)[1]) == 1 and len(split_indices(2, 0.5, 0)[0]) == 1
    assert len(split_indices(5, 0.0, 0)[1]) == 0


def fake(n: int, prompt: int, start: int = 10) -> Encoded:
    ids = np.arange(start, start + n)
    return Encoded(ids, np.arange(n) >= prompt, prompt)


def test_augmented_variants_follow_their_parent_and_never_validate(tmp_path):
    rows = []
    for i in range(40):
        rows.append({"id": f"q{i}", "parent_id": f"q{i}", "method": "original",
                     "prompt": f"question {i}", "response": "yes"})
        rows += [{"id": f"q{i}:{m}:0", "parent_id": f"q{i}", "method": m,
                  "prompt": f"question {i} {m}", "response": "yes"} for m in ("swap", "delete")]
    path = tmp_path / "augmented.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples, bad = read_examples(path)
    assert not bad and len(examples) == 120
    train, val, left_out = split_examples(examples, 0.25, seed=3)
    val_groups = {examples[i].group for i in val}
    assert len(val_groups) == 10 and len(val) == 10  # the originals of a quarter of the groups
    assert not val_groups & {examples[i].group for i in train}
    assert not any(examples[i].variant for i in val)
    assert left_out == 20 and len(train) == 90
    assert split_examples(examples, 0.25, seed=3) == (train, val, left_out)


def test_packed_rows_are_full_width_never_split_an_example_and_mask_padding():
    examples = [fake(5, 2, 10), fake(4, 1, 20), fake(6, 3, 30), fake(3, 1, 40)]
    rows = layout(examples, seq_len=10, pad_id=1, pack=True)
    assert rows.tokens.shape == rows.mask.shape == (2, 10)
    assert rows.tokens.tolist() == [[10, 11, 12, 13, 14, 20, 21, 22, 23, 1],
                                    [30, 31, 32, 33, 34, 35, 40, 41, 42, 1]]
    for ex in examples:  # each example whole, in one row
        hits = [r for r in rows.tokens.tolist() if ex.ids[0] in r]
        assert len(hits) == 1
        start = hits[0].index(ex.ids[0])
        assert hits[0][start:start + len(ex)] == ex.ids.tolist()
    assert not rows.mask[rows.tokens == 1].any()
    assert rows.stats["targets"] == sum(int(e.mask.sum()) for e in examples)


def test_padded_rows_hold_one_example_each():
    examples = [fake(5, 2, 10), fake(4, 1, 20)]
    rows = layout(examples, seq_len=8, pad_id=1, pack=False)
    assert rows.tokens.tolist() == [[10, 11, 12, 13, 14, 1, 1, 1], [20, 21, 22, 23, 1, 1, 1, 1]]
    assert rows.mask.tolist()[0] == [False, False, True, True, True, False, False, False]
    assert rows.stats == {"examples": 2, "rows": 2, "truncated": 0, "dropped": 0, "tokens": 9,
                          "targets": 6, "pad": 7}


def test_a_long_example_is_truncated_and_counted_and_one_left_without_targets_dropped():
    rows = layout([fake(12, 4, 10), fake(12, 10, 30), fake(3, 1, 50)], seq_len=8, pad_id=1,
                  pack=True)
    assert rows.tokens.tolist() == [list(range(10, 18)), [50, 51, 52, 1, 1, 1, 1, 1]]
    assert rows.stats["truncated"] == 2 and rows.stats["dropped"] == 1
    assert rows.stats["examples"] == 2


def test_prompt_tokens_get_no_loss_and_the_loss_is_the_mean_over_answer_targets(tok, material):
    """The crafted batch: one packed row of two examples; the loss the model computes is
    the hand-made mean cross entropy over answer tokens, and prompt positions get exactly
    zero gradient."""
    from training.model import LanguageModel, ModelConfig

    examples = [encode(tok, [("user", p), ("assistant", r)], TEMPLATES["plain"], 0)
                for p, r in material.qa_pairs()[:2]]
    rows = layout(examples, seq_len=65, pad_id=1, pack=True)
    seqs = Sequences(rows.tokens, mask=rows.mask)
    x, y = to_batch(seqs.take(np.array([0])), 64, pad_id=1, mask=seqs.take_mask(np.array([0])))
    torch.manual_seed(0)
    model = LanguageModel(ModelConfig.from_preset("tiny", vocab_size=tok.get_vocab_size(),
                                                  context=64, **material.shape))
    logits = model(x)[0].detach().requires_grad_(True)
    loss = cross_entropy(logits.flatten(0, 1), y.flatten())  # what the model's forward does
    targets = rows.mask[0, 1:65]
    assert int(targets.sum()) == sum(int(e.mask.sum()) for e in examples)
    logp = torch.log_softmax(logits[0].detach().double(), -1)
    by_hand = -np.mean([float(logp[i, rows.tokens[0, i + 1]]) for i in np.flatnonzero(targets)])
    assert loss.item() == pytest.approx(by_hand, rel=1e-5)
    assert model(x, y)[1].item() == pytest.approx(by_hand, rel=1e-5)
    (grad,) = torch.autograd.grad(loss, logits)
    assert (y[0] == IGNORE).sum() == 64 - targets.sum()
    assert torch.count_nonzero(grad[0][~torch.from_numpy(targets)]) == 0
    assert torch.count_nonzero(grad[0][torch.from_numpy(targets)]) > 0


def test_sft_teaches_a_tiny_model_its_answers(tok, material):
    """Twenty facts no model could guess, fine-tuned into a fresh tiny model through the
    training loop with the mask: greedy answers to the rendered prompts come back exact."""
    from llmlake.config_train import TrainConfig
    from training.finetune.decode import exact_match
    from training.model import ModelConfig
    from training.train.loop import Loop

    examples = [encode(tok, [("user", p), ("assistant", r)], TEMPLATES["plain"], 0)
                for p, r in material.qa_pairs()]
    rows = layout(examples, seq_len=33, pad_id=1, pack=False)
    assert rows.stats["truncated"] == 0
    seqs = Sequences(rows.tokens, mask=rows.mask)
    cfg = TrainConfig(context=32, batch_size=8, max_steps=150, warmup_steps=5, lr=0.01,
                      weight_decay=0.0, eval_every=150, log_every=150, checkpoint_every=150,
                      eval_batches=1)
    mcfg = ModelConfig.from_preset("tiny", vocab_size=tok.get_vocab_size(), context=32,
                                          **material.shape)
    loop = Loop(mcfg, cfg, seqs, seqs, pad_id=1)
    before = exact_match(loop.model, examples, eos_id=0)
    loop.run(report=lambda state, save: None)
    after = exact_match(loop.model, examples, eos_id=0)
    assert before["exact"] == 0 and after["examples"] == 20
    assert after["share"] >= 0.9, after
