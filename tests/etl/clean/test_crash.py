"""Clean killed between its silver and quarantine writes, then rerun, leaves the tables an
uninterrupted run leaves."""

from __future__ import annotations

import shutil

import pytest
from lake_helpers import killed_run, params_at, table_content

from etl.clean import stage as clean
from llmlake.lake import Lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_killed_after_silver_reruns_to_the_same_tables(small_pipeline, tmp_path):
    reference = Lake(small_pipeline["params"].lake)
    params = params_at(tmp_path)
    lake = Lake(params.lake)
    for name in ("bronze/documents", "quarantine/records"):
        shutil.copytree(reference.table(name), lake.table(name))
    # Quarantine as ingest and clean left it: keyed MERGEs add nothing twice on the rerun.
    killed_run(params, tmp_path, "clean", "silver written")
    clean.run(params)
    for name in ("silver/documents", "quarantine/records"):
        assert table_content(lake.table(name)) == table_content(reference.table(name)), name
