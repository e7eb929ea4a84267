"""A model's data lineage: every table version upstream of a stage, and what each stage did.

Each stage records the tables it read and wrote in ``reports/lineage/<stage>.json``
(:mod:`llmlake.stage`). :func:`upstream` follows those records back from one stage, through
the stage that made each input table (the stage table knows which), and returns every
table with the version the chain used: for ``tokenize``, ``gold/sequences``, then
``gold/documents``, ``silver/documents`` and ``bronze/documents``. A record whose version
disagrees with what its reader used (the lake moved on since) is a :class:`LineageError`,
not a silent mismatch. :func:`data_summary` picks from the stages' metrics what a model
card tells about its data: source files, documents in and out of each stage with the drop
reasons, duplicates removed, tokens per split.

The train stage stores both in the model's ``lineage.json``, so evaluation, the model card
and retraining read a model's data from the model itself.

Example::

    >>> import json, tempfile
    >>> from pathlib import Path
    >>> from llmlake.config import LakeConfig
    >>> from llmlake.lake import Lake
    >>> lake = Lake(LakeConfig(reports=tempfile.mkdtemp()))
    >>> (Path(lake.config.reports) / "lineage").mkdir()
    >>> def record(stage, tables, inputs):
    ...     lake.lineage(stage).write_text(json.dumps({"tables": tables, "inputs": inputs}))
    >>> record("dedup", {"gold/documents": {"path": "lake/gold/documents", "version": 2}}, {})
    >>> record("tokenize", {"gold/sequences": {"path": "lake/gold/sequences", "version": 1}},
    ...        {"gold/documents": {"path": "lake/gold/documents", "version": 2}})
    >>> {name: t["version"] for name, t in upstream(lake, "tokenize").items()}
    {'gold/sequences': 1, 'gold/documents': 2}
"""

from __future__ import annotations

import json
from typing import Any

from llmlake.lake import Lake
from llmlake.stages import maker_of


class LineageError(RuntimeError):
    """The lineage records of the lake do not form one consistent chain."""


def upstream(lake: Lake, stage: str) -> dict[str, dict[str, Any]]:
    """Every table ``stage`` wrote or depends on, each ``{"path", "version", "stage"}``."""
    found: dict[str, dict[str, Any]] = {}
    pending = [stage]
    while pending:
        name = pending.pop(0)
        record = _read(lake, name)
        for table, info in record.get("tables", {}).items():
            _add(found, table, info, name)
        for table, info in record.get("inputs", {}).items():
            maker = maker_of(table)
            if maker is None or not lake.lineage(maker.name).exists():
                _add(found, table, info, None)
                continue
            made = _read(lake, maker.name).get("tables", {}).get(table, {})
            if made.get("version") != info.get("version"):
                raise LineageError(
                    f"{name} read {table} version {info.get('version')}, but "
                    f"{lake.lineage(maker.name)} records version {made.get('version')}: "
                    f"rerun `{maker.command}` and what follows it")
            if maker.name not in pending and table not in found:
                pending.append(maker.name)
    return found


def _read(lake: Lake, stage: str) -> dict[str, Any]:
    path = lake.lineage(stage)
    if not path.exists():
        raise LineageError(f"{path} does not exist")
    return json.loads(path.read_text())


def _add(found: dict[str, dict[str, Any]], table: str, info: dict[str, Any],
         stage: str | None) -> None:
    if table not in found:
        found[table] = {"path": info.get("path"), "version": info.get("version"),
                        "stage": stage}


# What a model card reports of each stage's metrics (reports/<stage>.json).
_SUMMARY_KEYS = {
    "ingest": ("files", "per_file", "records", "quarantined", "skipped"),
    "clean": ("documents", "dropped_by_reason", "kept_languages", "pii_redactions"),
    "dedup": ("removed_total", "gold_documents", "clusters_with_copies", "splits"),
    "tokenizer": ("vocab_size", "train_documents", "tokenizer_sha256"),
    "tokenize": ("splits", "seq_len"),
}


def data_summary(lake: Lake) -> dict[str, dict[str, Any]]:
    """The data story in numbers, by stage; a stage without metrics is left out."""
    out = {}
    for stage, keys in _SUMMARY_KEYS.items():
        path = lake.report(f"{stage}.json")
        if path.exists():
            metrics = json.loads(path.read_text())
            out[stage] = {k: metrics[k] for k in keys if k in metrics}
    return out
