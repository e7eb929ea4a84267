"""The drift decision (monitoring.monitor.drift): each kind of drift on crafted figures, the
thresholds at their boundaries, the yield test against a hand-computed p-value, and
perplexity drift caught on its own: text the champion has not seen the like of, with every
text descriptor unchanged."""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from eval_helpers import shard_loop

from llmlake.config_monitor import MonitorConfig
from llmlake.lake import Lake
from llmlake.lineage import upstream
from llmlake.tokenizer import EOS
from llmlake.tokenizer import load as load_tokenizer
from monitoring.descriptors import ModelProbe, describe_texts, vocabulary
from monitoring.monitor.batch import read_folder
from monitoring.monitor.drift import (
    Column,
    drift_reason,
    drift_signals,
    two_proportion_p,
    yield_signals,
)
from monitoring.monitor.reference import reference_texts

pytestmark = pytest.mark.usefixtures("one_thread")
CFG = MonitorConfig()  # p_value 0.01, drift_share 0.25, perplexity_ratio 1.25, AUC 0.6


def columns(drifted: int, total: int = 8) -> list[Column]:
    return [Column(f"d{i}", "ks", 0.001 if i < drifted else 0.5, 0.01, i < drifted)
            for i in range(total)]


def signals(cols=(), ref=(10.0,), cur=(10.0,), emb=None, current=None, n_read=0,
            lake=None, n_lake=0, cfg=CFG) -> dict:
    return drift_signals(list(cols), list(ref), list(cur), emb, current or {}, n_read,
                         lake or {}, n_lake, cfg)


def verdict(cfg=CFG, **figures) -> tuple[bool, list[str], list[str]]:
    return drift_reason(signals(cfg=cfg, **figures), cfg)


# ---- each kind, and its threshold at the boundary ----------------------------------------

def test_nothing_moved_is_no_drift():
    found = signals(columns(0), ref=[10, 11, 12], cur=[10, 11, 12], emb=0.5,
                    current={"kept": 90, "short": 10}, n_read=100,
                    lake={"kept": 900, "short": 100}, n_lake=1000)
    assert found["drifted"] == [] and found["drift_share"] == 0.0
    assert found["yield_drifted"] == []
    assert drift_reason(found, CFG) == (False, [], [])
    json.dumps(found, allow_nan=False)  # JSON-ready, as drift.json needs


def test_data_drift_starts_at_drift_share():
    at = verdict(cols=columns(2))  # 2 of 8 = 25%: at the threshold counts
    assert at[:2] == (True, ["data"])
    assert at[2] == ["2 of 8 descriptors drifted (25%, threshold 25%): d0, d1"]
    assert verdict(cols=columns(1)) == (False, [], [])
    assert verdict(cfg=replace(CFG, drift_share=0.0))[1] == []  # no descriptors: no data


def test_drift_share_counts_evidentlys_verdicts_not_the_scores():
    """A descriptor drifted when Evidently's test failed; the score is only shown."""
    cols = [Column("chars", "ks", 0.5, 0.01, True), Column("words", "ks", 0.001, 0.01, False)]
    found = signals(cols)
    assert found["drifted"] == ["chars"] and found["drift_share"] == 0.5
    assert found["descriptors"][1] == {"name": "words", "method": "ks", "score": 0.001,
                                       "threshold": 0.01, "drifted": False}


def test_perplexity_drift_is_a_ratio_of_medians_above_the_threshold():
    ref = [8.0, 10.0, 12.0, math.nan]  # nan (a text of no tokens) is no figure
    at = signals(ref=ref, cur=[12.5, 12.5, 11.0, 30.0])  # median 12.5: exactly 1.25x
    assert at["perplexity"] == {"reference_median": 10.0, "current_median": 12.5,
                                "ratio": 1.25}
    assert drift_reason(at, CFG) == (False, [], [])
    above = verdict(ref=ref, cur=[12.6, 12.6, 11.0])
    assert above[:2] == (True, ["perplexity"])
    assert above[2] == ["the champion's median perplexity is 1.26x the reference's "
                        "(10.0 -> 12.6; threshold 1.25x)"]
    assert verdict(ref=ref, cur=[5.0, 6.0])[1] == []  # easier text is no drift


def test_without_perplexities_there_is_no_ratio():
    for ref, cur in (([], [10.0]), ([10.0], []), ([math.nan], [10.0]), ([10.0], [math.inf])):
        found = signals(ref=ref, cur=cur)
        assert found["perplexity"]["ratio"] is None, (ref, cur)
        assert drift_reason(found, CFG) == (False, [], [])


def test_embedding_drift_is_an_auc_above_the_threshold():
    assert verdict(emb=0.6) == (False, [], [])
    detected, kinds, reasons = verdict(emb=0.61)
    assert detected and kinds == ["embedding"]
    assert reasons == ["a classifier tells the batches apart by their embeddings "
                       "(ROC AUC 0.610 > 0.6)"]
    assert verdict(emb=None) == (False, [], [])
    assert signals(emb=None)["embedding"]["score"] is None


def test_kinds_come_in_a_fixed_order_with_one_reason_each_finding():
    detected, kinds, reasons = verdict(
        cols=columns(4), ref=[10.0], cur=[20.0], emb=0.9,
        current={"kept": 45, "lang_not_allowed": 50, "short": 5}, n_read=100,
        lake={"kept": 900, "lang_not_allowed": 50, "short": 50}, n_lake=1000)
    assert detected and kinds == ["data", "perplexity", "embedding", "yield"]
    assert len(reasons) == 3 + 2  # one per kind, and one per moved yield outcome
    assert reasons[3].startswith("cleaning's share 'kept' is 45.0% of the batch against "
                                 "90.0% of the lake")
    assert reasons[4].startswith("cleaning's share 'lang_not_allowed' is 50.0%")


# ---- yield -------------------------------------------------------------------------------

def test_two_proportion_p_matches_a_hand_computed_value():
    # 30/100 against 20/100: pooled 0.25, se = sqrt(0.25 * 0.75 * (2/100)) = 0.0612372,
    # z = 0.1 / se = 1.632993, two-sided p = 2 * (1 - Phi(1.632993)) = 0.102470.
    assert two_proportion_p(30, 100, 20, 100) == pytest.approx(0.102470, abs=1e-6)
    assert two_proportion_p(20, 100, 30, 100) == two_proportion_p(30, 100, 20, 100)
    assert two_proportion_p(10, 40, 10, 40) == 1.0
    assert two_proportion_p(0, 50, 0, 80) == 1.0  # no variance: nothing to tell apart
    assert two_proportion_p(5, 0, 1, 10) == two_proportion_p(1, 10, 5, 0) == 1.0
    assert two_proportion_p(0, 100, 100, 100) < 1e-20


def test_yield_moves_only_when_both_large_and_significant():
    cfg = replace(CFG, p_value=0.01, yield_change=0.05)
    rows = yield_signals({"kept": 80, "short": 20}, 100, {"kept": 950, "dup": 10, "short": 40},
                         1000, cfg)
    # Every outcome: kept first, then the drop reasons in order.
    assert [r["outcome"] for r in rows] == ["kept", "dup", "short"]
    by = {r["outcome"]: r for r in rows}
    assert by["dup"]["current"] == 0.0 and by["dup"]["lake"] == 0.01
    assert by["short"]["p_value"] == two_proportion_p(20, 100, 40, 1000)
    assert by["short"]["drifted"] and by["kept"]["drifted"] and not by["dup"]["drifted"]
    # Significant but small: 52% against 50% of a million documents.
    small = yield_signals({"x": 520_000}, 1_000_000, {"x": 500_000}, 1_000_000, cfg)[0]
    assert small["p_value"] < 1e-100 and not small["drifted"]
    # Large but not significant: 3 of 10 against 1 of 10.
    noisy = yield_signals({"x": 3}, 10, {"x": 1}, 10, cfg)[0]
    assert noisy["p_value"] > cfg.p_value and not noisy["drifted"]
    # A change of exactly yield_change counts (3/4 - 1/2 = 0.25 is exact in binary).
    exact = yield_signals({"x": 7500}, 10_000, {"x": 5000}, 10_000,
                          replace(cfg, yield_change=0.25))[0]
    assert exact["drifted"]


def test_no_yield_without_counts_on_both_sides():
    assert yield_signals({"kept": 5}, 0, {"kept": 5}, 10, CFG) == []
    assert yield_signals({"kept": 5}, 5, {}, 0, CFG) == []
    found = signals(current={"kept": 5, "short": 5}, n_read=10)  # served prompts: no lake
    assert found["yield"] == [] and found["yield_drifted"] == []


# ---- perplexity drift alone, with a model that learned word order -----------------------

SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*$")


def shuffle_sentences(text: str, rng: random.Random) -> str:
    """The words of each sentence in another order, the sentence's end mark kept last and
    every run of whitespace kept in place: the same characters, words and sentences."""
    parts = re.split(r"(\s+)", text)
    slots: list[int] = []

    def flush() -> None:
        found = [parts[i] for i in slots]
        end = SENTENCE_END.search(found[-1])
        tail = end.group(0) if end else ""
        found[-1] = found[-1][:len(found[-1]) - len(tail)]
        rng.shuffle(found)
        found[-1] += tail
        for i, word in zip(slots, found, strict=True):
            parts[i] = word

    for i, part in enumerate(parts):
        if part and not part.isspace():
            slots.append(i)
            if SENTENCE_END.search(part):
                flush()
                slots.clear()
    if slots:
        flush()
    return "".join(parts)


def test_shuffle_sentences_keeps_the_words_and_the_end_marks():
    rng = random.Random(0)
    text = "The cat sat on the mat. Did it purr?\n\nYes,  it  did!"
    out = shuffle_sentences(text, rng)
    assert out != text
    assert len(out) == len(text) and out.count("\n") == 2
    for before, after in zip(re.split(r"(?<=[.!?])\s+", text),
                             re.split(r"(?<=[.!?])\s+", out), strict=True):
        assert after[-1] == before[-1]
        assert sorted(after[:-1].split()) == sorted(before[:-1].split())


@pytest.fixture(scope="module")
def learned(train_inputs) -> ModelProbe:
    """The tiny model after 1000 steps on the lake's shards: it has learned which word
    follows which (60 steps learn little more than word frequencies)."""
    params = train_inputs["params"]
    loop = shard_loop(train_inputs, 1000)
    loop.run(report=lambda state, save: None)
    tokenizer = load_tokenizer(Path(params.lake.artifacts) / "tokenizer")
    return ModelProbe(loop.model.eval(), tokenizer, tokenizer.token_to_id(EOS))


@pytest.mark.spark
@pytest.mark.slow
def test_perplexity_drift_alone_is_caught(train_inputs, learned, make_batch, tmp_path):
    from lake_helpers import params_at

    base = train_inputs["params"]
    gold = upstream(Lake(base.lake), "tokenize")["gold/documents"]
    _, reference, vocab_texts = reference_texts(gold, "heldout", 60, 50, seed=0)
    current = read_folder(make_batch("same", seed=11), params_at(tmp_path)).texts
    shuffled = [shuffle_sentences(t, random.Random(i)) for i, t in enumerate(current)]
    # Every text descriptor sees the same batch. Tokens per word moves a hair: a word may
    # split into other tokens where it lands (first in the text, or capitalised).
    vocab = vocabulary(vocab_texts)
    before = describe_texts(current, vocab, learned.tokenizer)
    after = describe_texts(shuffled, vocab, learned.tokenizer)
    for row, again in zip(before, after, strict=True):
        assert row["tokens_per_word"] == pytest.approx(again.pop("tokens_per_word"), rel=0.05)
        assert {k: v for k, v in row.items() if k != "tokens_per_word"} == again

    ref_ppl = learned.perplexity(reference)
    as_is = signals(ref=ref_ppl, cur=learned.perplexity(current))
    assert drift_reason(as_is, CFG) == (False, [], []), as_is["perplexity"]
    found = signals(ref=ref_ppl, cur=learned.perplexity(shuffled))
    detected, kinds, reasons = drift_reason(found, CFG)
    assert detected and kinds == ["perplexity"], found["perplexity"]
    assert reasons[0].startswith("the champion's median perplexity is")
    assert found["perplexity"]["ratio"] > 1.5
    assert np.isfinite(ref_ppl).all()
