"""The retrain history (``reports/retrain_history.jsonl``) and the decision to retrain.

One JSON line per retrain: what triggered it, the drift figures, the data added, the old
and new model's metrics, the promotion decision and the Delta versions before and after.
A retrain that failed is recorded too (``status: failed``), and does not count as having
acted on its drift report, so running ``llmlake retrain`` again continues it.

:func:`retrain_reason` is the decision: ``no_drift`` and ``already_handled`` do nothing;
``drift`` and ``forced`` retrain.

Example::

    >>> drift = {"drift_detected": True, "run": "r1"}
    >>> retrain_reason(drift, [], force=False)
    'drift'
    >>> retrain_reason(drift, [{"drift_run": "r1", "status": "done"}], force=False)
    'already_handled'
    >>> retrain_reason({"drift_detected": False, "run": "r2"}, [], force=True)
    'forced'
    >>> retrain_reason(None, [], force=False)
    'no_drift'
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HISTORY = "retrain_history.jsonl"
SKIP = ("no_drift", "already_handled")


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every recorded event; a torn last line (a crash while appending) is ignored."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def append_history(path: Path, event: dict[str, Any]) -> None:
    """One line per event; after a torn line (a crash mid-append) a new line first, so
    the torn one is the only loss."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        torn = False
        if fh.seek(0, 2) > 0:
            fh.seek(-1, 2)
            torn = fh.read(1) != b"\n"
        line = json.dumps(event, sort_keys=True, default=str, allow_nan=False) + "\n"
        fh.write((b"\n" if torn else b"") + line.encode())


def retrain_reason(drift: dict[str, Any] | None, history: list[dict[str, Any]],
                   force: bool) -> str:
    """Whether (and why) to retrain on this drift report."""
    if force:
        return "forced"
    if not drift or not drift.get("drift_detected"):
        return "no_drift"
    return "already_handled" if handled(drift, history) else "drift"


def handled(drift: dict[str, Any], history: list[dict[str, Any]]) -> bool:
    """Whether a finished retrain already acted on this drift report."""
    return any(e.get("drift_run") == drift.get("run") and e.get("status") == "done"
               for e in history)


def explain(trigger: str, drift: dict[str, Any] | None) -> str:
    """What a skipped retrain says."""
    if trigger == "already_handled":
        return (f"drift report {drift['run']} was already acted on (see {HISTORY}); "
                "nothing to do: run `llmlake monitor` on a new batch, or --force")
    if drift is None:
        return "no drift report: nothing to do (run `llmlake monitor` first, or --force)"
    return f"no drift in {drift.get('run')}: nothing to do (--force retrains anyway)"
