"""What a search tries: the default point, the grid's points, the ranges' distributions,
and a trial's point applied to the params.

A *point* maps searchable keys (``train.lr``, ``model.n_layer``: ``SEARCHABLE``) to values.
Every value goes through :func:`normalize` before a trial trains on it or a report shows
it: integer keys become ints (params.yaml's ``tune.grid`` and ``tune.ranges`` are lists of
floats) and float keys keep three significant digits, so the overlay's
``train.lr=0.00312`` is the value the trial trained with, not a rounding of it.

The default point (params' own values, the preset's where a model key is null) is always
searched, so the report can say how the best compares with what ``llmlake train`` would do.
``model.n_embd`` moves in multiples of ``2 x n_head``: heads split the width evenly and
each head's width stays even, as rotary positions need.

Example::

    >>> from llmlake.config_finetune import TuneConfig
    >>> default = {"train.lr": 0.003, "model.n_layer": 4}
    >>> points = grid_points(TuneConfig(search="grid"), default)
    >>> len(points), points[0] == default, {"train.lr": 0.01, "model.n_layer": 2} in points
    (6, True, True)
    >>> grid_points(TuneConfig(search="grid", trials=4), default)
    Traceback (most recent call last):
    ...
    llmlake.stage.StageError: tune.grid: 6 combinations (train.lr 3 x model.n_layer 2) exceed tune.trials (4); raise tune.trials or trim the grid
    >>> normalize({"train.lr": 0.0031234, "model.n_layer": 2.0})
    {'train.lr': 0.00312, 'model.n_layer': 2}
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any

from llmlake.config import ConfigError, Params, params_from_dict
from llmlake.config_finetune import TuneConfig
from llmlake.stage import StageError

INT_KEYS = ("train.warmup_steps", "train.batch_size", "model.n_layer", "model.n_embd")
LOG_KEYS = ("train.lr",)  # a rate spans decades: searched on a log scale
WIDTH = "model.n_embd"


def normalize(point: dict[str, Any]) -> dict[str, Any]:
    """Ints for integer keys, three significant digits for the rest."""
    return {key: round(float(value)) if key in INT_KEYS else float(f"{float(value):.3g}")
            for key, value in point.items()}


def width_step(n_head: int) -> int:
    """n_embd moves in these: every head gets an even share of the width."""
    return 2 * n_head


def default_point(params: Params, model: Any, keys: list[str]) -> dict[str, Any]:
    """The values ``keys`` take in params: ``train`` from params, ``model`` from the
    resolved model config (a null model key is the preset's value)."""
    sources = {"train": params.train, "model": model}
    return normalize({key: getattr(sources[key.split(".")[0]], key.split(".")[1])
                      for key in keys})


def grid_points(tune: TuneConfig, default: dict[str, Any],
                n_head: int | None = None) -> list[dict[str, Any]]:
    """The default point, then every combination of ``tune.grid`` that differs from it."""
    for key, values in tune.grid.items():
        for value in values:
            _check_value("tune.grid", key, value, n_head)
    values = [list(dict.fromkeys(vs)) for vs in tune.grid.values()]
    combos = [normalize(dict(zip(tune.grid, combo, strict=True)))
              for combo in itertools.product(*values)]
    points = [default, *(p for p in combos if p != default)]
    if len(points) > tune.trials:
        shape = " x ".join(f"{key} {len(vs)}" for key, vs in zip(tune.grid, values, strict=True))
        extra = "" if default in combos else " plus the default point"
        raise StageError(f"tune.grid: {len(combos)} combinations ({shape}){extra} exceed "
                         f"tune.trials ({tune.trials}); raise tune.trials or trim the grid")
    return points


def _check_value(where: str, key: str, value: float, n_head: int | None) -> None:
    if key in INT_KEYS and value != int(value):
        raise StageError(f"{where}.{key}: must be whole numbers, got {value:g}")
    if key == WIDTH and n_head and value % width_step(n_head):
        raise StageError(f"{where}.{key}: {value:g} is not a multiple of "
                         f"{width_step(n_head)} (2 x model.n_head {n_head})")


def bayes_space(tune: TuneConfig, n_head: int) -> dict[str, Any]:
    """Optuna distributions over ``tune.ranges``: log-uniform for the rate, ints for the
    integer keys, n_embd on multiples of ``2 x n_head``."""
    from optuna.distributions import FloatDistribution, IntDistribution

    space: dict[str, Any] = {}
    for key, (low, high) in tune.ranges.items():
        where = f"tune.ranges.{key}"
        if key in INT_KEYS:
            step = width_step(n_head) if key == WIDTH else 1
            lo, hi = math.ceil(low / step) * step, math.floor(high / step) * step
            if lo > hi:
                raise StageError(f"{where}: no multiple of {step} in [{low:g}, {high:g}]"
                                 + (f" (2 x model.n_head {n_head})" if key == WIDTH else ""))
            space[key] = IntDistribution(lo, hi, step=step)
        elif key in LOG_KEYS:
            if low <= 0:
                raise StageError(f"{where}: a log scale needs low > 0, got {low:g}")
            space[key] = FloatDistribution(low, high, log=True)
        else:
            space[key] = FloatDistribution(low, high)
    return space


def space_ends(space: dict[str, Any]) -> list[dict[str, Any]]:
    """Two points at the low and at the high end of every distribution: the params check
    them before any trial runs, so a range that leaves the schema fails up front."""
    return [normalize({key: d.low for key, d in space.items()}),
            normalize({key: d.high for key, d in space.items()})]


def outside(space: dict[str, Any], point: dict[str, Any]) -> list[str]:
    """The keys whose value in ``point`` lies outside their distribution (the default
    point is still tried: TPE then learns from a value it would not sample)."""
    def off(d: Any, value: float) -> bool:  # a float distribution has no step
        return not d.low <= value <= d.high or bool(d.step and (value - d.low) % d.step)

    return [key for key, d in space.items() if off(d, point[key])]


def apply_point(params: Params, point: dict[str, Any], where: str = "tune") -> Params:
    """``params`` with the point's values in ``train`` and ``model``, checked against the
    schema; a value it refuses raises StageError naming ``where`` and the key."""
    raw = dataclasses.asdict(params)
    for key, value in point.items():
        section, name = key.split(".", 1)
        raw[section][name] = value
    try:
        return params_from_dict(raw)
    except ConfigError as exc:
        raise StageError(f"{where}: {exc}") from exc


def startup_trials(trials: int) -> int:
    """Trials TPE samples at random before its model of the loss guides it: half the
    budget (Optuna's 10 would leave a small search all random), at least two."""
    return max(2, min(10, trials // 2))
