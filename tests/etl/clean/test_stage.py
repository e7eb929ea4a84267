"""The Spark clean stage on the sample crawl, checked against the generator's truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from lake_helpers import params_at, sample_sources

from etl.clean import stage as clean
from etl.clean.document import DROP_REASONS
from etl.ingest import stage as ingest
from etl.sample import stage as sample
from llmlake.config import params_from_dict
from llmlake.config_clean import CleanConfig
from llmlake.lake import Lake

CONTENT_DEFECTS = ("spam", "short", "repeated", "foreign")


def make_params(base: Path, **clean_overrides):
    return params_at(base, ingest={"sources": sample_sources(base / "raw")},
                     clean=clean_overrides)


@pytest.fixture(scope="module")
def cleaned(tmp_path_factory, spark):
    base = tmp_path_factory.mktemp("clean")
    sample.run(params_from_dict({"sample": {
        "out": str(base / "raw"), "docs": 900, "seed": 5, "docs_per_shard": 300,
        "spam_rate": 0.05, "repeated_rate": 0.05, "short_rate": 0.05, "foreign_rate": 0.08,
        "pii_rate": 0.15,
    }, "lake": {"reports": str(base / "r0")}}))
    truth = [json.loads(x) for x in (base / "raw" / "truth.jsonl").read_text().splitlines()]
    params = make_params(base)
    ingest.run(params)
    report = clean.run(params)
    silver = (spark.read.format("delta").load(Lake(params.lake).table("silver/documents"))
              .select("url", "text", "lang", "lang_score", "drop_reason", "pii_redactions",
                      "config_hash").toPandas())
    return {"base": base, "params": params, "report": report, "silver": silver,
            "docs": {t["url"]: t for t in truth if t["kind"] == "document"}}


pytestmark = pytest.mark.spark


def test_every_bronze_document_is_in_silver_once(cleaned):
    silver, docs = cleaned["silver"], cleaned["docs"]
    assert len(silver) == silver["url"].nunique() == len(docs)
    reasons = set(silver["drop_reason"].dropna())
    assert reasons <= DROP_REASONS
    kept = silver[silver["drop_reason"].isna()]
    assert (kept["text"].str.len() > 0).all()
    assert set(kept["lang"]) == {"en"}
    assert silver["lang_score"].between(0, 1).all()


def test_planted_defects_are_dropped(cleaned):
    """Recall per planted defect, precision of the drops; figures go to the test output."""
    silver, docs = cleaned["silver"].set_index("url"), cleaned["docs"]
    dropped = set(silver.index[silver["drop_reason"].notna()])
    defective = set()
    for defect in CONTENT_DEFECTS:
        planted = {u for u, t in docs.items() if defect in t["defects"]}
        defective |= planted
        recall = len(planted & dropped) / len(planted)
        reasons = Counter(silver.loc[sorted(planted), "drop_reason"].fillna("KEPT"))
        print(f"{defect:<9} planted {len(planted):>3}  recall {recall:.3f}  {dict(reasons)}")
        assert planted and recall >= 0.95, defect
    precision = len(dropped & defective) / len(dropped)
    clean_docs = set(docs) - defective
    false_drops = len(clean_docs & dropped) / len(clean_docs)
    print(f"drops: precision {precision:.3f}; clean documents dropped {false_drops:.3%}")
    assert precision >= 0.9
    assert false_drops <= 0.02


def test_planted_pii_never_survives_in_kept_text(cleaned):
    silver, docs = cleaned["silver"].set_index("url"), cleaned["docs"]
    kept = silver[silver["drop_reason"].isna()]
    planted = [(u, p) for u, t in docs.items() if u in kept.index for p in t["pii"]]
    assert len(planted) >= 50
    leaks = [(u, p["value"]) for u, p in planted if p["value"] in kept.at[u, "text"]]
    assert leaks == [], f"PII left in kept text: {leaks[:5]}"
    per_type = Counter(p["type"] for _, p in planted)
    redacted = cleaned["report"]["pii_redactions"]
    print("planted PII in kept docs:", dict(per_type), "redactions:", redacted)
    for kind in ("email", "card", "iban", "ssn"):  # the sample's "ipv4" is the report's "ip"
        assert per_type[kind] > 0 and redacted[kind] >= per_type[kind], kind


def test_report_counts_match_the_table(cleaned):
    report, silver = cleaned["report"], cleaned["silver"]
    assert report["documents"]["total"] == len(silver)
    assert report["documents"]["kept"] == int(silver["drop_reason"].isna().sum())
    assert sum(report["dropped_by_reason"].values()) == report["documents"]["dropped"]
    lineage = json.loads(Lake(cleaned["params"].lake).lineage("clean").read_text())
    assert lineage["tables"]["silver/documents"]["version"] is not None


def test_rerun_is_a_no_op_and_a_param_change_redoes_everything(cleaned, spark):
    params = cleaned["params"]
    version = cleaned["report"]["tables"]["silver/documents"]["version"]
    again = clean.run(params)
    assert again["processed_this_run"] == 0
    assert again["tables"]["silver/documents"]["version"] == version

    stricter = make_params(cleaned["base"], min_lang_score=0.9)
    redo = clean.run(stricter)
    assert redo["processed_this_run"] == len(cleaned["silver"])
    assert redo["documents"]["total"] == len(cleaned["silver"])
    assert redo["config_hash"] == clean.config_hash(stricter.clean) != cleaned["report"][
        "config_hash"]
    silver = spark.read.format("delta").load(Lake(params.lake).table("silver/documents"))
    assert {r["config_hash"] for r in silver.select("config_hash").distinct().collect()} == {
        redo["config_hash"]}


def test_silver_reads_back_without_a_jvm(cleaned):
    from deltalake import DeltaTable

    table = DeltaTable(Lake(cleaned["params"].lake).table("silver/documents")).to_pyarrow_dataset().to_table()
    assert table.num_rows == len(cleaned["silver"])
    assert {"drop_reason", "pii_redactions", "gopher_n_words", "fineweb_newline_ratio"} <= set(
        table.column_names)


def test_a_document_that_raises_becomes_an_error_row(monkeypatch):
    import etl.clean.document as pipeline

    def explode(raw, content_type, url, cfg):
        if "boom" in raw:
            raise RuntimeError("extractor crashed")
        return real(raw, content_type, url, cfg)

    real = pipeline.clean_document
    monkeypatch.setattr(pipeline, "clean_document", explode)
    rows = [{"doc_id": str(i), "source": "jsonl", "url": None, "fetched_at": None,
             "content_type": "text/plain", "origin": f"f@line:{i}", "raw": raw}
            for i, raw in enumerate(["boom", "a perfectly ordinary line"])]
    out = list(clean.clean_rows(rows, CleanConfig(), "h"))
    assert out[0]["kind"] == "error" and "extractor crashed" in out[0]["error"]
    assert out[1]["kind"] == "doc" and out[1]["drop_reason"] is not None


def test_config_hash_tracks_every_knob():
    base = clean.config_hash(CleanConfig())
    assert base == clean.config_hash(CleanConfig())
    assert clean.config_hash(CleanConfig(min_lang_score=0.7)) != base
    assert clean.config_hash(CleanConfig(languages=["en", "de"])) != base
