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
    if os.environ.get("LLMLAKE_E2E") != "1":
        skip = pytest.mark.skip(reason="minutes long: run `make test-e2e` (LLMLAKE_E2E=1)")
        for item in items:
            if "e2e" in item.keywords:
                item.add_marker(skip)
    if os.environ.get("LLMLAKE_CLUSTER") != "1":
        skip = pytest.mark.skip(reason="starts a cluster: run `make test-cluster` (LLMLAKE_CLUSTER=1)")
        for item in items:
            if "cluster" in item.keywords:
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


@pytest.fixture(scope="session")
def small_pipeline(tmp_path_factory, spark):
    """A small lake built by every data stage once, uninterrupted (the reference the
    crash tests compare against), with its params."""
    from lake_helpers import sample_sources

    from etl.clean import stage as clean
    from etl.dedup import stage as dedup
    from etl.ingest import stage as ingest
    from etl.sample import stage as sample
    from etl.tokenize import stage as tokenize
    from etl.tokenizer import stage as tokenizer

    base = tmp_path_factory.mktemp("pipeline")
    sample.run(params_at(base, sample={"out": str(base / "raw"), "docs": 160, "seed": 3,
                                       "docs_per_shard": 60}))
    params = params_at(base, ingest={"sources": sample_sources(base / "raw")},
                       tokenizer={"vocab_size": 600}, train={"context": 32})
    for stage in (ingest, clean, dedup, tokenizer, tokenize):
        stage.run(params)
    return {"base": base, "params": params}


@pytest.fixture(scope="session")
def train_inputs(small_pipeline):
    """The small lake with its shards exported: what the train stage reads. ``version`` is
    the gold/sequences version tokenize recorded."""
    import json

    from etl.export_shards import stage as export_shards

    params = small_pipeline["params"]
    export_shards.run(params)
    lineage = json.loads((Path(params.lake.reports) / "lineage" / "tokenize.json").read_text())
    return {**small_pipeline, "version": lineage["tables"]["gold/sequences"]["version"]}


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models are faster on one thread, and a busy machine cannot stall the other
    thread of every small op (model, evaluation, serving and monitoring tests). Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
