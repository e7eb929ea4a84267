"""What a search reports, on crafted trial outcomes: the table, the choice of the best (never
a trial ASHA stopped on a partial curve; the default when it wins), the comparison with the
default, and an overlay the params loader accepts."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest
import yaml

from llmlake.config import Params, apply_overrides, load_params, params_from_dict
from llmlake.lake import write_csv
from training.tune.results import (
    Outcome,
    best_reason,
    best_signals,
    summary,
    trial_rows,
    write_overlay,
)

KEYS = ["train.lr", "model.n_layer"]
DEFAULT = {"train.lr": 0.003, "model.n_layer": 4}
MAX_STEPS = 60


def curve(*losses, every=20):
    return [{"step": every * (i + 1), "val_loss": loss, "train_loss": loss + 0.1}
            for i, loss in enumerate(losses)]


def outcomes(default_losses=(7.0, 6.5, 6.2)):
    return [
        Outcome("t-default", dict(DEFAULT), curve(*default_losses), seconds=30.0),
        Outcome("t-fast", {"train.lr": 0.01, "model.n_layer": 2}, curve(6.8, 6.1, 5.9),
                seconds=20.0),
        # Stopped at step 20 with a loss lower than any finished trial's: not the best.
        Outcome("t-stopped", {"train.lr": 0.02, "model.n_layer": 1}, curve(5.5), seconds=5.0),
        Outcome("t-broken", {"train.lr": 0.0005, "model.n_layer": 3}, [], error="boom",
                seconds=1.0),
    ]


def test_rows_say_how_each_trial_ended_sorted_by_val_loss():
    rows = trial_rows(outcomes(), KEYS, DEFAULT, MAX_STEPS)
    assert [r["trial"] for r in rows] == ["t-stopped", "t-fast", "t-default", "t-broken"]
    by = {r["trial"]: r for r in rows}
    assert (by["t-stopped"]["status"], by["t-stopped"]["steps"]) == ("stopped", 20)
    assert (by["t-fast"]["status"], by["t-fast"]["val_loss"]) == ("completed", 5.9)
    assert (by["t-broken"]["status"], by["t-broken"]["val_loss"]) == ("error", "")
    assert [r["trial"] for r in rows if r["default"]] == ["t-default"]
    assert by["t-broken"]["error"] == "boom" and by["t-fast"]["error"] == ""
    assert list(rows[0]) == ["trial", "train.lr", "model.n_layer", "val_loss", "steps",
                             "status", "seconds", "default", "error"]


def test_a_stopped_trial_with_a_lower_partial_loss_is_not_the_best():
    rows = trial_rows(outcomes(), KEYS, DEFAULT, MAX_STEPS)
    signals = best_signals(rows)
    assert signals["lowest_partial_val_loss"] == 5.5
    assert signals["best_trial"] == "t-fast" and signals["best_val_loss"] == 5.9
    assert best_reason(signals) == "best"
    assert (signals["completed"], signals["stopped_early"], signals["errors"]) == (2, 1, 1)
    assert signals["improvement"] == pytest.approx(0.3)


def test_the_default_is_best_when_it_wins_and_the_overlay_changes_nothing(tmp_path):
    rows = trial_rows(outcomes(default_losses=(6.9, 6.0, 5.7)), KEYS, DEFAULT, MAX_STEPS)
    signals = best_signals(rows)
    assert best_reason(signals) == "default_is_best" and signals["improvement"] == 0.0
    metrics, changes = summary(rows, {}, KEYS, DEFAULT, {"search": "grid"},
                               tmp_path / "best.yaml")
    assert changes == {} and metrics["overrides"] == [] and metrics["dvc_exp_run"] is None
    assert metrics["best"]["trial"] == metrics["default"]["trial"] == "t-default"
    write_overlay(tmp_path / "best.yaml", changes, "default is best")
    assert load_params(tmp_path / "best.yaml") == Params()  # an empty overlay loads
    assert yaml.safe_load((tmp_path / "best.yaml").read_text()) == {}


def test_a_default_asha_stopped_is_compared_at_the_step_it_reached():
    runs = outcomes(default_losses=(7.0,))  # the default stopped at step 20
    rows = trial_rows(runs, KEYS, DEFAULT, MAX_STEPS)
    signals = best_signals(rows, {o.trial: o.curve for o in runs})
    assert not signals["default_completed"] and signals["default_steps"] == 20
    # The best was at 6.8 at step 20 (5.9 at the end): 0.2 better at equal steps.
    assert signals["best_val_loss_at_default_steps"] == 6.8
    assert signals["improvement"] == pytest.approx(0.2)


def test_no_completed_trial_means_no_best():
    runs = [Outcome("a", dict(DEFAULT), curve(7.0)), Outcome("b", {"train.lr": 0.01,
                                                                    "model.n_layer": 2},
                                                                curve(6.0))]
    rows = trial_rows(runs, KEYS, DEFAULT, MAX_STEPS)
    signals = best_signals(rows)
    assert best_reason(signals) == "no_completed_trial" and signals["improvement"] is None
    metrics, changes = summary(rows, {}, KEYS, DEFAULT, {}, Path("x.yaml"))
    assert metrics["best"] is None and changes == {} and metrics["default"]["val_loss"] == 7.0


def test_the_reports_and_an_overlay_the_params_accept(tmp_path):
    runs = [*outcomes(), Outcome("t-tiny-lr", {"train.lr": 0.000341, "model.n_layer": 4},
                                 curve(7.0, 6.6, 5.0))]
    rows = trial_rows(runs, KEYS, DEFAULT, MAX_STEPS)
    out = tmp_path / "reports" / "tune_best.yaml"
    metrics, changes = summary(rows, {o.trial: o.curve for o in runs}, KEYS, DEFAULT,
                               {"search": "bayes"}, out)
    assert metrics["reason"] == "best" and metrics["best"]["config"] == {
        "train.lr": 0.000341, "model.n_layer": 4}
    assert changes == {"train": {"lr": 0.000341}}  # n_layer is the default's: left out
    assert metrics["overrides"] == ["train.lr=0.000341"]
    assert metrics["dvc_exp_run"] == "dvc exp run -S train.lr=0.000341"
    assert metrics["params_out"] == str(out)
    write_csv(tmp_path / "tune.csv", rows)
    with (tmp_path / "tune.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert table[0]["trial"] == "t-tiny-lr" and len(table) == len(runs)
    assert [r["default"] for r in table].count("True") == 1
    write_overlay(out, changes, "llmlake tune (bayes, 5 trials): best")
    assert out.read_text().startswith("# llmlake tune")
    overlay = load_params(out)  # the overlay alone is a params file
    assert overlay.train.lr == 0.000341
    # Laid over params.yaml, as repeated --params do: the one key changes, the rest stays.
    base = dataclasses.asdict(load_params("params.yaml"))
    merged = params_from_dict(apply_overrides(base, metrics["overrides"]))
    assert merged.train.lr == 0.000341 and merged.model == load_params("params.yaml").model
