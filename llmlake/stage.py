"""The stage shell: what every stage does before and after its own work, done one way.

``with stage_shell("dedup", params) as sh:`` gives a stage

* ``sh.spark``: the Spark session with Delta, started on first use (a stage that needs
  none never starts one), every Delta commit stamped with ``userMetadata`` naming the stage
  and batch, so ``DESCRIBE HISTORY`` tells who wrote what;
* ``sh.batch``: a unique id of this run (``dedup-20261129T101500123456Z-3fa1``), and
  ``sh.staging(...)``, a folder of this run alone under ``<lake>/_staging/<stage>/<batch>``,
  so two runs at once never read each other's files. It is removed once the stage has
  committed (``sh.drop_staging()``, called by ``finish``) or ends; the first ``staging``
  call of a run removes what killed runs of the stage left (:mod:`llmlake.staging`);
* ``sh.step("name")``: step timings, logged as each step starts and ends;
* ``sh.require("silver/documents")``: the missing-input check, one line naming the table
  and the command that makes it (:class:`MissingInput`, printed without a traceback);
* ``sh.finish(metrics, tables=[...])``: ``reports/<stage>.json`` (results only: the DVC
  metrics, committed to git), ``reports/timings/<stage>.json`` (seconds, steps, batch: not
  metrics, so metric diffs carry no noise) and ``reports/lineage/<stage>.json`` (the input
  and output tables with their Delta versions, keyed by table name, and nothing that changes
  when the tables do not: the small file DVC tracks in place of a table).

Example::

    >>> from llmlake.config import Params, LakeConfig
    >>> import tempfile
    >>> tmp = tempfile.mkdtemp()
    >>> params = Params(lake=LakeConfig(root=f"{tmp}/lake", reports=f"{tmp}/reports"))
    >>> with stage_shell("tokenize", params) as sh:
    ...     sh.require("gold/documents")
    Traceback (most recent call last):
    ...
    llmlake.stage.MissingInput: llmlake etl tokenize: input table .../lake/gold/documents does not exist; make it with `llmlake etl dedup`
    >>> with stage_shell("tokenize", params) as sh:
    ...     with sh.step("count"):
    ...         pass
    ...     sorted(sh.finish({"sequences": 0}))
    ['sequences']
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmlake.config import Params
from llmlake.lake import Lake, utc_now, write_csv, write_json
from llmlake.log import Steps, get_logger
from llmlake.stages import StageSpec, maker_of, stage_spec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
KILL_ENV = "LLMLAKE_KILL_AT"


class StageError(RuntimeError):
    """A stage cannot run; the message is one line for the user, not a traceback."""


class MissingInput(StageError):
    """An input table or artifact does not exist yet."""


class Shell:
    def __init__(self, name: str, params: Params, item: str | None = None) -> None:
        self.spec: StageSpec = stage_spec(name)
        self.name, self.params, self.item = name, params, item
        self.lake = Lake(params.lake)
        self.log = get_logger(self.spec.module)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        self.batch = f"{name}-{stamp}-{secrets.token_hex(2)}"
        self.steps = Steps(self.log, self.label)
        self.started = time.time()
        self.inputs: dict[str, dict[str, Any]] = {}
        self._stage_staging = f"{params.lake.root.rstrip('/')}/_staging/{name}"
        self._staging_root = f"{self._stage_staging}/{self.batch}"
        self._marker: str | None = None  # this run's owner marker, once it stages

    @property
    def label(self) -> str:
        return f"{self.name} {self.item}" if self.item else self.name

    @cached_property
    def spark(self) -> SparkSession:
        from llmlake.spark import get_spark
        from llmlake.tables import use_lake_defaults

        # ingest.sources too: a local lake may still read its crawl from S3.
        spark = get_spark(self.params.spark, lake_root=self.params.lake.root,
                          sources=self.params.ingest.sources)
        # Tables this stage creates keep their log as long as lineage may name a version.
        use_lake_defaults(spark, self.params.lake)
        spark.conf.set(USER_METADATA, json.dumps({"stage": self.label, "batch": self.batch}))
        return spark

    def step(self, name: str):
        return self.steps(name)

    def kill_point(self, point: str) -> None:
        """Fault injection for crash-consistency tests: with ``LLMLAKE_KILL_AT`` set to
        ``<stage>:<point>`` the process SIGKILLs itself here, as a lost machine would."""
        if os.environ.get(KILL_ENV) == f"{self.name}:{point}":
            self.log.warning("%s: killed at %r (%s)", self.label, point, KILL_ENV)
            os.kill(os.getpid(), signal.SIGKILL)

    def staging(self, name: str = "") -> str:
        """A path in this run's staging folder. The first call marks the folder as this
        process's and removes the folders of runs of this stage whose owner is gone."""
        if self._marker is None:
            self._claim_staging()
        return f"{self._staging_root}/{name}".rstrip("/")

    def _staging_fs(self):
        from llmlake.staging import StagingFs

        local = _local(self._staging_root)
        return StagingFs(None if local else self.spark, local)

    def _claim_staging(self) -> None:
        from llmlake.staging import host_name, marker_name, sweep

        fs, host = self._staging_fs(), host_name()
        try:
            removed = sweep(fs, self._stage_staging, time.time(), host, keep=self.batch)
        except Exception as exc:  # leftovers cost space, not correctness
            removed = []
            self.log.warning("%s: could not sweep %s: %s", self.label, self._stage_staging, exc)
        if removed:
            self.log.info("%s: removed the staging of %d ended run(s): %s", self.label,
                          len(removed), ", ".join(removed))
        # Written before anything is staged, so a sweep never sees this run's folder alone.
        self._marker = f"{self._stage_staging}/{marker_name(self.batch, os.getpid(), host)}"
        fs.touch(self._marker)

    def drop_staging(self) -> None:
        """Remove this run's staging folder and owner marker (and the stage's folder once
        empty). Called when the stage has committed and read its staging for the last time;
        idempotent, never fails the stage."""
        if self._marker is None:
            return
        try:
            fs = self._staging_fs()
            fs.delete(self._staging_root)
            fs.delete(self._marker)
            fs.remove_if_empty(self._stage_staging)
        except Exception as exc:  # the next run of the stage removes it
            self.log.warning("could not remove staging folder %s: %s", self._staging_root, exc)
        self._marker = None

    def table(self, name: str) -> str:
        return self.lake.table(name)

    def _spark_for(self, path: str) -> SparkSession | None:
        """Spark for a table on a Hadoop file system; None for a local or S3 one, whose
        facts delta-rs reads from the log (so a stage that needs no Spark never starts it)."""
        from llmlake.storage import is_s3

        return None if _local(path) or is_s3(path) else self.spark

    def version(self, table: str) -> int | None:
        """The table's latest Delta version, None if there is none."""
        from llmlake.spark import delta_version

        path = self.lake.table(table)
        return delta_version(self._spark_for(path), path)

    def require(self, table: str) -> int:
        """The version of an input table; :class:`MissingInput` if it does not exist."""
        version = self.version(table)
        if version is None:
            self._missing(f"input table {self.lake.table(table)}", table)
        self.inputs[table] = {"path": self.lake.table(table), "version": version}
        return version

    def require_artifact(self, name: str, marker: str) -> Path:
        """An input artifact folder (``tokenizer``) holding ``marker``, or MissingInput."""
        folder = self.lake.artifact(name)
        if not (folder / marker).exists():
            self._missing(f"input {folder / marker}", f"artifacts/{name}")
        return folder

    def _missing(self, what: str, thing: str) -> None:
        maker = maker_of(thing)
        how = f"; make it with `{maker.command}`" if maker else ""
        raise MissingInput(f"{self.spec.command_for(self.item)}: {what} does not exist{how}")

    def state(self, table: str) -> dict[str, Any]:
        """Path, Delta version and row count of a table, for reports and lineage."""
        from llmlake.tables import table_state

        # Only stages that wrote the table ask, so Spark is already up; table_state uses it
        # only where the Delta log cannot answer.
        return table_state(self.spark, self.lake.table(table))

    def plot(self, name: str, rows: list[dict[str, Any]]) -> Path:
        """A table of records for ``dvc plots`` (``reports/plots/<stage>_<name>.csv``)."""
        return write_csv(self.lake.report(f"plots/{self.name}_{name}.csv"), rows)

    def finish(self, metrics: dict[str, Any], tables: tuple[str, ...] | list[str] = (),
               lineage: dict[str, Any] | None = None, **timings: Any) -> dict[str, Any]:
        """Write the metrics, timings and lineage files. Returns the metrics with this run's
        facts (``timings``: counts of this run, not of the tables) beside them."""
        base = self.spec.report or self.name
        report = f"{base}_{self.item}" if self.item else base
        outputs = {t: self.state(t) for t in tables}
        if outputs:
            metrics = {**metrics, "tables": outputs}
        write_json(self.lake.report(f"{report}.json"), metrics)
        seconds = round(time.time() - self.started, 2)
        write_json(self.lake.report(f"timings/{report}.json"), {
            "stage": self.label, "batch": self.batch, "finished_at": utc_now(),
            "seconds": seconds, "steps": dict(self.steps.seconds), **timings})
        if outputs or lineage:
            record = {"stage": self.label, "inputs": self.inputs, "tables": outputs,
                      **(lineage or {})}
            write_json(self.lake.lineage(report), record)
        self.drop_staging()
        self.log.info("%s done in %.1fs", self.label, seconds)
        return {**metrics, **timings}

    def close(self) -> None:
        try:
            if "spark" in self.__dict__:
                self.spark.conf.unset(USER_METADATA)
        finally:
            self.drop_staging()


def _local(path: str) -> bool:
    from llmlake.spark import is_local

    return is_local(path)


@contextmanager
def stage_shell(name: str, params: Params, item: str | None = None) -> Iterator[Shell]:
    shell = Shell(name, params, item)
    shell.log.info("%s: batch %s", shell.label, shell.batch)
    try:
        yield shell
    finally:
        shell.close()
