"""Record readers for the ingest: one raw file in, bronze rows and an account of it out.

This module is the pure, Spark-free core of the ingest. ``read_file(path, fmt, opts)``
streams one file (WARC, WET, JSONL, Parquet; plain or compressed) and yields plain dicts
with a ``kind``:

- ``doc``: a bronze document (``doc_id``, ``source``, ``url``, ``fetched_at``,
  ``content_type``, ``raw``, ``origin``);
- ``quarantine``: a record that could not be read, with ``origin``, ``reason``, ``payload``;
- ``skip``: a count of well-formed records skipped for a ``reason`` (one row per reason
  per file, e.g. HTTP 404 responses, image payloads, blank lines, or ``empty_file`` for a
  file that holds no record at all), so nothing vanishes uncounted;
- ``repair``: a count of documents kept after a repair, one row per reason per file; the
  only reason is ``replaced_surrogates``: a lone UTF-16 surrogate (a JSON ``"\\ud83d"``
  escape, a cut emoji) in a text, URL or id, stored as U+FFFD since Arrow refuses it;
- ``file``: last, ``{"kind": "file", "origin": <path>, "count": <records read>}``.

Every record read has exactly one outcome, so for each file ``count`` equals documents
plus skip counts plus quarantine rows; :func:`etl.ingest.account.account` checks that. A damaged record never
ends the file: WARC parsing resumes at the next record, JSONL at the next line, and a
failure no reader foresaw ends the file as one more quarantined record (``reader_error``)
instead of an exception. An unreadable file is one record read and quarantined.
Out-of-range times (``1e20``, NaN, year 0) give a null ``fetched_at``; the record lands.

Example::

    >>> import io
    >>> data = b'{"text": "hello"}\\n\\n{"text": \\n{"text": "cut \\\\ud83d"}\\n'
    >>> rows = list(read_file("a.jsonl", "jsonl", ReaderOptions(), stream=io.BytesIO(data)))
    >>> [(r["kind"], r.get("reason"), r.get("count")) for r in rows]  # doctest: +ELLIPSIS
    [('doc', None, None), ('quarantine', 'invalid_json: ...', None), ('doc', None, None), \
('skip', 'blank_line', 1), ('repair', 'replaced_surrogates', 1), ('file', None, 4)]
    >>> from etl.ingest.account import account
    >>> account(rows)["a.jsonl"]
    {'read': 4, 'documents': 2, 'skipped': {'blank_line': 1}, \
'quarantined': {'invalid_json': 1}, 'repaired': {'replaced_surrogates': 1}, 'balanced': True}
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from etl.ingest.records import (
    FORMATS,
    GZIP_MAGIC,
    REPAIRED,
    ZSTD_MAGIC,
    ReaderOptions,
    Tally,
    doc_id,
    doc_row,
    origin_of,
    quarantine_row,
    utf8_safe,
)
from etl.ingest.warc import decode_body, read_warc

__all__ = ["FORMATS", "ReaderOptions", "decode_body", "detect_format", "doc_id",
           "read_file", "sniff_format"]


def detect_format(path: str, head: bytes = b"") -> str | None:
    """Format from the file name, falling back to the first bytes of the file."""
    name = path.lower().rsplit("/", 1)[-1]
    for suffix in (".gz", ".zst", ".zstd"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if name.endswith((".warc", ".wet", ".arc")):
        return "warc"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    return sniff_format(head) if head else None


def sniff_format(head: bytes) -> str | None:
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(GZIP_MAGIC):
        try:
            head = zlib.decompressobj(wbits=31).decompress(head)[:64]
        except zlib.error:
            return None
    elif head.startswith(ZSTD_MAGIC):
        import zstandard

        try:
            head = zstandard.ZstdDecompressor().decompressobj().decompress(head)[:64]
        except zstandard.ZstdError:
            return None
    head = head.lstrip()
    if head.startswith(b"WARC/"):
        return "warc"
    if head.startswith(b"{"):
        return "jsonl"
    return None


def read_file(path: str, fmt: str, opts: ReaderOptions, stream: BinaryIO | None = None
              ) -> Iterator[dict]:
    """Yield the rows of one file, ending with its ``file`` row; ``stream`` overrides
    opening ``path``. Never raises for what is in the file."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")
    name = utf8_safe(path)  # a path from undecodable bytes still makes a valid origin
    tally = Tally()
    try:
        opener = stream if stream is not None else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        tally.read = 1
        yield quarantine_row(name, f"unreadable_file: {exc}", b"", opts)
    else:
        with opener as fh:
            yield from _guarded(name, fmt, fh, opts, tally)
    yield from tally.rows(name)


def _guarded(name: str, fmt: str, fh: BinaryIO, opts: ReaderOptions, tally: Tally
             ) -> Iterator[dict]:
    """The reader's rows, repairs counted; what the reader lets escape ends the file as one
    quarantined record, so the Spark job never loses the file's account."""
    reader = {"warc": read_warc, "jsonl": read_jsonl, "parquet": read_parquet}[fmt]
    emitted = 0
    try:
        if fh.read(1):
            fh.seek(0)
            for row in reader(name, fh, opts, tally):
                if row.pop(REPAIRED, None):
                    tally.repaired["replaced_surrogates"] += 1
                emitted += 1
                yield row
    except Exception as exc:  # a reader bug or damage no reader foresaw
        tally.read = emitted + sum(tally.skipped.values()) + 1
        yield quarantine_row(name, f"reader_error: {exc!r}", b"", opts)
        return
    if tally.read == 0:  # zero bytes, or nothing but a compressed empty stream
        tally.read = 1
        tally.skipped["empty_file"] += 1


def _chunks(fh: BinaryIO, path: str, size: int = 1 << 20) -> Iterator[bytes]:
    """Decompressed chunks of a plain, gzip or zstd stream (several members or frames).

    Decompressing chunk by chunk (instead of through GzipFile.read) keeps every complete
    line before the point where a truncated stream breaks off; a stream that stops inside
    a member or frame raises EOFError at the end.
    """
    head = fh.read(4)
    if head.startswith(ZSTD_MAGIC):
        import zstandard

        new, error = zstandard.ZstdDecompressor().decompressobj, zstandard.ZstdError
    elif head.startswith(GZIP_MAGIC):
        new, error = (lambda: zlib.decompressobj(wbits=31)), zlib.error
    else:
        new = error = None
    # Magic bytes that inflate to nothing, in a file not named compressed: a plain file.
    if new is not None and not path.lower().endswith((".gz", ".zst", ".zstd")):
        fh.seek(0)
        dec = new()
        try:
            new = new if dec.decompress(fh.read(1 << 16)) or dec.eof else None
        except error:
            new = None
    fh.seek(0)
    if new is None:
        while chunk := fh.read(size):
            yield chunk
        return
    try:
        yield from _frames(fh, size, new)
    except error as exc:
        raise OSError(f"corrupt compressed stream: {exc}") from exc


def _frames(fh: BinaryIO, size: int, new: Any) -> Iterator[bytes]:
    dec, fed = new(), False
    while data := fh.read(size):
        while data:
            yield dec.decompress(data)
            fed, data = True, dec.unused_data
            if not dec.eof:
                break
            dec, fed = new(), False  # the next gzip member or zstd frame
    if fed and not dec.eof:
        raise EOFError("compressed stream ended before the end-of-stream marker")


def _lines(fh: BinaryIO, path: str, limit: int) -> Iterator[bytes]:
    """Lines of the stream; a line over ``limit`` bytes comes cut to ``limit + 1`` bytes,
    so one endless line cannot fill the memory."""
    rest = b""
    for chunk in _chunks(fh, path):
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()[: limit + 1]
        yield from parts
    if rest:
        yield rest


def parse_time(value: Any) -> datetime | None:
    """A UTC datetime, or None for what is no representable instant (1e20, NaN, 'soon')."""
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str) and value:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def read_jsonl(path: str, fh: BinaryIO, opts: ReaderOptions, tally: Tally) -> Iterator[dict]:
    try:
        for lineno, line in enumerate(_lines(fh, path, opts.max_record_bytes)):
            tally.read += 1
            row = _json_line(path, lineno, line, opts)  # raises nothing it foresees
            if isinstance(row, str):
                tally.skipped[row] += 1
            else:
                yield row
    except (OSError, EOFError) as exc:
        # A truncated or corrupt compressed stream (_chunks raises only these): what was
        # read is kept, the rest of the file is one quarantined record.
        tally.read += 1
        yield quarantine_row(origin_of(path, "line", tally.read - 1),
                             f"corrupt_stream: {exc}", b"", opts)


def _json_line(path: str, lineno: int, line: bytes, opts: ReaderOptions) -> dict | str:
    origin = origin_of(path, "line", lineno)
    if not line.strip():
        return "blank_line"
    if len(line) > opts.max_record_bytes:
        return quarantine_row(origin, "record_too_large", line, opts)
    try:
        # Strict UTF-8 first: json.loads(bytes) would let encoded surrogates through.
        text = line.decode("utf-8-sig" if lineno == 0 else "utf-8")
    except UnicodeDecodeError as exc:
        return quarantine_row(origin, f"invalid_utf8: {exc}", line, opts)
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        return quarantine_row(origin, f"invalid_json: {exc}", line, opts)
    if not isinstance(obj, dict):
        return quarantine_row(origin, "not_a_json_object", line, opts)
    return _object_row("jsonl", origin, obj, opts, line)


def _object_row(source: str, origin: str, obj: dict, opts: ReaderOptions,
                original: bytes | None) -> dict | str:
    """``original``: the record's bytes for a quarantine payload (None: ``obj`` as JSON)."""
    text = obj.get(opts.text_field)
    if text is None or not isinstance(text, str):
        fault = "missing_field" if text is None else "not_a_string"
        payload = original if original is not None else json.dumps(obj, default=str)
        return quarantine_row(origin, f"{fault}:{opts.text_field}", payload, opts)
    if not text.strip():
        return "empty_text"
    url = obj.get(opts.url_field)
    url = str(url) if url is not None else None
    ident = obj.get(opts.id_field)
    key = url or (str(ident) if ident is not None else None)
    return doc_row(source, key, parse_time(obj.get(opts.time_field)), "text/plain", text,
                   origin, url=url)


# --- Parquet ----------------------------------------------------------------------------

def read_parquet(path: str, fh: BinaryIO, opts: ReaderOptions, tally: Tally
                 ) -> Iterator[dict]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(fh)
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        tally.read += 1
        yield quarantine_row(origin_of(path, "row", 0), f"unreadable_parquet: {exc}", b"", opts)
        return
    names = set(pf.schema_arrow.names)
    if opts.text_field not in names:
        tally.read += 1
        yield quarantine_row(origin_of(path, "row", 0), f"missing_field:{opts.text_field}",
                             ", ".join(sorted(names)), opts)
        return
    wanted = [c for c in (opts.text_field, opts.id_field, opts.url_field, opts.time_field)
              if c in names]
    batches = pf.iter_batches(batch_size=opts.parquet_batch_rows, columns=wanted)
    while True:
        try:
            batch = next(batches, None)
        except Exception as exc:  # a damaged row group: what was read stands, the rest of
            tally.read += 1  # the file is one quarantined record
            yield quarantine_row(origin_of(path, "row", tally.read - 1),
                                 f"corrupt_parquet: {exc}", b"", opts)
            return
        if batch is None:
            return
        yield from _parquet_rows(path, batch, wanted, opts, tally)


def _parquet_rows(path: str, batch: Any, wanted: list[str], opts: ReaderOptions,
                  tally: Tally) -> Iterator[dict]:
    columns, degraded = [], []
    for name in wanted:
        values, whole = _column(batch.column(name))
        columns.append(values)
        if not whole and name != opts.time_field:  # an unreadable time is just null
            degraded.append(name)
    for values in zip(*columns, strict=True):
        origin = origin_of(path, "row", tally.read)
        tally.read += 1
        obj = dict(zip(wanted, values, strict=True))
        broken = next((k for k in degraded if isinstance(obj[k], Exception)), None)
        if broken:
            row = quarantine_row(origin, f"unreadable_value:{broken}: {obj[broken]}",
                                 json.dumps(obj, default=str), opts)
        else:
            row = _object_row("parquet", origin, obj, opts, None)
        if isinstance(row, str):
            tally.skipped[row] += 1
        else:
            yield row


def _column(column: Any) -> tuple[list, bool]:
    """Python values of an Arrow column, and whether all could be read; a value Python
    cannot hold (invalid UTF-8, a timestamp past year 9999) comes as its exception, so
    only that row is affected."""
    try:
        return column.to_pylist(), True
    except (ValueError, OverflowError):  # UnicodeDecodeError is a ValueError
        values = []
        for i in range(len(column)):
            try:
                values.append(column[i].as_py())
            except (ValueError, OverflowError) as exc:
                values.append(exc)
        return values, False
