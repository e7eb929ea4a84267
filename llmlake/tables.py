"""Delta table I/O shared by the stages: insert-only MERGEs, quarantine, table state.

Stages append documents keyed by ``doc_id`` and must be idempotent: re-running on the same
input inserts nothing and commits no new version. :func:`merge_insert` writes new keys with
an insert-only MERGE (ingest's bronze write, :mod:`etl.ingest.bronze`, picks one row per key
first), :func:`merge_quarantine` does the same for quarantine rows and :func:`table_state` reports a
table's version and row count for lineage. Every write goes through :func:`with_retries`:
when two runs overlap, Delta's optimistic concurrency makes the later commit conflict, and
it is redone on the new snapshot, so keys stay unique whatever runs overlap.
:func:`use_lake_defaults` makes every table a session creates carry the retention
properties (``lake.log_retention``) that keep the versions lineage names readable.

Example::

    >>> merge_insert(spark, path, df, ["doc_id"])   # rows inserted     # doctest: +SKIP
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from llmlake.config import LakeConfig
from llmlake.lake import retention_properties
from llmlake.log import get_logger

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = get_logger(__name__)
T = TypeVar("T")

QUARANTINE_KEYS = ["origin", "stage", "reason"]
QUARANTINE_COLUMNS = ["origin", "stage", "reason", "payload", "doc_id", "batch",
                      "quarantined_at"]


# Delta's optimistic concurrency: a commit that lost a race to another writer raises one of
# these (by class name or error class); redoing the transaction on the new snapshot is safe.
CONFLICTS = ("ConcurrentAppend", "ConcurrentWrite", "ConcurrentDelete", "ConcurrentTransaction",
             "MetadataChanged", "ProtocolChanged", "FileAlreadyExists", "DELTA_CONCURRENT",
             "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED")


def is_conflict(exc: BaseException) -> bool:
    text = f"{type(exc).__name__}: {exc}"
    return any(name in text for name in CONFLICTS)


def with_retries(action: Callable[[], T], what: str, attempts: int = 6) -> T:
    """Run a Delta transaction, redoing it when a concurrent writer committed first."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if attempt == attempts or not is_conflict(exc):
                raise
            wait = min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random())
            log.warning("%s: concurrent commit (%s), retry %d in %.1fs", what,
                        type(exc).__name__, attempt, wait)
            time.sleep(wait)
    raise AssertionError("unreachable")


# Delta applies session settings under this prefix to every table it creates.
DEFAULTS_PREFIX = "spark.databricks.delta.properties.defaults."


def use_lake_defaults(spark: SparkSession, lake: LakeConfig) -> None:
    """Make every table this session creates carry :func:`retention_properties` (those
    :func:`ensure_table` makes and those a stage writes with ``mode("overwrite")``)."""
    for key, value in retention_properties(lake).items():
        spark.conf.set(DEFAULTS_PREFIX + key.removeprefix("delta."), value)


def ensure_table(spark: SparkSession, path: str, schema: Any) -> None:
    """Create an empty Delta table with ``schema`` unless one exists (two creators race
    to version 0; the loser's conflict is retried by the caller)."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        spark.createDataFrame([], schema).write.format("delta").mode("append").save(path)


def merge_insert(spark: SparkSession, path: str, rows: DataFrame, keys: list[str],
                 update_when: str | None = None) -> int:
    """Insert the rows whose ``keys`` the table lacks (a MERGE), creating the table first if
    needed; with ``update_when`` (an SQL condition over ``t`` and ``s``) matched rows that
    meet it are replaced too. Concurrent writers of the same keys cannot both insert them:
    the later commit conflicts, is redone on the new snapshot and finds them present.
    Returns the rows the committed MERGE inserted."""
    from delta.tables import DeltaTable

    cond = " AND ".join(f"t.{k} = s.{k}" for k in keys)

    def merge() -> int:
        ensure_table(spark, path, rows.schema)
        builder = DeltaTable.forPath(spark, path).alias("t").merge(rows.alias("s"), cond)
        if update_when:
            builder = builder.whenMatchedUpdateAll(condition=update_when)
        return int(builder.whenNotMatchedInsertAll().execute().first()["num_inserted_rows"])

    return with_retries(merge, f"merge into {path}")


def merge_quarantine(spark: SparkSession, path: str, rows: DataFrame) -> int:
    """MERGE quarantine rows keyed by (origin, stage, reason); returns rows inserted.

    ``rows`` has ``origin, stage, reason, payload, doc_id, batch``; the time is added here.
    Quarantine rows are few, so they are de-duplicated and anti-joined whole.
    """
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    keys = QUARANTINE_KEYS
    rows = (rows.withColumn("quarantined_at", F.current_timestamp())
            .select(*QUARANTINE_COLUMNS).dropDuplicates(keys))
    if DeltaTable.isDeltaTable(spark, path):
        rows = rows.join(spark.read.format("delta").load(path).select(*keys), keys, "left_anti")
    rows = rows.cache()
    n = rows.count()
    if n:
        merge_insert(spark, path, rows, keys)
    rows.unpersist()
    return n


def table_state(spark: SparkSession, path: str) -> dict[str, Any]:
    """A table's latest version and row count, for reports and lineage.

    A local or S3 table's rows are summed from its files' statistics in the Delta log (no
    Spark job, delta-rs reads it); other file systems, or files written without row statistics, are counted by Spark.
    """
    from llmlake.spark import delta_version, is_local, log_table
    from llmlake.storage import is_s3

    if is_local(path) or is_s3(path):
        table = log_table(path)
        if table is None:
            return {"path": path, "version": None, "rows": 0}
        rows = _rows_from_log(table)
        if rows is not None:
            return {"path": path, "version": table.version(), "rows": rows}
    version = delta_version(spark, path)
    rows = spark.read.format("delta").load(path).count() if version is not None else 0
    return {"path": path, "version": version, "rows": rows}


def _rows_from_log(table: Any) -> int | None:
    import pyarrow as pa
    import pyarrow.compute as pc

    records = pa.table(table.get_add_actions(flatten=True)).column("num_records")
    return None if records.null_count else pc.sum(records).as_py() or 0


def resolve_quarantine(spark: SparkSession, path: str, stage: str, done: DataFrame) -> None:
    """Delete a stage's quarantine rows for documents that have now gone through it.

    A document quarantined by one run and processed by a later one would otherwise be
    reported as both failed and done.
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        return
    table = DeltaTable.forPath(spark, path)
    if table.toDF().filter(f"stage = '{stage}' AND doc_id IS NOT NULL").limit(1).count() == 0:
        return
    (table.alias("t").merge(done.select("doc_id").alias("s"),
                            f"t.stage = '{stage}' AND t.doc_id = s.doc_id")
     .whenMatchedDelete().execute())


def qualified(spark: SparkSession, path: str) -> str:
    """The fully qualified form of a path (``file:/abs/...``), as SQL's delta.`...` needs."""
    from llmlake.spark import hadoop_fs

    fs, jpath = hadoop_fs(spark, path)
    return fs.makeQualified(jpath).toString()


def get_property(spark: SparkSession, path: str, key: str) -> str | None:
    from delta.tables import DeltaTable

    from llmlake.spark import is_local, log_table
    from llmlake.storage import is_s3

    if is_local(path) or is_s3(path):
        table = log_table(path)
        return None if table is None else table.metadata().configuration.get(key)
    props = DeltaTable.forPath(spark, path).detail().first()["properties"] or {}
    return props.get(key)


def set_property(spark: SparkSession, path: str, key: str, value: str) -> None:
    set_properties(spark, path, {key: value})


def set_properties(spark: SparkSession, path: str, values: dict[str, str]) -> None:
    """Set table properties in one commit (so they change together or not at all)."""
    pairs = ", ".join(f"'{k}' = '{v}'" for k, v in values.items())
    spark.sql(f"ALTER TABLE delta.`{qualified(spark, path)}` SET TBLPROPERTIES ({pairs})")
