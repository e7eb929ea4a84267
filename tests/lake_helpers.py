"""Params for tests that build a lake under a folder (a plain module: nothing to collect)."""

from __future__ import annotations

from pathlib import Path

from etl.sample.stage import FORMATS
from llmlake.config import Params, SparkConfig, params_from_dict

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
