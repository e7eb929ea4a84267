"""The tune stage on a local Ray, on the small lake's shards: a grid, and Optuna with ASHA.

Each search runs a tiny model for a few steps per trial on 2 CPUs; both take a minute or
so with Ray's start (``make test-e2e`` runs them). What is checked is the feature: the
search keeps to the budget its params give, every trial is in ``tune.csv``, the best is no
worse than the default trial, and the overlay is a params file."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest
from train_helpers import train_params

from llmlake.config import load_params
from llmlake.config_finetune import TuneConfig
from training.tune import stage as tune

pytestmark = [pytest.mark.spark, pytest.mark.slow, pytest.mark.e2e]

MODEL = {"n_layer": 2, "n_embd": 32, "n_head": 2}


def tune_params(train_inputs, tmp_path, **tune_keys):
    params = train_params(train_inputs["params"], tmp_path, MODEL, {"max_steps": 500})
    keys = {"max_steps": 8, "eval_every": 2, "grace_period": 2, "concurrent": 2, **tune_keys}
    return dataclasses.replace(params, tune=TuneConfig(**keys))


def read_reports(tmp_path):
    reports = tmp_path / "reports"
    with (reports / "tune.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    return rows, json.loads((reports / "tune_best.json").read_text())


def check_best_and_overlay(rows, metrics, tmp_path):
    (default,) = [r for r in rows if r["default"] == "True"]
    assert metrics["default"]["trial"] == default["trial"]
    assert metrics["reason"] in ("best", "default_is_best")
    assert metrics["best"]["val_loss"] <= float(default["val_loss"])
    assert metrics["best"]["steps"] == 8
    out = Path(metrics["params_out"])
    assert out == tmp_path / "reports" / "tune_best.yaml"
    overlay = load_params(out)  # a params file of the changed keys alone
    for flag in metrics["overrides"]:
        key, value = flag.split("=")
        section, name = key.split(".")
        assert str(getattr(getattr(overlay, section), name)) == value
    if metrics["reason"] == "default_is_best":
        assert metrics["overrides"] == [] and metrics["dvc_exp_run"] is None
    else:
        assert metrics["dvc_exp_run"].startswith("dvc exp run -S ")


def test_a_grid_search_tries_every_point_and_the_default(train_inputs, tmp_path):
    grid = {"train.lr": [0.001, 0.01], "model.n_layer": [1.0, 2.0]}
    params = tune_params(train_inputs, tmp_path, search="grid", trials=5, grid=grid,
                         time_budget_s=600)
    metrics = tune.run(params)
    assert not metrics["budget_reached"]  # the whole grid ran inside its budget
    rows, written = read_reports(tmp_path)
    assert written["reason"] == metrics["reason"]
    points = {(float(r["train.lr"]), int(r["model.n_layer"])) for r in rows}
    # four grid points and the default (lr 0.003, 2 layers), one trial each
    assert points == {(0.001, 1), (0.001, 2), (0.01, 1), (0.01, 2), (0.003, 2)}
    assert len(rows) == metrics["signals"]["trials"] == 5
    losses = [float(r["val_loss"]) for r in rows]
    assert losses == sorted(losses)
    for row in rows:  # ASHA stops trials early; a completed one ran every step
        assert (row["status"] == "completed") == (row["steps"] == "8")
    check_best_and_overlay(rows, metrics, tmp_path)


def test_a_bayes_search_with_asha_keeps_to_its_time_budget(train_inputs, tmp_path):
    ranges = {"train.lr": [0.001, 0.03], "train.warmup_steps": [0.0, 4.0],
              "model.n_layer": [1.0, 2.0]}
    # Far more trials than the budget has time for (a warm trial of this model takes a
    # fraction of a second): the budget ends the search.
    params = tune_params(train_inputs, tmp_path, search="bayes", trials=5000, ranges=ranges,
                         time_budget_s=25, seed=3)
    metrics = tune.run(params)
    rows, _ = read_reports(tmp_path)
    # Tune's own verdict: the budget ended the search, long before the trials ran out.
    assert metrics["budget_reached"] and 1 <= len(rows) < 5000
    assert {r["status"] for r in rows} <= {"completed", "stopped"}
    assert metrics["signals"]["stopped_early"] > 0  # ASHA stopped some at a rung
    for row in rows:
        assert 0.001 <= float(row["train.lr"]) <= 0.03
        assert row["model.n_layer"] in ("1", "2") and row["train.warmup_steps"].isdigit()
    check_best_and_overlay(rows, metrics, tmp_path)
