"""The train stage on a local Ray: bad params and stale inputs refused before any work, a
worker that fails mid-run replaced, a stopped run resumed by a rerun, and what it writes.

Every Ray run here trains the same small model for 8 steps on 2 CPU workers; the reference
is the loop in this process with both workers' rows in each batch (the data-parallel
equivalence ``test_loop.py`` proves), so a restart that lost or repeated a step shows."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from lake_helpers import params_at

from llmlake.stage import MissingInput, StageError
from training.checkpoint import load_model
from training.data import shard_split
from training.train import stage as train
from training.train.loop import Loop

pytestmark = [pytest.mark.spark, pytest.mark.slow]

MODEL = {"n_layer": 2, "n_embd": 64, "n_head": 2}
TRAIN = {"context": 32, "batch_size": 4, "max_steps": 8, "warmup_steps": 2,
         "eval_every": 4, "log_every": 2, "checkpoint_every": 4, "eval_batches": 2}


def _params(base, tmp_path, model, train_keys):
    """The pipeline's lake and artifacts; this test's own reports, runs and model."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    for name in ("tokenizer", "shards"):
        dest = artifacts / name
        if not dest.exists():
            dest.symlink_to(Path(base.lake.artifacts) / name)
    reports = tmp_path / "reports"
    (reports / "lineage").mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(base.lake.reports) / "lineage" / "tokenize.json", reports / "lineage")
    return params_at(tmp_path, lake={"root": base.lake.root, "reports": str(reports),
                                     "artifacts": str(artifacts)},
                     model={**MODEL, **(model or {})},
                     train={**TRAIN, "storage": str(tmp_path / "runs"), **train_keys})


@pytest.fixture(scope="module")
def reference(train_inputs, tmp_path_factory):
    """The loop in this process, batch 2 x 4: what 2 workers of batch 4 must end with."""
    from training.train.stage import resolve_model

    params = _params(train_inputs["params"], tmp_path_factory.mktemp("ref"), None, {})
    model_cfg = resolve_model(params, vocab_size=600)
    shards = Path(params.lake.artifacts) / "shards"
    seqs, val = shard_split(shards, "train")[0], shard_split(shards, "val")[0]
    cfg = replace(params.train, batch_size=2 * params.train.batch_size)
    loop = Loop(model_cfg, cfg, seqs, val, pad_id=1)
    loop.run(report=lambda state, save: None)
    return loop


def assert_same_model(folder: Path, reference: Loop) -> None:
    model, _ = load_model(folder)
    for name, value in reference.model.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[name].numpy(), value.numpy(),
                                   atol=1e-4, err_msg=name)


@pytest.mark.parametrize(("model", "train_keys", "key"), [
    ({"n_head": 5}, {}, "model.n_head"),
    ({"context": 64}, {}, "model.context"),
    ({"preset": "huge"}, {}, "model.preset"),
    ({"arch": "rnn"}, {}, "model.arch"),
    ({}, {"context": 48}, "train.context"),
])
def test_bad_params_fail_before_any_work_naming_the_key(train_inputs, tmp_path, model,
                                                        train_keys, key):
    params = _params(train_inputs["params"], tmp_path, model, train_keys)
    with pytest.raises(StageError, match=rf"^{key}: "):
        train.run(params)
    assert not (tmp_path / "runs").exists()


def test_shards_from_another_table_version_are_refused(train_inputs, tmp_path):
    params = _params(train_inputs["params"], tmp_path, None, {})
    shards = Path(params.lake.artifacts) / "shards"
    copy = tmp_path / "shards-copy"
    shutil.copytree(shards.resolve(), copy)
    shards.unlink()
    copy.rename(shards)
    header = json.loads((shards / "val.json").read_text())
    (shards / "val.json").write_text(json.dumps({**header, "delta_version": 99}))
    with pytest.raises(StageError, match="val shard was exported from gold/sequences version 99"):
        train.run(params)


def test_a_missing_tokenize_lineage_names_the_command(train_inputs, tmp_path):
    params = _params(train_inputs["params"], tmp_path, None, {})
    (Path(params.lake.reports) / "lineage" / "tokenize.json").unlink()
    with pytest.raises(MissingInput, match="llmlake etl tokenize"):
        train.run(params)


def test_a_worker_that_fails_mid_run_is_replaced_and_the_run_resumes(
        train_inputs, tmp_path, monkeypatch, reference):
    monkeypatch.setenv(train.FAIL_ENV, "1:6")  # rank 1 raises after step 6
    params = _params(train_inputs["params"], tmp_path, None, {"max_failures": 1})
    report = train.run(params)
    assert report["steps"] == 8 and report["restarts"] == [4]  # resumed at the checkpoint
    assert list((tmp_path / "runs").glob("*/failed-1:6"))
    log = (tmp_path / "reports" / "train" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log[1:]] == ["0", "2", "4", "6", "8"]
    assert_same_model(tmp_path / "artifacts" / "model", reference)
    assert report["val_loss"] == pytest.approx(reference.state.log[-1]["val_loss"], abs=1e-4)
    assert report["val_loss"] < report["first_val_loss"]


def test_a_stopped_run_resumes_from_its_last_checkpoint_when_rerun(
        train_inputs, tmp_path, monkeypatch, reference):
    params = _params(train_inputs["params"], tmp_path, None, {"max_failures": 0})
    monkeypatch.setenv(train.FAIL_ENV, "0:6")
    with pytest.raises(StageError, match="training failed"):
        train.run(params)
    assert not (tmp_path / "artifacts" / "model").exists()
    monkeypatch.delenv(train.FAIL_ENV)
    report = train.run(params)
    assert report["steps"] == 8 and report["restarts"] == [4]
    folder = tmp_path / "artifacts" / "model"
    assert_same_model(folder, reference)
    assert {p.name for p in folder.iterdir()} >= {
        "model.safetensors", "config.json", "tokenizer.json", "lineage.json"}
    lineage = json.loads((folder / "lineage.json").read_text())
    assert lineage["tables"]["gold/sequences"]["version"] == train_inputs["version"]
    assert lineage["shards"]["train"]["delta_version"] == train_inputs["version"]
    assert lineage["params"]["train"]["max_steps"] == 8 and lineage["parent"] is None
    assert lineage["git"]["revision"] and lineage["step"] == 8
    metrics = json.loads((tmp_path / "reports" / "train.json").read_text())
    assert metrics["tokens"] == 8 * 2 * 4 * 32 and metrics["tokens_per_s"] > 0


def test_warm_start_begins_from_the_parent_weights(train_inputs, tmp_path, reference):
    parent = tmp_path / "parent"
    from training.checkpoint import save_model

    save_model(parent, reference.model, lineage={"run": "parent-run"})
    params = _params(train_inputs["params"], tmp_path, None,
                     {"warm_start": str(parent), "max_steps": 2, "checkpoint_every": 2,
                      "lr": 1e-9, "warmup_steps": 0, "num_workers": 1, "batch_size": 8})
    report = train.run(params)
    model, lineage = load_model(tmp_path / "artifacts" / "model")
    assert lineage["parent"]["run"] == "parent-run"
    assert report["first_val_loss"] == pytest.approx(reference.state.log[-1]["val_loss"],
                                                     abs=1e-3)
    for name, value in reference.model.state_dict().items():  # a 1e-9 rate barely moves them
        assert torch.allclose(model.state_dict()[name], value, atol=1e-5), name
    bad = _params(train_inputs["params"], tmp_path, {"n_layer": 3}, {"warm_start": str(parent)})
    with pytest.raises(StageError, match="^train.warm_start: "):
        train.run(bad)
