"""The ``tune`` stage: Ray Tune over the training function, the best values as a params overlay.

Before Ray starts it checks what the train stage checks (the model resolves, the shards
were exported from the pinned ``gold/sequences`` version with this tokenizer and context)
and every value the search may try (each grid point, each range's ends) against the
schema, naming ``tune.grid`` or ``tune.ranges`` and the key. Then it searches
(:mod:`training.tune.search`: grid or Optuna's TPE, ASHA, ``tune.concurrent`` one-CPU
trials, within ``tune.trials`` and ``tune.time_budget_s``), each trial running the
project's loop on the memory-mapped shards (:mod:`training.tune.trial`), and writes

* ``reports/tune.csv``: one row per trial (values, final val loss, steps, completed or
  stopped, seconds, ``default``), best first;
* ``reports/tune_best.json``: the search and its budget, the best trial and the default's,
  the improvement, the decision (``best``, ``default_is_best``, ``no_completed_trial``),
  the overrides and the ``dvc exp run -S ...`` line;
* ``tune.params_out`` (``reports/tune_best.yaml``): the changed keys only, as sections:
  ``llmlake --params params.yaml --params reports/tune_best.yaml train`` trains the best.

Trials keep their Tune folders under ``<artifacts>/tune/search`` (the last search only).

Example::

    >>> from training.model import ModelConfig
    >>> plan = search_plan(Params(), ModelConfig.from_preset("tiny"), vocab_size=8192)
    >>> plan["default"]
    {'train.lr': 0.003, 'train.warmup_steps': 20, 'train.weight_decay': 0.1, 'model.n_layer': 4}
    >>> plan["space"]["model.n_layer"]
    IntDistribution(high=4, log=False, low=1, step=1)
    >>> run(load_params("params.yaml"))["reason"] in ("best", "default_is_best")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from llmlake.config import Params
from llmlake.stage import StageError, stage_shell
from llmlake.tokenizer import TOKENIZER_FILE, file_hash


def search_plan(params: Params, model_cfg: Any, vocab_size: int) -> dict[str, Any]:
    """The searched keys, the default point and the grid's points or the ranges'
    distributions, every value the search may try checked first."""
    from training.tune.space import (
        apply_point,
        bayes_space,
        default_point,
        grid_points,
        outside,
        space_ends,
    )

    cfg = params.tune
    where = "tune.grid" if cfg.search == "grid" else "tune.ranges"
    keys = list(cfg.grid if cfg.search == "grid" else cfg.ranges)
    default = default_point(params, model_cfg, keys)
    plan: dict[str, Any] = {"keys": keys, "default": default}
    if cfg.search == "grid":
        plan["points"] = checked = grid_points(cfg, default, model_cfg.n_head)
    else:
        plan["space"] = space = bayes_space(cfg, model_cfg.n_head)
        checked = space_ends(space)
        plan["outside"] = [f"{where}.{key}: the default {default[key]} lies outside "
                           f"{_span(space[key])}" for key in outside(space, default)]
    for point in checked:
        _check_point(apply_point(params, point, where), vocab_size, where)
    return plan


def _span(distribution: Any) -> str:
    step = distribution.step or 1  # a float distribution's step is None
    return f"[{distribution.low}, {distribution.high}]" + (f" in steps of {step}"
                                                           if step > 1 else "")


def _check_point(params: Params, vocab_size: int, where: str) -> None:
    from training.train.stage import resolve_model

    try:
        resolve_model(params, vocab_size)
    except StageError as exc:
        raise StageError(f"{where}: {exc}") from exc


def run(params: Params) -> dict[str, Any]:
    from training.train.fit import ray_session
    from training.train.stage import _vocab, check_shards, pinned_version, resolve_model
    from training.tune.search import search
    from training.tune.trial import Setup

    with stage_shell("tune", params) as sh:
        tok_dir = sh.require_artifact("tokenizer", TOKENIZER_FILE)
        vocab, pad_id = _vocab(tok_dir)
        model_cfg = resolve_model(params, vocab)
        version = pinned_version(sh)
        check_shards(sh, version, file_hash(tok_dir / TOKENIZER_FILE), params.train.context,
                     required=True)
        plan = search_plan(params, model_cfg, vocab)
        for line in plan.get("outside", []):
            sh.log.warning("%s; the default trial still tries it", line)
        setup = Setup(params, str(sh.lake.artifact("shards").resolve()), vocab, pad_id,
                      "cuda" if params.train.use_gpu else "cpu")
        # Absolute: Ray requires it. Only the last search is kept: trials keep no weights.
        storage = (sh.lake.artifact("tune") / "search").resolve()
        shutil.rmtree(storage, ignore_errors=True)
        cfg = params.tune
        sh.log.info("tune: %s search over %s, %d trials of up to %d steps, %d at once, "
                    "budget %gs%s", cfg.search, ", ".join(plan["keys"]),
                    len(plan.get("points", [])) or cfg.trials, cfg.max_steps,
                    cfg.concurrent, cfg.time_budget_s, ", ASHA" if cfg.asha else "")
        with sh.step("search"), ray_session(params.ray):
            outcomes, seconds = search(params, plan, setup, storage, sh.log)
        with sh.step("report"):
            metrics = _write(sh, params, plan, outcomes, seconds)
        return sh.finish(metrics)


def _write(sh: Any, params: Params, plan: dict[str, Any], outcomes: list[Any],
           seconds: float) -> dict[str, Any]:
    from llmlake.lake import write_csv
    from training.tune import results

    cfg = params.tune
    if not outcomes:
        raise StageError("llmlake tune: no trial ran within tune.time_budget_s "
                         f"({cfg.time_budget_s:g}s)")
    failed = [o for o in outcomes if o.error]
    if len(failed) == len(outcomes):
        raise StageError(f"llmlake tune: every trial failed; the first: {failed[0].error}")
    if failed:
        sh.log.warning("tune: %d of %d trials failed; the first: %s", len(failed),
                       len(outcomes), failed[0].error)
    rows = results.trial_rows(outcomes, plan["keys"], plan["default"], cfg.max_steps)
    write_csv(sh.lake.report("tune.csv"), rows)
    out = Path(cfg.params_out) if cfg.params_out else sh.lake.report("tune_best.yaml")
    budget = {"search": cfg.search, "budget": {"trials": cfg.trials,
                                               "seconds": cfg.time_budget_s},
              "seconds": round(seconds, 1), "budget_reached": seconds >= cfg.time_budget_s}
    curves = {o.trial: o.curve for o in outcomes}
    metrics, changes = results.summary(rows, curves, plan["keys"], plan["default"], budget,
                                       out)
    signals = metrics["signals"]
    note = (f"llmlake tune ({cfg.search}, {signals['trials']} trials): {metrics['reason']}, "
            f"val loss {signals['best_val_loss']} vs the default's {signals['default_val_loss']}"
            + ("" if signals["default_completed"]
               else f" (stopped at step {signals['default_steps']})"))
    results.write_overlay(out, changes, note)
    sh.log.info("tune: %s; %d of %d trials completed, %d stopped early; %s",
                metrics["reason"], signals["completed"], signals["trials"],
                signals["stopped_early"], " ".join(metrics["overrides"]) or "no change")
    if metrics["reason"] == "no_completed_trial":
        sh.log.warning("tune: no trial ran all %d steps: the overlay changes nothing; "
                       "raise tune.time_budget_s", cfg.max_steps)
    return metrics
