"""Row shapes shared by the record readers: documents, quarantine rows, skip counts.

A reader yields plain dicts with a ``kind`` of ``doc``, ``quarantine`` or ``skip``; this
module builds them so every format reports origins and reasons the same way.

Example::

    >>> row = doc_row("jsonl", "http://a.example/", None, "text/plain", "hi",
    ...               origin_of("a.jsonl", "line", 0), "http://a.example/")
    >>> row["kind"], row["origin"]
    ('doc', 'a.jsonl@line:0')
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import xxhash

FORMATS = ("warc", "jsonl", "parquet")
HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain"}
GZIP_MAGIC = b"\x1f\x8b\x08"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass(frozen=True)
class ReaderOptions:
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    time_field: str = "fetched_at"
    max_record_bytes: int = 4_000_000
    payload_chars: int = 2000
    parquet_batch_rows: int = 2000


def doc_id(key: str | None, raw: str) -> str:
    """Stable id: 128-bit xxh3 of the source URL (or id) and the content."""
    h = xxhash.xxh3_128()
    h.update((key or "").encode("utf-8", "surrogatepass"))
    h.update(b"\x00")
    h.update(raw.encode("utf-8", "surrogatepass"))
    return h.hexdigest()



def origin_of(path: str, unit: str, pos: int) -> str:
    return f"{path}@{unit}:{pos}"


def quarantine_row(origin: str, reason: str, payload: bytes | str, opts: ReaderOptions) -> dict:
    if isinstance(payload, bytes):
        payload = payload[: opts.payload_chars * 2].decode("utf-8", "replace")
    return {"kind": "quarantine", "origin": origin, "reason": reason,
            "payload": payload[: opts.payload_chars]}


def skip_rows(path: str, counts: Counter) -> Iterator[dict]:
    for reason, n in sorted(counts.items()):
        yield {"kind": "skip", "origin": path, "reason": reason, "count": n}



def doc_row(source: str, key: str | None, fetched_at: Any, content_type: str, raw: str,
         origin: str, url: str | None) -> dict:
    return {"kind": "doc", "doc_id": doc_id(key, raw), "source": source,
            "url": url, "fetched_at": fetched_at,
            "content_type": content_type, "raw": raw, "origin": origin}


