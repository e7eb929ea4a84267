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


def write_reports(spark: SparkSession, lake: Lake, cfg: DedupConfig, batch: str,
                  fate: DataFrame | None, seconds: float,
                  steps: dict[str, float] | None = None) -> dict[str, Any]:
    this_run: dict[str, Any] = {"new_documents": 0, "kept": 0, "removed": {}}
    tables = {name: table_state(spark, lake.table(name))
              for name in ("silver/documents", "gold/documents", "gold/duplicates",
                           "gold/minhash")}
    summary: dict[str, Any] = {"gold_documents": 0}
    if tables["gold/documents"]["version"] is not None:
        summary = gold_summary(spark, lake, batch)
        this_run["removed"] = summary.pop("this_run_removed")
    if fate is not None:
        kept = {r["keep"]: r["count"] for r in fate.groupBy("keep").count().collect()}
        this_run.update(new_documents=sum(kept.values()), kept=kept.get(True, 0))
    report = {"batch": batch, "this_run": this_run, **summary,
              "settings": {"ngram": cfg.ngram, "bands": cfg.bands, "rows": cfg.rows,
                           "threshold": cfg.threshold if cfg.verify else None},
              "tables": tables, "seconds": round(seconds, 1), "step_seconds": steps or {}}
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
