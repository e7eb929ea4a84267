"""Multiple-choice tasks (training.evaluate.tasks): reading task files, the built-in
next-sentence task, the scorer on a model trained to prefer planted answers, the metrics."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import numpy as np
import pytest
import torch

from etl.tokenizer.bpe import train as train_tokenizer
from llmlake.config_eval import EvaluateConfig
from llmlake.tokenizer import EOS
from training.evaluate.score import Scores
from training.evaluate.tasks import (
    Example,
    Problem,
    accuracy,
    bootstrap_ci,
    choice_scores,
    evaluate_task,
    load_task,
    macro_f1,
    next_sentence_task,
    opening,
    parse_task,
    resolve_task,
    score_task,
    sentences,
    task_items,
    task_signals,
)
from training.model import LanguageModel, ModelConfig

# Each context is always followed by its own answer; every answer is as common as any other,
# so only a model that learned which follows which can pick them all.
FACTS = [("the sky is", "blue."), ("grass is", "green."), ("snow is", "white."),
         ("coal is", "black."), ("gold is", "yellow."), ("blood is", "red.")]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tokenizer():
    texts = [f"{c} {a}" for c, a in FACTS] * 20 + ["green green green"] * 5
    return train_tokenizer(texts, vocab_size=320)


def fresh_model(tokenizer, seed: int = 0) -> LanguageModel:
    torch.manual_seed(seed)
    config = ModelConfig.from_preset("tiny", n_layer=2, n_embd=64, n_head=2, context=32,
                                     vocab_size=tokenizer.get_vocab_size())
    return LanguageModel(config).eval()


@pytest.fixture(scope="module")
def trained(tokenizer):
    """A model trained on the facts, each a document after <|endoftext|>, shuffled."""
    model = fresh_model(tokenizer).train()
    eos = tokenizer.token_to_id(EOS)
    rng = random.Random(0)
    docs = [tokenizer.encode(f"{c} {a}").ids for c, a in FACTS]
    stream: list[int] = []
    for _ in range(300):
        stream += [eos, *rng.choice(docs)]
    data = torch.tensor(stream)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for _ in range(400):
        starts = torch.randint(0, len(data) - 33, (16,), generator=gen)
        batch = torch.stack([data[s:s + 33] for s in starts.tolist()])
        _, loss = model(batch[:, :-1], targets=batch[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def planted_task() -> list[Example]:
    """Each fact's context, its answer among four, the answer's position rotating."""
    answers = [a for _, a in FACTS]
    out = []
    for i, (context, answer) in enumerate(FACTS):
        wrong = [a for a in answers if a != answer]
        wrong = wrong[i % len(wrong):] + wrong[:i % len(wrong)]
        choices = wrong[:3]
        choices.insert(i % 4, answer)
        out.append(Example(context, tuple(choices), i % 4, i + 1))
    return out


# --- reading ------------------------------------------------------------------------------

def line(**obj) -> str:
    return json.dumps(obj)


def test_parse_task_reports_each_malformed_line_and_keeps_the_good():
    good = {"context": "The capital of France is", "choices": ["Paris", "Rome"], "label": 0}
    lines = [
        line(**good),                                               # 1
        "",                                                          # 2: blank, skipped
        "{not json",                                                 # 3
        "[1, 2]",                                                    # 4
        line(context="x", label=0),                                  # 5
        line(context=3, choices=["a", "b"], label=0),                # 6
        line(context="  ", choices=["a", "b"], label=0),             # 7
        line(context="x", choices="ab", label=0),                    # 8
        line(context="x", choices=["a"], label=0),                   # 9
        line(context="x", choices=["a", ""], label=0),               # 10
        line(context="x", choices=["a", 2], label=0),                # 11
        line(context="x", choices=["a", "b"], label=True),           # 12
        line(context="x", choices=["a", "b"], label=1.0),            # 13
        line(context="x", choices=["a", "b"], label=2),              # 14
        line(context="x", choices=["a", "b"], label=-1),             # 15
        line(**{**good, "label": 1, "id": "q7", "source": "quiz"}),  # 16
    ]
    examples, problems = parse_task(lines)
    assert [(ex.line, ex.label, ex.id) for ex in examples] == [(1, 0, ""), (16, 1, "q7")]
    assert examples[0].choices == ("Paris", "Rome")
    assert [p.line for p in problems] == list(range(3, 16))
    expected = ["not JSON", "not a JSON object", "missing key 'choices'", "'context' must be",
                "'context' is empty", "'choices' must be a list", "at least 2",
                "'choices'[1] is empty", "'choices'[1] must be a string",
                "'label' must be an integer, got bool", "'label' must be an integer",
                "'label' 2 is outside 0..1", "'label' -1 is outside"]
    for problem, words in zip(problems, expected, strict=True):
        assert words in problem.reason, problem
        assert "\n" not in problem.reason


def test_load_task_names_it_by_stem_and_survives_bad_bytes(tmp_path):
    path = tmp_path / "capitals.jsonl"
    good = line(context="Paris is in", choices=["France", "Peru"], label=0).encode()
    path.write_bytes(good + b"\n\xff\xfe\n" + good + b"\n")
    name, examples, problems = load_task(path)
    assert name == "capitals"
    assert [ex.line for ex in examples] == [1, 3]
    assert problems == [Problem(2, "not UTF-8 text")]
    with pytest.raises(FileNotFoundError, match=r"evaluate\.tasks"):
        load_task(tmp_path / "missing.jsonl")


# --- the built-in task --------------------------------------------------------------------

def corpus(n_docs: int, per_doc: int = 6) -> list[tuple[str, str]]:
    """Documents of numbered sentences, with a short one, a line break and a sentence every
    third document shares."""
    docs = []
    for d in range(n_docs):
        sents = [f"Document {d} tells part {j} of its own long story." for j in range(per_doc)]
        sents.insert(3, "Short one.")                      # unusable: cuts the document
        if d % 3 == 0:
            sents.append("Subscribe to the newsletter for more stories.")
        text = " ".join(sents[:2]) + "\n" + " ".join(sents[2:])
        docs.append((f"doc-{d:03d}", text))
    return docs


def test_next_sentence_answer_follows_its_context_and_distractors_are_foreign():
    docs = corpus(12)
    by_id = {doc_id: sentences(text) for doc_id, text in docs}
    examples = next_sentence_task(docs, examples=8, choices=4, seed=1)
    assert len(examples) == 8
    assert len({ex.id for ex in examples}) == 8               # one per document
    for ex in examples:
        own = by_id[ex.id]
        answer = ex.choices[ex.label]
        assert len(ex.choices) == 4 and len(set(ex.choices)) == 4
        # Context and answer are consecutive usable sentences of the example's document.
        assert f"{ex.context} {answer}" in " ".join(own)
        assert ex.context.startswith(own[0])                  # the document's opening
        for i, choice in enumerate(ex.choices):
            if i != ex.label:
                assert choice not in own
                assert any(choice in by_id[other] for other in by_id if other != ex.id)
    assert {ex.label for ex in examples} != {examples[0].label}   # the answer moves


def test_opening_skips_unusable_sentences_and_caps_the_context():
    long = [f"Sentence {i} is long enough to be used." for i in range(6)]
    assert opening(["Menu", *long]) == (" ".join(long[:3]), long[3])
    assert opening([long[0], "Too short.", long[1], long[2]]) == (long[1], long[2])
    wide = [f"{i} " + "x" * 250 + "." for i in range(4)]          # two fit in 600 characters
    assert opening(wide) == (" ".join(wide[:2]), wide[2])
    assert opening([long[0], "y" * 400 + ".", long[1]]) is None
    assert opening(long[:1]) is None and opening([]) is None


def test_next_sentence_is_seeded_and_order_free():
    docs = corpus(15)
    first = next_sentence_task(docs, examples=10, choices=4, seed=3)
    shuffled = docs[::-1]
    assert next_sentence_task(shuffled, examples=10, choices=4, seed=3) == first
    assert next_sentence_task(docs, examples=10, choices=4, seed=4) != first


def test_next_sentence_copes_with_tiny_corpora():
    two = [("a", "Alpha says one long sentence here. Alpha adds a second one."),
           ("b", "Beta says one long sentence here. Beta adds a second one too.")]
    assert next_sentence_task([], examples=5, choices=4, seed=0) == []
    assert next_sentence_task(corpus(1), examples=5, choices=2, seed=0) == []
    # Three wrong choices need three sentences of another document; each has two.
    assert next_sentence_task(two, examples=5, choices=4, seed=0) == []
    assert len(next_sentence_task(two, examples=5, choices=3, seed=0)) == 2
    assert next_sentence_task([("a", "One sentence only, and long enough.")], 5, 2, 0) == []


# --- scoring ------------------------------------------------------------------------------

def test_task_items_join_choice_to_context_with_one_space(tokenizer):
    eos = tokenizer.token_to_id(EOS)
    examples = [Example("the sky is", ("blue.", "red."), 0, 1),
                Example("the sky is ", ("blue.", " red."), 0, 2)]
    items = task_items(tokenizer, examples, limit=32)
    ctx = tokenizer.encode("the sky is").ids
    assert items[0].ids == [eos, *ctx, *tokenizer.encode(" blue.").ids]
    assert items[0].first == len(ctx) + 1
    assert items[1].ids[items[1].first:] == tokenizer.encode(" red.").ids
    assert items[2].ids[items[2].first:] == tokenizer.encode("blue.").ids
    assert items[3].ids[items[3].first:] == tokenizer.encode(" red.").ids
    short = task_items(tokenizer, examples[:1], limit=3)[0]
    assert len(short.ids) - 1 <= 3 and short.ids[short.first:] == items[0].ids[items[0].first:]


@pytest.mark.parametrize("normalize", ["bytes", "tokens", "none"])
def test_scorer_picks_the_planted_answer_of_a_trained_model(tokenizer, trained, normalize):
    examples = planted_task()
    pred, per_choice = score_task(trained, tokenizer, examples, normalize, batch_size=5)
    gold = np.array([ex.label for ex in examples])
    assert accuracy(pred, gold) == 1.0
    assert [len(s) for s in per_choice] == [4] * len(examples)


def test_normalize_arithmetic_and_ties():
    examples = [Example("c", ("ab", "abcdefghij"), 0, 1), Example("c", ("x", "y"), 1, 2)]
    scores = Scores(nll=np.array([2.0, 6.0, 1.0, 1.0]), tokens=np.array([1, 4, 1, 1]),
                    correct=np.zeros(4, dtype=np.int64))
    none = choice_scores(scores, examples, "none")
    by_bytes = choice_scores(scores, examples, "bytes")    # " ab": 3 bytes, " abc...": 11
    by_tokens = choice_scores(scores, examples, "tokens")
    np.testing.assert_allclose(by_bytes[0], [-2 / 3, -6 / 11])
    np.testing.assert_allclose(by_tokens[0], [-2.0, -1.5])
    assert np.argmax(none[0]) == 0 and np.argmax(by_bytes[0]) == 1
    assert np.argmax(by_tokens[1]) == 0                        # a tie: the lowest index
    with pytest.raises(ValueError, match=r"evaluate\.normalize"):
        choice_scores(scores, examples, "chars")


def test_raw_sums_favour_the_short_choice_and_bytes_do_not(tokenizer):
    """An untrained model gives every token about the same probability: a raw sum then
    prefers fewer tokens, per byte prefers more bytes per token."""
    short, long = "is", "green green green green"
    assert len(tokenizer.encode(" " + short).ids) == 1
    assert len(tokenizer.encode(" " + long).ids) == 4
    examples = [Example("the sky is", (short, long), 0, 1)]
    model = fresh_model(tokenizer, seed=1)
    assert score_task(model, tokenizer, examples, "none")[0].tolist() == [0]
    assert score_task(model, tokenizer, examples, "bytes")[0].tolist() == [1]


def test_evaluate_task_reports_every_figure(tokenizer, trained):
    cfg = EvaluateConfig(bootstrap=50, seed=0)
    problems = [Problem(4, "not JSON"), Problem(9, "'label' 5 is outside 0..3")]
    report = evaluate_task(trained, tokenizer, "facts", planted_task(), problems, cfg)
    assert report["task"] == "facts" and report["examples"] == len(FACTS)
    assert report["skipped"] == 2 and report["problems"][1] == problems[1].__dict__
    assert report["accuracy"] == 1.0 and report["accuracy_ci"] == [1.0, 1.0]
    assert report["macro_f1"] == 1.0 and report["chance"] == 0.25
    assert report["normalize"] == "bytes"
    empty = evaluate_task(trained, tokenizer, "none", [], [], replace(cfg, bootstrap=0))
    assert empty["examples"] == 0 and empty["accuracy"] is None
    assert empty["accuracy_ci"] == [None, None]


def test_resolve_task_builds_the_builtin_or_reads_a_file(tmp_path):
    cfg = EvaluateConfig(task_examples=3, task_choices=3, seed=2)
    name, examples, problems = resolve_task("builtin:next_sentence", cfg, corpus(10))
    assert name == "next_sentence" and len(examples) == 3 and problems == []
    assert all(len(ex.choices) == 3 for ex in examples)
    path = tmp_path / "quiz.jsonl"
    path.write_text(line(context="a", choices=["b", "c"], label=1) + "\n")
    assert resolve_task(str(path), cfg, [])[0] == "quiz"


# --- metrics ------------------------------------------------------------------------------

def test_accuracy_and_macro_f1_by_hand():
    pred = np.array([0, 1, 1, 2, 0])
    gold = np.array([0, 1, 2, 2, 1])
    assert accuracy(pred, gold) == pytest.approx(3 / 5)
    # F1 = 2TP / (2TP + FP + FN): class 0 2/3, class 1 2/4, class 2 2/3; class 3 never occurs.
    assert macro_f1(pred, gold, n_classes=4) == pytest.approx((2 / 3 + 1 / 2 + 2 / 3) / 3)
    # Always answering 0 when 0 is mostly right: high accuracy, low macro-F1.
    gold = np.array([0] * 8 + [1, 2])
    always = np.zeros(10, dtype=np.int64)
    assert accuracy(always, gold) == 0.8
    assert macro_f1(always, gold, 3) == pytest.approx((2 * 8 / (2 * 8 + 2)) / 3)


def pattern(n: int) -> tuple[np.ndarray, np.ndarray]:
    """n examples, 70% answered right (gold 0..3 cycling, wrong ones one place off)."""
    gold = np.arange(n) % 4
    pred = np.where(np.arange(n) % 10 < 7, gold, (gold + 1) % 4)
    return pred, gold


def test_bootstrap_interval_holds_the_estimate_and_narrows_with_examples():
    small, large = pattern(50), pattern(2000)
    lo, hi = bootstrap_ci(*small, accuracy, resamples=300, seed=0)
    assert lo < accuracy(*small) < hi
    lo2, hi2 = bootstrap_ci(*large, accuracy, resamples=300, seed=0)
    assert lo2 < accuracy(*large) < hi2
    assert hi2 - lo2 < (hi - lo) / 2
    assert bootstrap_ci(*small, accuracy, resamples=300, seed=0) == (lo, hi)
    assert bootstrap_ci(*small, accuracy, resamples=300, seed=1) != (lo, hi)
    assert bootstrap_ci(*small, accuracy, resamples=0, seed=0) == (None, None)


def test_task_signals_chance_and_intervals():
    pred, gold = pattern(40)
    n_choices = [4] * 20 + [2] * 20
    problems = [Problem(i, "not JSON") for i in range(1, 9)]
    signals = task_signals("t", pred, gold, problems, n_choices, resamples=100, seed=0,
                           normalize="tokens")
    assert signals["chance"] == pytest.approx((20 / 4 + 20 / 2) / 40)
    assert signals["skipped"] == 8 and len(signals["problems"]) < 8
    lo, hi = signals["macro_f1_ci"]
    assert lo <= signals["macro_f1"] <= hi
    assert signals["accuracy"] == pytest.approx(0.7)
    assert json.loads(json.dumps(signals)) == signals
