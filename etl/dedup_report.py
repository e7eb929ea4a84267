"""Reports of the dedup stage: ``reports/dedup.json`` (DVC metrics) and ``reports/dedup.html``.

The JSON holds this run's counts and the state of gold: documents, removed duplicates by
how they matched, clusters and a cluster-size histogram, split sizes. The HTML page shows
the largest clusters with the survivor and a removed copy side by side, so a person can
judge at a glance whether the near-duplicate threshold is right.

Example::

    >>> write_reports(spark, lake, cfg, "dedup-...", fate, 12.3)     # doctest: +SKIP
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from llmlake.config import DedupConfig
from llmlake.lake import Lake
from llmlake.log import get_logger
from llmlake.tables import table_state

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = get_logger(__name__)

# (label, largest size in the bin); the last bin is open-ended.
SIZE_BINS = [("2", 2), ("3", 3), ("4-5", 5), ("6-10", 10), ("11-100", 100), ("101+", None)]
EXAMPLES = 12
SNIPPET = 600


def _bin(size: int) -> str:
    return next(label for label, hi in SIZE_BINS if hi is None or size <= hi)


def cluster_sizes(spark: SparkSession, lake: Lake) -> DataFrame:
    """``cluster_id, size`` for every cluster with at least one removed copy."""
    from pyspark.sql import functions as F

    dups = spark.read.format("delta").load(lake.table("gold/duplicates"))
    return dups.groupBy("cluster_id").agg((F.count("*") + 1).alias("size"))


def gold_summary(spark: SparkSession, lake: Lake) -> dict[str, Any]:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, lake.table("gold/documents")):
        return {"gold_documents": 0}
    gold = spark.read.format("delta").load(lake.table("gold/documents"))
    dups = spark.read.format("delta").load(lake.table("gold/duplicates"))
    sizes = [r["size"] for r in cluster_sizes(spark, lake).collect()]
    hist: dict[str, int] = {}
    for size in sorted(sizes):
        hist[_bin(size)] = hist.get(_bin(size), 0) + 1
    return {
        "gold_documents": gold.count(),
        "removed_total": {r["match"]: r["count"] for r in dups.groupBy("match").count().collect()},
        "clusters_with_copies": len(sizes),
        "largest_cluster": max(sizes, default=1),
        "cluster_size_histogram": hist,
        "splits": {r["split"]: r["count"] for r in gold.groupBy("split").count().collect()},
    }


def write_reports(spark: SparkSession, lake: Lake, cfg: DedupConfig, batch: str,
                  fate: DataFrame | None, seconds: float) -> dict[str, Any]:
    this_run: dict[str, Any] = {"new_documents": 0, "kept": 0, "removed": {}}
    if fate is not None:
        this_run["new_documents"] = fate.count()
        this_run["kept"] = fate.where("keep").count()
        dups = spark.read.format("delta").load(lake.table("gold/duplicates"))
        this_run["removed"] = {r["match"]: r["count"] for r in dups.where(f"batch = '{batch}'")
                               .groupBy("match").count().collect()}
    tables = {name: table_state(spark, lake.table(name))
              for name in ("silver/documents", "gold/documents", "gold/duplicates",
                           "gold/minhash")}
    report = {"batch": batch, "this_run": this_run, **gold_summary(spark, lake),
              "settings": {"ngram": cfg.ngram, "bands": cfg.bands, "rows": cfg.rows,
                           "threshold": cfg.threshold if cfg.verify else None},
              "tables": tables, "seconds": round(seconds, 1)}
    lake.write_report("dedup.json", report)
    lake.write_lineage("dedup", tables, batch=batch)
    if tables["gold/documents"]["version"] is not None:
        write_html(spark, lake, report)
    log.info("dedup done in %.1fs: %s", seconds, this_run)
    return report


def examples(spark: SparkSession, lake: Lake) -> list[dict[str, Any]]:
    """The largest clusters, each with its survivor and one removed copy."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    top = cluster_sizes(spark, lake).orderBy(F.desc("size"), "cluster_id").limit(EXAMPLES)
    dups = spark.read.format("delta").load(lake.table("gold/duplicates"))
    one = (dups.join(top, "cluster_id")
           .withColumn("rank", F.row_number().over(
               Window.partitionBy("cluster_id").orderBy(F.desc("match"), "doc_id")))
           .where("rank = 1"))
    silver = spark.read.format("delta").load(lake.table("silver/documents")).select(
        "doc_id", "text", "url")
    rows = (one.join(silver.select(F.col("doc_id").alias("cluster_id"),
                                   F.col("text").alias("survivor_text"),
                                   F.col("url").alias("survivor_url")), "cluster_id")
            .join(silver, "doc_id").orderBy(F.desc("size"), "cluster_id").collect())
    return [r.asDict() for r in rows]


def write_html(spark: SparkSession, lake: Lake, report: dict[str, Any]) -> None:
    esc = html.escape
    cards = []
    for ex in examples(spark, lake):
        cards.append(
            f"<h3>cluster {esc(ex['cluster_id'][:12])}: {ex['size']} documents "
            f"({esc(ex['match'])} copy shown)</h3><table><tr>"
            f"<td><b>kept</b> {esc(ex['survivor_url'] or '')}<pre>"
            f"{esc(ex['survivor_text'][:SNIPPET])}</pre></td>"
            f"<td><b>removed</b> {esc(ex['url'] or '')}<pre>{esc(ex['text'][:SNIPPET])}"
            f"</pre></td></tr></table>")
    hist = "".join(f"<tr><td>{esc(k)}</td><td>{v}</td></tr>"
                   for k, v in report.get("cluster_size_histogram", {}).items())
    page = (
        "<!doctype html><meta charset='utf-8'><title>llmlake dedup report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td{vertical-align:top;border:1px solid #ccc;padding:.5em;width:50%}"
        "pre{white-space:pre-wrap;font-size:12px;max-height:18em;overflow:auto}</style>"
        f"<h1>Dedup report</h1><p>batch {esc(report['batch'])}: "
        f"{report['this_run']['new_documents']} new documents, {report['this_run']['kept']} "
        f"kept, removed {esc(str(report['this_run']['removed']))}. Gold holds "
        f"{report.get('gold_documents', 0)} documents; splits "
        f"{esc(str(report.get('splits', {})))}.</p>"
        f"<h2>Cluster sizes</h2><table><tr><th>size</th><th>clusters</th></tr>{hist}</table>"
        f"<h2>Largest clusters</h2>{''.join(cards) or '<p>No duplicates found.</p>'}")
    lake.report("dedup.html").write_text(page)
