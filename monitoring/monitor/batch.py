"""The current batch: the documents a drift check compares with the champion's data.

Two kinds of batch:

* **a folder of raw files** (WARC/WET, JSONL, Parquet: whatever ``llmlake etl ingest``
  reads), parsed by the ingest readers and cleaned by the clean stage's pure core with the
  same ``ingest`` and ``clean`` params, in memory: nothing is written to the lake. The kept
  documents are what gold would receive; the dropped ones are counted by reason (the
  batch's *yield*, compared with the lake's), unreadable records by their quarantine
  reason;
* **the prompts of ``ops/requests``** that were answered (status 200) between ``since``
  (inclusive) and ``until`` (exclusive), read with delta-rs.

An empty or unreadable batch is a :class:`BatchError` with the reason, never an empty
verdict. Large batches keep a seeded sample of ``max_docs`` documents (the counts still
cover the whole batch).

Example::

    >>> batch = Batch(kind="files", source="data/raw/new", texts=["a", "b", "c"],
    ...               ids=["1", "2", "3"], read=5, dropped={"lang_not_allowed": 2})
    >>> batch.sampled(2, seed=0).texts
    ['b', 'c']
    >>> batch.yield_shares()
    {'kept': 0.6, 'lang_not_allowed': 0.4}
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmlake.config import Params

TRUTH = "truth.jsonl"
HIDDEN = ("_", ".")
GENERATION_ENDPOINTS = ("generate", "generate_stream", "completions")


class BatchError(ValueError):
    """The current batch cannot be judged: empty, unreadable, or too small."""


@dataclass(frozen=True)
class Batch:
    kind: str                   # files | requests
    source: str                 # the folder, or ops/requests with its window
    texts: list[str]
    ids: list[str]
    read: int = 0               # documents read before cleaning (files)
    dropped: dict[str, int] = field(default_factory=dict)      # clean drop reasons
    quarantined: dict[str, int] = field(default_factory=dict)  # unreadable records
    files: list[str] = field(default_factory=list)
    table_version: int | None = None                           # ops/requests version read
    window: dict[str, str] = field(default_factory=dict)       # requests: since, until
    times: list[str] = field(default_factory=list)             # requests: each one's ts

    def sampled(self, limit: int, seed: int) -> Batch:
        """At most ``limit`` documents, a seeded sample in the batch's own order."""
        if len(self.texts) <= limit:
            return self
        import numpy as np

        keep = sorted(np.random.default_rng(seed).choice(len(self.texts), limit, replace=False))
        return replace(self, texts=[self.texts[i] for i in keep], ids=[self.ids[i] for i in keep],
                       times=[self.times[i] for i in keep] if self.times else [])

    def outcomes(self) -> dict[str, int]:
        """Documents read that cleaning kept, and dropped per reason."""
        kept = {"kept": self.read - sum(self.dropped.values())}
        return kept | dict(sorted(self.dropped.items()))

    def yield_shares(self) -> dict[str, float]:
        """:meth:`outcomes` as shares of the documents read."""
        return {k: n / self.read for k, n in self.outcomes().items()} if self.read else {}

    def summary(self) -> dict[str, Any]:
        return {"kind": self.kind, "source": self.source, "documents": len(self.texts),
                "read": self.read, "dropped": dict(sorted(self.dropped.items())),
                "quarantined": dict(sorted(self.quarantined.items())), "files": len(self.files),
                "table_version": self.table_version, "window": self.window}


def raw_files(folder: str | Path) -> list[tuple[Path, str]]:
    """The files under ``folder`` that the ingest readers recognise, with their format,
    sorted. The sample generator's ``truth.jsonl`` (its answer key) is not a crawl file."""
    from etl.ingest.readers import detect_format

    root = Path(folder)
    if not root.exists():
        raise BatchError(f"current batch {root}: no such folder")
    found = []
    for path in sorted(p for p in (root.rglob("*") if root.is_dir() else [root]) if p.is_file()):
        if path.name == TRUTH or path.name.startswith(HIDDEN):
            continue  # ingest's listing skips hidden and "_" files too
        with open(path, "rb") as fh:
            fmt = detect_format(str(path), fh.read(64))
        if fmt:
            found.append((path, fmt))
    if not found:
        raise BatchError(f"current batch {root}: no WARC, WET, JSONL or Parquet file in it")
    return found


def read_folder(folder: str | Path, params: Params) -> Batch:
    """Parse and clean every raw file under ``folder``, as ingest and clean would."""
    from etl.clean.stage import clean_rows, config_hash
    from etl.ingest.readers import read_file
    from etl.ingest.stage import reader_options

    opts, cfg = reader_options(params.ingest), params.clean
    chash = config_hash(cfg)
    files = raw_files(folder)
    texts, ids, read = [], [], 0
    dropped: Counter[str] = Counter()
    quarantined: Counter[str] = Counter()
    seen: set[str] = set()
    for path, fmt in files:
        docs = []
        for row in read_file(str(path), fmt, opts):
            if row["kind"] == "quarantine":
                quarantined[row["reason"].split(":")[0]] += 1
            elif row["kind"] == "doc" and row["doc_id"] not in seen:
                seen.add(row["doc_id"])  # a record read twice counts once, as MERGE does
                docs.append(row)
        read += len(docs)
        for out in clean_rows(docs, cfg, chash):
            reason = out.get("drop_reason") or ("clean_error" if out["kind"] == "error" else None)
            if reason:
                dropped[reason] += 1
            else:
                texts.append(out["text"])
                ids.append(out["doc_id"])
    if not texts:
        raise BatchError(f"current batch {folder}: none of its {read} documents survived "
                         f"cleaning (dropped: {dict(dropped) or 'none'}; unreadable: "
                         f"{dict(quarantined) or 'none'})")
    return Batch("files", str(folder), texts, ids, read, dict(dropped), dict(quarantined),
                 [str(p) for p, _ in files])


def parse_time(value: str, key: str) -> datetime | None:
    """An ISO date or date-time (UTC when no zone is given); "" is no bound."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BatchError(f"monitor.{key}: not an ISO date or time: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_requests(table: str, since: str, until: str, version: int | None = None) -> Batch:
    """The prompts of answered generation requests in ``[since, until)``, at a table
    version (the latest by default); ``until`` "" is now, and the batch's window says when
    that was, so a retrain reads back exactly the batch that was judged."""
    import pyarrow.dataset as pads
    from deltalake.exceptions import TableNotFoundError

    from llmlake.storage import open_table

    start = parse_time(since, "since")
    end = parse_time(until, "until") or datetime.now(UTC)
    until = until or end.isoformat()
    window = f"{table} [{since or '-inf'}, {until})"
    try:
        dt = open_table(table, version=version)
    except TableNotFoundError as exc:
        raise BatchError(f"current batch {window}: no request log table yet "
                         "(serve the model and log requests first)") from exc
    cond = (pads.field("status") == 200) & pads.field("endpoint").isin(list(GENERATION_ENDPOINTS))
    if start:
        cond &= pads.field("ts") >= start
    cond &= pads.field("ts") < end
    rows = dt.to_pyarrow_dataset().to_table(columns=["request_id", "ts", "prompt"],
                                            filter=cond).to_pylist()
    rows = sorted((r for r in rows if r["prompt"]), key=lambda r: (r["ts"], r["request_id"]))
    if not rows:
        raise BatchError(f"current batch {window}: no logged prompts in the window "
                         "(is serve.log_text false?)")
    return Batch("requests", window, [r["prompt"] for r in rows],
                 [r["request_id"] for r in rows], read=len(rows), table_version=dt.version(),
                 window={"since": since, "until": until},
                 times=[r["ts"].isoformat() for r in rows])
