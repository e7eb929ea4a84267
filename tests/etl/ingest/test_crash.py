"""Ingest killed between its bronze and quarantine writes, then rerun, leaves the tables
an uninterrupted run leaves."""

from __future__ import annotations

import pytest
from lake_helpers import killed_run, params_at, table_content

from etl.ingest import stage as ingest
from llmlake.lake import Lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_killed_after_bronze_reruns_to_the_same_tables(small_pipeline, tmp_path):
    reference = Lake(small_pipeline["params"].lake)
    params = params_at(tmp_path, ingest={"sources": small_pipeline["params"].ingest.sources})
    killed_run(params, tmp_path, "ingest", "bronze written")
    lake = Lake(params.lake)
    assert not (tmp_path / "lake" / "quarantine").exists()  # died before its second write
    ingest.run(params)
    for name in ("bronze/documents", "quarantine/records"):
        assert table_content(lake.table(name)) == table_content(reference.table(name)), name
