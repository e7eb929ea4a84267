"""``llmlake promote`` on the shared small lake: the gate moving the champion for a better
model, and never on refusal."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from eval_helpers import install, stage_params, tiny_models

from llmlake.stage import StageError
from training.checkpoint import read_champion
from training.evaluate import stage as evaluate
from training.promote import stage as promote


@pytest.fixture(scope="module")
def models(train_inputs):
    return tiny_models(train_inputs)


def champion_of(params) -> dict | None:
    return read_champion(params.lake.artifacts)


def test_the_gate_promotes_better_and_never_moves_the_champion_on_refusal(
        train_inputs, models, tmp_path):
    params = stage_params(train_inputs, tmp_path, promote={"max_bias_gap": 100.0},
                          evaluate={"tasks": []})

    def candidate(name: str, p=params) -> dict:
        install(train_inputs, p, models[name], name)
        evaluate.run(p)
        return promote.run(p)

    first = candidate("untrained")
    assert first["decision"] == "promoted_first" and champion_of(params)["run"] == "untrained"
    better = candidate("trained")
    assert better["decision"] == "promoted", better["reasons"]
    assert better["signals"]["ratio"] < 1 and "ratio" in better["reasons"][0]
    pointer = Path(params.lake.artifacts, "champion.json").read_bytes()
    worse = candidate("untrained")
    assert worse["decision"] == "refused_worse" and worse["signals"]["ratio"] > 1.02
    assert Path(params.lake.artifacts, "champion.json").read_bytes() == pointer
    champion = champion_of(params)
    assert champion["run"] == "trained" and Path(champion["model"], "model.safetensors").exists()
    strict = replace(params, promote=replace(params.promote, max_bias_gap=0.0))
    install(train_inputs, strict, models["trained"], "trained-again")
    # The same weights as the champion: nothing to do, whatever the bounds say.
    evaluate.run(strict)
    assert promote.run(strict)["decision"] == "already_champion"


def test_bias_bound_refuses_even_the_first_model(train_inputs, models, tmp_path):
    params = stage_params(train_inputs, tmp_path, promote={"max_bias_gap": 0.0},
                          evaluate={"tasks": []})
    install(train_inputs, params, models["trained"], "trained")
    evaluate.run(params)
    result = promote.run(params)
    assert result["decision"] == "refused_bias" and not result["promoted"]
    assert champion_of(params) is None
    pointer = json.loads(Path(params.lake.artifacts, "champion.json").read_text())
    assert pointer["model"] is None  # "none yet", written for DVC and for readers
    assert any("over the bound" in line for line in result["reasons"])


def test_a_champion_evaluated_on_other_data_is_rescored(train_inputs, models, tmp_path):
    params = stage_params(train_inputs, tmp_path, promote={"max_bias_gap": 100.0},
                          evaluate={"tasks": []})
    install(train_inputs, params, models["trained"], "trained")
    evaluate.run(params)
    promote.run(params)
    pointer_file = Path(params.lake.artifacts, "champion.json")
    pointer = json.loads(pointer_file.read_text())
    stored = pointer["metrics"]["val"]["perplexity"]
    pointer["metrics"]["data"] = {"gold/documents": {"path": "elsewhere", "version": 0}}
    pointer["metrics"]["val"]["perplexity"] = 1.0  # a stale figure the gate must not use
    pointer_file.write_text(json.dumps(pointer))
    install(train_inputs, params, models["untrained"], "untrained")
    evaluate.run(params)
    result = promote.run(params)
    assert result["signals"]["champion_rescored"]
    assert result["signals"]["champion_val"] == pytest.approx(stored, rel=1e-6)
    assert result["decision"] == "refused_worse"


def test_promote_refuses_reports_of_other_weights(train_inputs, models, tmp_path):
    params = stage_params(train_inputs, tmp_path, evaluate={"tasks": []})
    install(train_inputs, params, models["trained"], "trained")
    evaluate.run(params)
    install(train_inputs, params, models["untrained"], "other")  # evaluate not rerun
    with pytest.raises(StageError, match="llmlake evaluate"):
        promote.run(params)
    assert read_champion(params.lake.artifacts) is None
