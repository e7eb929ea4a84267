"""The train stage on a local Ray: bad params and stale inputs refused before any work, a
worker that fails mid-run replaced, a stopped run resumed by a rerun, and what it writes.

Every Ray run here trains the same small model for 8 steps on 2 CPU workers; the reference
is the loop in this process with both workers' rows in each batch (the data-parallel
equivalence ``test_loop.py`` proves), so a restart that lost or repeated a step shows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from train_helpers import assert_same_model, train_params

from llmlake.stage import MissingInput, StageError
from training.train import stage as train
from training.train.loop import Loop

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (the stage leaves a running Ray be), on loopback."""
    from llmlake.config_train import RayConfig
    from training.train.fit import ray_session

    with ray_session(RayConfig(num_cpus=2)):
        yield

@pytest.mark.parametrize(("model", "train_keys", "key"), [
    ({"n_head": 5}, {}, "model.n_head"),
    ({"context": 64}, {}, "model.context"),
    ({"preset": "huge"}, {}, "model.preset"),
    ({"arch": "rnn"}, {}, "model.arch"),
    ({}, {"context": 48}, "train.context"),
])
def test_bad_params_fail_before_any_work_naming_the_key(train_inputs, tmp_path, model,
                                                        train_keys, key):
    params = train_params(train_inputs["params"], tmp_path, model, train_keys)
    with pytest.raises(StageError, match=rf"^{key}: "):
        train.run(params)
    assert not (tmp_path / "runs").exists()


def test_shards_from_another_table_version_are_refused(train_inputs, tmp_path):
    params = train_params(train_inputs["params"], tmp_path, None, {})
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
    params = train_params(train_inputs["params"], tmp_path, None, {})
    (Path(params.lake.reports) / "lineage" / "tokenize.json").unlink()
    with pytest.raises(MissingInput, match="llmlake etl tokenize"):
        train.run(params)


def test_a_worker_that_fails_mid_run_is_replaced_and_the_run_resumes(
        train_inputs, tmp_path, monkeypatch, reference):
    monkeypatch.setenv(train.FAIL_ENV, "1:6")  # rank 1 raises after step 6
    params = train_params(train_inputs["params"], tmp_path, None, {"max_failures": 1})
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
    params = train_params(train_inputs["params"], tmp_path, None, {"max_failures": 0})
    monkeypatch.setenv(train.FAIL_ENV, "0:6")
    with pytest.raises(StageError, match="training failed"):
        train.run(params)
    assert not (tmp_path / "artifacts" / "model").exists()
    monkeypatch.delenv(train.FAIL_ENV)
    # The rerun reads gold/sequences through Ray Data instead: the same run (the batches do
    # not depend on the path), with the 2 workers holding both of the Ray's CPUs.
    params = train_params(train_inputs["params"], tmp_path, None,
                          {"max_failures": 0, "data": "delta"})
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


def test_warm_start_checks_the_parent_and_starts_from_its_weights(train_inputs, tmp_path,
                                                                  reference):
    """The driver checks and records the parent; the worker's loop starts from its weights
    (the same code path as under Ray, without the minute a Ray run costs)."""
    from training.checkpoint import save_model
    from training.train.stage import parent_model, resolve_model
    from training.train.worker import _weights

    parent = tmp_path / "parent"
    save_model(parent, reference.model, lineage={"run": "parent-run"})
    params = train_params(train_inputs["params"], tmp_path, None, {"warm_start": str(parent)})
    model_cfg = resolve_model(params, vocab_size=600)
    record = parent_model(params, model_cfg, tok_hash="0" * 64)
    assert record["run"] == "parent-run" and len(record["weights_sha256"]) == 64
    (parent / "tokenizer.json").write_text('{"another": "tokenizer"}')
    with pytest.raises(StageError, match=r"^train\.warm_start: .* other token ids"):
        parent_model(params, model_cfg, tok_hash="0" * 64)
    (parent / "tokenizer.json").unlink()
    loop = Loop(model_cfg, params.train, reference.train, reference.val, pad_id=1,
                init=_weights(str(parent)))
    for name, value in reference.model.state_dict().items():
        assert torch.equal(loop.model.state_dict()[name], value), name
    bad = train_params(train_inputs["params"], tmp_path, {"n_layer": 3},
                       {"warm_start": str(parent)})
    with pytest.raises(StageError, match=r"^train\.warm_start: .* another architecture"):
        train.run(bad)
    missing = train_params(train_inputs["params"], tmp_path, None,
                           {"warm_start": str(tmp_path / "nowhere")})
    with pytest.raises(StageError, match=r"^train\.warm_start: .* not a model folder"):
        train.run(missing)
