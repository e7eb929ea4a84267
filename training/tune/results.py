"""What a search found: the trials' table, the best trial, and the params overlay.

:func:`trial_rows` turns the trials' outcomes into ``reports/tune.csv``'s rows (sorted by
val loss; ``default`` marks the trial of params' own values). :func:`best_signals` measures
the table and :func:`best_reason` names the decision: the best is the lowest val loss
among the trials that ran all ``tune.max_steps`` steps. A trial ASHA stopped early is never
the best, however low its loss: a partial curve is measured at an earlier step, on a
schedule that had not decayed yet, and is not comparable with a finished one.

:func:`overlay` keeps only the keys the best trial changed, as params sections, so
``llmlake --params params.yaml --params reports/tune_best.yaml train`` trains it, and
:func:`overrides` gives the same as ``dvc exp run -S`` flags.

Example::

    >>> rows = [{"trial": "a", "val_loss": 5.1, "steps": 20, "status": "stopped", "default": False},
    ...         {"trial": "b", "val_loss": 5.3, "steps": 60, "status": "completed", "default": False},
    ...         {"trial": "c", "val_loss": 5.6, "steps": 60, "status": "completed", "default": True}]
    >>> signals = best_signals(rows)
    >>> signals["best_trial"], best_reason(signals), signals["improvement"]
    ('b', 'best', 0.3)
    >>> overlay({"train.lr": 0.01, "model.n_layer": 4}, {"train.lr": 0.003, "model.n_layer": 4})
    {'train': {'lr': 0.01}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from llmlake.lake import write_atomic


@dataclass(frozen=True)
class Outcome:
    """A trial as Tune ended it: its point, its reports, its error (``""`` if none)."""

    trial: str
    point: dict[str, Any]
    curve: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    @property
    def last(self) -> dict[str, Any]:
        return self.curve[-1] if self.curve else {}


def trial_rows(outcomes: list[Outcome], keys: list[str], default: dict[str, Any],
               max_steps: int) -> list[dict[str, Any]]:
    """One row per trial: its values, final val loss, steps, how it ended, seconds."""
    rows = []
    for outcome in outcomes:
        last = outcome.last
        steps = last.get("step", 0)
        status = ("error" if outcome.error else
                  "completed" if steps >= max_steps else "stopped")
        rows.append({"trial": outcome.trial, **{k: outcome.point.get(k) for k in keys},
                     "val_loss": last.get("val_loss", ""), "steps": steps, "status": status,
                     "seconds": outcome.seconds, "default": outcome.point == default,
                     "error": outcome.error})
    return sorted(rows, key=lambda r: (r["val_loss"] == "", r["val_loss"] or 0.0))


def _loss(row: dict[str, Any] | None) -> float | None:
    return None if row is None or row["val_loss"] == "" else row["val_loss"]


def best_signals(rows: list[dict[str, Any]],
                 curves: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Any]:
    """Every figure the choice of the best rests on. With the trials' ``curves``, a default
    trial ASHA stopped is compared with the best at the step it reached, not at the end."""
    completed = [r for r in rows if r["status"] == "completed" and _loss(r) is not None]
    stopped = [r for r in rows if r["status"] == "stopped"]
    best = min(completed, key=lambda r: r["val_loss"]) if completed else None
    default = next((r for r in rows if r["default"]), None)
    partial = [loss for r in stopped if (loss := _loss(r)) is not None]
    best_loss, default_loss = _loss(best), _loss(default)
    at = default["steps"] if default and default_loss is not None else None
    best_at = best_loss
    if best and at is not None and at < best["steps"]:
        best_at = _loss_at((curves or {}).get(best["trial"], []), at)
    return {
        "trials": len(rows), "completed": len(completed), "stopped_early": len(stopped),
        "errors": sum(r["status"] == "error" for r in rows),
        "best_trial": best["trial"] if best else None, "best_val_loss": best_loss,
        "best_is_default": bool(best and best["default"]),
        "default_trial": default["trial"] if default else None,
        "default_val_loss": default_loss, "default_steps": at,
        "default_completed": bool(default and default["status"] == "completed"),
        "lowest_partial_val_loss": min(partial) if partial else None,
        "best_val_loss_at_default_steps": best_at,
        "improvement": round(default_loss - best_at, 5)
        if best_at is not None and default_loss is not None else None,
    }


def _loss_at(curve: list[dict[str, Any]], step: int) -> float | None:
    return next((r["val_loss"] for r in curve if r["step"] == step), None)


def best_reason(signals: dict[str, Any]) -> str:
    """``best`` (a trial beat the defaults), ``default_is_best`` (params' own values won:
    nothing to change), or ``no_completed_trial`` (the budget ended every trial early)."""
    if signals["best_trial"] is None:
        return "no_completed_trial"
    return "default_is_best" if signals["best_is_default"] else "best"


def overlay(best: dict[str, Any], default: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The keys ``best`` changes, as params sections."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in best.items():
        if value != default.get(key):
            section, name = key.split(".", 1)
            out.setdefault(section, {})[name] = value
    return out


def overrides(sections: dict[str, dict[str, Any]]) -> list[str]:
    return [f"{section}.{name}={value}" for section, keys in sections.items()
            for name, value in keys.items()]


def summary(rows: list[dict[str, Any]], curves: dict[str, list[dict[str, Any]]],
            keys: list[str], default: dict[str, Any], budget: dict[str, Any],
            params_out: Path) -> tuple[dict[str, Any], dict]:
    """``reports/tune_best.json`` (the search, its budget, best and default, the decision
    and how to train with it) and the overlay's sections."""
    signals = best_signals(rows, curves)
    by_trial = {r["trial"]: r for r in rows}
    best, base = by_trial.get(signals["best_trial"]), by_trial.get(signals["default_trial"])
    changes = overlay({k: best[k] for k in keys}, default) if best else {}
    flags = overrides(changes)
    metrics = {
        **budget, "reason": best_reason(signals), "signals": signals,
        "best": best and {"trial": best["trial"], "config": {k: best[k] for k in keys},
                          "val_loss": best["val_loss"], "steps": best["steps"]},
        "default": {"trial": base and base["trial"], "config": default,
                    "val_loss": _loss(base), "steps": signals["default_steps"],
                    "completed": signals["default_completed"]},
        # At the default's last step: a default ASHA stopped is not compared with a
        # finished curve.
        "improvement": signals["improvement"], "overrides": flags,
        "dvc_exp_run": " ".join(["dvc exp run", *(f"-S {f}" for f in flags)]) if flags
        else None,
        "params_out": str(params_out),
    }
    return metrics, changes


def write_overlay(path: Path, changes: dict[str, dict[str, Any]], note: str) -> Path:
    """The overlay as YAML, a comment line saying where it came from first."""
    body = yaml.safe_dump(changes, sort_keys=False) if changes else "{}\n"
    return write_atomic(Path(path), lambda fh: fh.write(f"# {note}\n{body}"))
