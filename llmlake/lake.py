"""Lake layout: where every table, report and lineage record lives.

Paths are written here once; stages ask for ``Lake(params.lake).table("bronze/documents")``
instead of joining strings. Reports are small JSON files under ``reports/`` that DVC tracks
as metrics; lineage files under ``reports/lineage/`` record the Delta version a stage wrote
(the stage shell, :mod:`llmlake.stage`, writes both).

Example::

    >>> from llmlake.config import LakeConfig
    >>> Lake(LakeConfig(root="lake")).table("bronze/documents")
    'lake/bronze/documents'
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from llmlake.config import LakeConfig

TABLES = (
    "bronze/documents",
    "quarantine/records",
    "silver/documents",
    "gold/documents",
    "gold/duplicates",
    "gold/minhash",
    "gold/sequences",
    "ops/requests",
    "ops/feedback",
)
# Every gold document, and every sequence made from it, belongs to one of these.
SPLITS = ("train", "val", "test")

# What open() would give a new file under the current umask (read it by setting a
# throwaway value and putting it straight back).
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


@dataclass(frozen=True)
class Lake:
    config: LakeConfig

    def table(self, name: str) -> str:
        if name not in TABLES:
            raise KeyError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}")
        root = self.config.root.rstrip("/")
        return f"{root}/{name}"

    def artifact(self, name: str) -> Path:
        return Path(self.config.artifacts) / name

    def report(self, name: str) -> Path:
        return Path(self.config.reports) / name

    def lineage(self, stage: str) -> Path:
        return Path(self.config.reports) / "lineage" / f"{stage}.json"


def retention_properties(lake: LakeConfig) -> dict[str, str]:
    """The table properties that keep the versions lineage names readable: the log entries
    (``logRetentionDuration``, cleaned at checkpoints) and, for vacuum, how long removed
    files stay listed (``deletedFileRetentionDuration``).

    >>> retention_properties(LakeConfig())["delta.logRetentionDuration"]
    'interval 365 days'
    """
    return {"delta.logRetentionDuration": lake.log_retention,
            "delta.deletedFileRetentionDuration": lake.deleted_file_retention}


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_atomic(path: Path, fill: Callable[[TextIO], Any]) -> Path:
    """Write a text file through a temporary one and a rename, so a killed stage never
    leaves half a report; ``fill`` writes the content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fill(fh)
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600; others should read reports too
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(path: Path, data: dict[str, Any]) -> Path:
    def fill(fh: TextIO) -> None:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")

    return write_atomic(path, fill)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Records as CSV: every column any record has, in the order they first appear (a
    column some rows lack, such as MFU before the first timing, stays empty there)."""
    import csv

    def fill(fh: TextIO) -> None:
        names = list(dict.fromkeys(key for row in rows for key in row))
        writer = csv.DictWriter(fh, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)

    return write_atomic(path, fill)


@contextmanager
def building_dir(dest: Path) -> Iterator[Path]:
    """A scratch folder beside ``dest`` to fill; on success it replaces ``dest`` (an old
    ``dest`` is moved aside first and removed last), so readers see the old folder or the
    complete new one, never a half-written one. On failure ``dest`` is untouched."""
    dest = Path(dest)
    tmp, old = dest.with_name(f".{dest.name}.tmp"), dest.with_name(f".{dest.name}.old")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
