"""Shared fixtures: one local Spark session with Delta for the whole test session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from lake_helpers import TEST_SPARK, params_at

from llmlake.config import Params


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
        return params_at(tmp_path, **sections)

    return build
