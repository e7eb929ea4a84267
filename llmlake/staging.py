"""Staging folders: who owns each, and removing those whose owner is gone.

A run stages under ``<lake>/_staging/<stage>/<batch>/`` and, beside that folder, leaves an
owner marker ``<batch>.<pid>@<host>.owner`` (an empty file: its name says everything, so one
listing tells a sweep who owns what, on a local disk and on an object store alike). The
marker is a sibling, not inside the folder, because stages write Spark output with
``mode("overwrite")`` straight into the batch folder, which would delete it.

A run's own staging goes when it commits (:meth:`llmlake.stage.Shell.drop_staging`) or ends.
A run that never got there (SIGKILL, a lost machine, the OOM killer) leaves its folder; the
next run of the same stage removes every entry whose owner is gone: its marker names this
host and a process that is no longer running (or a newer process reusing its pid), or the
entry is older than :data:`STALE_AFTER_S` (an owner on another host cannot be asked; no run
stages that long). A live run's folder, in this process or another, is never touched.

Example::

    >>> owner = marker_name("clean-20261129T101500123456Z-3fa1", 4242, "node-1.example")
    >>> owner
    'clean-20261129T101500123456Z-3fa1.4242@node-1.example.owner'
    >>> parse_marker(owner)
    ('clean-20261129T101500123456Z-3fa1', 4242, 'node-1.example')
    >>> started_at("clean-20261129T101500123456Z-3fa1")
    1795947300.123456
    >>> entry = Entry("clean-20261129T101500123456Z-3fa1", mtime=0.0, marker=None)
    >>> owner_gone(entry, now=1795947300.0 + STALE_AFTER_S + 1, host="host1")
    True
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

MARKER_SUFFIX = ".owner"
# An owner on another host cannot be asked whether it still runs: its staging is removed
# once this old. Two days: far longer than any stage runs.
STALE_AFTER_S = 2 * 24 * 3600


def marker_name(batch: str, pid: int, host: str) -> str:
    return f"{batch}.{pid}@{host}{MARKER_SUFFIX}"


def parse_marker(name: str) -> tuple[str, int, str] | None:
    """``(batch, pid, host)`` of an owner marker's file name; None if it is not one."""
    if not name.endswith(MARKER_SUFFIX):
        return None
    head, _, host = name[:-len(MARKER_SUFFIX)].partition("@")
    batch, _, pid = head.rpartition(".")
    return (batch, int(pid), host) if batch and pid.isdigit() and host else None


def started_at(batch: str) -> float | None:
    """When a batch started, from the stamp in its id (``<stage>-<UTC stamp>-<hex>``)."""
    parts = batch.split("-")
    if len(parts) < 3:
        return None
    try:
        return datetime.strptime(parts[-2], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Entry:
    """A batch under ``_staging/<stage>``: its folder and/or marker, as a listing sees it."""

    batch: str
    mtime: float
    marker: tuple[int, str] | None  # (pid, host) of its owner, if it left a marker


def owner_gone(entry: Entry, now: float, host: str) -> bool:
    """Whether a batch's owner can no longer be running (see the module docstring)."""
    started = started_at(entry.batch) or entry.mtime
    if now - started > STALE_AFTER_S:
        return True
    if entry.marker is None or entry.marker[1] != host:
        return False  # a run that is starting (marker not yet listed) or on another host
    return not process_alive(entry.marker[0], started)


def process_alive(pid: int, started: float) -> bool:
    """Whether ``pid`` runs and is the process that started at ``started`` (not a later one
    that reuses its pid)."""
    import psutil

    try:
        # The batch stamp is taken after the process starts; a second of slack for clocks.
        return psutil.Process(pid).create_time() <= started + 1
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:  # exists, but not ours to inspect: assume it is alive
        return True


def host_name() -> str:
    """This machine's name plus its PID namespace: two containers may share a host name
    (host networking) without sharing process ids, and must not judge each other's pids."""
    try:
        namespace = f"~{os.stat('/proc/self/ns/pid').st_ino}"
    except OSError:  # no /proc (not Linux): the host name alone
        namespace = ""
    return socket.gethostname().replace("@", "_") + namespace


class StagingFs:
    """The few file operations staging needs, on a local folder or any Hadoop file system
    (``s3a://``, ``hdfs://``, ``file:``) through Spark's JVM."""

    def __init__(self, spark: SparkSession | None, local: bool) -> None:
        self.spark, self.local = spark, local

    def _hadoop(self, path: str):
        from llmlake.spark import hadoop_fs

        fs, jpath = hadoop_fs(self.spark, path)
        return jpath, fs

    def touch(self, path: str) -> None:
        if self.local:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).touch()
        else:
            jpath, fs = self._hadoop(path)
            fs.create(jpath, True).close()

    def listing(self, folder: str) -> list[tuple[str, float]]:
        """``(name, mtime)`` of the entries of ``folder``; empty if it does not exist."""
        if self.local:
            with contextlib.suppress(FileNotFoundError):
                return [(e.name, e.stat().st_mtime) for e in os.scandir(folder)]
            return []
        jpath, fs = self._hadoop(folder)
        if not fs.exists(jpath):
            return []
        return [(s.getPath().getName(), s.getModificationTime() / 1000)
                for s in fs.listStatus(jpath)]

    def delete(self, path: str) -> None:
        if self.local:
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
        else:
            jpath, fs = self._hadoop(path)
            fs.delete(jpath, True)

    def remove_if_empty(self, folder: str) -> None:
        if self.local:
            with contextlib.suppress(OSError):  # not empty: another run stages there now
                os.rmdir(folder)
        elif not self.listing(folder):
            jpath, fs = self._hadoop(folder)
            fs.delete(jpath, False)


def entries(listing: list[tuple[str, float]]) -> dict[str, tuple[Entry, list[str]]]:
    """Batches of a stage's staging folder, each with the names (folder, marker) it has."""
    found: dict[str, tuple[float, tuple[int, str] | None, list[str]]] = {}
    for name, mtime in listing:
        parsed = parse_marker(name)
        batch = parsed[0] if parsed else name
        old_mtime, marker, names = found.get(batch, (mtime, None, []))
        found[batch] = (max(old_mtime, mtime), parsed[1:] if parsed else marker,
                        [*names, name])
    return {b: (Entry(b, m, owner), names) for b, (m, owner, names) in found.items()}


def sweep(fs: StagingFs, stage_folder: str, now: float, host: str, keep: str = ""
          ) -> list[str]:
    """Remove the batches under ``stage_folder`` whose owner is gone (never ``keep``);
    returns the batches removed."""
    removed = []
    for batch, (entry, names) in sorted(entries(fs.listing(stage_folder)).items()):
        if batch != keep and owner_gone(entry, now, host):
            for name in names:
                fs.delete(f"{stage_folder}/{name}")
            removed.append(batch)
    return removed
