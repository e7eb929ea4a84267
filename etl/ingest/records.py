"""Row shapes shared by the record readers: documents, quarantine rows and per-file counts.

A reader yields plain dicts with a ``kind``; this module builds them so every format reports
origins, reasons and counts the same way:

- ``doc`` and ``quarantine``: one row per record, at an origin ``<file>@<unit>:<n>``;
- ``skip`` and ``repair``: one count row per reason per file (:meth:`Tally.rows`);
- ``file``: the last row of every file, with the number of records read in it.

Every string a row carries encodes to UTF-8: Arrow refuses lone surrogates (a JSON
``"\\ud83d"`` escape, a cut emoji), so :func:`utf8_safe` rejoins surrogate pairs and turns
lone ones into U+FFFD. A document whose text, URL or key needed that is still kept, and
counted as a ``repair`` row with reason ``replaced_surrogates``.

Example::

    >>> row = doc_row("jsonl", "http://a.example/", None, "text/plain", "hi",
    ...               origin_of("a.jsonl", "line", 0), "http://a.example/")
    >>> row["kind"], row["origin"], file_of(row["origin"])
    ('doc', 'a.jsonl@line:0', 'a.jsonl')
    >>> utf8_safe("cut \\ud83d") == "cut \\ufffd"
    True
    >>> tally = Tally(read=3)
    >>> tally.skipped["blank_line"] += 1
    >>> [(r["kind"], r.get("reason"), r["count"]) for r in tally.rows("a.jsonl")]
    [('skip', 'blank_line', 1), ('file', None, 3)]
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import xxhash

FORMATS = ("warc", "jsonl", "parquet")
HTML_TYPES = {"text/html", "application/xhtml+xml"}
TEXT_TYPES = {"text/plain"}
GZIP_MAGIC = b"\x1f\x8b\x08"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
# A doc row built from text with surrogates carries this key until read_file counts it.
REPAIRED = "_repaired"
ORIGIN_SUFFIX_RE = re.compile(r"@(?:byte|line|row):\d+$")


@dataclass(frozen=True)
class ReaderOptions:
    text_field: str = "text"
    id_field: str = "id"
    url_field: str = "url"
    time_field: str = "fetched_at"
    max_record_bytes: int = 4_000_000
    payload_chars: int = 2000
    parquet_batch_rows: int = 2000


@dataclass
class Tally:
    """What a reader saw in one file: records read, and skips and repairs by reason.

    ``read`` is counted where a record is read, apart from the rows that say what became of
    it, so :func:`etl.ingest.account.account` can check that every record has one outcome.
    """

    read: int = 0
    skipped: Counter = field(default_factory=Counter)
    repaired: Counter = field(default_factory=Counter)

    def rows(self, path: str) -> Iterator[dict]:
        for reason, n in sorted(self.skipped.items()):
            yield {"kind": "skip", "origin": path, "reason": reason, "count": n}
        for reason, n in sorted(self.repaired.items()):
            yield {"kind": "repair", "origin": path, "reason": reason, "count": n}
        yield {"kind": "file", "origin": path, "count": self.read}


def doc_id(key: str | None, raw: str) -> str:
    """Stable id: 128-bit xxh3 of the source URL (or id) and the content."""
    return _doc_id((key or "").encode("utf-8", "surrogatepass"),
                   raw.encode("utf-8", "surrogatepass"))


def _doc_id(key: bytes, raw: bytes) -> str:
    # One call over the joined bytes: the same digest as hashing the parts in a stream.
    return xxhash.xxh3_128_hexdigest(key + b"\x00" + raw)


def utf8_safe(text: str) -> str:
    """``text`` itself when it encodes to UTF-8, else with lone surrogates as U+FFFD."""
    if text.isascii():  # O(1): the common case costs nothing
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # UTF-16 round trip: a split surrogate pair becomes its character again.
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def origin_of(path: str, unit: str, pos: int) -> str:
    return f"{path}@{unit}:{pos}"


def file_of(origin: str) -> str:
    """The file of an origin: ``origin_of``'s ``@unit:n`` suffix removed (paths may hold '@')."""
    return ORIGIN_SUFFIX_RE.sub("", origin)


def quarantine_row(origin: str, reason: str, payload: bytes | str, opts: ReaderOptions) -> dict:
    if isinstance(payload, bytes):
        payload = payload[: opts.payload_chars * 2].decode("utf-8", "replace")
    return {"kind": "quarantine", "origin": origin, "reason": utf8_safe(reason),
            "payload": utf8_safe(payload[: opts.payload_chars])}


def doc_row(source: str, key: str | None, fetched_at: Any, content_type: str, raw: str,
            origin: str, url: str | None, encoded: bytes | None = None) -> dict:
    """A document row; ``encoded``: ``raw``'s UTF-8 bytes when the caller has them (a body
    decoded strictly as UTF-8 is its own encoding), so the text is not encoded again."""
    repaired = False
    if encoded is None:
        try:  # one encode serves both the UTF-8 check and the id
            encoded = raw.encode("utf-8")
        except UnicodeEncodeError:
            raw, repaired = utf8_safe(raw), True
            encoded = raw.encode("utf-8")
    if key and not key.isascii():
        safe = utf8_safe(key)
        repaired, key = repaired or safe is not key, safe
    if url and not url.isascii():
        safe = utf8_safe(url)
        repaired, url = repaired or safe is not url, safe
    row = {"kind": "doc", "doc_id": _doc_id(key.encode("utf-8") if key else b"", encoded),
           "source": source, "url": url, "fetched_at": fetched_at,
           "content_type": content_type, "raw": raw, "origin": origin}
    if repaired:
        row[REPAIRED] = "replaced_surrogates"
    return row
