"""``llmlake finetune``: bad input refused before any work (no Ray, no arrays, no report),
and, end to end through Ray Train on the shared small lake (``make test-e2e``), both modes
writing a model folder that names its parent and its data, and the reports."""

from __future__ import annotations

import csv
import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from llmlake.stage import StageError
from llmlake.tokenizer import file_hash
from training.finetune import stage as finetune


def nothing_started(params) -> None:
    artifacts, reports = Path(params.lake.artifacts), Path(params.lake.reports)
    assert not (artifacts / "checkpoints").exists() and not (artifacts / "finetune-data").exists()
    assert not (reports / "finetune.json").exists() and not (artifacts / "finetuned").exists()
    ray = sys.modules.get("ray")
    assert ray is None or not ray.is_initialized()


def test_too_many_malformed_lines_stop_the_run_before_training(tmp_path, make_params,
                                                               make_model, jsonl, material):
    rows = [{"prompt": p, "response": r} for p, r in material.qa_pairs()]
    rows[2:2] = ["{not json"]
    rows[9:9] = [{"prompt": "only a prompt"}]
    rows[14:14] = [{"messages": [{"role": "user", "content": "hi"}]}]
    data = jsonl(tmp_path / "sft.jsonl", rows)
    params = make_params(finetune={"mode": "sft", "data": str(data), "max_bad_fraction": 0.1})
    make_model(Path(params.lake.artifacts) / "model")
    with pytest.raises(StageError, match=r"^finetune.max_bad_fraction: 3 of 23 lines of .* "
                                         r"are malformed \(13.0% > 10.0%\); first at lines "
                                         r"3, 10, 15: fix them"):
        finetune.run(params)
    nothing_started(params)


def test_a_missing_model_or_table_names_its_key(tmp_path, make_params, make_model):
    params = make_params(finetune={"mode": "continue", "data": str(tmp_path / "nowhere")})
    with pytest.raises(StageError, match=r"^finetune.model: .* train one with `llmlake train`"):
        finetune.run(params)
    make_model(Path(params.lake.artifacts) / "model")
    with pytest.raises(StageError, match=r"^finetune.data: .* neither a gold/sequences"):
        finetune.run(params)
    nothing_started(params)


# --- end to end: Ray Train on the shared lake -------------------------------------------

RUN = {"max_steps": 12, "warmup_steps": 2, "eval_every": 6, "batch_size": 4, "lr": 0.003,
       "num_workers": 1}


@pytest.fixture(scope="module")
def installed(train_inputs, tmp_path_factory):
    """The lake's trained tiny model at artifacts/model of this module's own folder."""
    from eval_helpers import install, stage_params, tiny_models

    tmp = tmp_path_factory.mktemp("finetune")
    params = stage_params(train_inputs, tmp, train={"storage": str(tmp / "runs"),
                                                    "log_every": 3, "checkpoint_every": 6},
                          ray={"num_cpus": 2})
    install(train_inputs, params, tiny_models(train_inputs)["trained"], "train-parent")
    return {"params": params, "tmp": tmp}


def with_finetune(params, **keys):
    return replace(params, finetune=replace(params.finetune, **RUN, **keys))


@pytest.mark.e2e
def test_sft_through_ray_train_writes_a_model_naming_its_parent_and_data(installed, material):
    """The folder names its parent and data, the reports hold the run, and
    evaluate.model=artifacts/finetuned reads it like any model (its data lineage is the
    parent's, carried)."""
    from training.evaluate import stage as evaluate

    tmp, base = installed["tmp"], installed["params"]
    # The lake's tokenizer (600 ids) spends 22 of the 32 tokens on the template: short pairs.
    rows = [{"prompt": p.split()[2][:3], "response": r.split()[2][:4], "request_id": str(i),
             "rating": 1} for i, (p, r) in enumerate(material.qa_pairs() * 2)]
    rows[5:5] = ["not json"]
    data = tmp / "sft.jsonl"
    data.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    params = with_finetune(base, mode="sft", data=str(data), val_fraction=0.2)
    report = finetune.run(params)

    artifacts, reports = Path(params.lake.artifacts), Path(params.lake.reports)
    out = artifacts / "finetuned"
    assert {"model.safetensors", "config.json", "tokenizer.json", "lineage.json"} <= {
        p.name for p in out.iterdir()}
    assert file_hash(out / "tokenizer.json") == file_hash(artifacts / "model" / "tokenizer.json")
    lineage = json.loads((out / "lineage.json").read_text())
    parent = json.loads((artifacts / "model" / "lineage.json").read_text())
    assert lineage["parent"]["weights_sha256"] == file_hash(artifacts / "model" /
                                                            "model.safetensors")
    assert lineage["parent"]["run"] == "train-parent"
    assert lineage["finetune"]["data"]["sha256"] == file_hash(data)
    assert lineage["finetune"]["mode"] == "sft" and lineage["upstream"] == parent["upstream"]
    assert lineage["step"] == 12 and lineage["params"]["train"]["lr"] == 0.003

    assert report["mode"] == "sft" and report["steps"] == 12
    assert report["bad_lines"]["count"] == 1 and report["bad_lines"]["first"][0]["line"] == 6
    assert report["examples"] == {"train": 32, "val": 8}
    assert 0 < report["target_share"] < 1 and report["val_exact_match_examples"] == 8
    assert report["val_loss"] < report["first_val_loss"]
    assert json.loads((reports / "finetune.json").read_text())["steps"] == 12
    with open(reports / "finetune" / "log.csv") as fh:
        assert [row["step"] for row in csv.DictReader(fh)][-1] == "12"
    record = json.loads((reports / "lineage" / "finetune.json").read_text())
    assert record["parent"]["path"] == str(artifacts / "model")
    evaluated = evaluate.run(replace(params, evaluate=replace(params.evaluate, model=str(out))))
    assert evaluated["model"]["path"] == str(out) and evaluated["test"]["documents"] > 0


@pytest.mark.e2e
def test_continued_pretraining_on_the_lakes_sequences(installed, train_inputs):
    tmp, base = installed["tmp"], installed["params"]
    lake_root = train_inputs["params"].lake.root
    params = with_finetune(base, mode="continue", data=lake_root, out=str(tmp / "continued"))
    report = finetune.run(params)
    lineage = json.loads((tmp / "continued" / "lineage.json").read_text())
    data = lineage["finetune"]["data"]
    assert data["table"] == f"{lake_root}/gold/sequences"
    assert data["version"] == train_inputs["version"]
    assert data["tokenizer"] == data["model_tokenizer"]  # the tokenize record's, checked
    assert report["mode"] == "continue" and report["steps"] == 12
    assert report["examples"]["val"] > 0 and report["val_loss"] < report["first_val_loss"]
