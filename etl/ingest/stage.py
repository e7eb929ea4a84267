"""Ingest: raw corpora (WARC, WET, JSONL, Parquet) into the ``bronze/documents`` Delta table.

The driver lists ``ingest.sources`` through Hadoop's file systems (so globs work on local
paths, HDFS or ``s3a://``), hands one file per Spark task to :mod:`etl.ingest.readers` inside
``mapInArrow`` and stages the parsed rows as Parquet. Documents are then MERGEd into bronze
on ``doc_id`` (re-ingesting the same files adds nothing), unreadable records are MERGEd into
``quarantine/records`` with their origin and reason, and skipped records are counted.

Its steps, timed in ``reports/timings/ingest.json``: ``session`` (the JVM and Delta),
``list``, ``parse`` (readers in ``mapInArrow`` to the staging Parquet), ``account`` (one
aggregation: every record read has one fate), ``bronze`` (:mod:`etl.ingest.bronze`: one
key-only pass for repeats in the batch, then one insert-only MERGE) and ``quarantine`` (no
Spark job at all when the books hold no quarantined record).

Run it as ``llmlake etl ingest`` or ``spark-submit etl/ingest/stage.py --params params.yaml``.

Example::

    >>> from llmlake.config import load_params
    >>> from etl.ingest.stage import run
    >>> report = run(load_params("params.yaml"))     # doctest: +SKIP
    >>> report["records"]["written"]                        # doctest: +SKIP
    2871
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etl.ingest.account import accounts, file_counts, per_file, shown, totals, unbalanced
from etl.ingest.bronze import bronze_signals, write_new
from etl.ingest.parse import (  # noqa: F401 (open_uri, parse_uri: the module's API before)
    open_uri,
    parse_partition,
    parse_uri,
    to_batch,
)
from etl.ingest.readers import ReaderOptions
from llmlake.config import IngestConfig, Params
from llmlake.spark import arrow_schema
from llmlake.stage import Shell, StageError, stage_shell
from llmlake.tables import merge_quarantine

if TYPE_CHECKING:
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


def parse_sources(spark: SparkSession, files: list[str], cfg: IngestConfig) -> DataFrame:
    """One Spark task per file, parsed in Arrow batches (no row-at-a-time UDF)."""
    # One partition per file without a shuffle: parallelize slices the list in order.
    rdd = spark.sparkContext.parallelize([(f,) for f in files], max(1, len(files)))
    paths = spark.createDataFrame(rdd, "path string")
    struct, schema = arrow_schema(PARSED_DDL)
    return paths.mapInArrow(parse_partition(reader_options(cfg), cfg.batch_rows, schema), struct)


def run(params: Params) -> dict[str, Any]:
    cfg = params.ingest
    with stage_shell("ingest", params) as sh:
        with sh.step("session"):  # the JVM and Delta start here, on first use
            spark = sh.spark
        with sh.step("list"):
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
        with sh.step("account"):
            staged = spark.read.parquet(sh.staging("parsed"))
            books = accounts(file_counts(staged))
        lost = unbalanced(books)
        if lost:
            raise StageError(f"records lost in {len(lost)} file(s), nothing written: "
                             f"{[(shown(f), books[f]) for f in lost[:3]]}")
        total = totals(books)
        with sh.step("bronze"):
            bronze = write_bronze(sh, staged, total["documents"])
        sh.kill_point("bronze written")
        with sh.step("quarantine"):
            quarantined = write_quarantine(sh, staged, total["quarantined"])
        metrics = _metrics(files, empty, books, bronze["distinct"], bronze["written"],
                           quarantined)
        return sh.finish(metrics, tables=("bronze/documents", "quarantine/records"),
                         bronze=bronze)


def write_bronze(sh: Shell, staged: DataFrame, documents: int) -> dict[str, Any]:
    """MERGE the batch's new documents into bronze (:mod:`etl.ingest.bronze`)."""
    from pyspark.sql import functions as F

    if not documents:  # nothing to write: no MERGE, and no empty table made
        return {**bronze_signals(0, 0, 0), "plan": "no_documents", "written": 0}
    docs = (staged.filter("kind = 'doc'").withColumn("ingest_batch", F.lit(sh.batch))
            .select(*BRONZE_COLUMNS))
    out = write_new(sh.spark, sh.table("bronze/documents"), docs, documents)
    sh.log.info("bronze: %d new documents (%d already present, plan %s)", out["written"],
                out["distinct"] - out["written"], out["plan"])
    return out


def write_quarantine(sh: Shell, staged: DataFrame, reasons: dict[str, int]) -> int:
    """MERGE the quarantined records; the books already say whether there are any, so a
    clean batch runs no Spark job here."""
    from pyspark.sql import functions as F

    if not sum(reasons.values()):
        return 0
    quarantine = (staged.filter("kind = 'quarantine'").select(
        "origin", F.lit("ingest").alias("stage"), "reason", "payload",
        F.lit(None).cast("string").alias("doc_id"), F.lit(sh.batch).alias("batch")))
    return merge_quarantine(sh.spark, sh.table("quarantine/records"), quarantine)


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
