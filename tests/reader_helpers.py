"""Helpers for tests that feed hand-made files to the ingest readers (a plain module)."""

from __future__ import annotations

from etl.ingest.readers import ReaderOptions, detect_format, read_file

OPTS = ReaderOptions()


def read(tmp_path, name: str, data: bytes) -> list[dict]:
    """Write ``data`` as ``name`` under ``tmp_path`` and read every row back."""
    path = tmp_path / name
    path.write_bytes(data)
    return list(read_file(str(path), detect_format(name), OPTS))


def kinds(rows: list[dict], kind: str) -> list[dict]:
    return [r for r in rows if r["kind"] == kind]
