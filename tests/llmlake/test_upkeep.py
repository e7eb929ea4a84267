"""Delta upkeep: vacuum keeps every version lineage pins readable, optimize keeps the rows."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from lake_helpers import params_at

from llmlake.cli import cli
from llmlake.config import as_dict
from llmlake.lake import Lake
from llmlake.stage import StageError
from llmlake.tables import DEFAULTS_PREFIX, get_property, merge_insert, use_lake_defaults
from llmlake.upkeep import (
    HOUR_MS,
    Commit,
    Pin,
    collect_pins,
    norm_path,
    oldest_rebuildable,
    pin_needs,
    vacuum_reason,
    vacuum_signals,
)
from llmlake.upkeep_spark import run_optimize, run_vacuum

TABLE = "bronze/documents"
# No slack over the retention the pins need: vacuum at exactly that retention must delete
# every file no pinned version holds, and (Delta working from an inventory that leaves the
# pinned files out) cannot delete one of theirs however late its cutoff falls.
MARGIN_H = 0.0


def rows_at(path: str, version: int | None = None) -> list[tuple[str, str]]:
    """A version's rows, sorted, read by time travel with delta-rs (not Spark)."""
    from deltalake import DeltaTable

    table = DeltaTable(path, version=version).to_pyarrow_dataset().to_table()
    return sorted(zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist(),
                      strict=True))


def batch(spark, ids: range):
    return spark.createDataFrame([(f"d{i:03d}", f"text of {i}") for i in ids],
                                 "doc_id string, text string").repartition(3)


def pin(lake: Lake, record: Path, version: int, key: str) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    entry = {TABLE: {"path": lake.table(TABLE), "version": version}}
    record.write_text(json.dumps({key: entry}))


@pytest.fixture
def lake_defaults(spark):
    """Session defaults for new tables, removed after the test (the session is shared)."""
    yield lambda lake: use_lake_defaults(spark, lake)
    for key in ("logRetentionDuration", "deletedFileRetentionDuration"):
        spark.conf.unset(DEFAULTS_PREFIX + key)


@pytest.mark.spark
def test_vacuum_keeps_pinned_versions_and_optimize_keeps_rows(spark, tmp_path, lake_defaults):
    params = params_at(tmp_path, lake={"vacuum_margin_hours": MARGIN_H,
                                       "log_retention": "interval 400 days"})
    lake = Lake(params.lake)
    path = lake.table(TABLE)
    lake_defaults(params.lake)
    merge_insert(spark, path, batch(spark, range(0, 40)), ["doc_id"])  # versions 0 and 1
    assert get_property(spark, path, "delta.logRetentionDuration") == "interval 400 days"

    report = run_optimize(params, (TABLE,))["tables"][TABLE]  # version 2
    assert report["decision"] == "compacted" and report["properties_set"] == {}
    assert report["files_after"] < report["files_before"]
    assert rows_at(path, 2) == rows_at(path, 1) and len(rows_at(path, 2)) == 40
    pin(lake, lake.lineage("ingest"), 2, "tables")
    merge_insert(spark, path, batch(spark, range(40, 80)), ["doc_id"])  # version 3
    pin(lake, lake.artifact("models/m1/lineage.json"), 3, "upstream")
    with pytest.raises(StageError, match="no column 'nope'"):
        run_optimize(params, (TABLE,), zorder_by="nope")
    report = run_optimize(params, (TABLE,), zorder_by="doc_id")["tables"][TABLE]
    assert report["version_after"] == 4 and rows_at(path, 4) == rows_at(path, 3)
    kept = {v: rows_at(path, v) for v in (2, 3, 4)}

    with pytest.raises(StageError, match=r"version [23] is pinned by .*(ingest|lineage)\.json"):
        run_vacuum(replace(params, lake=replace(params.lake, vacuum_retention_hours=0.0)),
                   force=True)
    refused = json.loads(lake.report("lake_vacuum.json").read_text())["tables"][TABLE]
    assert refused["decision"] == "refuse_pinned" and refused["required_hours"] > 0

    dry = run_vacuum(params, dry_run=True, force=True, to_pins=True)["tables"][TABLE]
    assert dry["would_delete_files"] > 0 and dry["would_delete_bytes"] > 0
    done = run_vacuum(params, force=True, to_pins=True)["tables"][TABLE]
    assert done["storage_files_before"] == dry["storage_files_before"]  # dry run deleted none
    assert done["deleted_files"] == dry["would_delete_files"]
    assert done["storage_bytes_after"] < done["storage_bytes_before"]
    assert done["versions_kept"] == [2, 3]
    assert {v: rows_at(path, v) for v in (2, 3, 4)} == kept
    with pytest.raises(Exception):  # noqa: B017 - delta-rs names the missing file its own way
        rows_at(path, 1)  # unpinned: its files are gone


@pytest.mark.spark
def test_cli_refusal_is_one_line_and_properties_reach_old_tables(spark, tmp_path):
    from deltalake import DeltaTable

    params = params_at(tmp_path)
    lake = Lake(params.lake)
    path = lake.table(TABLE)
    spark.range(4).selectExpr("cast(id as string) as doc_id").write.format("delta").save(path)
    spark.range(4, 8).selectExpr("cast(id as string) as doc_id").write.format(
        "delta").mode("overwrite").save(path)  # version 1 removes version 0's files
    pin(lake, lake.lineage("ingest"), 0, "inputs")
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(as_dict(params)))
    result = CliRunner().invoke(cli, ["--params", str(params_file), "lake", "vacuum",
                                      "--retention-hours", "0", "--force"])
    assert result.exit_code == 1, (result.output, result.exception)
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "version 0 is pinned by" in errors[0], (result.output, repr(result.exception))
    assert str(lake.lineage("ingest")) in errors[0]
    # The refused run still gave the old table the retention properties.
    assert get_property(spark, path, "delta.logRetentionDuration") == "interval 365 days"
    assert DeltaTable(path, version=0).to_pyarrow_dataset().count_rows() == 4


def test_pins_come_from_lineage_files_the_champion_and_models(tmp_path):
    reports, artifacts = tmp_path / "reports", tmp_path / "artifacts"
    (reports / "lineage").mkdir(parents=True)
    (artifacts / "models" / "m").mkdir(parents=True)
    (reports / "lineage" / "tokenize.json").write_text(json.dumps({
        "inputs": {"gold/documents": {"path": "lake/gold/documents", "version": 2}},
        "tables": {"gold/sequences": {"path": "lake/gold/sequences", "version": 5,
                                      "rows": 9}}}))
    (artifacts / "champion.json").write_text(json.dumps(
        {"lineage": {"upstream": {"bronze/documents": {"path": "lake/bronze/documents",
                                                       "version": 1}}}}))
    (artifacts / "models" / "m" / "lineage.json").write_text(json.dumps(
        {"upstream": {"gold/sequences": {"path": "lake/gold/sequences/", "version": 4}},
         "step": {"path": "not a table", "version": True}}))
    pins = collect_pins(reports, artifacts)
    assert {(Path(p.path).name, p.version, Path(p.source).name) for p in pins} == {
        ("documents", 2, "tokenize.json"), ("sequences", 5, "tokenize.json"),
        ("documents", 1, "champion.json"), ("sequences", 4, "lineage.json")}
    assert norm_path("lake/gold/sequences/") == norm_path("file:" + str(Path.cwd()) +
                                                          "/lake/gold/sequences")
    (artifacts / "champion.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"champion\.json"):
        collect_pins(reports, artifacts)


def test_a_removed_file_past_its_tombstone_is_judged_by_its_age():
    h = HOUR_MS
    log = [Commit(0, 0, adds={"a": 0}), Commit(1, 100 * h, adds={"b": 100 * h},
                                               removes={"a": 100 * h})]
    p = Pin("/t", 0, "lineage.json")
    fresh = pin_needs(p, log, {"a"}, {"b"}, now_ms=110 * h, file_retention_hours=168)
    assert (fresh["needs_hours"], fresh["file"], fresh["removed_in"]) == (10, "a", 1)
    # 300h later the tombstone has left the log: vacuum sees "a" as an unlisted file and
    # judges it by its modification time (hour 0), so the pin needs 400h, not 300h.
    old = pin_needs(p, log, {"a"}, {"b"}, now_ms=400 * h, file_retention_hours=168)
    assert old["needs_hours"] == 400
    assert pin_needs(p, log, None, {"b"}, now_ms=400 * h, file_retention_hours=168
                     )["readable"] is False


def test_models_pin_their_training_data_as_train_and_finetune_record_it(tmp_path):
    """A trained model's lineage names its data as ``{"table", "version"}`` (train's
    ``data_id``, finetune's :meth:`Corpus.data_id` under ``finetune.data``), not ``path``."""
    from training.finetune.corpus import Corpus

    reports, artifacts = tmp_path / "reports", tmp_path / "artifacts"
    sequences = "lake/gold/sequences"
    parent = {"path": str(artifacts / "model"), "weights_sha256": "ab", "run": "r", "git": None}
    data_id = {"table": sequences, "version": 7, "tokenizer": "cd"}  # as train's run() builds it
    trained = {"run": "r", "tables": {"gold/sequences": data_id}, "upstream": {},
               "parent": parent}
    corpus = Corpus("s3://bucket/lake/gold/sequences/", 3, "reports/lineage/tokenize.json", "cd")
    data = {"mode": "continue", **corpus.data_id(), "model_tokenizer": "cd",
            "val_fraction": 0.1, "seed": 0, "seq_len": 65}  # as prepare_continue builds it
    tuned = {"run": "f", "parent": parent,
             "finetune": {"mode": "continue", "parent": parent, "data": data}}
    for folder, record in (("model", trained), ("models/tuned", tuned)):
        (artifacts / folder).mkdir(parents=True)
        (artifacts / folder / "lineage.json").write_text(json.dumps(record))
    pins = {(p.path, p.version, Path(p.source).parent.name) for p in collect_pins(reports, artifacts)}
    assert pins == {(norm_path(sequences), 7, "model"),
                    ("s3a://bucket/lake/gold/sequences", 3, "tuned")}


def test_an_unreadable_pin_refuses_unless_the_log_lost_it():
    h = HOUR_MS
    log = [Commit(4, 0, adds={"a": 0}), Commit(5, 10 * h, adds={"b": 10 * h}),
           Commit(6, 20 * h, adds={"c": 20 * h}, removes={"a": 20 * h, "b": 20 * h})]
    oldest = oldest_rebuildable({c.version for c in log}, {4})
    assert oldest == 4 and oldest_rebuildable({5, 6}, {4}) == 4
    assert oldest_rebuildable({0, 1, 3}, set()) is None  # a hole: no version rebuilds
    pins = [Pin("/t", 5, "reports/lineage/train.json"), Pin("/t", 2, "artifacts/champion.json")]

    def decide(oldest_version):
        s = vacuum_signals("t", log, pins, {5: None, 2: None}, {"c"}, now_ms=30 * h,
                           retention_hours=200.0, margin_hours=1, oldest_version=oldest_version,
                           read_errors={5: "connection reset"})
        return s, vacuum_reason(s, force=True)

    # Version 5 is in the log but could not be read: its files are unknown, so nothing
    # protects them; the decision must refuse, naming the table, version and pin file.
    signals, (decision, line) = decide(oldest)
    assert decision == "refuse_unreadable_pin"
    assert "t: version 5 is pinned by reports/lineage/train.json" in line
    assert "connection reset" in line and "\n" not in line
    assert [p["version"] for p in signals["lost_pins"]] == [2]  # older than the log reaches
    # Unknown log (None) proves nothing: version 2 then refuses too.
    assert sorted(p["version"] for p in decide(None)[0]["unreadable_pins"]) == [2, 5]
    # Once the log no longer reaches version 5 either, both are lost: reported, not refused.
    signals, (decision, _) = decide(6)
    assert decision == "vacuum" and len(signals["lost_pins"]) == 2


@pytest.mark.spark
def test_inventory_protects_escaped_partition_paths_and_both_log_readers_agree(spark, tmp_path):
    from llmlake.upkeep_spark import INVENTORY_VIEW, inventory, read_log, version_files

    path = str(tmp_path / "t")
    rows = spark.createDataFrame([("a", "50%"), ("b", "x y"), ("c", "plain")], "id string, p string")
    rows.write.format("delta").partitionBy("p").save(path)
    rows.write.format("delta").mode("append").partitionBy("p").save(path)
    pinned = version_files(spark, path, 0)
    assert any("%" in f for f in pinned) and len(pinned) == 3
    try:
        unprotected = inventory(spark, path, pinned)
    finally:
        spark.catalog.dropTempView(INVENTORY_VIEW)
    # Every file of version 0 is left out, the '%' partition's too; version 1's are listed.
    assert len(unprotected) == 3 and not any(f.removeprefix("file:").removeprefix(path + "/")
                                             in pinned for f in unprotected)
    local, hadoop = read_log(spark, path), read_log(spark, "file:" + path)
    assert local == hadoop and [c.version for c in local[0]] == [0, 1] and local[1] == 0
