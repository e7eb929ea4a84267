"""Record readers for the ingest: one raw file in, bronze rows and quarantine rows out.

This module is the pure, Spark-free core of the ingest. ``read_file(path, fmt, opts)``
streams one file (WARC, WET, JSONL, Parquet; plain or compressed) and yields plain dicts
with a ``kind``:

- ``doc``: a bronze document (``doc_id``, ``source``, ``url``, ``fetched_at``,
  ``content_type``, ``raw``, ``origin``);
- ``quarantine``: a record that could not be read, with ``origin``, ``reason``, ``payload``;
- ``skip``: a count of well-formed records skipped for a ``reason`` (one row per reason
  per file, e.g. HTTP 404 responses or image payloads), so nothing vanishes uncounted.

A damaged record never ends the file: WARC parsing resumes at the next gzip member (or the
next ``WARC/1.x`` line), JSONL at the next line.

Example::

    >>> from etl.ingest.readers import ReaderOptions, read_file, detect_format
    >>> fmt = detect_format("crawl.warc.gz")            # 'warc'
    >>> rows = list(read_file("crawl.warc.gz", fmt, ReaderOptions()))   # doctest: +SKIP
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from etl.ingest.records import (
    FORMATS,
    GZIP_MAGIC,
    ZSTD_MAGIC,
    ReaderOptions,
    doc_id,
    doc_row,
    origin_of,
    quarantine_row,
    skip_rows,
)
from etl.ingest.warc import decode_body, read_warc

__all__ = ["FORMATS", "ReaderOptions", "decode_body", "detect_format", "doc_id", "read_file",
           "sniff_format"]


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
    """Yield doc / quarantine / skip rows for one file; ``stream`` overrides opening ``path``."""
    opener = stream if stream is not None else open(path, "rb")  # noqa: SIM115
    with opener as fh:
        if fmt == "warc":
            yield from read_warc(path, fh, opts)
        elif fmt == "jsonl":
            yield from read_jsonl(path, fh, opts)
        elif fmt == "parquet":
            yield from read_parquet(path, fh, opts)
        else:
            raise ValueError(f"unknown format {fmt!r}; expected one of {FORMATS}")



# --- JSONL ------------------------------------------------------------------------------

def _chunks(fh: BinaryIO, size: int = 1 << 20) -> Iterator[bytes]:
    """Decompressed chunks of a plain, gzip (multi-member) or zstd stream.

    Decompressing chunk by chunk (instead of through GzipFile.read) keeps every complete
    line before the point where a truncated stream breaks off.
    """
    head = fh.read(4)
    fh.seek(0)
    if head.startswith(ZSTD_MAGIC):
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(fh, read_across_frames=True)
        while chunk := reader.read(size):
            yield chunk
        return
    if not head.startswith(GZIP_MAGIC):
        while chunk := fh.read(size):
            yield chunk
        return
    dec, fed = zlib.decompressobj(wbits=31), False
    while data := fh.read(size):
        while data:
            yield dec.decompress(data)
            fed, data = True, dec.unused_data
            if not dec.eof:
                break
            dec, fed = zlib.decompressobj(wbits=31), False  # the next gzip member
    if fed and not dec.eof:
        raise EOFError("compressed stream ended before the end-of-stream marker")


def _lines(fh: BinaryIO) -> Iterator[bytes]:
    rest = b""
    for chunk in _chunks(fh):
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def read_jsonl(path: str, fh: BinaryIO, opts: ReaderOptions) -> Iterator[dict]:
    skipped: Counter = Counter()
    lineno = -1
    try:
        for lineno, line in enumerate(_lines(fh)):
            row = _json_line(path, lineno, line, opts)
            if isinstance(row, str):
                skipped[row] += 1
            else:
                yield row
    except (OSError, EOFError, ValueError) as exc:
        # A truncated or corrupt compressed stream: what was read is kept, the rest is lost.
        yield quarantine_row(origin_of(path, "line", lineno + 1), f"corrupt_stream: {exc}", b"", opts)
    yield from skip_rows(path, skipped)


def _json_line(path: str, lineno: int, line: bytes, opts: ReaderOptions) -> dict | str:
    origin = origin_of(path, "line", lineno)
    if not line.strip():
        return "blank_line"
    if len(line) > opts.max_record_bytes:
        return quarantine_row(origin, "record_too_large", line, opts)
    try:
        obj = json.loads(line)
    except ValueError as exc:
        return quarantine_row(origin, f"invalid_json: {exc}", line, opts)
    if not isinstance(obj, dict):
        return quarantine_row(origin, "not_a_json_object", line, opts)
    return _object_row("jsonl", origin, obj, opts, line)


def _object_row(source: str, origin: str, obj: dict, opts: ReaderOptions,
                original: bytes | str) -> dict | str:
    text = obj.get(opts.text_field)
    if text is None:
        return quarantine_row(origin, f"missing_field:{opts.text_field}", original, opts)
    if not isinstance(text, str):
        return quarantine_row(origin, f"not_a_string:{opts.text_field}", original, opts)
    if not text.strip():
        return "empty_text"
    url = obj.get(opts.url_field)
    url = str(url) if url is not None else None
    ident = obj.get(opts.id_field)
    key = url or (str(ident) if ident is not None else None)
    return doc_row(source, key, parse_time(obj.get(opts.time_field)), "text/plain", text,
                origin, url=url)


# --- Parquet ----------------------------------------------------------------------------

def read_parquet(path: str, fh: BinaryIO, opts: ReaderOptions) -> Iterator[dict]:
    import pyarrow.parquet as pq

    skipped: Counter = Counter()
    try:
        pf = pq.ParquetFile(fh)
    except Exception as exc:  # pyarrow raises several types for a damaged footer
        yield quarantine_row(origin_of(path, "row", 0), f"unreadable_parquet: {exc}", b"", opts)
        return
    names = set(pf.schema_arrow.names)
    if opts.text_field not in names:
        yield quarantine_row(origin_of(path, "row", 0), f"missing_field:{opts.text_field}",
                          ", ".join(sorted(names)), opts)
        return
    wanted = [c for c in (opts.text_field, opts.id_field, opts.url_field, opts.time_field)
              if c in names]
    row_index = 0
    try:
        for batch in pf.iter_batches(batch_size=opts.parquet_batch_rows, columns=wanted):
            for obj in batch.to_pylist():
                row = _object_row("parquet", origin_of(path, "row", row_index), obj, opts,
                                  json.dumps(obj, default=str))
                row_index += 1
                if isinstance(row, str):
                    skipped[row] += 1
                else:
                    yield row
    except Exception as exc:  # a damaged row group: keep what was read, quarantine the rest
        yield quarantine_row(origin_of(path, "row", row_index), f"corrupt_parquet: {exc}", b"", opts)
    yield from skip_rows(path, skipped)

