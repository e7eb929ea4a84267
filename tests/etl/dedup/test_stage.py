"""The dedup stage: crafted duplicates, the sample corpus against its truth, incremental runs."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from pathlib import Path

import pytest
from lake_helpers import params_at, sample_sources

from etl.clean import stage as clean
from etl.dedup import stage as dedup
from etl.ingest import stage as ingest
from etl.sample import stage as sample
from llmlake.config import params_from_dict
from llmlake.lake import Lake

pytestmark = pytest.mark.spark


def lake_params(base: Path, **dedup_overrides):
    return params_at(base, ingest={"sources": sample_sources(base / "raw")},
                     dedup=dedup_overrides)


def read(spark, params, name):
    return spark.read.format("delta").load(Lake(params.lake).table(name))


def clusters(spark, params) -> set[frozenset[str]]:
    """The partition of kept documents into clusters (survivors and their removed copies)."""
    members = defaultdict(set)
    for r in read(spark, params, "gold/documents").select("doc_id", "cluster_id").collect():
        members[r["cluster_id"]].add(r["doc_id"])
    for r in read(spark, params, "gold/duplicates").select("doc_id", "cluster_id").collect():
        members[r["cluster_id"]].add(r["doc_id"])
    return {frozenset(m) for m in members.values()}


def pairs(groups) -> set[frozenset]:
    return {frozenset(p) for g in groups for p in itertools.combinations(sorted(g), 2)}


@pytest.fixture(scope="module")
def full(tmp_path_factory, spark):
    base = tmp_path_factory.mktemp("dedup")
    sample.run(params_from_dict({"sample": {
        "out": str(base / "raw"), "docs": 500, "seed": 21, "docs_per_shard": 250,
        "exact_dup_rate": 0.08, "near_dup_rate": 0.08}, "lake": {"reports": str(base / "r0")}}))
    params = lake_params(base)
    ingest.run(params)
    clean.run(params)
    report = dedup.run(params)
    truth = [json.loads(x) for x in (base / "raw" / "truth.jsonl").read_text().splitlines()]
    return {"base": base, "params": params, "report": report,
            "truth": {t["url"]: t for t in truth if t["kind"] == "document"}}


def test_duplicate_pairs_match_the_truth(full, spark):
    kept = (read(spark, full["params"], "silver/documents").where("drop_reason IS NULL")
            .select("doc_id", "url").collect())
    url = {r["doc_id"]: r["url"] for r in kept}
    predicted = pairs({frozenset(url[d] for d in c) for c in clusters(spark, full["params"])})
    by_truth = defaultdict(set)
    for u in url.values():
        by_truth[full["truth"][u]["cluster"]].add(u)
    expected = pairs(by_truth.values())
    tp = len(predicted & expected)
    precision, recall = tp / max(1, len(predicted)), tp / max(1, len(expected))
    f1 = 2 * precision * recall / max(1e-9, precision + recall)
    print(f"duplicate pairs: predicted {len(predicted)}, true {len(expected)}, "
          f"precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f}")
    assert len(expected) >= 50
    assert f1 >= 0.9


def test_gold_is_unique_split_and_traceable(full, spark):
    params = full["params"]
    gold = read(spark, params, "gold/documents")
    dups = read(spark, params, "gold/duplicates")
    kept = read(spark, params, "silver/documents").where("drop_reason IS NULL")
    assert gold.count() + dups.count() == kept.count()  # every kept document accounted for
    assert gold.select("text_hash").distinct().count() == gold.count()
    assert dups.join(gold.select("doc_id"), "doc_id").count() == 0
    survivors = gold.select("doc_id").withColumnRenamed("doc_id", "cluster_id")
    assert dups.join(survivors, "cluster_id", "left_anti").count() == 0
    splits = {r["split"]: r["count"] for r in gold.groupBy("split").count().collect()}
    assert set(splits) == {"train", "val", "test"}
    assert abs(splits["train"] / gold.count() - 0.9) < 0.05
    report = full["report"]
    assert report["this_run"]["kept"] == gold.count()
    assert sum(report["this_run"]["removed"].values()) == dups.count()
    assert Lake(params.lake).report("dedup.html").read_text().count('<section class="cluster">') > 0


def test_rerun_changes_nothing(full, spark):
    params = full["params"]
    version = full["report"]["tables"]["gold/documents"]["version"]
    again = dedup.run(params)
    assert again["this_run"]["new_documents"] == 0
    assert again["tables"]["gold/documents"]["version"] == version


def test_incremental_equals_full(full, spark, tmp_path):
    """Silver arriving in two batches gives the same clusters as one full run."""
    src = read(spark, full["params"], "silver/documents")
    params = lake_params(tmp_path)
    silver_path = Lake(params.lake).table("silver/documents")
    first, second = src.where("substr(doc_id, 1, 1) < '8'"), src.where("substr(doc_id, 1, 1) >= '8'")
    first.write.format("delta").save(silver_path)
    dedup.run(params)
    second.write.format("delta").mode("append").save(silver_path)
    report = dedup.run(params)
    assert report["this_run"]["new_documents"] == second.where("drop_reason IS NULL").count()
    assert clusters(spark, params) == clusters(spark, full["params"])


def test_crafted_exact_and_near_duplicates(spark, tmp_path):
    words = ["river", "stone", "paper", "lamp", "garden", "window", "market", "winter", "song", "cloud", "bridge", "letter", "forest", "engine", "candle", "harbor", "mirror", "ladder"]
    base = " ".join(words[(i * 7) % len(words)] + ("." if i % 9 == 8 else "")
                    for i in range(300))
    near = base.replace("lamp", "torch", 1)
    other = " ".join(reversed(base.split()))
    rows = [("a", base), ("a_exact", base.upper().replace(".", " . ")), ("b", near),
            ("c", other), ("d", "A short unrelated note about tea.")]
    df = spark.createDataFrame(
        [(d, t, "en", f"https://x.example/{d}", None, None) for d, t in rows],
        "doc_id string, text string, lang string, url string, fetched_at timestamp, "
        "drop_reason string")
    params = lake_params(tmp_path)
    df.write.format("delta").save(Lake(params.lake).table("silver/documents"))
    dedup.run(params)
    assert clusters(spark, params) == {frozenset({"a", "a_exact", "b"}), frozenset({"c"}),
                                       frozenset({"d"})}
    match = {r["doc_id"]: r["match"] for r in read(spark, params, "gold/duplicates").collect()}
    assert match == {"a_exact": "exact", "b": "near"}


def test_param_change_rebuilds_gold(full, spark, tmp_path):
    src = read(spark, full["params"], "silver/documents")
    params = lake_params(tmp_path)
    src.write.format("delta").save(Lake(params.lake).table("silver/documents"))
    dedup.run(params)
    strict = dedup.run(lake_params(tmp_path, threshold=0.99))
    assert strict["this_run"]["new_documents"] == src.where("drop_reason IS NULL").count()
    assert strict["this_run"]["removed"].get("near", 0) < full["report"]["this_run"][
        "removed"]["near"]


def test_an_exact_copy_of_a_gold_document_is_an_exact_match(spark, tmp_path):
    text = " ".join(f"word{i % 37} stone{i % 11}" for i in range(200))
    schema = ("doc_id string, text string, lang string, url string, fetched_at timestamp, "
              "drop_reason string")
    params = lake_params(tmp_path)
    silver = Lake(params.lake).table("silver/documents")
    spark.createDataFrame([("a", text, "en", None, None, None)], schema).write.format(
        "delta").save(silver)
    dedup.run(params)
    spark.createDataFrame([("b", text.upper(), "en", None, None, None)], schema).write.format(
        "delta").mode("append").save(silver)
    dedup.run(params)  # b arrives after a is in gold: matched through gold's stored hash
    match = {r["doc_id"]: (r["cluster_id"], r["match"])
             for r in read(spark, params, "gold/duplicates").collect()}
    assert match == {"b": ("a", "exact")}
