"""WARC and WET reading with FastWARC: HTTP 200 text responses and WET conversions.

Every record read is counted once (``tally.read``) and ends as a document, a skip count or
a quarantine row at its ``@byte:N`` origin. A damaged record never ends the file: the
record is quarantined with a reason naming the damage (:func:`etl.ingest.resync.diagnose`)
and reading resumes at the next record. Because FastWARC only notices a wrong
``Content-Length`` when the header *after* the record fails, each record's outcome is held
back until the next header has parsed, and checked against the raw bytes if it does not.

HTTP headers may end lines in a bare LF (old crawls such as ClueWeb09 do; HTTP/1.1 lets a
recipient accept it), an unparseable ``WARC-Date`` gives a null ``fetched_at``, and a file
whose WARC headers use bare LF is read in FastWARC's lenient mode.

Decoding trusts a declared charset only when the bytes decode cleanly with it, then tries
the ``<meta>`` charset, UTF-8 and finally detection; a "charset" that is no web encoding
(``base64``, ``utf-7``, ``unicode_escape``) is ignored.

Example::

    >>> import io
    >>> from etl.ingest.records import ReaderOptions, Tally
    >>> block = b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nhello"
    >>> rec = (b"WARC/1.0\\r\\nWARC-Type: response\\r\\nWARC-Target-URI: http://a.example/\\r\\n"
    ...        b"Content-Type: application/http; msgtype=response\\r\\n"
    ...        b"Content-Length: %d\\r\\n\\r\\n" % len(block) + block + b"\\r\\n\\r\\n")
    >>> bad = rec.replace(b"application/http; msgtype=response", b"text/html")
    >>> tally = Tally()
    >>> rows = list(read_warc("a.warc", io.BytesIO(rec + bad + rec), ReaderOptions(), tally))
    >>> [(r["kind"], r["origin"]) for r in rows]
    [('doc', 'a.warc@byte:0'), ('quarantine', 'a.warc@byte:193'), ('doc', 'a.warc@byte:361')]
    >>> rows[1]["reason"], tally.read
    ("not_http_response: WARC Content-Type 'text/html'", 3)
"""

from __future__ import annotations

import codecs
import functools
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from fastwarc.warc import ArchiveIterator, WarcRecordType

from etl.ingest.records import (
    HTML_TYPES,
    TEXT_TYPES,
    ReaderOptions,
    Tally,
    doc_row,
    origin_of,
    quarantine_row,
)
from etl.ingest.resync import (
    Layout,
    diagnose,
    junk_after,
    next_record_start,
    peek,
    record_end,
)

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Python text codecs that are no web page encoding: escapes that yield lone surrogates
# (utf-7, unicode_escape) or read any bytes as something else entirely.
_NOT_WEB_CODECS = {"utf-7", "unicode-escape", "raw-unicode-escape", "punycode", "idna",
                   "undefined"}
_RESPONSE, _CONVERSION = WarcRecordType.response, WarcRecordType.conversion


class BrokenRecord(Exception):
    """A record whose bytes cannot be trusted; the quarantine reason comes from the bytes."""


class TooLarge(BrokenRecord):
    """A record over ``max_record_bytes``; quarantined as such if its length is true."""


@functools.lru_cache(maxsize=512)  # the same few charset names on every record
def _valid_codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        info = codecs.lookup(name.strip().strip("\"'"))
    except LookupError:
        return None
    # bytes-to-bytes codecs (base64, zlib, rot13) are no text encoding at all
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_WEB_CODECS:
        return None
    return info.name


def decode_body(body: bytes, declared: str | None) -> str:
    """Decode with the HTTP charset, then the meta charset, then detection.

    A declared charset is only trusted if the bytes decode cleanly with it, because pages
    that announce UTF-8 while being cp1252 are common.
    """
    return _decode(body, declared)[0]


def _decode(body: bytes, declared: str | None) -> tuple[str, bool]:
    """:func:`decode_body`, and whether the text's UTF-8 encoding is ``body`` itself. The
    ``<meta>`` tag is only looked for when the HTTP charset is missing or wrong."""
    enc = _valid_codec(declared)
    if enc:
        try:
            return body.decode(enc), enc == "utf-8"
        except UnicodeError:
            pass
    meta = _META_CHARSET.search(body, 0, 4096)
    named = _valid_codec(meta.group(1).decode("ascii", "ignore")) if meta else None
    if named and named != enc:  # the same codec would fail the same way
        try:
            return body.decode(named), named == "utf-8"
        except UnicodeError:
            pass
    try:
        return body.decode("utf-8"), True
    except UnicodeDecodeError:
        from resiliparse.parse.encoding import bytes_to_str, detect_encoding

        return bytes_to_str(body, detect_encoding(body)), False


def _mime(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def read_warc(path: str, fh: BinaryIO, opts: ReaderOptions, tally: Tally) -> Iterator[dict]:
    """WARC ``response`` and WET ``conversion`` records; resumes after a damaged record."""
    layout = Layout.of(fh, path)
    start: int | None = 0
    while start is not None:
        start = yield from _warc_from(path, fh, start, layout, opts, tally)


def _warc_from(path: str, fh: BinaryIO, start: int, layout: Layout, opts: ReaderOptions,
               tally: Tally) -> Iterator[dict]:
    """Parse from byte ``start``; return the offset to resume at after damage, or None.

    ``held`` is the last record's outcome, released once the next header parses (or the
    file ends where that record's length says). ``busy`` is the record being processed.
    """
    fh.seek(start)
    held: tuple[int, dict | str] | None = None
    busy: int | None = None
    try:
        for record in ArchiveIterator(fh, parse_http=False, quirks_mode=layout.lf):
            pos = record.stream_pos if record.stream_pos >= start else start + record.stream_pos
            if held is not None:  # _release inlined: this loop runs once per record
                if isinstance(held[1], str):
                    tally.skipped[held[1]] += 1
                else:
                    yield held[1]
            tally.read += 1
            busy = pos
            held = (pos, _warc_record(path, pos, record, opts, layout.split))
            busy = None
    except (OSError, ValueError, EOFError, BrokenRecord) as exc:
        return (yield from _damaged(path, fh, layout, (start, held, busy), exc, opts, tally))
    # FastWARC stops without a word when a Content-Length runs past the end of the file,
    # and ignores a stump of a record at the end.
    end = start if held is None else record_end(fh, held[0], layout) if layout.split else None
    if layout.split and (end is None or junk_after(fh, end, layout)):
        return (yield from _damaged(path, fh, layout, (start, held, None),
                                    BrokenRecord("the end of the file"), opts, tally))
    if held is not None:
        yield from _release(held, tally)
    return None


def _release(held: tuple[int, dict | str], tally: Tally) -> Iterator[dict]:
    outcome = held[1]
    if isinstance(outcome, str):
        tally.skipped[outcome] += 1
    else:
        yield outcome


def _damaged(path: str, fh: BinaryIO, layout: Layout,
             where: tuple[int, tuple[int, dict | str] | None, int | None],
             exc: BaseException, opts: ReaderOptions, tally: Tally) -> Iterator[dict]:
    """Quarantine the damaged record and return where to resume (None: the file is done).

    The damaged record is the one being processed (``busy``), else the held one if its
    length does not end it cleanly, else whatever follows the held one (or sits at
    ``start``); only that last one is a record not yet counted as read.
    """
    start, held, busy = where
    if busy is not None:
        bad = busy
    elif held is None:
        bad = start
        tally.read += 1
    else:
        end = record_end(fh, held[0], layout) if layout.split else None
        if end is None and layout.split:
            bad = held[0]
        else:
            yield from _release(held, tally)
            bad = end if end is not None else held[0]
            if bad >= layout.size:
                return None
            tally.read += 1
    end = record_end(fh, bad, layout) if isinstance(exc, TooLarge) and layout.split else None
    reason = "record_too_large" if end is not None else diagnose(fh, bad, layout, exc)
    yield quarantine_row(origin_of(path, "byte", bad), reason, peek(fh, bad, layout), opts)
    if end is not None:
        return end
    # Without record boundaries (one gzip stream, zstd) nothing after the damage is found.
    return next_record_start(fh, bad + 1, layout) if layout.split else None


def _warc_record(path: str, pos: int, record: Any, opts: ReaderOptions, split: bool
                 ) -> dict | str:
    """One WARC record to a doc or quarantine row, or a skip reason; raises BrokenRecord.

    ``split``: records can be located in the bytes, so a length can be checked there."""
    rtype = record.record_type  # an enum: cheaper than a header lookup on every record
    if record.content_length == 0 and record.headers.get("Content-Length") is None:
        # FastWARC reads such a header anyway (a bare-LF header block taken for one line),
        # but then where the record ends is unknown.
        raise BrokenRecord("no Content-Length")
    if rtype != _RESPONSE and rtype != _CONVERSION:
        return _skip_type(record, rtype)
    url = record.headers.get("WARC-Target-URI")
    origin = origin_of(path, "byte", pos)
    if record.content_length > opts.max_record_bytes:
        if split:  # is it that large, or is its Content-Length a lie?
            raise TooLarge(f"{record.content_length} bytes")
        return quarantine_row(origin, "record_too_large", f"{record.content_length} bytes", opts)
    if rtype == _CONVERSION:
        body = _read_block(record)
        if not body or body.isspace():  # isspace: no stripped copy of the body
            return "empty_body"
        text, same = _decode(body, "utf-8")
        return doc_row("wet", url, _record_date(record), "text/plain", text, origin, url,
                       body if same else None)
    return _http_response(origin, record, url, opts)


def _skip_type(record: Any, rtype: Any) -> str:
    if rtype == WarcRecordType.unknown or rtype == WarcRecordType.no_type:
        name = record.headers.get("WARC-Type")
        if not name:
            raise BrokenRecord("no WARC-Type")
        return f"warc_type:{name}"
    return f"warc_type:{rtype!s}"


def _http_response(origin: str, record: Any, url: str | None, opts: ReaderOptions
                   ) -> dict | str:
    if not record.is_http:
        warc_type = record.headers.get("Content-Type")
        if url and not url.lower().startswith(("http:", "https:")):
            return f"non_http_response:{url.split(':', 1)[0].lower()[:20]}"  # dns:, ftp:
        if _mime(warc_type) != "application/http":
            return quarantine_row(origin, f"not_http_response: WARC Content-Type "
                                  f"{warc_type or ''!r}", record.reader.read(512), opts)
        record.is_http = True  # FastWARC compares the media type case-sensitively
    try:
        record.parse_http(quirks_mode=True)  # accepts header lines ending in a bare LF
    except (OSError, ValueError):
        return quarantine_row(origin, "unparseable_http_response", b"", opts)
    status = record.http_headers.status_code
    if status is None:
        return quarantine_row(origin, "unparseable_http_response", b"", opts)
    if status != 200:
        return f"http_status:{status}"
    mime = _mime(record.http_content_type)
    if mime not in HTML_TYPES and mime not in TEXT_TYPES:
        return f"content_type:{mime or 'missing'}"
    body = _read_block(record)
    if not body or body.isspace():
        return "empty_body"
    text, same = _decode(body, record.http_charset)
    kind = "text/html" if mime in HTML_TYPES else "text/plain"
    return doc_row("warc", url, _record_date(record), kind, text, origin, url,
                   body if same else None)


def _read_block(record: Any) -> bytes:
    expected = record.content_length
    body = record.reader.read()
    if len(body) < expected:
        raise BrokenRecord("the block is shorter than its Content-Length")
    return body


def _record_date(record: Any) -> Any:
    """WARC-Date; None when FastWARC cannot turn it into a datetime (year 0, say)."""
    try:
        return record.record_date
    except (ValueError, OverflowError):
        return None
