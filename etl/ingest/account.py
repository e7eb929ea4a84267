"""The ingest's books: every record read from a file is a document, a skip or a quarantine.

The readers end each file with a ``file`` row counting the records they read in it
(:mod:`etl.ingest.readers`). :func:`file_counts` sums the staged rows per file, kind and
reason in one Spark aggregation; :func:`accounts` (pure) turns those sums into one account
per file, and :func:`totals` into the batch's counts by reason. A file whose account does
not balance (records read != documents + skipped + quarantined) means a record was lost
somewhere: :func:`unbalanced` names those files, and the stage refuses to write anything.

Example::

    >>> sums = [{"file": "a.jsonl", "kind": "file", "reason": None, "n": 1, "c": 4},
    ...         {"file": "a.jsonl", "kind": "doc", "reason": None, "n": 2, "c": None},
    ...         {"file": "a.jsonl", "kind": "skip", "reason": "empty_text", "n": 1, "c": 1},
    ...         {"file": "a.jsonl", "kind": "quarantine", "reason": "invalid_json: x",
    ...          "n": 1, "c": None}]
    >>> books = accounts(sums)
    >>> books["a.jsonl"]["read"], books["a.jsonl"]["quarantined"], unbalanced(books)
    (4, {'invalid_json': 1}, [])
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from etl.ingest.records import ORIGIN_SUFFIX_RE, file_of

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

# records.origin_of's "@unit:n" suffix; Java's regex syntax reads it the same way.
ORIGIN_SUFFIX = ORIGIN_SUFFIX_RE.pattern


def file_counts(staged: DataFrame) -> list[dict[str, Any]]:
    """Rows (``n``) and counted records (``c``) per file, kind and reason."""
    from pyspark.sql import functions as F

    rows = (staged.withColumn("file", F.regexp_replace("origin", ORIGIN_SUFFIX, ""))
            .groupBy("file", "kind", "reason")
            .agg(F.count("*").alias("n"), F.sum("count").alias("c")).collect())
    return [r.asDict() for r in rows]


def row_sums(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What :func:`file_counts` computes in Spark, from reader rows in this process."""
    sums: dict[tuple, dict[str, Any]] = {}
    for r in rows:
        key = (file_of(r["origin"]), r["kind"], r.get("reason"))
        s = sums.setdefault(key, {"file": key[0], "kind": key[1], "reason": key[2], "n": 0,
                                  "c": None})
        s["n"] += 1
        if r.get("count") is not None:
            s["c"] = (s["c"] or 0) + r["count"]
    return list(sums.values())


def account(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-file accounts straight from reader rows (tests, tools): ``accounts(row_sums(rows))``."""
    return accounts(row_sums(rows))


def accounts(sums: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """One account per file from :func:`file_counts`' sums."""
    books: dict[str, dict[str, Any]] = {}
    for s in sums:
        book = books.setdefault(s["file"], {"read": 0, "documents": 0, "skipped": Counter(),
                                            "quarantined": Counter(), "repaired": Counter()})
        kind, reason = s["kind"], s["reason"] or ""
        if kind == "file":
            book["read"] += int(s["c"] or 0)
        elif kind == "doc":
            book["documents"] += int(s["n"])
        elif kind == "skip":
            book["skipped"][reason] += int(s["c"] or 0)
        elif kind == "quarantine":
            book["quarantined"][reason.split(":", 1)[0]] += int(s["n"])
        elif kind == "repair":  # a document kept with a repair: counted, not a fate
            book["repaired"][reason] += int(s["c"] or 0)
    for book in books.values():
        for key in ("skipped", "quarantined", "repaired"):
            book[key] = dict(sorted(book[key].items()))
        out = book["documents"] + sum(book["skipped"].values()) + sum(book["quarantined"].values())
        book["balanced"] = book["read"] == out
    return books


def unbalanced(books: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return sorted(f for f, book in books.items() if not book["balanced"])


def totals(books: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The batch's counts: records read, documents, and skips, quarantines and repairs by
    reason, summed over the files."""
    out: dict[str, Any] = {"read": 0, "documents": 0, "skipped": Counter(),
                           "quarantined": Counter(), "repaired": Counter()}
    for book in books.values():
        out["read"] += book["read"]
        out["documents"] += book["documents"]
        for key in ("skipped", "quarantined", "repaired"):
            out[key].update(book[key])
    return {k: dict(sorted(v.items())) if isinstance(v, Counter) else v for k, v in out.items()}


def shown(uri: str) -> str:
    """A file as the report shows it: relative to the working folder when it is local and
    under it (reports are committed: they must not carry one machine's paths).

    >>> shown("s3a://bucket/crawl/a.warc.gz")
    's3a://bucket/crawl/a.warc.gz'
    """
    path = uri[len("file:"):] if uri.startswith("file:") else uri
    if path.startswith("//"):
        path = path[2:]
    if "://" in path or not os.path.isabs(path):
        return uri if "://" in path else path
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def per_file(books: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """The per-file account for the report: totals per fate, by shown file name."""
    return {shown(f): {"read": b["read"], "documents": b["documents"],
                       "skipped": sum(b["skipped"].values()),
                       "quarantined": sum(b["quarantined"].values())}
            for f, b in sorted(books.items())}
