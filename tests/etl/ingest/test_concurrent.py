"""Two ingests into one lake at once: each stages in its own folder, and Delta's optimistic
concurrency (a conflicting commit is redone) keeps every doc_id in bronze exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from lake_helpers import ROOT, params_at, sample_sources, stage_argv

from etl.sample import stage as sample
from llmlake.config import params_from_dict
from llmlake.lake import Lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]



def test_overlapping_ingests_write_each_document_once(tmp_path):
    from deltalake import DeltaTable

    sample.run(params_from_dict({"sample": {"out": str(tmp_path / "raw"), "docs": 400,
                                            "seed": 5, "docs_per_shard": 100},
                                 "lake": {"reports": str(tmp_path / "reports")}}))
    truth = [json.loads(x) for x in (tmp_path / "raw" / "truth.jsonl").read_text().splitlines()]
    params = params_at(tmp_path, ingest={"sources": sample_sources(tmp_path / "raw")})
    argv = stage_argv(params, tmp_path, "ingest")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    runs = [subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [run.communicate(timeout=600)[1] for run in runs]
    for run, err in zip(runs, errors, strict=True):
        assert run.returncode == 0, err[-3000:]

    table = DeltaTable(Lake(params.lake).table("bronze/documents")).to_pyarrow_dataset()
    ids = table.to_table(columns=["doc_id"]).column("doc_id").to_pylist()
    urls = table.to_table(columns=["url"]).column("url").to_pylist()
    assert len(ids) == len(set(ids))
    assert set(urls) == {t["url"] for t in truth if t["kind"] == "document"}
    assert not (tmp_path / "lake" / "_staging" / "ingest").exists()
