"""A model's data lineage (llmlake.lineage): the chain of table versions back to bronze."""

from __future__ import annotations

import json

import pytest

from llmlake.config import LakeConfig
from llmlake.lake import Lake
from llmlake.lineage import LineageError, data_summary, upstream


def table(name: str, version: int) -> dict:
    return {"path": f"lake/{name}", "version": version}


@pytest.fixture
def lake(tmp_path):
    lake = Lake(LakeConfig(reports=str(tmp_path)))
    (tmp_path / "lineage").mkdir()
    chain = {
        "ingest": ({"bronze/documents": table("bronze/documents", 3)}, {}),
        "clean": ({"silver/documents": table("silver/documents", 2)},
                  {"bronze/documents": table("bronze/documents", 3)}),
        "dedup": ({"gold/documents": table("gold/documents", 5)},
                  {"silver/documents": table("silver/documents", 2)}),
        "tokenize": ({"gold/sequences": table("gold/sequences", 1)},
                     {"gold/documents": table("gold/documents", 5)}),
    }
    for stage, (tables, inputs) in chain.items():
        lake.lineage(stage).write_text(json.dumps({"tables": tables, "inputs": inputs}))
    return lake


def test_the_chain_reaches_bronze_with_each_version_and_stage(lake):
    got = upstream(lake, "tokenize")
    assert {k: (v["version"], v["stage"]) for k, v in got.items()} == {
        "gold/sequences": (1, "tokenize"), "gold/documents": (5, "dedup"),
        "silver/documents": (2, "clean"), "bronze/documents": (3, "ingest")}


def test_a_lake_that_moved_on_breaks_the_chain_with_the_command_to_run(lake):
    record = json.loads(lake.lineage("dedup").read_text())
    record["tables"]["gold/documents"]["version"] = 6  # dedup ran again, tokenize did not
    lake.lineage("dedup").write_text(json.dumps(record))
    with pytest.raises(LineageError, match=r"version 5.*version 6.*llmlake etl dedup"):
        upstream(lake, "tokenize")


def test_a_missing_record_ends_the_chain_at_the_input_it_names(lake):
    lake.lineage("clean").unlink()
    got = upstream(lake, "tokenize")
    assert got["silver/documents"] == {**table("silver/documents", 2), "stage": None}
    assert "bronze/documents" not in got


def test_data_summary_keeps_what_a_card_needs(lake):
    lake.report("clean.json").write_text(json.dumps(
        {"documents": {"kept": 9}, "dropped_by_reason": {"short": 1}, "config_hash": "x"}))
    assert data_summary(lake) == {"clean": {"documents": {"kept": 9},
                                            "dropped_by_reason": {"short": 1}}}
