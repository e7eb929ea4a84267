"""Two ingests into one lake at once: each stages in its own folder, and Delta's optimistic
concurrency (a conflicting commit is redone) keeps every doc_id in bronze exactly once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lake_helpers import params_at, sample_sources

from etl.sample import stage as sample
from llmlake.config import as_dict, params_from_dict
from llmlake.lake import Lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


def test_overlapping_ingests_write_each_document_once(tmp_path):
    from deltalake import DeltaTable

    sample.run(params_from_dict({"sample": {"out": str(tmp_path / "raw"), "docs": 400,
                                            "seed": 5, "docs_per_shard": 100}}))
    truth = [json.loads(x) for x in (tmp_path / "raw" / "truth.jsonl").read_text().splitlines()]
    params = params_at(tmp_path, ingest={"sources": sample_sources(tmp_path / "raw")})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(as_dict(params)))
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    runs = [subprocess.Popen([sys.executable, "-m", "llmlake.cli", "--params", str(path), "etl",
                              "ingest"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
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
