"""The trial without Tune: the project's loop on shards with a point's values, reporting at
each evaluation, seeded so that a point always gives the same curve."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from llmlake.config import params_from_dict
from llmlake.shards import ShardHeader
from llmlake.stage import StageError
from training.tune.trial import Setup, run_trial

pytestmark = pytest.mark.usefixtures("one_thread")

VOCAB, CONTEXT = 64, 16


def write_shards(folder):
    rng = np.random.default_rng(0)
    for split, rows in (("train", 64), ("val", 16)):
        # Counting from a random start: learnable, so a trained trial's loss goes down.
        starts = rng.integers(0, VOCAB - 2, (rows, 1))
        tokens = ((starts + np.arange(CONTEXT + 1)) % (VOCAB - 2) + 2).astype("<u2")
        tokens.tofile(folder / f"{split}.bin")
        header = ShardHeader(split=split, dtype="uint16", vocab_size=VOCAB,
                             seq_len=CONTEXT + 1, sequences=rows, tokens=tokens.size,
                             eos_id=0, pad_id=1, tokenizer_sha256="x", source="test",
                             delta_version=0)
        (folder / f"{split}.json").write_text(json.dumps(asdict(header)))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    write_shards(folder)
    params = params_from_dict({
        "model": {"n_layer": 1, "n_embd": 32, "n_head": 2},
        "train": {"context": CONTEXT, "batch_size": 4, "warmup_steps": 1, "eval_batches": 1,
                  "max_steps": 500, "eval_every": 100},
        "tune": {"max_steps": 6, "eval_every": 2}})
    return Setup(params, str(folder), VOCAB, pad_id=1)


def curve_of(point, setup):
    reports = []
    run_trial(point, setup, reports.append)
    return reports


def test_a_trial_reports_every_eval_every_steps_up_to_tune_max_steps(setup):
    reports = curve_of({"train.lr": 0.01}, setup)
    # tune's steps and cadence, not train's 500 and 100
    assert [r["step"] for r in reports] == [2, 4, 6]
    assert set(reports[0]) == {"step", "val_loss", "train_loss"}
    assert reports[-1]["val_loss"] < reports[0]["val_loss"]


def test_a_trial_steps_with_the_global_batch_train_would_use(setup):
    from dataclasses import replace

    from training.tune.trial import trial_config

    params = replace(setup.params, train=replace(setup.params.train, num_workers=3,
                                                 grad_accum=2))
    cfg = trial_config(params)
    assert (cfg.num_workers, cfg.grad_accum) == (1, 6)
    assert cfg.global_batch() == params.train.global_batch()


def test_the_same_point_gives_the_same_curve_and_another_point_another(setup):
    point = {"train.lr": 0.01, "model.n_layer": 2, "train.warmup_steps": 2}
    first = curve_of(point, setup)
    assert curve_of(dict(point), setup) == first
    assert curve_of({**point, "model.n_layer": 1}, setup) != first
    assert curve_of({**point, "train.lr": 0.003}, setup) != first


def test_a_value_is_rounded_as_the_report_shows_it(setup):
    # 0.0100004 trains as 0.01: the overlay's value is the one the trial trained with.
    assert curve_of({"train.lr": 0.0100004}, setup) == curve_of({"train.lr": 0.01}, setup)


def test_a_point_the_model_refuses_names_the_key(setup):
    with pytest.raises(StageError, match=r"^model.n_head: "):
        run_trial({"model.n_embd": 30}, setup, lambda metrics: None)
