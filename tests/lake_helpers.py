"""Params for tests that build a lake under a folder (a plain module: nothing to collect)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from etl.sample.stage import FORMATS
from llmlake.config import Params, SparkConfig, as_dict, params_from_dict
from llmlake.stage import KILL_ENV
from llmlake.stages import stage_spec

TEST_SPARK = SparkConfig(
    master="local[2]",
    app_name="llmlake-tests",
    driver_memory="3g",
    shuffle_partitions=2,
    log_level="ERROR",
)


def sample_sources(raw: Path) -> list[str]:
    """The format folders of a sample crawl written to ``raw``."""
    return [str(raw / fmt) for fmt in FORMATS]


def params_at(base: Path, **sections: dict) -> Params:
    """Params with the lake, reports and artifacts under ``base`` and the test Spark
    settings; each keyword is a params section whose keys override the defaults."""
    raw: dict[str, dict] = {
        "lake": {"root": str(base / "lake"), "reports": str(base / "reports"),
                 "artifacts": str(base / "artifacts")},
        "spark": {k: getattr(TEST_SPARK, k) for k in ("master", "app_name", "driver_memory",
                                                      "shuffle_partitions", "log_level")},
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return params_from_dict(raw)


ROOT = Path(__file__).resolve().parents[1]


def stage_argv(params: Params, folder: Path, stage: str) -> list[str]:
    """The command line that runs ``stage`` under ``params`` in a process of its own (the
    params written to a file in ``folder``); run it with ``cwd=ROOT``."""
    path = folder / f"params-{stage}.yaml"
    path.write_text(yaml.safe_dump(as_dict(params)))
    args = stage_spec(stage).command.split()[1:]
    return [sys.executable, "-m", "llmlake.cli", "--params", str(path), *args]


def killed_run(params: Params, folder: Path, stage: str, point: str) -> None:
    """Run ``stage`` in its own process and let the stage SIGKILL itself at ``point`` (a
    lost machine, mid-stage); asserts it died there."""
    env = {**os.environ, KILL_ENV: f"{stage}:{point}", "PYSPARK_PYTHON": sys.executable}
    proc = subprocess.run(stage_argv(params, folder, stage), env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert f"killed at {point!r}" in proc.stderr


# Columns that name a run or its time: they differ between runs that wrote the same data.
RUN_COLUMNS = {"batch", "ingest_batch", "quarantined_at"}


def table_content(path: str | Path) -> list[str]:
    """A Delta table's rows, without run columns, in a canonical order (delta-rs)."""
    import json

    from deltalake import DeltaTable

    table = DeltaTable(str(path)).to_pyarrow_dataset().to_table()
    table = table.select([c for c in sorted(table.column_names) if c not in RUN_COLUMNS])
    return sorted(json.dumps(row, sort_keys=True, default=str) for row in table.to_pylist())
