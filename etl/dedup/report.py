"""Reports of the dedup stage: ``reports/dedup.json`` (DVC metrics) and ``reports/dedup.html``.

The JSON holds this run's counts and the state of gold: documents, removed duplicates by
how they matched, clusters and a cluster-size histogram, split sizes. The HTML page shows
the largest clusters with the survivor and a removed copy side by side, so a person can
judge at a glance whether the near-duplicate threshold is right.

Example::

    >>> write_reports(shell, params.dedup, fate)      # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from etl.dedup.stage import DEDUP_TABLES
from llmlake.config import DedupConfig
from llmlake.lake import Lake
from llmlake.stage import Shell

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


# (label, largest size in the bin); the last bin is open-ended.
SIZE_BINS = [("2", 2), ("3", 3), ("4-5", 5), ("6-10", 10), ("11-100", 100), ("101+", None)]
EXAMPLES = 12


def cluster_sizes(dups: DataFrame) -> DataFrame:
    """``cluster_id, size`` for every cluster with at least one removed copy in ``dups``
    (``gold/duplicates``)."""
    from pyspark.sql import functions as F

    return dups.groupBy("cluster_id").agg((F.count("*") + 1).alias("size"))


def _size_bin() -> Any:
    from pyspark.sql import functions as F

    label = F.lit(SIZE_BINS[-1][0])
    for name, hi in reversed(SIZE_BINS[:-1]):
        label = F.when(F.col("size") <= hi, name).otherwise(label)
    return label


def gold_summary(spark: SparkSession, lake: Lake, batch: str) -> dict[str, Any]:
    """Gold's state and this batch's removals, in three small aggregations."""
    from pyspark.sql import functions as F

    gold = spark.read.format("delta").load(lake.table("gold/documents"))
    splits = {r["split"]: r["count"] for r in gold.groupBy("split").count().collect()}
    dups = spark.read.format("delta").load(lake.table("gold/duplicates"))
    removed = dups.groupBy("match", (F.col("batch") == batch).alias("now")).count().collect()
    bins = (cluster_sizes(dups).groupBy(_size_bin().alias("bin"))
            .agg(F.count("*").alias("clusters"), F.max("size").alias("largest")).collect())
    found = {r["bin"]: r for r in bins}
    return {
        "this_run_removed": _by_match(r for r in removed if r["now"]),
        "gold_documents": sum(splits.values()),
        "removed_total": _by_match(removed),
        "clusters_with_copies": sum(r["clusters"] for r in bins),
        "largest_cluster": max((r["largest"] for r in bins), default=1),
        "cluster_size_histogram": {label: found[label]["clusters"] for label, _ in SIZE_BINS
                                   if label in found},
        "splits": splits,
    }


def _by_match(rows: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        out[r["match"]] = out.get(r["match"], 0) + r["count"]
    return out


def write_reports(sh: Shell, cfg: DedupConfig, fate: DataFrame | None) -> dict[str, Any]:
    """Metrics (gold's state), plots, the HTML page, timings (this run's counts), lineage."""
    spark, lake = sh.spark, sh.lake
    this_run: dict[str, Any] = {"new_documents": 0, "kept": 0, "removed": {}}
    summary: dict[str, Any] = {"gold_documents": 0}
    if sh.version("gold/documents") is not None:
        summary = gold_summary(spark, lake, sh.batch)
        this_run["removed"] = summary.pop("this_run_removed")
    if fate is not None:
        kept = {r["keep"]: r["count"] for r in fate.groupBy("keep").count().collect()}
        this_run.update(new_documents=sum(kept.values()), kept=kept.get(True, 0))
    metrics = {**summary, "settings": {"ngram": cfg.ngram, "bands": cfg.bands, "rows": cfg.rows,
                                       "threshold": cfg.threshold if cfg.verify else None}}
    sh.plot("cluster_sizes", [{"size": k, "clusters": v}
                              for k, v in summary.get("cluster_size_histogram", {}).items()])
    total = max(1, summary["gold_documents"])
    sh.plot("splits", [{"split": k, "documents": v, "share": round(v / total, 4)}
                       for k, v in sorted(summary.get("splits", {}).items())])
    if summary["gold_documents"]:
        write_html(spark, lake, metrics, sh.batch, this_run, ngram=cfg.ngram)
    sh.log.info("dedup: %s", this_run)
    return sh.finish(metrics, tables=DEDUP_TABLES, this_run=this_run)


def examples(spark: SparkSession, lake: Lake) -> list[dict[str, Any]]:
    """The largest clusters, each with its survivor and one removed copy, full texts.

    The page diffs the whole texts and computes their Jaccard, so nothing is cut here; a
    dozen pairs is little to fetch even at the longest documents the quality stage lets by.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    dups = spark.read.format("delta").load(lake.table("gold/duplicates"))
    top = cluster_sizes(dups).orderBy(F.desc("size"), "cluster_id").limit(EXAMPLES)
    picks = (dups.join(top, "cluster_id")
             .withColumn("rank", F.row_number().over(
                 Window.partitionBy("cluster_id").orderBy(F.desc("match"), "doc_id")))
             .where("rank = 1").select("cluster_id", "doc_id", "size", "match").collect())
    # A dozen pairs: fetch their texts by id rather than joining all of silver.
    ids = {r["doc_id"] for r in picks} | {r["cluster_id"] for r in picks}
    texts = {r["doc_id"]: r for r in spark.read.format("delta")
             .load(lake.table("silver/documents")).where(F.col("doc_id").isin(sorted(ids)))
             .select("doc_id", "text", "url").collect()}
    rows = []
    for p in sorted(picks, key=lambda r: (-r["size"], r["cluster_id"])):
        survivor, copy = texts.get(p["cluster_id"]), texts.get(p["doc_id"])
        if survivor is None or copy is None:
            continue
        rows.append({**p.asDict(), "text": copy["text"], "url": copy["url"],
                     "survivor_text": survivor["text"], "survivor_url": survivor["url"]})
    return rows


def write_html(spark: SparkSession, lake: Lake, metrics: dict[str, Any], batch: str,
               this_run: dict[str, Any], *, ngram: int) -> None:
    """``reports/dedup.html``; ``ngram`` is the config's shingle size, for the pairs' Jaccard."""
    from etl.dedup.html import render_dedup
    from llmlake.html import write_html as write_page

    page = render_dedup(
        batch=batch, ngram=ngram, removed=this_run["removed"],
        gold_removed=metrics.get("removed_total", {}), splits=metrics.get("splits", {}),
        histogram=metrics.get("cluster_size_histogram", {}), examples=examples(spark, lake),
        summary={"new_documents": this_run["new_documents"], "kept": this_run["kept"],
                 "gold_documents": metrics.get("gold_documents", 0)})
    write_page(lake.report("dedup.html"), page)
