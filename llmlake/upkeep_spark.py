"""``llmlake lake optimize`` and ``llmlake lake vacuum``: the Spark side of table upkeep.

:func:`run_optimize` compacts small files (optionally Z-ordered by a column) and checks
that the row count is unchanged; :func:`run_vacuum` collects the versions lineage pins
(:mod:`llmlake.upkeep`), refuses before deleting anything if the retention would cut into
one, then vacuums (or, with ``dry_run``, lists what it would delete and the bytes). Both
first set the retention properties (``lake.log_retention``, ``lake.deleted_file_retention``)
on tables that lack them or hold other values (a dry run changes nothing), and write
``reports/lake_optimize.json`` / ``reports/lake_vacuum.json``.

The engine is Spark (delta-spark), not delta-rs: the lake's tables are written by Spark
(protocol reader 1 / writer 2 today, which delta-rs 1.6 could compact and vacuum too), but
Spark reaches every Hadoop file system the lake may sit on (``s3a://``, ``hdfs://``), where
delta-rs knows other URI schemes, and a writer feature a later Delta turns on in the
tables cannot leave upkeep behind the writer. Vacuum runs Delta's own VACUUM over an
inventory of the table's files that leaves out every file of a pinned version, so those
survive even if the retention check raced with the clock. Vacuum below a table's
``delta.deletedFileRetentionDuration`` needs ``force``, which turns Delta's own
``retentionDurationCheck`` off for that one call (restored after): the pin check here stays.

Example::

    >>> from llmlake.config import load_params
    >>> report = run_vacuum(load_params(), dry_run=True)      # doctest: +SKIP
    >>> report["tables"]["gold/documents"]["decision"]        # doctest: +SKIP
    'vacuum'
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from llmlake.config import Params, interval_hours
from llmlake.lake import TABLES, Lake, write_json
from llmlake.log import get_logger
from llmlake.spark import hadoop_fs
from llmlake.upkeep import (
    HOUR_MS,
    Commit,
    collect_pins,
    first_line,
    log_entry,
    norm_path,
    oldest_rebuildable,
    optimize_reason,
    optimize_signals,
    parse_commit,
    pin_warnings,
    vacuum_reason,
    vacuum_signals,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = get_logger(__name__)
RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
DEFAULT_FILE_RETENTION_H = 168.0  # Delta's defaults when a table sets neither property
DEFAULT_LOG_RETENTION_H = 720.0


@contextmanager
def upkeep_session(params: Params, what: str) -> Iterator[SparkSession]:
    """The Spark session, its commits stamped with the command (as stages stamp theirs);
    a Spark or Py4J failure inside becomes a one-line :class:`StageError` (the traceback
    goes to the debug log)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException

    from llmlake.spark import get_spark
    from llmlake.stage import USER_METADATA, StageError

    spark = get_spark(params.spark, lake_root=params.lake.root)
    spark.conf.set(USER_METADATA, json.dumps({"stage": f"lake {what}"}))
    try:
        yield spark
    except (Py4JError, PySparkException) as exc:
        log.debug("lake %s failed", what, exc_info=True)
        raise StageError(f"lake {what}: {first_line(exc)}") from None
    finally:
        spark.conf.unset(USER_METADATA)


def lake_tables(spark: SparkSession, params: Params, names: tuple[str, ...] = ()
                ) -> dict[str, str]:
    """The named lake tables (default: all) that exist, by name."""
    from llmlake.spark import delta_version

    lake = Lake(params.lake)
    return {n: lake.table(n) for n in names or TABLES
            if delta_version(spark, lake.table(n)) is not None}


def ensure_properties(spark: SparkSession, path: str, params: Params) -> dict[str, str]:
    """Set the retention properties the params ask for where the table differs (one
    commit); returns those set."""
    from llmlake.tables import get_property, retention_properties, set_properties

    wanted = retention_properties(params.lake)
    missing = {k: v for k, v in wanted.items() if get_property(spark, path, k) != v}
    if missing:
        set_properties(spark, path, missing)
        log.info("%s: set %s", path, ", ".join(f"{k} = {v}" for k, v in missing.items()))
    return missing


def _hours(spark: SparkSession, path: str, key: str, default: float) -> float:
    from llmlake.tables import get_property

    value = get_property(spark, path, key)
    try:
        return float(interval_hours(value)) if value else default
    except ValueError:
        return default


def facts(spark: SparkSession, path: str) -> dict[str, Any]:
    """Version, live data files and bytes (from the log), rows, and what is on storage."""
    from delta.tables import DeltaTable

    from llmlake.spark import is_local
    from llmlake.tables import table_state

    state = table_state(spark, path)
    if is_local(path):  # delta-rs reads it from the log in milliseconds
        actions = _add_actions(path, None)
        live = (actions.num_rows, sum(actions.column("size_bytes").to_pylist()))
    else:
        detail = DeltaTable.forPath(spark, path).detail().first()
        live = (detail["numFiles"], detail["sizeInBytes"])
    files, size = storage_usage(spark, path)
    return {"version": state["version"], "rows": state["rows"], "files": live[0],
            "bytes": live[1], "storage_files": files, "storage_bytes": size}


def _add_actions(path: str, version: int | None) -> Any:
    import pyarrow as pa

    from llmlake.storage import open_table

    return pa.table(open_table(path, version).get_add_actions(flatten=True))


def storage_usage(spark: SparkSession, path: str) -> tuple[int, int]:
    """Files and bytes under the table folder, the log left out: what vacuum can free."""
    fs, root = hadoop_fs(spark, path)
    whole = fs.getContentSummary(root)
    logs = fs.getContentSummary(spark._jvm.org.apache.hadoop.fs.Path(root, "_delta_log"))
    return (whole.getFileCount() - logs.getFileCount(), whole.getLength() - logs.getLength())


def read_log(spark: SparkSession, path: str) -> tuple[list[Commit], int | None]:
    """The commits whose JSON files are still in ``_delta_log``, and the oldest version
    the log can rebuild. A local log is read with plain file reads (a long log retention
    keeps thousands of commits: one Py4J round trip each adds up); others through Hadoop."""
    from pathlib import Path

    from llmlake.spark import is_local

    if is_local(path):
        found = {e: f for f in (Path(path) / "_delta_log").iterdir() if (e := log_entry(f.name))}
        texts = {v: f.read_text(encoding="utf-8") for (k, v), f in found.items() if k == "commit"}
    else:
        fs, root = hadoop_fs(spark, path)
        listing = fs.listStatus(spark._jvm.org.apache.hadoop.fs.Path(root, "_delta_log"))
        found = {e: s.getPath() for s in listing if (e := log_entry(s.getPath().getName()))}
        texts = {v: _read_hadoop(spark, fs, p) for (k, v), p in found.items() if k == "commit"}
    oldest = oldest_rebuildable(set(texts), {v for k, v in found if k == "checkpoint"})
    return [parse_commit(v, texts[v]) for v in sorted(texts)], oldest


def _read_hadoop(spark: SparkSession, fs: Any, jpath: Any) -> str:
    stream = fs.open(jpath)
    try:
        return spark._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def version_files(spark: SparkSession, path: str, version: int) -> set[str]:
    """The data files of one version, relative to the table as the log writes them."""
    from llmlake.spark import is_local
    from llmlake.tables import qualified

    if is_local(path):  # delta-rs: no Spark job for a fact the log holds
        return {unquote(f) for f in _add_actions(path, version).column("path").to_pylist()}
    files = spark.read.format("delta").option("versionAsOf", version).load(path).inputFiles()
    root = unquote(qualified(spark, path)).rstrip("/") + "/"
    return {unquote(f).removeprefix(root) for f in files}


@contextmanager
def retention_check(spark: SparkSession, enabled: bool) -> Iterator[None]:
    """Delta's retention guard on or off for one call, then back as it was."""
    before = spark.conf.get(RETENTION_CHECK, "true")
    spark.conf.set(RETENTION_CHECK, str(enabled).lower())
    try:
        yield
    finally:
        spark.conf.set(RETENTION_CHECK, before)


INVENTORY_DDL = "path string, length long, isDir boolean, modificationTime long"
INVENTORY_VIEW = "llmlake_vacuum_inventory"


def inventory(spark: SparkSession, path: str, protected: set[str]) -> dict[str, int]:
    """The data files under the table that vacuum may consider, with their bytes: all but
    the log and hidden folders, and but ``protected`` (the files of pinned versions)."""
    fs, root = hadoop_fs(spark, path)
    prefix = fs.makeQualified(root).toString().rstrip("/") + "/"
    listing, found = fs.listFiles(root, True), {}
    while listing.hasNext():
        status = listing.next()
        full = status.getPath().toString()  # Hadoop's Path prints the decoded name
        relative = full.removeprefix(prefix)
        if relative[:1] in ("_", ".") or relative in protected:
            continue
        found[full] = (status.getLen(), status.getModificationTime())
    rows = [(f, n, False, t) for f, (n, t) in found.items()]
    spark.createDataFrame(rows, INVENTORY_DDL).createOrReplaceTempView(INVENTORY_VIEW)
    return {f: n for f, (n, _) in found.items()}


def delta_vacuum(spark: SparkSession, path: str, hours: float, dry: bool) -> list[str]:
    """Delta's VACUUM over the inventory view: it deletes nothing the inventory leaves out,
    so a pinned version's files survive whatever the clock did since the check."""
    from llmlake.tables import qualified

    sql = (f"VACUUM delta.`{qualified(spark, path)}` USING INVENTORY "
           f"(SELECT * FROM {INVENTORY_VIEW}) RETAIN {hours:f} HOURS")
    try:
        rows = spark.sql(sql + (" DRY RUN" if dry else "")).collect()
    finally:
        spark.catalog.dropTempView(INVENTORY_VIEW)
    return [r["path"] for r in rows] if dry else []


def measure(spark: SparkSession, name: str, path: str, pins: list[Any], params: Params,
            to_pins: bool) -> tuple[dict[str, Any], dict[int, set[str] | None]]:
    """:func:`vacuum_signals` of one table, and the files of each of its pinned versions."""
    from llmlake.spark import delta_version

    mine = [p for p in pins if p.path == norm_path(path)]
    files_at: dict[int, set[str] | None] = {}
    errors: dict[int, str] = {}
    for version in sorted({p.version for p in mine}):
        try:
            files_at[version] = version_files(spark, path, version)
        except Exception as exc:  # the decision judges it: lost, or refused
            files_at[version], errors[version] = None, first_line(exc)
            log.warning("%s: pinned version %d cannot be read (%s)", path, version,
                        errors[version])
    current = version_files(spark, path, delta_version(spark, path))
    commits, oldest = read_log(spark, path)
    signals = vacuum_signals(
        name, commits, mine, files_at, current, now_ms=int(time.time() * 1000),
        retention_hours=None if to_pins else params.lake.vacuum_retention_hours,
        margin_hours=params.lake.vacuum_margin_hours,
        file_retention_hours=_hours(spark, path, "delta.deletedFileRetentionDuration",
                                    DEFAULT_FILE_RETENTION_H),
        log_retention_hours=_hours(spark, path, "delta.logRetentionDuration",
                                   DEFAULT_LOG_RETENTION_H),
        oldest_version=oldest, read_errors=errors)
    return signals, files_at


def missing_files(spark: SparkSession, path: str, files: set[str]) -> list[str]:
    fs, root = hadoop_fs(spark, path)
    jpath = spark._jvm.org.apache.hadoop.fs.Path
    return sorted(f for f in files if not fs.exists(jpath(root, f)))


def vacuum_table(spark: SparkSession, path: str, signals: dict[str, Any],
                 protected: set[str], dry: bool, force: bool) -> dict[str, Any]:
    """Vacuum one table (or list what it would delete); files and bytes before and after.

    The retention is stretched by the time since the check, so Delta's cutoff is the
    instant the check judged; the files of pinned versions are left out of the inventory
    Delta works from, so even a cutoff later than that (a slow start) cannot reach them."""
    files, size = storage_usage(spark, path)
    out: dict[str, Any] = {"storage_files_before": files, "storage_bytes_before": size,
                           "protected_files": len(protected)}
    sizes = inventory(spark, path, protected)
    with retention_check(spark, enabled=not force):
        hours = signals["retention_hours"] + (time.time() * 1000 - signals["measured_at_ms"]
                                               ) / HOUR_MS
        out["effective_retention_hours"] = round(hours, 6)
        listed = delta_vacuum(spark, path, hours, dry)
    if dry:
        return {**out, "would_delete_files": len(listed),
                "would_delete_bytes": sum(sizes.get(p, 0) for p in listed),
                "would_delete": listed[:1000]}
    files_after, size_after = storage_usage(spark, path)
    return {**out, "storage_files_after": files_after, "storage_bytes_after": size_after,
            "deleted_files": files - files_after, "deleted_bytes": size - size_after}


def run_vacuum(params: Params, tables: tuple[str, ...] = (), dry_run: bool = False,
               force: bool = False, to_pins: bool = False) -> dict[str, Any]:
    """Vacuum the lake's tables (default: all) at ``lake.vacuum_retention_hours``, or with
    ``to_pins`` at the shortest retention each table's pins allow. All or none: a table
    whose pins the retention would cut refuses the run before anything is deleted."""
    from llmlake.stage import StageError

    lake = Lake(params.lake)
    try:
        pins = collect_pins(lake.report("").resolve(), lake.artifact("").resolve())
    except ValueError as exc:
        raise StageError(f"lake vacuum: {exc}") from None
    log.info("lake vacuum: %d pinned table versions in %d files", len(pins),
             len({p.source for p in pins}))
    report: dict[str, Any] = {
        "retention_hours": "pins" if to_pins else params.lake.vacuum_retention_hours,
        "dry_run": dry_run, "force": force, "pin_sources": sorted({p.source for p in pins}),
        "tables": {}}
    with upkeep_session(params, "vacuum") as spark:
        pinned = _plan(spark, params, tables, pins, report, dry_run, force, to_pins)
        refused = [t["reason"] for t in report["tables"].values() if t["decision"] != "vacuum"]
        if refused:
            write_json(lake.report("lake_vacuum.json"), report)
            more = f" (+{len(refused) - 1} more in lake_vacuum.json)" if len(refused) > 1 else ""
            raise StageError(f"lake vacuum refused: {refused[0]}{more}")
        for name, entry in report["tables"].items():
            path = lake.table(name)
            log.info("lake vacuum: %s%s", name, " (dry run)" if dry_run else "")
            needed = set().union(*(f for f in pinned[name].values() if f))
            entry.update(vacuum_table(spark, path, entry, needed, dry_run, force))
            entry["versions_kept"] = sorted(v for v, f in pinned[name].items() if f)
            if not dry_run and (lost := missing_files(spark, path, needed)):
                write_json(lake.report("lake_vacuum.json"), report)
                raise StageError(f"lake vacuum: {name} lost {lost[0]}, a file of a pinned "
                                 "version")
    write_json(lake.report("lake_vacuum.json"), report)
    return report


def _plan(spark: SparkSession, params: Params, tables: tuple[str, ...], pins: list[Any],
          report: dict[str, Any], dry_run: bool, force: bool, to_pins: bool
          ) -> dict[str, dict[int, set[str] | None]]:
    """Measure and decide every table into ``report``; the files of each pinned version."""
    pinned = {}
    for name, path in lake_tables(spark, params, tables).items():
        props = {} if dry_run else ensure_properties(spark, path, params)
        signals, pinned[name] = measure(spark, name, path, pins, params, to_pins)
        decision, line = vacuum_reason(signals, force)
        (log.info if decision == "vacuum" else log.error)("%s", line)
        for line in pin_warnings(signals):
            log.warning("%s", line)
        report["tables"][name] = {**signals, "decision": decision, "reason": line,
                                  "properties_set": props}
    return pinned


def optimize_table(spark: SparkSession, path: str, zorder_by: str | None) -> None:
    from delta.tables import DeltaTable

    builder = DeltaTable.forPath(spark, path).optimize()
    builder.executeZOrderBy(zorder_by) if zorder_by else builder.executeCompaction()


def run_optimize(params: Params, tables: tuple[str, ...] = (), zorder_by: str | None = None
                 ) -> dict[str, Any]:
    """Compact the lake's tables (Z-ordered by ``zorder_by`` if given; every table named
    must have that column) and check each keeps its rows."""
    from llmlake.stage import StageError

    report: dict[str, Any] = {"zorder_by": zorder_by, "tables": {}}
    with upkeep_session(params, "optimize") as spark:
        found = lake_tables(spark, params, tables)
        for name, path in found.items():
            if zorder_by and zorder_by not in spark.read.format("delta").load(path).columns:
                raise StageError(f"lake optimize: {name} has no column {zorder_by!r} "
                                 "(--zorder-by); name the tables that have it")
        for name, path in found.items():
            _optimize_one(spark, params, name, path, zorder_by, report)
    write_json(Lake(params.lake).report("lake_optimize.json"), report)
    return report


def _optimize_one(spark: SparkSession, params: Params, name: str, path: str,
                  zorder_by: str | None, report: dict[str, Any]) -> None:
    from llmlake.stage import StageError

    props = ensure_properties(spark, path, params)
    before = facts(spark, path)
    log.info("lake optimize: %s, %d files", name, before["files"])
    optimize_table(spark, path, zorder_by)
    signals = optimize_signals(name, before, facts(spark, path))
    decision, line = optimize_reason(signals)
    report["tables"][name] = {**signals, "decision": decision, "reason": line,
                              "properties_set": props}
    log.info("%s", line)
    if decision == "rows_changed":
        write_json(Lake(params.lake).report("lake_optimize.json"), report)
        raise StageError(f"lake optimize: {line}")
