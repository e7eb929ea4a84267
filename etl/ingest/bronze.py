"""The ingest's bronze write: the staged documents MERGEd into ``bronze/documents`` once each.

Two facts decide what the write costs, and both are measured before it:

- documents repeated within the batch (the same ``doc_id`` at two origins): found by one
  aggregation over the key columns alone, the smallest origin wins. They are usually few,
  so the losers are dropped through a broadcast join and the document rows (the raw text)
  are never shuffled; past :data:`BROADCAST_DUPLICATES` they go through a plain join;
- documents already in bronze: left to the insert-only MERGE itself, which anti-joins the
  batch with the table's keys and reads its source once (Delta does not materialize the
  source of an insert-only MERGE). The MERGE's own metrics say how many rows it inserted,
  so no count of our own is needed, and a concurrent writer that committed the same
  documents first (the MERGE conflicts and is redone) is reflected in them.

:func:`bronze_signals` stores those figures and :func:`bronze_reason` names the plan.

Example::

    >>> signals = bronze_signals(documents=10, duplicate_keys=1, duplicate_rows=3)
    >>> signals["distinct"], bronze_reason(signals)
    (8, 'broadcast_duplicates')
    >>> bronze_reason(bronze_signals(documents=10, duplicate_keys=0, duplicate_rows=0))
    'no_duplicates'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmlake.tables import merge_insert

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Duplicate keys of one batch collected to the driver and broadcast; past this, a join.
BROADCAST_DUPLICATES = 200_000


def bronze_signals(documents: int, duplicate_keys: int, duplicate_rows: int) -> dict[str, int]:
    """The batch's figures: documents staged, keys seen more than once and the rows
    carrying them (``distinct``: documents once each duplicate key is counted once)."""
    return {"documents": documents, "duplicate_keys": duplicate_keys,
            "duplicate_rows": duplicate_rows,
            "distinct": documents - duplicate_rows + duplicate_keys}


def bronze_reason(signals: dict[str, int]) -> str:
    if not signals["duplicate_keys"]:
        return "no_duplicates"
    if signals["duplicate_keys"] <= BROADCAST_DUPLICATES:
        return "broadcast_duplicates"
    return "join_duplicates"


def duplicates(docs: DataFrame) -> tuple[DataFrame, list, int, int]:
    """Keys seen more than once with their winning (smallest) origin: the DataFrame, the
    rows when at most :data:`BROADCAST_DUPLICATES` (else empty), the key and row counts."""
    from pyspark.sql import functions as F

    dups = (docs.select("doc_id", "origin").groupBy("doc_id")
            .agg(F.min("origin").alias("winner"), F.count("*").alias("n")).filter("n > 1"))
    rows = dups.limit(BROADCAST_DUPLICATES + 1).collect()
    if len(rows) <= BROADCAST_DUPLICATES:
        return dups, rows, len(rows), sum(r["n"] for r in rows)
    total = dups.agg(F.count("*").alias("k"), F.sum("n").alias("r")).first()
    return dups, [], int(total["k"]), int(total["r"])


def keep_winners(spark: SparkSession, docs: DataFrame, dups: DataFrame, rows: list,
                 reason: str) -> DataFrame:
    """``docs`` without the rows that lost to a smaller origin of the same ``doc_id``."""
    from pyspark.sql import functions as F

    if reason == "no_duplicates":
        return docs
    if reason == "broadcast_duplicates":
        small = spark.createDataFrame([(r["doc_id"], r["winner"]) for r in rows],
                                      "doc_id string, winner string")
        dups = F.broadcast(small)
    joined = docs.join(dups.select("doc_id", "winner"), "doc_id", "left")
    return joined.filter("winner IS NULL OR origin = winner").select(*docs.columns)


def write_new(spark: SparkSession, path: str, docs: DataFrame, documents: int
              ) -> dict[str, Any]:
    """MERGE the batch's documents (columns as bronze has them) into the table at ``path``;
    returns the signals, the plan and ``written``."""
    dups, rows, keys, dup_rows = duplicates(docs)
    signals = bronze_signals(documents, keys, dup_rows)
    reason = bronze_reason(signals)
    written = merge_insert(spark, path, keep_winners(spark, docs, dups, rows, reason), ["doc_id"])
    return {**signals, "plan": reason, "written": written}
