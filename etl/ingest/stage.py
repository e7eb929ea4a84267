"""Ingest: raw corpora (WARC, WET, JSONL, Parquet) into the ``bronze/documents`` Delta table.

The driver lists ``ingest.sources`` through Hadoop's file systems (so globs work on local
paths, HDFS or ``s3a://``), hands one file per Spark task to :mod:`etl.ingest.readers` inside
``mapInArrow`` and stages the parsed rows as Parquet. Documents are then MERGEd into bronze
on ``doc_id`` (re-ingesting the same files adds nothing), unreadable records are MERGEd into
``quarantine/records`` with their origin and reason, and skipped records are counted.

Run it as ``llmlake etl ingest`` or ``spark-submit etl/ingest/stage.py --params params.yaml``.

Example::

    >>> from llmlake.config import load_params
    >>> from etl.ingest.stage import run
    >>> report = run(load_params("params.yaml"))     # doctest: +SKIP
    >>> report["records"]["written"]                        # doctest: +SKIP
    2871
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from etl.ingest.account import accounts, file_counts, per_file, shown, totals, unbalanced
from etl.ingest.readers import ReaderOptions, detect_format, read_file, sniff_format
from llmlake.config import IngestConfig, Params
from llmlake.spark import arrow_schema, rows_to_batch
from llmlake.stage import Shell, StageError, stage_shell
from llmlake.tables import insert_new, merge_quarantine, pick_new

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession


BRONZE_COLUMNS = ["doc_id", "source", "url", "fetched_at", "content_type", "raw",
                  "ingest_batch", "origin"]
PARSED_DDL = ("kind string, doc_id string, source string, url string, fetched_at timestamp, "
              "content_type string, raw string, origin string, reason string, payload string, "
              "count long")


def reader_options(cfg: IngestConfig) -> ReaderOptions:
    return ReaderOptions(text_field=cfg.text_field, id_field=cfg.id_field,
                         url_field=cfg.url_field, time_field=cfg.time_field,
                         max_record_bytes=cfg.max_record_bytes, payload_chars=cfg.payload_chars)


def list_sources(spark: SparkSession, patterns: list[str]) -> tuple[list[str], list[str]]:
    """Expand globs with Hadoop's FileSystem; folders are listed recursively.

    Returns (sorted file URIs, patterns that matched nothing).
    """
    jvm = spark._jvm
    conf = spark._jsc.hadoopConfiguration()
    files: set[str] = set()
    empty: list[str] = []
    for pattern in patterns:
        path = jvm.org.apache.hadoop.fs.Path(pattern)
        fs = path.getFileSystem(conf)
        statuses = fs.globStatus(path) or []
        found = 0
        for status in statuses:
            if status.isDirectory():
                it = fs.listFiles(status.getPath(), True)
                while it.hasNext():
                    files.add(it.next().getPath().toString())
                    found += 1
            else:
                files.add(status.getPath().toString())
                found += 1
        if not found:
            empty.append(pattern)
    hidden = ("_", ".")
    return sorted(f for f in files if not f.rsplit("/", 1)[-1].startswith(hidden)), empty


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


def _parse_partition(opts: ReaderOptions, batch_rows: int, schema: pa.Schema):
    def parse(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        rows: list[dict] = []
        for batch in batches:
            for uri in batch.column("path").to_pylist():
                for row in parse_uri(uri, opts):
                    rows.append(row)
                    if len(rows) >= batch_rows:
                        yield rows_to_batch(rows, schema)
                        rows = []
        if rows:
            yield rows_to_batch(rows, schema)

    return parse


def parse_sources(spark: SparkSession, files: list[str], cfg: IngestConfig) -> DataFrame:
    """One Spark task per file, parsed in Arrow batches (no row-at-a-time UDF)."""
    # One partition per file without a shuffle: parallelize slices the list in order.
    rdd = spark.sparkContext.parallelize([(f,) for f in files], max(1, len(files)))
    paths = spark.createDataFrame(rdd, "path string")
    struct, schema = arrow_schema(PARSED_DDL)
    return paths.mapInArrow(_parse_partition(reader_options(cfg), cfg.batch_rows, schema), struct)


def run(params: Params) -> dict[str, Any]:
    from pyspark.sql import functions as F

    cfg = params.ingest
    with stage_shell("ingest", params) as sh:
        spark = sh.spark
        files, empty = list_sources(spark, cfg.sources)
        for pattern in empty:
            sh.log.warning("ingest.sources entry %r matched no files", pattern)
        if not files:
            raise StageError(f"ingest.sources matched no files: {cfg.sources}")
        sh.log.info("ingest: %d files from %d source patterns", len(files), len(cfg.sources))
        with sh.step("parse"):
            # lz4: the staging copy is read once, so cheap compression beats small files.
            (parse_sources(spark, files, cfg).write.mode("overwrite")
             .option("compression", "lz4").parquet(sh.staging("parsed")))
            staged = spark.read.parquet(sh.staging("parsed"))
            books = accounts(file_counts(staged))
        lost = unbalanced(books)
        if lost:
            raise StageError(f"records lost in {len(lost)} file(s), nothing written: "
                             f"{[(shown(f), books[f]) for f in lost[:3]]}")
        with sh.step("bronze"):
            written, distinct_docs = write_bronze(sh, staged)
        sh.kill_point("bronze written")
        with sh.step("quarantine"):
            quarantine = (staged.filter("kind = 'quarantine'").select(
                "origin", F.lit("ingest").alias("stage"), "reason", "payload",
                F.lit(None).cast("string").alias("doc_id"), F.lit(sh.batch).alias("batch")))
            quarantined = merge_quarantine(spark, sh.table("quarantine/records"), quarantine)
        metrics = _metrics(files, empty, books, distinct_docs, written, quarantined)
        return sh.finish(metrics, tables=("bronze/documents", "quarantine/records"))


def write_bronze(sh: Shell, staged: DataFrame) -> tuple[int, int]:
    """MERGE the new documents into bronze; returns (written, distinct in the batch)."""
    from pyspark.sql import functions as F

    bronze = sh.table("bronze/documents")
    docs = staged.filter("kind = 'doc'").withColumn("ingest_batch", F.lit(sh.batch))
    chosen, written, distinct_docs = pick_new(sh.spark, bronze, docs.select("doc_id", "origin"),
                                              "doc_id", "origin")
    if written:
        insert_new(sh.spark, bronze, docs.select(*BRONZE_COLUMNS), chosen, "doc_id")
    chosen.unpersist()
    sh.log.info("bronze: %d new documents (%d already present)", written,
                distinct_docs - written)
    return written, distinct_docs


def _metrics(files: list[str], empty: list[str], books: dict[str, dict[str, Any]],
             distinct_docs: int, written: int, quarantined: int) -> dict[str, Any]:
    total = totals(books)
    return {
        "files": len(files),
        "sources_without_files": empty,
        "records": {
            "read": total["read"],
            "documents": total["documents"],
            "duplicates_in_batch": total["documents"] - distinct_docs,
            "written": written,
            "already_present": distinct_docs - written,
            "quarantined_new": quarantined,
        },
        "skipped": total["skipped"],
        "quarantined": total["quarantined"],
        "repaired": total["repaired"],
        "per_file": per_file(books),
    }


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("ingest")
