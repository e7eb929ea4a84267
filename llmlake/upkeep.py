"""Delta upkeep decisions: which table versions are pinned, and how far a vacuum may go.

A lineage file (``reports/lineage/*.json``) or a trained model (``lineage.json`` in a model
folder under ``artifacts/``, the champion record ``artifacts/champion.json``) names the
Delta versions it read and wrote as ``{"path": ..., "version": ...}`` (a model's training
data as ``{"table": ..., "version": ...}``): those versions are *pinned* (:func:`collect_pins`). Delta VACUUM deletes a removed data file once its removal
is older than the retention (or, when its tombstone has already left the log after
``delta.deletedFileRetentionDuration``, once the file itself is), so a pinned version stays
readable only while every file it holds that a later commit removed is still there.
A pinned version whose files cannot be read is a refusal too, unless it is older than the
oldest version the log can rebuild (:func:`oldest_rebuildable`): then it is already lost.
:func:`vacuum_signals` measures, per table, the retention each pin needs from the log
(:class:`Commit`), and :func:`vacuum_reason` turns that into the decision: go, or refuse
with one line naming the table, the version and the file that pins it. No flag overrides a
pin: to let its version go, remove the lineage file or the model that names it.
``llmlake lake optimize|vacuum`` (:mod:`llmlake.upkeep_spark`) run the Spark side.

Example::

    >>> h = 3_600_000  # one hour in milliseconds
    >>> log = [Commit(0, 0, adds={"a": 0}), Commit(1, 10 * h, adds={"b": 10 * h}),
    ...        Commit(2, 20 * h, adds={"c": 20 * h}, removes={"a": 20 * h, "b": 20 * h})]
    >>> pins = [Pin("lake/t", 1, "reports/lineage/ingest.json")]
    >>> s = vacuum_signals("t", log, pins, {1: {"a", "b"}}, {"c"}, now_ms=30 * h,
    ...                    retention_hours=0, margin_hours=1)
    >>> s["required_hours"]
    11.0
    >>> vacuum_reason(s)[0]
    'refuse_pinned'
    >>> vacuum_reason({**s, "retention_hours": 12.0})[0]  # under Delta's own 168h guard
    'refuse_below_table_retention'
    >>> vacuum_reason({**s, "retention_hours": 12.0}, force=True)[0]
    'vacuum'
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Pin:
    """A table version some file names: ``path`` as :func:`norm_path` writes it."""

    path: str
    version: int
    source: str


@dataclass(frozen=True)
class Commit:
    """What one Delta commit did to the data files: ``adds`` maps a file (relative to the
    table, as the log writes it) to its modification time, ``removes`` to its deletion
    time (epoch milliseconds); ``sizes`` holds the bytes of the removed ones."""

    version: int
    timestamp: int
    adds: dict[str, int] = field(default_factory=dict)
    removes: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)


def norm_path(path: str) -> str:
    """One spelling per table: local paths absolute (lineage writes them relative to the
    project root, where commands run), URIs without a trailing slash, ``s3://`` as
    ``s3a://`` (the lake reaches both through the same file system: one bucket).

    >>> norm_path("s3://bucket/lake/gold/sequences/"), norm_path("s3a://bucket/lake")
    ('s3a://bucket/lake/gold/sequences', 's3a://bucket/lake')
    """
    path = path.rstrip("/")
    if path.startswith("s3://"):
        path = "s3a://" + path.removeprefix("s3://")
    if path.startswith("file:"):
        path = "/" + path.removeprefix("file:").lstrip("/")
    return path if "://" in path else os.path.abspath(path)


def pin_sources(reports: Path, artifacts: Path) -> list[Path]:
    """Every file that can pin a version: stage lineage (ETL, train, retrain, monitor),
    the champion record, and each model folder's ``lineage.json`` (trained, fine-tuned,
    registered, packaged)."""
    found = sorted((reports / "lineage").rglob("*.json")) if reports.exists() else []
    if (artifacts / "champion.json").exists():
        found.append(artifacts / "champion.json")
    if artifacts.exists():
        found += sorted(artifacts.rglob("lineage.json"))
    return found


def collect_pins(reports: Path, artifacts: Path) -> list[Pin]:
    """The (table, version) pairs named anywhere in :func:`pin_sources`, once per file."""
    pins: set[Pin] = set()
    for source in pin_sources(reports, artifacts):
        try:
            record = json.loads(source.read_text())
        except (OSError, ValueError) as exc:  # an unreadable pin must not be skipped silently
            raise ValueError(f"{source}: cannot read it to find pinned versions ({exc})") from exc
        pins |= {Pin(norm_path(p), v, str(source)) for p, v in _versions_in(record)}
    return sorted(pins, key=lambda p: (p.path, p.version, p.source))


def _versions_in(obj: Any) -> Iterator[tuple[str, int]]:
    """Every ``{"path" or "table": str, "version": int}`` inside a JSON record, at any
    depth (stage lineage says ``path``; a model's training data, ``table``)."""
    if isinstance(obj, dict):
        version = obj.get("version")
        if isinstance(version, int) and not isinstance(version, bool):
            names = {obj.get(k) for k in ("path", "table")}
            yield from ((n, version) for n in sorted(n for n in names if isinstance(n, str)))
        for value in obj.values():
            yield from _versions_in(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _versions_in(value)


def parse_commit(version: int, text: str) -> Commit:
    """A commit file of the Delta log (JSON lines) as a :class:`Commit`.

    >>> parse_commit(3, '{"commitInfo": {"timestamp": 5}}\\n'
    ...              '{"remove": {"path": "a%20b", "deletionTimestamp": 4, "size": 9}}')
    Commit(version=3, timestamp=5, adds={}, removes={'a b': 4}, sizes={'a b': 9})
    """
    commit = Commit(version, 0)
    for line in filter(str.strip, text.splitlines()):
        action = json.loads(line)
        if "commitInfo" in action:
            commit = Commit(version, int(action["commitInfo"].get("timestamp") or 0),
                            commit.adds, commit.removes, commit.sizes)
        elif "add" in action:
            add = action["add"]
            commit.adds[unquote(add["path"])] = int(add.get("modificationTime") or 0)
        elif "remove" in action:
            rm, name = action["remove"], unquote(action["remove"]["path"])
            commit.removes[name] = int(rm.get("deletionTimestamp") or 0)
            commit.sizes[name] = int(rm.get("size") or 0)
    return commit


def log_entry(name: str) -> tuple[str, int] | None:
    """What a ``_delta_log`` file name holds: ``("commit", v)``, ``("checkpoint", v)``
    (single, multi-part or V2), or None (``.crc``, ``_last_checkpoint``, compactions).

    >>> log_entry("00000000000000000012.json"), log_entry("00000000000000000010.checkpoint.parquet")
    (('commit', 12), ('checkpoint', 10))
    >>> log_entry("00000000000000000010.crc") is None
    True
    """
    head, _, rest = name.partition(".")
    if not head.isdigit():
        return None
    if rest == "json":
        return "commit", int(head)
    return ("checkpoint", int(head)) if rest.startswith("checkpoint.") else None


def oldest_rebuildable(commits: set[int], checkpoints: set[int]) -> int | None:
    """The oldest version the log can still rebuild: version 0 from its commit, or a
    checkpoint, with every commit after it up to the latest present (None: none can).

    >>> oldest_rebuildable({0, 1, 2}, set()), oldest_rebuildable({5, 6, 7, 8}, {4, 6})
    (0, 4)
    >>> oldest_rebuildable({3, 4}, set()) is None
    True
    """
    latest = max(commits | checkpoints, default=None)
    for start in sorted(({0} & commits) | checkpoints):
        if all(v in commits for v in range(start + 1, latest + 1)):
            return start
    return None


def pin_needs(pin: Pin, log: list[Commit], files: set[str] | None, current: set[str],
              now_ms: int, file_retention_hours: float) -> dict[str, Any]:
    """The retention (hours, before the margin) that keeps ``pin``'s version readable: the
    age of the oldest protection among its files that later commits removed. A file is
    protected by its removal time while its tombstone is in the log, by its modification
    time after (vacuum then sees an unlisted file, judged by its age)."""
    out: dict[str, Any] = {"version": pin.version, "source": pin.source, "needs_hours": 0.0,
                           "file": None, "removed_in": None}
    if files is None:
        return {**out, "readable": False}
    added = {f: t for c in log if c.version <= pin.version for f, t in c.adds.items()}
    oldest: tuple[int, str, int] | None = None
    for commit in (c for c in log if c.version > pin.version):
        for name, deleted in commit.removes.items():
            if name not in files or name in current:
                continue
            tombstone_kept = now_ms - deleted < file_retention_hours * HOUR_MS
            protect = deleted if tombstone_kept else added.get(name, 0)
            if oldest is None or protect < oldest[0]:
                oldest = (protect, name, commit.version)
    if oldest is not None:
        out.update(needs_hours=round((now_ms - oldest[0]) / HOUR_MS, 4), file=oldest[1],
                   removed_in=oldest[2])
    return {**out, "readable": True}


def vacuum_signals(table: str, log: list[Commit], pins: list[Pin],
                   files_at: dict[int, set[str] | None], current: set[str], *, now_ms: int,
                   retention_hours: float | None, margin_hours: float,
                   file_retention_hours: float = 168.0, log_retention_hours: float = 720.0,
                   oldest_version: int | None = None, read_errors: dict[int, str] | None = None,
                   ) -> dict[str, Any]:
    """Every figure the vacuum decision of one table rests on, measured at ``now_ms``.
    ``files_at`` holds the data files of each pinned version (None: they could not be
    read, ``read_errors`` says why), ``current`` those of the latest; an unreadable pin is
    lost only if older than ``oldest_version`` (:func:`oldest_rebuildable`; None: unknown).
    ``retention_hours`` None asks for the shortest retention the pins allow."""
    stamps = {c.version: c.timestamp for c in log}
    needs = [pin_needs(p, log, files_at.get(p.version), current, now_ms,
                       file_retention_hours) for p in pins]
    for need in needs:
        age = (now_ms - stamps[need["version"]]) / HOUR_MS if need["version"] in stamps else None
        need["age_hours"] = None if age is None else round(age, 4)
        need["log_expiring"] = age is not None and age > log_retention_hours
        need["lost"] = (not need["readable"] and oldest_version is not None
                        and need["version"] < oldest_version)
        if not need["readable"]:
            need["error"] = (read_errors or {}).get(need["version"], "not read")
    deciding = max(needs, key=lambda n: n["needs_hours"], default=None)
    required = (deciding["needs_hours"] + margin_hours
                if deciding and deciding["file"] else 0.0)
    if retention_hours is None:
        retention_hours = required
    cutoff = now_ms - retention_hours * HOUR_MS
    tombstones = {f: c.sizes.get(f, 0) for c in log for f, t in c.removes.items()
                  if t < cutoff and f not in current}
    return {"table": table, "measured_at_ms": now_ms,
            "retention_hours": float(retention_hours),
            "margin_hours": margin_hours, "required_hours": required,
            "file_retention_hours": file_retention_hours,
            "deciding": deciding if required else None, "pins": needs,
            "oldest_version": oldest_version,
            "lost_pins": [n for n in needs if n["lost"]],
            "unreadable_pins": [n for n in needs if not n["readable"] and not n["lost"]],
            "expiring_pins": [n for n in needs if n["log_expiring"]],
            "tombstones_past_retention": len(tombstones),
            "tombstone_bytes_past_retention": sum(tombstones.values())}


def vacuum_reason(signals: dict[str, Any], force: bool = False) -> tuple[str, str]:
    """The vacuum decision for one table, with its one-line explanation.

    ``refuse_unreadable_pin``: a pinned version the log still holds could not be read, so
    its files are unknown and unprotected (a lost one, older than the log reaches, is only
    reported). ``refuse_pinned``: the retention would delete files a pinned version needs
    (no flag overrides either). ``refuse_below_table_retention``: shorter than the table's
    ``delta.deletedFileRetentionDuration``, Delta's own guard for queries and writes in
    flight, unless ``force``. Otherwise ``vacuum``.
    """
    table, hours = signals["table"], signals["retention_hours"]
    if signals.get("unreadable_pins"):
        d = signals["unreadable_pins"][0]
        return "refuse_unreadable_pin", (
            f"{table}: version {d['version']} is pinned by {d['source']} but its files cannot "
            f"be read ({d['error']}) though the log still holds it (oldest "
            f"{signals['oldest_version']}); retry, or remove that file first")
    if hours < signals["required_hours"]:
        d = signals["deciding"]
        return "refuse_pinned", (
            f"{table}: version {d['version']} is pinned by {d['source']} and needs "
            f"{d['file']} (removed in version {d['removed_in']}, {d['needs_hours']:.4g}h ago); "
            f"--retention-hours {hours:.4g} would delete it: use at least "
            f"{math.ceil(signals['required_hours'] * 1e4) / 1e4:g}, or remove that file first")
    if hours < signals["file_retention_hours"] and not force:
        return "refuse_below_table_retention", (
            f"{table}: --retention-hours {hours:.4g} is below the table's "
            f"delta.deletedFileRetentionDuration ({signals['file_retention_hours']:g}h), "
            f"which protects queries and writes in flight; pass --force if none run")
    return "vacuum", f"{table}: vacuum at {hours:.4g}h keeps every pinned version readable"


def pin_warnings(signals: dict[str, Any]) -> list[str]:
    """One line per pin that a vacuum keeps no longer, or may not keep much longer."""
    t, oldest = signals["table"], signals.get("oldest_version")
    return [f"{t}: version {p['version']}, pinned by {p['source']}, is lost (older than "
            f"version {oldest}, the oldest the log can rebuild)" for p in signals["lost_pins"]
            ] + [f"{t}: pinned version {p['version']} is older than delta.logRetentionDuration;"
                 " its log may go at the next checkpoint: raise lake.log_retention"
                 for p in signals["expiring_pins"]]


def first_line(exc: BaseException) -> str:
    """An error's first line (Spark's run to a page of JVM stack), for a one-line report."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def optimize_signals(table: str, before: dict[str, Any], after: dict[str, Any]
                     ) -> dict[str, Any]:
    """Files, bytes, rows and version of one table before and after OPTIMIZE."""
    keys = ("version", "files", "bytes", "rows")
    return {"table": table, **{f"{k}_before": before[k] for k in keys},
            **{f"{k}_after": after[k] for k in keys}}


def optimize_reason(signals: dict[str, Any]) -> tuple[str, str]:
    """``rows_changed`` (a bug: compaction must keep every row), ``compacted`` (a new
    version with fewer or reordered files) or ``unchanged`` (nothing to do).

    >>> optimize_reason(optimize_signals("t", {"version": 3, "files": 9, "bytes": 90,
    ...     "rows": 5}, {"version": 4, "files": 1, "bytes": 40, "rows": 5}))[0]
    'compacted'
    """
    s, table = signals, signals["table"]
    if s["rows_after"] != s["rows_before"]:
        return "rows_changed", (f"{table}: {s['rows_before']} rows before OPTIMIZE, "
                                f"{s['rows_after']} after")
    if s["version_after"] == s["version_before"]:
        return "unchanged", f"{table}: {s['files_before']} files, nothing to compact"
    return "compacted", (f"{table}: {s['files_before']} files ({s['bytes_before']} bytes) -> "
                         f"{s['files_after']} ({s['bytes_after']} bytes) at version "
                         f"{s['version_after']}")
