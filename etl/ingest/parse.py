"""What each Spark task of the ingest runs: one file in, Arrow batches of reader rows out.

The functions here are shipped to the Python workers inside ``mapInArrow``, so the module
imports only the readers: a worker that unpickles them loads no config, stage shell or
Spark helper.

Example::

    >>> import tempfile
    >>> from etl.ingest.records import ReaderOptions
    >>> path = tempfile.mktemp(suffix=".jsonl")
    >>> _ = open(path, "w").write('{"text": "hi"}\\n')
    >>> [r["kind"] for r in parse_uri("file://" + path, ReaderOptions())]
    ['doc', 'file']
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from etl.ingest.readers import ReaderOptions, detect_format, read_file, sniff_format

if TYPE_CHECKING:
    import pyarrow as pa


def open_uri(uri: str):
    """Open a Hadoop-style URI for reading from a Python worker (local or pyarrow.fs)."""
    if uri.startswith("file:"):
        local = uri[len("file:"):]
        if local.startswith("//"):  # file:///abs/path
            local = local[2:]
        return open(local, "rb")
    from pyarrow import fs

    fixed = "s3://" + uri[len("s3a://"):] if uri.startswith("s3a://") else uri
    filesystem, path = fs.FileSystem.from_uri(fixed)
    return filesystem.open_input_file(path)


def parse_uri(uri: str, opts: ReaderOptions) -> Iterator[dict]:
    """Rows for one file; a file that cannot be opened or recognised is quarantined whole."""
    whole_file = {"kind": "file", "origin": uri, "count": 1}  # the file as one record
    try:
        fh = open_uri(uri)
    except Exception as exc:  # any file system error: the job goes on without this file
        yield {"kind": "quarantine", "origin": uri, "reason": f"unreadable_file: {exc}"}
        yield whole_file
        return
    fmt = detect_format(uri)
    if fmt is None:
        fmt = sniff_format(fh.read(4096))
        fh.seek(0)
    if fmt is None:
        fh.close()
        yield {"kind": "quarantine", "origin": uri, "reason": "unknown_format"}
        yield whole_file
        return
    try:
        yield from read_file(uri, fmt, opts, stream=fh)
    except Exception as exc:  # readers catch their own errors; if one escapes, the file's
        # account will not balance and the stage stops before writing anything
        yield {"kind": "quarantine", "origin": uri, "reason": f"reader_error: {exc!r}"}
        yield whole_file


def to_batch(rows: list[dict], schema: pa.Schema) -> pa.RecordBatch:
    """An Arrow batch of row dicts, column by column; keys missing from a row are nulls.

    Built here rather than by :func:`llmlake.spark.rows_to_batch` so that a worker imports
    no llmlake configuration (a second of imports per Python worker).

    >>> import pyarrow as pa
    >>> schema = pa.schema([("kind", pa.string()), ("count", pa.int64())])
    >>> to_batch([{"kind": "doc"}, {"kind": "file", "count": 2}], schema).to_pylist()
    [{'kind': 'doc', 'count': None}, {'kind': 'file', 'count': 2}]
    """
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [pa.array([r.get(name) for r in rows], type=schema.field(name).type)
         for name in schema.names], schema=schema)


def parse_partition(opts: ReaderOptions, batch_rows: int, schema: pa.Schema):
    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows: list[dict] = []
        for batch in batches:
            for uri in batch.column("path").to_pylist():
                for row in parse_uri(uri, opts):
                    rows.append(row)
                    if len(rows) >= batch_rows:
                        yield to_batch(rows, schema)
                        rows = []
        if rows:
            yield to_batch(rows, schema)

    return parse
