"""What a search may try: the default point in every search, grid points within the trial
budget, Optuna distributions that keep ints ints and widths that heads split evenly, and
values that leave the schema refused before any trial, naming the key."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution

from llmlake.config import params_from_dict
from llmlake.config_finetune import TuneConfig
from llmlake.stage import StageError
from training.model import ModelConfig
from training.tune.space import (
    apply_point,
    bayes_space,
    default_point,
    grid_points,
    normalize,
    outside,
    space_ends,
)
from training.tune.stage import search_plan

VOCAB = 600


def params(**sections):
    return params_from_dict(sections)


def model_of(p):
    return ModelConfig.from_preset(p.model.preset, **p.model.overrides(), vocab_size=VOCAB)


def test_the_default_point_takes_null_model_keys_from_the_preset():
    p = params(train={"lr": 0.002, "batch_size": 4}, model={"n_embd": 64})
    point = default_point(p, model_of(p), ["train.lr", "train.batch_size", "model.n_layer",
                                           "model.n_embd"])
    assert point == {"train.lr": 0.002, "train.batch_size": 4, "model.n_layer": 4,
                     "model.n_embd": 64}
    assert type(point["model.n_layer"]) is int


def test_grid_points_start_with_the_default_and_cover_every_combination():
    tune = TuneConfig(search="grid", trials=5,
                      grid={"train.lr": [0.001, 0.01], "model.n_layer": [1.0, 2.0]})
    default = {"train.lr": 0.003, "model.n_layer": 4}
    points = grid_points(tune, default)
    assert points[0] == default and len(points) == 5
    assert {(p["train.lr"], p["model.n_layer"]) for p in points[1:]} == {
        (0.001, 1), (0.001, 2), (0.01, 1), (0.01, 2)}
    assert all(type(p["model.n_layer"]) is int for p in points)


def test_a_default_inside_the_grid_is_tried_once():
    tune = TuneConfig(search="grid", trials=6)  # lr 0.001, 0.003, 0.01 x n_layer 2, 4
    default = {"train.lr": 0.003, "model.n_layer": 4}
    points = grid_points(tune, default)
    assert len(points) == 6 and points.count(default) == 1 and points[0] == default


def test_a_grid_larger_than_the_trial_budget_is_refused_naming_tune_grid():
    tune = TuneConfig(search="grid", trials=5)
    with pytest.raises(StageError, match=r"^tune.grid: 6 combinations .* tune.trials \(5\)"):
        grid_points(tune, {"train.lr": 0.003, "model.n_layer": 4})
    # The default point is a trial too: off the grid, it counts against the budget.
    tune = TuneConfig(search="grid", trials=6)
    with pytest.raises(StageError, match=r"^tune.grid: 6 combinations \(.*\) plus the default "
                                         r"point exceed tune.trials \(6\)"):
        grid_points(tune, {"train.lr": 0.002, "model.n_layer": 4})
    assert len(grid_points(TuneConfig(search="grid", trials=7),
                           {"train.lr": 0.002, "model.n_layer": 4})) == 7


@pytest.mark.parametrize(("grid", "message"), [
    ({"model.n_layer": [1.5]}, r"^tune.grid.model.n_layer: must be whole numbers, got 1.5"),
    ({"model.n_embd": [60.0]}, r"^tune.grid.model.n_embd: 60 is not a multiple of 8 "
                               r"\(2 x model.n_head 4\)"),
])
def test_grid_values_an_integer_key_cannot_take_are_refused(grid, message):
    tune = TuneConfig(search="grid", grid=grid)
    with pytest.raises(StageError, match=message):
        grid_points(tune, {key: 4 for key in grid}, n_head=4)


def test_bayes_distributions_log_scale_the_rate_and_keep_ints_ints():
    tune = TuneConfig(ranges={"train.lr": [0.0003, 0.03], "train.weight_decay": [0.0, 0.2],
                              "train.warmup_steps": [0.0, 30.0], "model.n_layer": [1.0, 4.0],
                              "model.n_embd": [30.0, 100.0]})
    space = bayes_space(tune, n_head=4)
    assert space["train.lr"] == FloatDistribution(0.0003, 0.03, log=True)
    assert space["train.weight_decay"] == FloatDistribution(0.0, 0.2)
    assert space["train.warmup_steps"] == IntDistribution(0, 30)
    assert space["model.n_layer"] == IntDistribution(1, 4)
    # Snapped inside the range to multiples of 2 x n_head: every head's width is even.
    assert space["model.n_embd"] == IntDistribution(32, 96, step=8)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        drawn = study.ask(fixed_distributions=space).params
        assert all(type(drawn[k]) is int for k in ("train.warmup_steps", "model.n_layer",
                                                   "model.n_embd"))
        assert drawn["model.n_embd"] % 8 == 0 and 32 <= drawn["model.n_embd"] <= 96
        assert 0.0003 <= drawn["train.lr"] <= 0.03
        ModelConfig(n_embd=drawn["model.n_embd"], n_head=4)  # the heads split it


@pytest.mark.parametrize(("ranges", "message"), [
    ({"model.n_embd": [33.0, 39.0]}, r"^tune.ranges.model.n_embd: no multiple of 8 in "
                                     r"\[33, 39\] \(2 x model.n_head 4\)"),
    ({"train.lr": [0.0, 0.01]}, r"^tune.ranges.train.lr: a log scale needs low > 0"),
    ({"model.n_layer": [2.2, 2.8]}, r"^tune.ranges.model.n_layer: no multiple of 1"),
])
def test_ranges_without_a_value_to_sample_are_refused(ranges, message):
    with pytest.raises(StageError, match=message):
        bayes_space(TuneConfig(ranges=ranges), n_head=4)


def test_the_ends_of_a_space_and_a_default_outside_it():
    space = bayes_space(TuneConfig(ranges={"train.lr": [0.001, 0.01],
                                           "model.n_embd": [32.0, 64.0]}), n_head=4)
    assert space_ends(space) == [{"train.lr": 0.001, "model.n_embd": 32},
                                 {"train.lr": 0.01, "model.n_embd": 64}]
    assert outside(space, {"train.lr": 0.003, "model.n_embd": 128}) == ["model.n_embd"]
    assert outside(space, {"train.lr": 0.003, "model.n_embd": 36}) == ["model.n_embd"]
    assert outside(space, {"train.lr": 0.003, "model.n_embd": 40}) == []


def test_normalize_rounds_floats_to_three_digits_and_makes_ints():
    point = normalize({"train.lr": 0.0031234, "train.weight_decay": 0.1, "model.n_layer": 3.0,
                       "train.batch_size": 8})
    assert point == {"train.lr": 0.00312, "train.weight_decay": 0.1, "model.n_layer": 3,
                     "train.batch_size": 8}
    assert type(point["model.n_layer"]) is int
    assert normalize(point) == point


def test_a_point_applied_to_the_params_sets_train_and_model_keys():
    base = params(train={"lr": 0.003}, model={"n_layer": 4})
    applied = apply_point(base, {"train.lr": 0.01, "model.n_layer": 2,
                                 "train.batch_size": 16})
    assert (applied.train.lr, applied.model.n_layer, applied.train.batch_size) == (0.01, 2, 16)
    assert applied.train.warmup_steps == base.train.warmup_steps
    assert base.train.lr == 0.003  # the base params are left as they were


@pytest.mark.parametrize(("point", "message"), [
    ({"train.lr": -0.01}, r"^tune.ranges: train.lr: must be greater than 0"),
    ({"model.n_layer": 0}, r"^tune.ranges: model.n_layer: must be at least 1"),
    ({"train.batch_size": 0}, r"^tune.ranges: train.batch_size: must be at least 1"),
])
def test_a_point_the_schema_refuses_names_the_key(point, message):
    with pytest.raises(StageError, match=message):
        apply_point(params(), point, "tune.ranges")


def test_the_plan_checks_every_value_before_any_trial():
    p = params(model={"n_head": 2}, tune={"ranges": {"model.n_layer": [0.0, 2.0]}})
    with pytest.raises(StageError, match=r"^tune.ranges: model.n_layer: must be at least 1"):
        search_plan(p, model_of(p), VOCAB)
    # A valid plan: the default from params, the distributions, what lies outside.
    p = params(model={"n_head": 2}, tune={"ranges": {"train.lr": [0.001, 0.01],
                                                     "model.n_embd": [16.0, 64.0]}})
    plan = search_plan(p, model_of(p), VOCAB)
    assert plan["default"] == {"train.lr": 0.003, "model.n_embd": 128}
    assert plan["space"]["model.n_embd"] == IntDistribution(16, 64, step=4)
    assert plan["outside"] == ["tune.ranges.model.n_embd: the default 128 lies outside "
                               "[16, 64] in steps of 4"]


def test_the_grid_plan_checks_the_model_each_point_builds():
    p = params(model={"n_head": 4}, tune={"search": "grid", "trials": 2,
                                          "grid": {"model.n_embd": [64.0, 36.0]}})
    with pytest.raises(StageError, match=r"^tune.grid.model.n_embd: 36 is not a multiple of 8"):
        search_plan(p, model_of(p), VOCAB)
    p = params(tune={"search": "grid", "trials": 3, "grid": {"train.lr": [0.001, 0.01]}})
    plan = search_plan(p, model_of(p), VOCAB)
    assert plan["points"] == [{"train.lr": 0.003}, {"train.lr": 0.001}, {"train.lr": 0.01}]
    assert math.isclose(plan["default"]["train.lr"], p.train.lr)


def test_a_grid_point_the_model_refuses_names_the_grid_and_the_model_key():
    p = params(model={"arch": "hybrid", "attn_every": 2},
               tune={"search": "grid", "trials": 3, "grid": {"model.n_layer": [1.0, 2.0]}})
    with pytest.raises(StageError, match=r"^tune.grid: model.attn_every: 2 exceeds "):
        search_plan(p, model_of(p), VOCAB)
