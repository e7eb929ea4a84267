"""WARC and WET reading with FastWARC: HTTP 200 text responses and WET conversions.

Decoding trusts a declared charset only when the bytes decode cleanly with it, then tries
the ``<meta>`` charset, UTF-8 and finally detection. A damaged record is quarantined and
parsing resumes at the next gzip member (or ``WARC/1.`` line in an uncompressed file).

Example::

    >>> from etl.ingest.records import ReaderOptions
    >>> with open("crawl.warc.gz", "rb") as fh:                      # doctest: +SKIP
    ...     rows = list(read_warc("crawl.warc.gz", fh, ReaderOptions()))
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from typing import Any, BinaryIO

from etl.ingest.records import (
    GZIP_MAGIC,
    HTML_TYPES,
    TEXT_TYPES,
    ReaderOptions,
    doc_row,
    origin_of,
    quarantine_row,
    skip_rows,
)

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


def _valid_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def decode_body(body: bytes, declared: str | None) -> str:
    """Decode with the HTTP charset, then the meta charset, then detection.

    A declared charset is only trusted if the bytes decode cleanly with it, because pages
    that announce UTF-8 while being cp1252 are common.
    """
    meta = _META_CHARSET.search(body[:4096])
    candidates = [_valid_codec(declared), _valid_codec(meta.group(1).decode("ascii", "ignore"))
                  if meta else None]
    for enc in candidates:
        if enc:
            try:
                return body.decode(enc)
            except UnicodeDecodeError:
                continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        from resiliparse.parse.encoding import bytes_to_str, detect_encoding

        return bytes_to_str(body, detect_encoding(body))


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def read_warc(path: str, fh: BinaryIO, opts: ReaderOptions) -> Iterator[dict]:
    """WARC ``response`` and WET ``conversion`` records; resumes after a damaged record."""
    skipped: Counter = Counter()
    start = 0
    while start is not None:
        start = yield from _warc_from(path, fh, start, opts, skipped)
    yield from skip_rows(path, skipped)


def _warc_from(path: str, fh: BinaryIO, start: int, opts: ReaderOptions, skipped: Counter
               ) -> Iterator[dict]:
    """Parse from byte ``start``; return the offset to resume at after an error, or None.

    FastWARC raises when it reaches a damaged record, so the damaged record is either the
    one being processed (``busy``), a record whose HTTP block did not parse (``suspect``),
    the record at ``start`` (nothing parsed yet), or the one after the last good record.
    In the last case parsing resumes there without a quarantine row: the next attempt
    starts at the damaged record and quarantines it itself.
    """
    from fastwarc.warc import ArchiveIterator

    fh.seek(start)
    suspect: int | None = None
    pos, busy, seen = start, False, False
    try:
        for record in ArchiveIterator(fh, parse_http=False):
            pos = record.stream_pos if record.stream_pos >= start else start + record.stream_pos
            busy, seen = True, True
            if suspect is not None:
                yield _unparseable(path, suspect, opts)
                suspect = None
            row, reason = _warc_record(path, pos, record, opts)
            if reason == "suspect":
                suspect = pos
            elif row is not None:
                yield row
            elif reason:
                skipped[reason] += 1
            busy = False
    except (OSError, ValueError, EOFError) as exc:
        if suspect is None and seen and not busy:
            return _next_record_start(fh, pos + 1)
        bad = suspect if suspect is not None else pos
        yield quarantine_row(origin_of(path, "byte", bad), f"invalid_warc_record: {exc}",
                             _peek(fh, bad), opts)
        return _next_record_start(fh, bad + 1)
    if suspect is not None:
        yield _unparseable(path, suspect, opts)
    return None


def _unparseable(path: str, pos: int, opts: ReaderOptions) -> dict:
    return quarantine_row(origin_of(path, "byte", pos), "unparseable_http_response", b"", opts)


def _warc_record(path: str, pos: int, record: Any, opts: ReaderOptions
                 ) -> tuple[dict | None, str | None]:
    """One WARC record to (row, None), (None, skip reason) or (None, 'suspect')."""
    rtype = record.headers.get("WARC-Type", "")
    if rtype not in ("response", "conversion"):
        return None, f"warc_type:{rtype or 'missing'}"
    declared_len = record.content_length
    if declared_len > opts.max_record_bytes:
        return quarantine_row(origin_of(path, "byte", pos), "record_too_large",
                           f"{declared_len} bytes", opts), None
    url = record.headers.get("WARC-Target-URI")
    fetched_at = record.record_date
    if rtype == "conversion":
        body = record.reader.read()
        if len(body) < declared_len:
            return quarantine_row(origin_of(path, "byte", pos), "truncated_record", body, opts), None
        if not body.strip():
            return None, "empty_body"
        text = decode_body(body, "utf-8")
        return doc_row("wet", url, fetched_at, "text/plain", text, origin_of(path, "byte", pos),
                    url), None
    return _http_response(path, pos, record, url, fetched_at, opts)


def _http_response(path: str, pos: int, record: Any, url: str | None, fetched_at: Any,
                   opts: ReaderOptions) -> tuple[dict | None, str | None]:
    try:
        record.parse_http()
    except (OSError, ValueError):
        return None, "suspect"
    status = record.http_headers.status_code
    if status is None:
        return None, "suspect"
    if status != 200:
        return None, f"http_status:{status}"
    mime = _mime(record.http_content_type)
    if mime not in HTML_TYPES and mime not in TEXT_TYPES:
        return None, f"content_type:{mime or 'missing'}"
    expected = record.content_length
    body = record.reader.read()
    if len(body) < expected:
        return quarantine_row(origin_of(path, "byte", pos), "truncated_record", body, opts), None
    if not body.strip():
        return None, "empty_body"
    text = decode_body(body, record.http_charset)
    kind = "text/html" if mime in HTML_TYPES else "text/plain"
    return doc_row("warc", url, fetched_at, kind, text, origin_of(path, "byte", pos), url), None


def _peek(fh: BinaryIO, pos: int, n: int = 512) -> bytes:
    """The first bytes of the record at ``pos``, decompressed when it is a gzip member."""
    try:
        fh.seek(pos)
        head = fh.read(64 * 1024)
    except OSError:
        return b""
    if head.startswith(GZIP_MAGIC):
        try:
            return zlib.decompressobj(wbits=31).decompress(head, n)
        except zlib.error:
            return b""
    return head[:n]


def _next_record_start(fh: BinaryIO, pos: int, chunk: int = 1 << 20) -> int | None:
    """Offset of the next gzip member (or ``WARC/1.`` line in a plain file) at or after pos."""
    fh.seek(0)
    compressed = fh.read(3) == GZIP_MAGIC
    marker = GZIP_MAGIC if compressed else b"WARC/1."
    while True:
        fh.seek(pos)
        block = fh.read(chunk + len(marker))
        if len(block) < len(marker):
            return None
        at = block.find(marker)
        if at >= 0:
            return pos + at
        pos += chunk


