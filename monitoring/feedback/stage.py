"""The ``feedback`` command: user ratings exported as data, on demand.

``llmlake feedback`` reads ``ops/feedback`` and the rated rows of ``ops/requests`` with
delta-rs (no Spark), makes the examples with :func:`~monitoring.feedback.signals.feedback_signals`
(``monitor.feedback_good`` and ``monitor.feedback_bad``) and writes them to
``monitor.feedback_out``:

* ``sft.jsonl``: ``{"prompt", "response", "request_id", "rating", "model"}`` per
  well-rated request, the fine-tuning pairs;
* ``eval.jsonl``: the same keys plus ``"comment"`` per badly rated one, the failures to
  evaluate a model on.

Both files replace the old ones together (:func:`~llmlake.lake.building_dir`), so a reader
never sees one new and one old. ``reports/lineage/feedback.json`` records the two table
versions read, the rows of each file with its sha256, and the ratings skipped by reason;
it holds nothing else (no time), so exports of the same table versions give identical
files and an identical record. No ``ops/feedback`` table yet is no error: the sets are
empty, and the log says why. A table that cannot be read is a :class:`StageError` naming
it. The command is no pipeline stage: the ratings grow on their own, with no DVC input.

Example::

    >>> from llmlake.config import Params, LakeConfig
    >>> from llmlake.config_monitor import MonitorConfig
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> params = Params(lake=LakeConfig(root=f"{tmp}/lake", reports=f"{tmp}/reports"),
    ...                 monitor=MonitorConfig(feedback_out=f"{tmp}/feedback"))
    >>> record = export_feedback(params)
    >>> record["inputs"]["ops/feedback"]["version"], record["files"]["sft.jsonl"]["rows"]
    (None, 0)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlake.config import Params
from llmlake.lake import Lake, building_dir, write_json
from llmlake.log import get_logger
from llmlake.stage import StageError
from monitoring.feedback.signals import FeedbackSignals, feedback_signals

log = get_logger(__name__)

STAGE = "feedback"
FILES = ("sft.jsonl", "eval.jsonl")
FEEDBACK_COLUMNS = ("request_id", "ts", "rating", "comment")
REQUEST_COLUMNS = ("request_id", "ts", "model", "prompt")
# Absent from tables logged before the service stored responses: read as null.
OPTIONAL_COLUMNS = ("response",)


@dataclass(frozen=True)
class Snapshot:
    """The rows read from one version of a table (version None: no table there)."""

    path: str
    version: int | None
    rows: list[dict[str, Any]]

    def lineage(self) -> dict[str, Any]:
        return {"path": self.path, "version": self.version}


def read_table(path: str, columns: tuple[str, ...], ids: set[str] | None = None
               ) -> Snapshot:
    """``columns`` (and any of ``OPTIONAL_COLUMNS``) of the latest version of the Delta table
    at ``path``, only the rows whose ``request_id`` is in ``ids`` when given."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    from llmlake.storage import open_table, table_exists

    if not table_exists(path):
        if "://" not in path and Path(path).exists():
            raise StageError(f"{STAGE}: {path} exists but is not a Delta table")
        return Snapshot(path, None, [])
    try:
        table = open_table(path)
        data = table.to_pyarrow_dataset()  # one snapshot: rows and version agree
        names = data.schema.names
        missing = [c for c in columns if c not in names]
        if missing:
            raise StageError(f"{STAGE}: {path} has no column {', '.join(missing)}")
        wanted = [*columns, *(c for c in OPTIONAL_COLUMNS if c in names)]
        # typed: an empty list would make a null-typed set that matches no string column
        where = None if ids is None else ds.field("request_id").isin(
            pa.array(sorted(ids), pa.string()))
        rows = data.to_table(columns=wanted, filter=where).to_pylist()
    except StageError:
        raise
    except Exception as exc:  # delta-rs, Arrow and storage errors alike: name the table
        raise StageError(f"{STAGE}: cannot read {path}: "
                         f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from exc
    return Snapshot(path, table.version(), rows)


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """One JSON object a line, keys in their fixed order: the same rows, the same bytes."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


def write_sets(out: Path, signals: FeedbackSignals) -> dict[str, dict[str, Any]]:
    """Both files into ``out`` at once; each file's path, rows and sha256."""
    strays = sorted(p.name for p in out.iterdir() if p.name not in FILES) \
        if out.is_dir() else []
    if strays or (out.exists() and not out.is_dir()):
        # The folder is replaced whole: never take someone else's files with it.
        raise StageError(f"{STAGE}: monitor.feedback_out {out} holds other files "
                         f"({', '.join(strays) or 'it is a file'}); choose a folder of its own")
    files = {}
    with building_dir(out) as tmp:
        for name, rows in zip(FILES, (signals.sft, signals.eval), strict=True):
            data = jsonl(rows)
            (tmp / name).write_bytes(data)
            files[name] = {"path": str(out / name), "rows": len(rows),
                           "sha256": hashlib.sha256(data).hexdigest()}
    return files


def export_feedback(params: Params) -> dict[str, Any]:
    """Write the two sets and their lineage record (see the module doc); the record."""
    lake, monitor = Lake(params.lake), params.monitor
    feedback = read_table(lake.table("ops/feedback"), FEEDBACK_COLUMNS)
    if feedback.version is None:
        log.info("%s: no ratings yet (no Delta table at %s): writing empty sets",
                 STAGE, feedback.path)
    rated = {row["request_id"] for row in feedback.rows}
    requests = read_table(lake.table("ops/requests"), REQUEST_COLUMNS, ids=rated)
    if requests.version is None and rated:
        log.warning("%s: %s does not exist: all %d ratings are of unknown requests",
                    STAGE, requests.path, len(feedback.rows))
    signals = feedback_signals(requests.rows, feedback.rows, good=monitor.feedback_good,
                               bad=monitor.feedback_bad)
    files = write_sets(Path(monitor.feedback_out), signals)
    record = {
        "stage": STAGE,
        "inputs": {"ops/requests": requests.lineage(), "ops/feedback": feedback.lineage()},
        "thresholds": {"feedback_good": monitor.feedback_good,
                       "feedback_bad": monitor.feedback_bad},
        "ratings": signals.ratings, "rated_requests": signals.rated_requests,
        "skipped": signals.skipped, "files": files,
    }
    write_json(lake.lineage(STAGE), record)
    log.info("%s: %d ratings of %d requests -> %d fine-tuning pairs, %d evaluation rows in "
             "%s; skipped %s", STAGE, signals.ratings, signals.rated_requests,
             len(signals.sft), len(signals.eval), monitor.feedback_out,
             ", ".join(f"{k} {v}" for k, v in signals.skipped.items() if v) or "none")
    return record


def run(params: Params) -> dict[str, Any]:
    return export_feedback(params)
