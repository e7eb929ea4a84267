"""One trial: the project's own training loop on the shards, with a point's values.

:func:`run_trial` applies the point to the params (:func:`training.tune.space.apply_point`),
resolves the model as the train stage does, and runs :class:`training.train.loop.Loop` in
this process on one thread for ``tune.max_steps`` steps, handing ``report`` the step, the
validation loss and the train loss every ``tune.eval_every`` steps. The loop seeds the
weights and the batch order from ``train.seed``, so a point always gives the same curve:
two trials differ only by their values. :func:`trainable` is the same function as Ray Tune
calls it (``ray.tune.report`` as the reporter, ASHA's stop arriving through it).

The schedule is the trial's own: warmup and cosine decay span ``tune.max_steps``, not
``train.max_steps``, so a short trial still ends at the low rate a full run ends at.

Example::

    >>> from llmlake.config import params_from_dict
    >>> cfg = trial_config(params_from_dict({"tune": {"max_steps": 30, "eval_every": 10}}))
    >>> cfg.max_steps, cfg.eval_every, cfg.log_every, cfg.checkpoint_every
    (30, 10, 10, 30)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from llmlake.config import Params
from training.tune.space import apply_point, normalize


@dataclass(frozen=True)
class Setup:
    """What every trial shares: the base params, the shards and the tokenizer's facts."""

    params: Params
    shards: str       # absolute: a trial runs in its own working folder
    vocab_size: int
    pad_id: int | None
    device: str = "cpu"


def trial_config(params: Params) -> Any:
    """The loop's config for a trial: the search's steps and evaluation cadence, one log
    row per evaluation, no checkpoints before the end (a trial keeps no weights). A trial
    is one process, so it accumulates ``train.num_workers`` times as many micro-steps: its
    optimizer step sees the global batch ``llmlake train`` would (the learning rate found
    is the one for that batch)."""
    t = params.train
    steps, every = params.tune.max_steps, params.tune.eval_every
    return replace(t, max_steps=steps, eval_every=every, log_every=every,
                   checkpoint_every=steps, compile=False,
                   grad_accum=t.grad_accum * t.num_workers, num_workers=1)


def run_trial(point: dict[str, Any], setup: Setup,
              report: Callable[[dict[str, Any]], None]) -> None:
    """Train with ``point`` applied, reporting ``{step, val_loss, train_loss}`` at each
    evaluation (not the step-0 one: it says nothing about the point)."""
    import torch

    from training.data import shard_split
    from training.train.loop import Loop, Worker
    from training.train.stage import resolve_model

    torch.set_num_threads(1)  # one CPU per trial: concurrent trials share the cores
    params = apply_point(setup.params, normalize(point))
    model_cfg = resolve_model(params, setup.vocab_size)
    train, val = (shard_split(setup.shards, split)[0] for split in ("train", "val"))
    loop = Loop(model_cfg, trial_config(params), train, val, setup.pad_id,
                Worker(device=setup.device))

    def on_step(state: Any) -> None:
        row = state.log[-1]
        if row["step"] == state.step and row.get("val_loss") != "":
            report({"step": state.step, "val_loss": row["val_loss"],
                    "train_loss": row["train_loss"]})

    loop.run(report=lambda state, save: None, on_step=on_step)


def trainable(config: dict[str, Any], setup: Setup) -> None:
    """Ray Tune's function trainable (``tune.with_parameters`` passes ``setup``)."""
    from ray import tune

    run_trial(config, setup, tune.report)

