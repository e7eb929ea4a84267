"""Ray Tune around the trial: the searcher, ASHA, the budget, and what each trial ended with.

:func:`search` runs :func:`training.tune.trial.trainable` (one CPU each, ``tune.concurrent``
at once) and returns one :class:`Outcome` per trial Tune started, in the order they
started. The searcher is

* ``grid``: Tune's basic generator over explicit points (the default point first), one
  trial each;
* ``bayes``: Optuna's TPE (:class:`ray.tune.search.optuna.OptunaSearch`) over the ranges'
  distributions, seeded with ``tune.seed``, the default point evaluated first, behind a
  ``ConcurrencyLimiter``.

ASHA (``tune.asha``) reads the trials' ``step`` as its clock: a trial whose loss trails
those seen at a rung (``grace_period`` steps, then ``reduction_factor`` times more each) is
stopped there; the others run to ``tune.max_steps``. ``tune.time_budget_s`` is Tune's time
budget: when it runs out, no trial starts and running ones stop. Tune's own console table
stays off; :class:`Progress` logs one line per trial as it ends.

Example::

    >>> from llmlake.config import params_from_dict
    >>> params = params_from_dict({"tune": {"search": "grid", "grid": {"train.lr": [0.001, 0.01]}}})
    >>> points = [{"train.lr": 0.003}, {"train.lr": 0.001}, {"train.lr": 0.01}]
    >>> algorithm, samples, space = searcher(params, {"keys": ["train.lr"], "points": points})
    >>> samples, space["train.lr"].categories
    (3, [0.003, 0.001, 0.01])
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

from ray.tune import Callback

from llmlake.config import Params
from training.tune.results import Outcome

METRIC = "val_loss"


def searcher(params: Params, plan: dict[str, Any]) -> tuple[Any, int, dict[str, Any]]:
    """The search algorithm, the number of trials to ask it for and Tune's param space."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    from training.tune.space import startup_trials

    cfg = params.tune
    if cfg.search == "grid":
        points = plan["points"]
        # The generator takes its points' keys from the space; with one sample per point
        # it never draws from it.
        space = {key: tune.choice(list(dict.fromkeys(p[key] for p in points)))
                 for key in plan["keys"]}
        return (BasicVariantGenerator(points_to_evaluate=points, max_concurrent=cfg.concurrent),
                len(points), space)
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per study or trial

    sampler = optuna.samplers.TPESampler(seed=cfg.seed,
                                         n_startup_trials=startup_trials(cfg.trials))
    optuna_search = OptunaSearch(space=plan["space"], metric=METRIC, mode="min",
                                 points_to_evaluate=[plan["default"]], sampler=sampler)
    return ConcurrencyLimiter(optuna_search, max_concurrent=cfg.concurrent), cfg.trials, {}


def scheduler(params: Params) -> Any:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    cfg = params.tune
    if not cfg.asha:
        return FIFOScheduler()
    return ASHAScheduler(time_attr="step", max_t=cfg.max_steps,
                         grace_period=min(cfg.grace_period, cfg.max_steps),
                         reduction_factor=cfg.reduction_factor)


def search(params: Params, plan: dict[str, Any], setup: Any, storage: Path,
           log: Any) -> tuple[list[Outcome], float]:
    """Run the search; the trials' outcomes and the seconds it took."""
    from ray import tune

    from training.tune.trial import trainable

    # The legacy reporter at verbosity 0 prints nothing; the new one always prints its
    # banner. Progress is this module's log lines, one per trial.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    algorithm, samples, space = searcher(params, plan)
    # One CPU a trial; on a GPU the concurrent trials share it.
    resources = {"cpu": 1, "gpu": 1 / params.tune.concurrent} if setup.device == "cuda" \
        else {"cpu": 1}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, setup=setup), resources),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="min", search_alg=algorithm, scheduler=scheduler(params),
            num_samples=samples, time_budget_s=params.tune.time_budget_s,
            reuse_actors=True),  # a new trial keeps the process: torch is imported once
        run_config=tune.RunConfig(
            name=storage.name, storage_path=str(storage.parent), verbose=0,
            callbacks=[Progress(log, params.tune.max_steps, samples)]))
    started = time.perf_counter()
    with warnings.catch_warnings():  # a default outside a range: the stage said so
        warnings.filterwarnings("ignore", message="Fixed parameter")
        results = tuner.fit()
    seconds = time.perf_counter() - started
    return [_outcome(r) for r in results], seconds


def _outcome(result: Any) -> Outcome:
    from training.tune.space import normalize

    frame = result.metrics_dataframe
    rows = [] if frame is None or METRIC not in frame else \
        frame[["step", METRIC, "train_loss"]].dropna().to_dict("records")
    curve = [{"step": int(r["step"]), METRIC: float(r[METRIC]),
              "train_loss": float(r["train_loss"])} for r in rows]
    metrics = result.metrics or {}
    error = "" if result.error is None else str(result.error).strip().splitlines()[-1]
    return Outcome(trial=metrics.get("trial_id") or Path(result.path).name,
                   point=normalize(result.config), curve=curve, error=error,
                   seconds=round(float(metrics.get("time_total_s", 0.0)), 1))


def _progress_line(trial: Any, max_steps: int) -> str:
    last = trial.last_result or {}
    step, loss = last.get("step", 0), last.get(METRIC)
    ended = "completed" if step >= max_steps else f"stopped at step {step}"
    loss_text = f"val loss {loss:.4f}" if loss is not None else "no val loss"
    return f"{ended}, {loss_text} ({_values(trial.config)})"


def _values(config: dict[str, Any]) -> str:
    from training.tune.space import normalize

    return ", ".join(f"{k}={v}" for k, v in normalize(config).items())


class Progress(Callback):
    """One log line per trial as it ends: its loss, its steps, completed or stopped."""

    def __init__(self, log: Any, max_steps: int, planned: int) -> None:
        self.log, self.max_steps, self.planned, self.ended = log, max_steps, planned, 0

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended += 1
        self.log.info("tune: trial %d/%d %s %s", self.ended, self.planned, trial.trial_id,
                      _progress_line(trial, self.max_steps))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.ended += 1
        self.log.warning("tune: trial %d/%d %s failed (%s)", self.ended, self.planned,
                         trial.trial_id, _values(trial.config))
