"""The ablation's figures and verdicts, and the equal budgets, on hand-made numbers."""

from __future__ import annotations

import math

import numpy as np
from tokenizers import Tokenizer, models
from tokenizers.pre_tokenizers import Whitespace

from llmlake.config_ablate import AblateConfig
from llmlake.config_train import TrainConfig
from training.ablate.runs import loop_config, sample_sequences, steps_for
from training.ablate.signals import ablate_reason, compare_signals, run_figures, variant_signals

NBYTES = np.full(50, 100.0)
LABELS = np.zeros(20, dtype=np.int64)


def run(nll_per_doc: np.ndarray, hits: int = 10) -> dict:
    pred = np.array([0] * hits + [1] * (20 - hits))
    return {"doc_nll": nll_per_doc, "doc_tokens": np.full(50, 25.0), "task_pred": pred}


def noisy(level: float, seed: int) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0, 5, 50)


def test_figures_are_bits_per_byte_perplexity_and_accuracy():
    f = run_figures(run(np.full(50, 100 * math.log(2))), NBYTES, LABELS)
    assert math.isclose(f["bits_per_byte"], 1.0)
    assert math.isclose(f["perplexity"], math.exp(100 * math.log(2) / 25))
    assert f["task_accuracy"] == 0.5


def test_a_worse_variant_is_called_worse_and_the_same_one_within_noise():
    ref = [run(noisy(150, s)) for s in range(3)]
    worse = [run(r["doc_nll"] + 10) for r in ref]
    signals = compare_signals(worse, ref, NBYTES, resamples=200, seed=0)
    assert math.isclose(signals["bits_per_byte"], 10 / (100 * math.log(2)), rel_tol=1e-3)
    assert signals["ci"][0] > 0 and ablate_reason(signals) == "worse"
    same = compare_signals([run(noisy(150, s + 10)) for s in range(3)], ref, NBYTES, 200, 0)
    assert ablate_reason(same) == "within_noise"
    assert ablate_reason({**signals, "bits_per_byte": -signals["bits_per_byte"],
                          "ci": [-signals["ci"][1], -signals["ci"][0]]}) == "better"


def test_seed_noise_larger_than_the_gap_is_within_noise():
    ref = [run(noisy(150, s)) for s in range(3)]
    swings = [+20, -14, +3]  # per-seed gaps that disagree in sign
    variant = [run(r["doc_nll"] + g) for r, g in zip(ref, swings, strict=True)]
    signals = compare_signals(variant, ref, NBYTES, 200, 0)
    assert signals["seed_se"] > abs(signals["bits_per_byte"]) / 2
    assert ablate_reason(signals) == "within_noise"


def test_variant_spread_over_seeds_and_task_interval():
    runs = [run(noisy(150, s), hits=h) for s, h in enumerate((8, 12))]
    out = variant_signals(runs, NBYTES, LABELS, resamples=100, seed=0)
    assert len(out["bits_per_byte_runs"]) == 2 and out["bits_per_byte_std"] > 0
    assert out["task_accuracy"] == 0.5
    assert out["task_ci"][0] < 0.5 < out["task_ci"][1]
    assert variant_signals(runs[:1], NBYTES, LABELS, 0, 0)["bits_per_byte_std"] is None


def word_tokenizer() -> Tokenizer:
    vocab = {w: i for i, w in enumerate(["<eos>", *[f"w{i}" for i in range(50)]])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<eos>"))
    tok.pre_tokenizer = Whitespace()
    return tok


def test_every_variant_gets_the_same_token_budget():
    cfg = AblateConfig(tokens=300, batch_size=4)
    train = loop_config(TrainConfig(context=16), cfg, seed=3)
    assert train.max_steps == steps_for(300, 4, 16) == 5 and train.seed == 3
    count = train.max_steps * cfg.batch_size
    big = {f"d{i}": " ".join(f"w{(i + j) % 50}" for j in range(40)) for i in range(30)}
    small = {"only": "w1 w2 w3 w4 w5"}
    shapes = set()
    for docs in (big, small):
        seqs, info = sample_sequences(docs, word_tokenizer(), 0, 17, count, seed=3)
        shapes.add(seqs.shape)
    assert shapes == {(count, 17)}
    assert info["epochs"] > 1 and info["documents_used"] == 1  # the small one repeats
    seqs, info = sample_sequences(big, word_tokenizer(), 0, 17, count, seed=3)
    again, _ = sample_sequences(big, word_tokenizer(), 0, 17, count, seed=3)
    other, _ = sample_sequences(big, word_tokenizer(), 0, 17, count, seed=4)
    assert (seqs == again).all() and not (seqs == other).all()
    assert info["epochs"] == 1.0 and info["documents_used"] < len(big)  # a sample, not all


def test_one_seed_never_calls_a_difference():
    ref = [run(noisy(150, 0))]
    signals = compare_signals([run(ref[0]["doc_nll"] + 30)], ref, NBYTES, 200, 0)
    assert signals["ci"][0] > 0 and signals["seed_se"] is None
    assert ablate_reason(signals) == "one_seed"
