"""The Spark ingest on the generated sample crawl, checked against its truth.jsonl."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from lake_helpers import params_at, sample_sources

from etl.ingest import stage as ingest
from etl.sample import stage as sample
from llmlake.config import params_from_dict
from llmlake.lake import Lake

pytestmark = pytest.mark.spark

ROOT = Path(__file__).resolve().parents[3]


def corpus(out: Path, docs: int, seed: int) -> list[dict]:
    sample.run(params_from_dict({"sample": {
        "out": str(out), "docs": docs, "seed": seed, "docs_per_shard": 120,
        "wet_share": 0.15, "jsonl_share": 0.2, "parquet_share": 0.15, "corrupt_per_kind": 2,
    }, "lake": {"reports": str(out / "reports")}}))
    return [json.loads(line) for line in (out / "truth.jsonl").read_text().splitlines()]


def lake_params(base: Path, srcs: list[str]):
    return params_at(base, ingest={"sources": srcs})


@pytest.fixture(scope="module")
def first(tmp_path_factory, spark):
    base = tmp_path_factory.mktemp("ingest")
    truth = corpus(base / "raw", docs=700, seed=11)
    params = lake_params(base, sample_sources(base / "raw"))
    report = ingest.run(params)
    return {"base": base, "truth": truth, "params": params, "report": report}


def bronze(spark, params):
    return spark.read.format("delta").load(Lake(params.lake).table("bronze/documents"))


def quarantine(spark, params):
    return spark.read.format("delta").load(Lake(params.lake).table("quarantine/records"))


def rel(origin: str, raw: Path) -> tuple[str, str]:
    """'file:/…/raw/warc/x.warc.gz@byte:12' -> ('warc/x.warc.gz', 'byte:12')."""
    path, _, pos = origin.rpartition("@")
    return path.split(str(raw) + "/", 1)[-1], pos


UNIT = {"warc": "byte", "wet": "byte", "jsonl": "line", "parquet": "row"}


def test_every_document_lands_once_with_its_origin(first, spark):
    docs = [t for t in first["truth"] if t["kind"] == "document"]
    rows = bronze(spark, first["params"]).select("url", "source", "origin", "content_type").collect()
    by_url = {r["url"]: r for r in rows}
    assert len(rows) == len(by_url) == len(docs)
    for t in docs:
        row = by_url[t["url"]]
        assert row["source"] == t["format"]
        assert rel(row["origin"], first["base"] / "raw") == (t["file"],
                                                             f"{UNIT[t['format']]}:{t['offset']}")
    per_format = Counter(r["source"] for r in rows)
    assert set(per_format) == {"warc", "wet", "jsonl", "parquet"}
    print("bronze rows per format:", dict(per_format))


def test_skipped_records_are_counted_by_reason(first):
    truth = Counter(t["reason"] for t in first["truth"] if t["kind"] == "skip")
    skipped = first["report"]["skipped"]
    assert sum(v for k, v in skipped.items() if k.startswith("http_status")) == truth["http_status"]
    assert sum(v for k, v in skipped.items()
               if k.startswith("content_type")) == truth["content_type"]


def test_every_corrupt_record_is_quarantined_at_its_origin(first, spark):
    corrupt = [t for t in first["truth"] if t["kind"] == "corrupt"]
    assert Counter(t["corrupt"] for t in corrupt) == {
        "truncated_gzip": 2, "bad_warc_header": 2, "bad_json_line": 2}
    rows = quarantine(spark, first["params"]).collect()
    found = {rel(r["origin"], first["base"] / "raw"): r["reason"] for r in rows}
    expected = {(t["file"], f"{'line' if t['format'] == 'jsonl' else 'byte'}:{t['offset']}")
                for t in corrupt}
    assert set(found) == expected, "quarantine must hold exactly the planted corrupt records"
    assert all(r["stage"] == "ingest" and r["reason"] and r["payload"] is not None for r in rows)
    assert first["report"]["records"]["quarantined_new"] == len(rows)


def test_charset_defects_are_decoded(first, spark):
    planted = [t for t in first["truth"] if t["kind"] == "document"
               and {"wrong_charset", "missing_charset"} & set(t["defects"])]
    assert planted, "the sample should plant charset defects"
    raw = dict(bronze(spark, first["params"]).select("url", "raw").collect())
    for t in planted:
        first_line = t["text"].split("\n")[0]
        assert first_line in raw[t["url"]], t["url"]


def test_reingest_adds_nothing_and_commits_nothing(first, spark):
    before = first["report"]["tables"]["bronze/documents"]
    report = ingest.run(first["params"])
    assert report["records"]["written"] == 0
    assert report["records"]["quarantined_new"] == 0
    assert report["tables"]["bronze/documents"] == before


def test_new_batch_adds_exactly_its_documents(first, spark, tmp_path):
    truth = corpus(tmp_path / "raw2", docs=150, seed=99)
    params = lake_params(first["base"], sample_sources(tmp_path / "raw2"))
    before = bronze(spark, params).count()
    report = ingest.run(params)
    new_docs = sum(t["kind"] == "document" for t in truth)
    assert report["records"]["written"] == new_docs
    assert bronze(spark, params).count() == before + new_docs
    batches = bronze(spark, params).groupBy("ingest_batch").count().collect()
    assert sorted(r["count"] for r in batches)[0] == new_docs


def test_bronze_reads_back_without_a_jvm(first, spark):
    from deltalake import DeltaTable

    path = Lake(first["params"].lake).table("bronze/documents")
    table = DeltaTable(path).to_pyarrow_dataset().to_table()
    assert table.num_rows == bronze(spark, first["params"]).count()
    assert set(ingest.BRONZE_COLUMNS) <= set(table.column_names)
    assert table.column("doc_id").null_count == 0


def test_reports_and_lineage(first):
    params = first["params"]
    report = json.loads(Lake(params.lake).report("ingest.json").read_text())
    records = report["records"]
    assert records["read"] == (records["documents"] + sum(report["skipped"].values())
                               + sum(report["quarantined"].values()))
    per_file = report["per_file"]
    assert sum(f["read"] for f in per_file.values()) == records["read"]
    for name, f in per_file.items():
        assert f["read"] == f["documents"] + f["skipped"] + f["quarantined"], name
        assert not Path(name).is_absolute() or not name.startswith(str(Path.cwd()))
    lineage = json.loads(Lake(params.lake).lineage("ingest").read_text())
    assert lineage["tables"]["bronze/documents"]["version"] is not None


def test_hostile_files_lose_nothing_and_stop_nothing(spark, tmp_path):
    """A cut emoji, an absurd time and an empty file among good records: the good ones
    land, the bad one is quarantined, the empty file is counted, the job finishes."""
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = [json.dumps({"id": "a", "url": "https://h.example/a", "text": "first good"}),
             '{"id": "b", "url": "https://h.example/b", "text": "cut emoji \\ud83d here"}',
             json.dumps({"id": "c", "url": "https://h.example/c", "text": "absurd time",
                         "fetched_at": 1e20}),
             "{not json",
             json.dumps({"id": "d", "url": "https://h.example/d", "text": "last good"})]
    (raw / "hostile.jsonl").write_text("\n".join(lines) + "\n")
    (raw / "empty.jsonl").write_bytes(b"")
    params = lake_params(tmp_path, [str(raw)])
    report = ingest.run(params)
    urls = {r["url"]: r for r in bronze(spark, params).collect()}
    assert set(urls) == {f"https://h.example/{k}" for k in "abcd"}
    assert "\ufffd" in urls["https://h.example/b"]["raw"]
    assert urls["https://h.example/c"]["fetched_at"] is None
    assert report["quarantined"] == {"invalid_json": 1}
    assert report["skipped"].get("empty_file") == 1
    assert report["repaired"] == {"replaced_surrogates": 1}
    assert report["records"]["read"] == 6


def _delta_versions(path: Path) -> list[int]:
    return sorted(int(p.stem) for p in (path / "_delta_log").glob("*.json"))


@pytest.mark.slow
def test_sigkill_mid_write_leaves_previous_version(tmp_path, spark):
    """Kill spark-submit (JVM and Python workers) while it writes bronze; rerun repairs."""
    from deltalake import DeltaTable

    small = corpus(tmp_path / "a", docs=100, seed=1)
    big = corpus(tmp_path / "b", docs=2500, seed=2)
    params = lake_params(tmp_path, sample_sources(tmp_path / "a"))
    ingest.run(params)
    table = Path(Lake(params.lake).table("bronze/documents"))
    version, rows = _delta_versions(table)[-1], DeltaTable(str(table)).to_pyarrow_dataset().to_table().num_rows
    data_files = set(table.glob("*.parquet"))

    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYTHONUNBUFFERED": "1"}
    cmd = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[2]",
           "--packages", "io.delta:delta-spark_4.1_2.13:4.4.0",
           "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
           "--conf", "spark.sql.catalog.spark_catalog="
                     "org.apache.spark.sql.delta.catalog.DeltaCatalog",
           str(ROOT / "etl" / "ingest" / "stage.py"),
           "--set", f"lake.root={tmp_path / 'lake'}", "--set", f"lake.reports={tmp_path / 'r'}",
           "--set", f"ingest.sources={json.dumps(sample_sources(tmp_path / 'b'))}"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if set(table.glob("*.parquet")) - data_files:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "ingest finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    assert _delta_versions(table)[-1] == version, "a killed write must not commit"
    assert DeltaTable(str(table)).to_pyarrow_dataset().to_table().num_rows == rows
    assert set(table.glob("*.parquet")) - data_files, "the kill should land mid-write"

    report = ingest.run(lake_params(tmp_path, sample_sources(tmp_path / "b")))
    expected = {t["url"] for t in small + big if t["kind"] == "document"}
    urls = DeltaTable(str(table)).to_pyarrow_dataset().to_table(columns=["url"]).column("url").to_pylist()
    assert len(urls) == len(set(urls)) == len(expected)
    assert set(urls) == expected
    assert report["records"]["written"] == sum(t["kind"] == "document" for t in big)


def test_a_document_twice_in_one_batch_lands_once_from_its_first_origin(spark, tmp_path):
    """The same records under two file names in one batch: each document is written once,
    from the file whose origin sorts first, and the report counts the repeats."""
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = [json.dumps({"id": str(i), "url": f"https://d.example/{i}", "text": f"doc {i}"})
             for i in range(5)]
    (raw / "a.jsonl").write_text("\n".join(lines) + "\n")
    (raw / "b.jsonl").write_text("\n".join(lines[2:]) + "\n")
    params = lake_params(tmp_path, [str(raw)])
    report = ingest.run(params)
    rows = bronze(spark, params).select("url", "origin").collect()
    assert sorted(r["url"] for r in rows) == [f"https://d.example/{i}" for i in range(5)]
    assert all(r["origin"].rsplit("@", 1)[0].endswith("/a.jsonl") for r in rows)
    assert report["records"]["duplicates_in_batch"] == 3
    assert report["records"]["written"] == 5
    timings = json.loads(Lake(params.lake).report("timings/ingest.json").read_text())
    assert timings["bronze"]["plan"] == "broadcast_duplicates"
    assert {"session", "parse", "account", "bronze", "quarantine"} <= set(timings["steps"])
    # nothing quarantined: no quarantine MERGE ran, so no table was made
    assert not Path(Lake(params.lake).table("quarantine/records")).exists()


@pytest.mark.parametrize("limit", [0, 10])
def test_repeats_keep_the_smallest_origin_whichever_join(spark, monkeypatch, limit):
    """Past the broadcast limit the repeats go through a plain join: same rows kept."""
    from etl.ingest import bronze as plan

    monkeypatch.setattr(plan, "BROADCAST_DUPLICATES", limit)
    docs = spark.createDataFrame([("x", "f@byte:9"), ("x", "f@byte:1"), ("y", "g@byte:0"),
                                  ("z", "h@byte:5"), ("z", "h@byte:5"), ("z", "a@byte:7")],
                                 "doc_id string, origin string")
    dups, rows, keys, dup_rows = plan.duplicates(docs)
    reason = plan.bronze_reason(plan.bronze_signals(6, keys, dup_rows))
    assert (keys, dup_rows, reason) == (2, 5, "join_duplicates" if limit == 0
                                        else "broadcast_duplicates")
    kept = plan.keep_winners(spark, docs, dups, rows, reason).collect()
    assert sorted(map(tuple, kept)) == [("x", "f@byte:1"), ("y", "g@byte:0"), ("z", "a@byte:7")]
    assert plan.bronze_signals(6, keys, dup_rows)["distinct"] == 3
