"""Shared fixtures: one local Spark session with Delta for the whole test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from llmlake.config import Params, SparkConfig, params_from_dict


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


TEST_SPARK = SparkConfig(
    master="local[2]",
    app_name="llmlake-tests",
    driver_memory="3g",
    shuffle_partitions=2,
    log_level="ERROR",
)


@pytest.fixture(scope="session")
def spark():
    """The session-scoped local Spark session with Delta configured."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from llmlake.spark import get_spark

    session = get_spark(TEST_SPARK)
    yield session
    session.stop()


@pytest.fixture
def make_params(tmp_path: Path):
    """Build Params rooted in a temporary folder; sections override the defaults."""

    def build(**sections: dict) -> Params:
        raw = {
            "lake": {
                "root": str(tmp_path / "lake"),
                "reports": str(tmp_path / "reports"),
                "artifacts": str(tmp_path / "artifacts"),
            },
            "spark": {k: getattr(TEST_SPARK, k) for k in ("master", "app_name", "driver_memory",
                                                          "shuffle_partitions", "log_level")},
        }
        for name, values in sections.items():
            raw.setdefault(name, {}).update(values)
        return params_from_dict(raw)

    return build
