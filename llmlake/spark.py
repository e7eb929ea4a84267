"""The one place a SparkSession with Delta Lake is built.

Locally, ``delta-spark``'s ``configure_spark_with_delta_pip`` asks Spark to fetch the Delta
jars from Maven Central on first use (cached in the Ivy cache after). On a cluster, submit
with ``--packages io.delta:delta-spark_<spark>_2.13:<delta>`` (plus
``org.apache.hadoop:hadoop-aws:<Spark's Hadoop>`` and the ``fs.s3a`` settings as ``--conf``
for a lake on S3) and the session found by ``getOrCreate`` is reused unchanged.

A lake on S3 (``lake.root: s3a://bucket/lake``, or ``s3a`` settings in ``spark.conf``)
also loads Hadoop's ``hadoop-aws`` and the ``fs.s3a`` settings of :mod:`llmlake.storage`;
small facts about a table (its version, its log) come from delta-rs, locally or on S3.

Example::

    >>> from llmlake.config import SparkConfig
    >>> spark = get_spark(SparkConfig(master="local[2]"))   # doctest: +SKIP
    >>> spark = get_spark(SparkConfig(), lake_root="s3a://bucket/lake")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from llmlake.config import SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DELTA_HINT = (
    "Spark could not load Delta Lake. Locally the Delta jars are fetched from Maven Central "
    "on first use and cached in ~/.ivy2*; without network access, copy that cache from a "
    "machine that has it, or set spark.conf 'spark.jars' in params.yaml to local "
    "delta-spark and delta-storage jars (same versions as the delta-spark Python package)."
)


LOOPBACK = "127.0.0.1"


class SparkSetupError(RuntimeError):
    """Spark or the Delta jars could not be started or fetched."""


def _running_under_submit() -> bool:
    # spark-submit starts the JVM first and hands Python a gateway; don't reconfigure it.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(config: SparkConfig, lake_root: str | None = None,
              sources: tuple[str, ...] | list[str] = ()) -> SparkSession:
    """The session (started on first call); ``lake_root`` or ``sources`` (input paths) on S3
    add ``hadoop-aws``."""
    from delta import configure_spark_with_delta_pip
    from pyspark.sql import SparkSession

    from llmlake import storage

    s3a = storage.needs_s3a(lake_root, config.conf, sources)
    builder = SparkSession.builder.appName(config.app_name)
    settings = {
        # Before config.conf, so the user's spark.conf wins (an instance role, say).
        **(storage.spark_settings() if s3a else {}),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.ui.enabled": str(config.ui).lower(),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # Small local tables: many snapshot partitions only cost scheduling time.
        "spark.databricks.delta.snapshotPartitions": str(max(2, config.shuffle_partitions)),
        "spark.sql.session.timeZone": "UTC",
        **config.conf,
    }
    if not _running_under_submit():
        # Python workers must use this interpreter (and its packages), not the system one.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.master(config.master)
        settings["spark.driver.memory"] = config.driver_memory
        settings.setdefault("spark.ui.showConsoleProgress", "false")
        if config.master.startswith("local"):
            # One machine: nothing outside needs to reach the driver, so it listens on
            # loopback only (a cluster master keeps whatever spark.conf says).
            settings.setdefault("spark.driver.bindAddress", LOOPBACK)
            settings.setdefault("spark.driver.host", LOOPBACK)
    for key, value in settings.items():
        builder = builder.config(key, value)
    if not _running_under_submit() and "spark.jars" not in config.conf:
        extra = [storage.hadoop_aws_package()] if s3a else []
        builder = configure_spark_with_delta_pip(builder, extra_packages=extra)
    try:
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel(config.log_level)
        if not _delta_loaded(spark):
            raise SparkSetupError(DELTA_HINT)
    except SparkSetupError:
        raise
    except Exception as exc:
        raise SparkSetupError(f"{DELTA_HINT}\nUnderlying error: {exc}") from exc
    return spark


def _delta_loaded(spark: SparkSession) -> bool:
    # py4j resolves a missing class to a JavaPackage, which is not callable.
    try:
        spark._jvm.io.delta.tables.DeltaTable.isDeltaTable(spark._jsparkSession, "/nonexistent")
    except TypeError:
        return False
    return True


def hadoop_fs(spark: SparkSession, path: str):
    """``(file system, path)`` of ``path`` in Hadoop's API through the session's JVM: the
    one way to list, touch or delete on any file system Spark reaches (``s3a://``, ``file:``)."""
    jpath = spark._jvm.org.apache.hadoop.fs.Path(path)
    return jpath.getFileSystem(spark._jsc.hadoopConfiguration()), jpath


def is_local(path: str) -> bool:
    """True for a path on the local file system (not an object store URI)."""
    from llmlake.storage import is_remote

    return not is_remote(path) and not path.startswith("file:")


def log_table(path: str):
    """delta-rs's view of a Delta table (local or on S3), or None if there is none at ``path``.

    Reading a table's log with delta-rs takes milliseconds where a Spark job takes seconds,
    so small facts about a table (version, properties, row counts) come from here.
    """
    from llmlake.storage import open_table, table_exists

    return open_table(path) if table_exists(path) else None


def delta_version(spark: SparkSession | None, path: str) -> int | None:
    """Latest committed version of the Delta table at ``path`` (None if there is none);
    ``spark`` is only needed for a store delta-rs is not set up for here (neither local
    nor S3)."""
    from delta.tables import DeltaTable

    from llmlake.storage import is_s3

    if is_local(path) or is_s3(path):
        table = log_table(path)
        return None if table is None else table.version()
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    return int(row["version"]) if row else None


def arrow_schema(ddl: str):
    """The Spark schema of a ``mapInArrow`` output DDL and the Arrow schema workers build.

    Parsing needs the active session's JVM (driver only), so the Arrow schema is made here
    and shipped to the workers inside the function's closure.
    """
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import _parse_datatype_string

    struct = _parse_datatype_string(ddl)  # resolved through the active session
    return struct, to_arrow_schema(struct)


def rows_to_batch(rows: list[dict], schema):
    """Arrow batch from row dicts, built column by column (several times faster than
    ``RecordBatch.from_pylist``); keys missing from a row become nulls."""
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [pa.array([r.get(name) for r in rows], type=schema.field(name).type)
         for name in schema.names], schema=schema)
