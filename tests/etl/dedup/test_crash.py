"""Dedup is crash-consistent across its three tables: a run SIGKILLed at any write, then
rerun, leaves exactly the gold an uninterrupted run leaves."""

from __future__ import annotations

import pytest
from lake_helpers import killed_run, params_at, table_content

from etl.dedup import stage as dedup
from etl.dedup.stage import DEDUP_TABLES
from llmlake.lake import Lake

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def content(params) -> dict[str, list[str]]:
    lake = Lake(params.lake)
    return {name: table_content(lake.table(name)) for name in DEDUP_TABLES}


def silver_batches(spark):
    """A silver table with planted duplicates, split in two batches by doc_id."""
    words = ["river", "stone", "paper", "lamp", "garden", "window", "market", "winter",
             "song", "cloud", "bridge", "letter", "forest", "engine", "candle", "harbor",
             "mirror", "ladder"]
    rows = []
    for i in range(60):
        text = " ".join(words[(i * 7 + k * (i % 5 + 1)) % len(words)] for k in range(120))
        rows.append((f"{i:03d}", text))
        if i % 3 == 0:  # an exact and a near copy, landing in either batch
            rows.append((f"{(i * 37) % 100:03d}x", text.upper()))
            rows.append((f"{(i * 53) % 100:03d}n", text.replace(words[i % len(words)],
                                                                "torch", 1)))
    df = spark.createDataFrame(
        [(d, t, "en", f"https://x.example/{d}", None, None) for d, t in rows],
        "doc_id string, text string, lang string, url string, fetched_at timestamp, "
        "drop_reason string")
    return df.where("doc_id < '050'"), df.where("doc_id >= '050'")


@pytest.fixture(scope="module")
def batches(spark):
    return silver_batches(spark)


@pytest.fixture(scope="module")
def reference(spark, batches, tmp_path_factory):
    params = params_at(tmp_path_factory.mktemp("reference"))
    silver = Lake(params.lake).table("silver/documents")
    batches[0].write.format("delta").save(silver)
    dedup.run(params)
    batches[1].write.format("delta").mode("append").save(silver)
    dedup.run(params)
    return content(params)


@pytest.mark.parametrize("point", ["minhash written", "duplicates written", "gold written"])
def test_a_second_batch_killed_at_each_write_reruns_to_the_same_gold(
        point, spark, batches, reference, tmp_path):
    params = params_at(tmp_path)
    silver = Lake(params.lake).table("silver/documents")
    batches[0].write.format("delta").save(silver)
    dedup.run(params)
    batches[1].write.format("delta").mode("append").save(silver)
    killed_run(params, tmp_path, "dedup", point)
    dedup.run(params)
    assert content(params) == reference


def test_a_first_run_killed_before_its_commit_reruns_to_the_same_gold(
        spark, batches, reference, tmp_path):
    params = params_at(tmp_path)
    silver = Lake(params.lake).table("silver/documents")
    batches[0].unionByName(batches[1]).write.format("delta").save(silver)
    killed_run(params, tmp_path, "dedup", "gold written")
    dedup.run(params)
    # One run over both batches gives what two do: every cluster that spans both batches
    # has its smallest doc_id, its survivor either way, in the first.
    assert content(params) == reference
