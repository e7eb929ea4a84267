"""Clean: ``bronze/documents`` to ``silver/documents`` (extraction, language, quality, PII).

Each bronze document goes once through :func:`etl.clean.document.clean_document` inside
``mapInArrow`` (the cleaning libraries load once per Python worker). Every document lands in
silver, kept (``drop_reason IS NULL``) or dropped with the first failing rule as its reason,
with every quality signal as a column. A document whose cleaning raises goes to
``quarantine/records`` with its ``doc_id`` and the error; the job goes on.

The stage is incremental: silver rows carry the hash of the ``clean`` params that made
them; a run cleans the bronze documents that have no silver row under the current hash and
MERGEs them in (inserting new documents, replacing rows made under other params).

Run it as ``llmlake etl clean`` or ``spark-submit etl/clean/stage.py --params params.yaml``.

Example::

    >>> from llmlake.config import load_params
    >>> report = run(load_params("params.yaml"))        # doctest: +SKIP
    >>> report["documents"]["kept"]                     # doctest: +SKIP
    2214
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llmlake.config import Params, fingerprint
from llmlake.config_clean import CleanConfig
from llmlake.spark import arrow_schema, rows_to_batch
from llmlake.stage import stage_shell
from llmlake.tables import merge_insert, merge_quarantine, resolve_quarantine

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession


INPUT_COLUMNS = ["doc_id", "source", "url", "fetched_at", "content_type", "origin", "raw"]


def signal_columns() -> list[str]:
    from etl.clean.document import SIGNAL_NAMES

    return [s for s in SIGNAL_NAMES if s != "lang_score"]  # lang_score is its own column


def output_ddl() -> str:
    base = ("kind string, doc_id string, source string, url string, fetched_at timestamp, "
            "content_type string, origin string, text string, lang string, lang_score double, "
            "drop_reason string, pii_redactions map<string,int>, config_hash string, "
            "error string")
    return base + "".join(f", {name} double" for name in signal_columns())


def config_hash(cfg: CleanConfig) -> str:
    """Short stable hash of the clean params: rows made under other params get redone."""
    return fingerprint(cfg)


def clean_rows(rows: list[dict], cfg: CleanConfig, chash: str) -> Iterator[dict]:
    """The pure core: bronze rows in, silver rows (``kind='doc'``) or errors out."""
    from etl.clean.document import clean_document

    for row in rows:
        base = {k: row[k] for k in INPUT_COLUMNS if k != "raw"}
        try:
            res = clean_document(row["raw"], row["content_type"], row["url"], cfg)
        except Exception as exc:  # one bad document must not stop the partition
            yield {**base, "kind": "error", "error": f"{type(exc).__name__}: {exc}"}
            continue
        yield {**base, **res.signals, "kind": "doc", "text": res.text, "lang": res.lang,
               "lang_score": res.lang_score, "drop_reason": res.drop_reason,
               "pii_redactions": {k: int(v) for k, v in res.pii.items()},
               "config_hash": chash}


def _clean_partition(cfg: CleanConfig, chash: str, schema: pa.Schema):
    def clean(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield rows_to_batch(list(clean_rows(batch.to_pylist(), cfg, chash)), schema)

    return clean


def pending(spark: SparkSession, bronze: DataFrame, silver_path: str, chash: str) -> DataFrame:
    """Bronze rows without a silver row made under the current params."""
    from delta.tables import DeltaTable

    todo = bronze.select(*INPUT_COLUMNS)
    if DeltaTable.isDeltaTable(spark, silver_path):
        done = (spark.read.format("delta").load(silver_path)
                .filter(f"config_hash = '{chash}'").select("doc_id"))
        todo = todo.join(done, "doc_id", "left_anti")
    return todo


def clean_frame(todo: DataFrame, cfg: CleanConfig, partitions: int) -> DataFrame:
    """Spread the work over the cores (bronze may be a few large files), then clean."""
    struct, schema = arrow_schema(output_ddl())
    clean = _clean_partition(cfg, config_hash(cfg), schema)
    return todo.repartition(partitions).mapInArrow(clean, struct)


def merge_silver(spark: SparkSession, path: str, rows: DataFrame) -> None:
    """Insert new documents and replace rows that were made under other params."""
    merge_insert(spark, path, rows, ["doc_id"], update_when="t.config_hash <> s.config_hash")


def run(params: Params) -> dict[str, Any]:
    from pyspark.sql import functions as F

    cfg = params.clean
    with stage_shell("clean", params) as sh:
        sh.require("bronze/documents")
        spark, silver_path, chash = sh.spark, sh.table("silver/documents"), config_hash(cfg)
        bronze = spark.read.format("delta").load(sh.table("bronze/documents"))
        todo = pending(spark, bronze, silver_path, chash)
        partitions = max(2, spark.sparkContext.defaultParallelism * 4)
        with sh.step("clean documents"):
            clean_frame(todo, cfg, partitions).write.mode("overwrite").parquet(sh.staging())
            staged = spark.read.parquet(sh.staging())
            docs = (staged.filter("kind = 'doc'").drop("kind", "error")
                    .withColumn("batch", F.lit(sh.batch)))
            processed = docs.count()
        with sh.step("write silver"):
            if processed:
                merge_silver(spark, silver_path, docs)
                sh.kill_point("silver written")
                resolve_quarantine(spark, sh.table("quarantine/records"), "clean", docs)
            errors = (staged.filter("kind = 'error'").select(
                "origin", F.lit("clean").alias("stage"), F.col("error").alias("reason"),
                F.col("doc_id").alias("payload"), "doc_id", F.lit(sh.batch).alias("batch")))
            quarantined = merge_quarantine(spark, sh.table("quarantine/records"), errors)
        sh.drop_staging()  # committed, and staged rows are read no more
        sh.log.info("clean: %d documents cleaned, %d quarantined", processed, quarantined)
        with sh.step("report"):
            summary = silver_summary(spark, silver_path, chash)
        sh.plot("drop_reasons", [{"reason": k or "kept", "documents": v} for k, v in
                                 {None: summary["documents"]["kept"],
                                  **summary["dropped_by_reason"]}.items()])
        sh.plot("languages", [{"lang": k, "documents": v,
                               "kept": summary["kept_languages"].get(k, 0)}
                              for k, v in summary["languages"].items()])
        return sh.finish({"config_hash": chash, **summary},
                         tables=("silver/documents", "quarantine/records"),
                         lineage={"config_hash": chash},
                         processed_this_run=processed, quarantined_this_run=quarantined)


def silver_summary(spark: SparkSession, path: str, chash: str) -> dict[str, Any]:
    """Kept/dropped counts by reason and language, PII totals, over the current silver."""
    from pyspark.sql import functions as F

    from etl.clean.pii import PII_TYPES

    silver = spark.read.format("delta").load(path).filter(F.col("config_hash") == chash)
    by_reason = {r["drop_reason"]: r["count"] for r in silver.groupBy("drop_reason").count()
                 .collect()}
    kept = silver.filter("drop_reason IS NULL")
    langs = {r["lang"]: r["count"] for r in silver.groupBy("lang").count().collect()}
    kept_langs = {r["lang"]: r["count"] for r in kept.groupBy("lang").count().collect()}
    pii = kept.select(*[F.sum(F.col("pii_redactions")[t]).alias(t) for t in PII_TYPES]).first()
    total = sum(by_reason.values())
    kept_n = by_reason.pop(None, 0)
    return {
        "documents": {"total": total, "kept": kept_n, "dropped": total - kept_n},
        "dropped_by_reason": dict(sorted(by_reason.items(), key=lambda kv: -kv[1])),
        "languages": dict(sorted(langs.items(), key=lambda kv: -kv[1])),
        "kept_languages": dict(sorted(kept_langs.items(), key=lambda kv: -kv[1])),
        "pii_redactions": {t: int(pii[t] or 0) for t in PII_TYPES},
    }


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("clean")
