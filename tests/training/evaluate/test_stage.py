"""``llmlake evaluate`` on the shared small lake: every held-out document scored and broken
down, tasks with their bad lines, the bias report and the model card."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from deltalake import DeltaTable
from eval_helpers import install, stage_params, tiny_models

from etl.sample.stage import FORMATS
from llmlake.lake import Lake
from llmlake.lineage import upstream
from training.evaluate import stage as evaluate


@pytest.fixture(scope="module")
def models(train_inputs):
    return tiny_models(train_inputs)


@pytest.fixture(scope="module")
def evaluated(train_inputs, models, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate")
    task = tmp / "colours.jsonl"
    task.write_text('{"context": "The sky is", "choices": ["blue.", "loud."], "label": 0}\n'
                    "not json\n"
                    '{"context": "Grass is", "choices": ["green."], "label": 0}\n')
    params = stage_params(train_inputs, tmp, evaluate={
        "tasks": ["builtin:next_sentence", str(task)]})
    install(train_inputs, params, models["trained"], "trained")
    return {"params": params, "report": evaluate.run(params), "tmp": tmp}


def gold_counts(train_inputs) -> dict[str, int]:
    gold = upstream(Lake(train_inputs["params"].lake), "tokenize")["gold/documents"]
    dataset = DeltaTable(gold["path"], version=gold["version"]).to_pyarrow_dataset()
    return {s: dataset.count_rows(filter=pads.field("split") == s) for s in ("val", "test")}


def test_every_held_out_document_is_scored_and_broken_down(evaluated, train_inputs):
    report = evaluated["report"]
    for split, count in gold_counts(train_inputs).items():
        got = report[split]
        assert got["documents"] == count > 0
        assert set(got["by_source"]) <= set(FORMATS)
        assert sum(g["documents"] for g in got["by_source"].values()) == count
        assert sum(g["tokens"] for g in got["by_lang"].values()) == got["tokens"]
        assert got["bits_per_byte"] > 0 and 1 < got["perplexity"] < 600
    saved = json.loads(Path(evaluated["params"].lake.reports, "eval.json").read_text())
    assert saved["val"] == report["val"] and saved["model"]["run"] == "trained"


def test_tasks_are_scored_and_bad_lines_are_reported(evaluated):
    tasks = evaluated["report"]["tasks"]
    builtin = tasks["next_sentence"]
    assert builtin["examples"] > 0
    assert builtin["accuracy_ci"][0] <= builtin["accuracy"] <= builtin["accuracy_ci"][1]
    user = tasks["colours"]
    assert user["examples"] == 1 and user["skipped"] == 2
    assert [p["line"] for p in user["problems"]] == [2, 3]


def test_bias_report_and_card(evaluated, train_inputs):
    reports = Path(evaluated["params"].lake.reports)
    bias = json.loads((reports / "bias.json").read_text())
    assert set(bias["categories"]) >= {"gender", "religion", "age", "disability"}
    html = (reports / "bias.html").read_text()
    assert all(name in html for name in bias["categories"])
    card = (Path(evaluated["params"].lake.artifacts) / "model" / "README.md").read_text()
    assert card.startswith("---\n")
    for table, info in upstream(Lake(train_inputs["params"].lake), "tokenize").items():
        assert table in card and str(info["path"]) in card


