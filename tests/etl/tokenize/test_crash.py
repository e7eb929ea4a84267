"""Tokenize killed after overwriting gold/sequences but before recording what it built,
then rerun, leaves the table an uninterrupted run leaves; the chain leaves no staging."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lake_helpers import killed_run, params_at, table_content

from etl.tokenize import stage as tokenize
from llmlake.lake import Lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def test_killed_after_sequences_reruns_to_the_same_table(small_pipeline, tmp_path):
    ref_params = small_pipeline["params"]
    reference = Lake(ref_params.lake)
    params = params_at(tmp_path, tokenizer={"vocab_size": 600}, train={"context": 32})
    lake = Lake(params.lake)
    shutil.copytree(reference.table("gold/documents"), lake.table("gold/documents"))
    shutil.copytree(reference.artifact("tokenizer"), lake.artifact("tokenizer"))
    killed_run(params, tmp_path, "tokenize", "sequences written")
    assert not lake.report("tokenize.json").exists()
    report = tokenize.run(params)
    assert "unchanged" not in report  # rebuilt: the killed run never recorded its state
    assert table_content(lake.table("gold/sequences")) == \
        table_content(reference.table("gold/sequences"))


def test_every_stage_of_the_chain_leaves_no_staging(small_pipeline):
    """Ingest, clean and dedup stage through ``<lake>/_staging/<stage>``; each removes its
    own once it has committed."""
    staging = Path(small_pipeline["params"].lake.root) / "_staging"
    left = sorted(str(p.relative_to(staging)) for p in staging.rglob("*")) \
        if staging.exists() else []
    assert left == []
