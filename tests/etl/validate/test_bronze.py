"""Tests for the validate stage (etl/validate/) and the bronze_documents suite.

The Spark tests validate small bronze-like tables (300 rows); every planted defect sits in
one shared bad table, so the defects cost one GX validation between them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import gx_helpers
import pytest
import yaml

from etl.validate import stage as validate
from etl.validate.suites import SUITES, table_suite
from llmlake.config import as_dict, params_from_dict
from llmlake.lake import Lake
from llmlake.stage import MissingInput


def suite_json() -> dict:
    return gx_helpers.suite_json("bronze")

BRONZE_COLUMNS = [
    "doc_id", "source", "url", "fetched_at", "content_type", "raw", "ingest_batch", "origin",
]
BRONZE_SCHEMA = (
    "doc_id string, source string, url string, fetched_at timestamp, content_type string,"
    " raw string, ingest_batch string, origin string"
)
ROWS = 300
SOURCES = ("warc", "wet", "jsonl", "parquet")

# kind -> (row index, column, bad value, failing expectation, unexpected count GX reports)
DEFECTS = {
    "duplicate_doc_id": (10, "doc_id", "copy of row 11",
                         "expect_column_values_to_be_unique", 2),
    "null_doc_id": (20, "doc_id", None, "expect_column_values_to_not_be_null", 1),
    "empty_raw": (30, "raw", "", "expect_column_value_lengths_to_be_between", 1),
    "bad_content_type": (40, "content_type", "application/pdf",
                         "expect_column_values_to_be_in_set", 1),
    "malformed_url": (50, "url", "htp:/example.com/a page",
                      "expect_column_values_to_match_regex", 1),
}


def good_rows(n: int = ROWS) -> list[dict]:
    rows = []
    for i in range(n):
        source = SOURCES[i % len(SOURCES)]
        rows.append({
            "doc_id": hashlib.sha256(f"doc-{i}".encode()).hexdigest()[:32],
            "source": source,
            # JSONL and Parquet records may lack a URL and a fetch time.
            "url": None if source == "jsonl" else f"https://site{i % 7}.example.com/p/{i}?q=1",
            "fetched_at": None if source == "jsonl" else datetime(2024, 5, 1, 12, i % 60),
            "content_type": "text/html" if source == "warc" else "text/plain",
            "raw": f"<html><body>document {i}</body></html>",
            "ingest_batch": "batch-0001",
            "origin": f"data/raw/sample/shard-{i // 100:03d}.{source}@{i * 4096}",
        })
    return rows


def bad_rows() -> list[dict]:
    rows = good_rows()
    for row, column, value, _, _ in DEFECTS.values():
        rows[row][column] = rows[row + 1][column] if value == "copy of row 11" else value
    return rows


def frame(spark, rows: list[dict]):
    columns = [[r[c] for c in BRONZE_COLUMNS] for r in rows]
    return spark.createDataFrame(columns, BRONZE_SCHEMA)


def write_bronze(spark, params, rows: list[dict], drop: tuple[str, ...] = ()) -> str:
    path = Lake(params.lake).table("bronze/documents")
    frame(spark, rows).drop(*drop).write.format("delta").mode("overwrite").save(path)
    return path


@pytest.fixture(scope="module")
def good_lake(spark, tmp_path_factory) -> str:
    """A lake root holding a good bronze table, shared because Delta writes cost seconds."""
    root = tmp_path_factory.mktemp("good_lake")
    write_bronze(spark, params_from_dict({"lake": {"root": str(root)}}), good_rows())
    return str(root)


def bronze_parameters(**validate_section) -> dict:
    return SUITES["bronze"].parameters(params_from_dict({"validate": validate_section}))






# --- the suite file ---------------------------------------------------------------------




def test_registry_takes_values_from_params():
    params = bronze_parameters(bronze_min_rows=7, content_types=["text/plain"])
    assert params == {"bronze_min_rows": 7, "content_types": ["text/plain"]}


def test_suite_requires_the_bronze_schema_columns():
    (columns,) = [e["kwargs"] for e in suite_json()["expectations"]
                  if e["type"] == "expect_table_columns_to_match_set"]
    assert sorted(columns["column_set"]) == sorted(BRONZE_COLUMNS)
    assert columns["exact_match"] is False


def test_invalid_expectation_in_a_suite_file_is_an_error(tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps({"name": "broken", "expectations": [
        {"type": "expect_column_values_to_be_nice", "kwargs": {"column": "a"}},
    ]}))
    with pytest.raises(ValueError, match="not valid GX expectations"):
        validate.load_suite(path)


def test_missing_suite_parameter_is_an_error():
    with pytest.raises(ValueError, match="content_types"):
        validate.validate_dataframe(None, SUITES["bronze"].suite_path,
                                    {"bronze_min_rows": 1})


def test_unknown_table_names_the_known_ones():
    with pytest.raises(ValueError, match="known: bronze"):
        table_suite("platinum")


# --- validate_dataframe -----------------------------------------------------------------


@pytest.fixture(scope="module")
def bad_summary(spark) -> validate.ValidationSummary:
    # One row more than the table has, so the row count expectation fails too.
    return validate.validate_dataframe(
        frame(spark, bad_rows()), SUITES["bronze"].suite_path,
        bronze_parameters(bronze_min_rows=ROWS + 1),
    )


@pytest.mark.spark
def test_good_data_passes(spark):
    summary = validate.validate_dataframe(
        frame(spark, good_rows()), SUITES["bronze"].suite_path, bronze_parameters()
    )
    assert summary.success, [o.line() for o in summary.failures]
    assert summary.evaluated == len(suite_json()["expectations"])
    assert summary.failed == 0


@pytest.mark.spark
@pytest.mark.parametrize("kind", sorted(DEFECTS))
def test_planted_defect_fails_its_expectation(bad_summary, kind):
    _, column, _, expectation, count = DEFECTS[kind]
    (failure,) = [o for o in bad_summary.failures
                  if (o.expectation, o.column) == (expectation, column)]
    assert failure.unexpected_count == count
    assert failure.line().startswith(f"FAIL {expectation} [{column}]")
    assert failure.description


@pytest.mark.spark
def test_too_few_rows_fails_the_row_count(bad_summary):
    (failure,) = [o for o in bad_summary.failures
                  if o.expectation == "expect_table_row_count_to_be_between"]
    assert failure.observed == f"observed {ROWS}"
    assert failure.expected == f"min_value={ROWS + 1}"
    assert failure.line().endswith(f"observed {ROWS} (expected min_value={ROWS + 1})")


@pytest.mark.spark
def test_only_the_planted_defects_fail(bad_summary):
    expected = {(e, c) for _, c, _, e, _ in DEFECTS.values()}
    expected.add(("expect_table_row_count_to_be_between", None))
    assert not bad_summary.success
    assert bad_summary.failed_expectations() == expected
    assert bad_summary.failed == len(expected)
    malformed = DEFECTS["malformed_url"][2]
    (url,) = [o for o in bad_summary.failures if o.column == "url"]
    assert url.unexpected_sample == (malformed,)
    (unique,) = [o for o in bad_summary.failures if o.expectation.endswith("to_be_unique")]
    assert len(unique.unexpected_sample) == 1  # the duplicated id, shown once


# --- run() and the CLI ------------------------------------------------------------------


@pytest.mark.spark
def test_run_writes_report_and_data_docs(good_lake, make_params, capsys):
    params = make_params(lake={"root": good_lake})
    assert validate.run(params, "bronze") is True
    lake = Lake(params.lake)
    report = json.loads(lake.report("validate_bronze.json").read_text())
    assert report["success"] is True
    assert report["failed_expectations"] == []
    assert report["statistics"]["failed"] == 0
    assert len(report["expectations"]) == report["statistics"]["evaluated"]
    assert {"expectation": "expect_column_values_to_be_unique", "column": "doc_id",
            "success": True, "unexpected_count": 0, "unexpected_percent": 0.0} \
        in report["expectations"]
    assert report["suite_parameters"]["bronze_min_rows"] == 100
    index = lake.report("gx") / "bronze" / "index.html"
    assert index.is_file()
    timings = json.loads(lake.report("timings/validate_bronze.json").read_text())
    assert timings["data_docs"] == str(index)  # a path: not a metric
    out = capsys.readouterr().out
    assert f"data docs: {index}" in out
    assert "PASS expect_column_values_to_be_unique [doc_id]" in out


@pytest.mark.spark
def test_min_rows_parameter_comes_from_params(good_lake, make_params, capsys):
    params = make_params(lake={"root": good_lake}, validate={"bronze_min_rows": ROWS + 1})
    assert validate.run(params, "bronze") is False
    report = json.loads(Lake(params.lake).report("validate_bronze.json").read_text())
    assert report["suite_parameters"]["bronze_min_rows"] == ROWS + 1
    (failure,) = report["failed_expectations"]
    assert failure["expectation"] == "expect_table_row_count_to_be_between"
    assert "FAIL expect_table_row_count_to_be_between" in capsys.readouterr().out


@pytest.mark.spark
def test_missing_table_is_a_clear_failure(spark, make_params):
    params = make_params()
    with pytest.raises(MissingInput, match="bronze/documents does not exist; make it with "
                                           "`llmlake etl ingest`"):
        validate.run(params, "bronze")
    assert not Lake(params.lake).report("validate_bronze.json").exists()


@pytest.mark.spark
def test_cli_exits_0_on_good_data(good_lake, make_params, tmp_path):
    params = make_params(lake={"root": good_lake})
    result = invoke_cli(params, tmp_path)
    assert result.exit_code == 0, result.output
    assert "validate bronze: PASSED" in result.output


@pytest.mark.spark
def test_cli_exits_1_on_bad_data(spark, make_params, tmp_path):
    # A missing column makes GX raise inside the not-null expectation on it; that must be
    # reported as a failed expectation, not crash the stage.
    params = make_params()
    write_bronze(spark, params, bad_rows(), drop=("origin",))
    result = invoke_cli(params, tmp_path)
    assert result.exit_code == 1, result.output
    assert "validate bronze: FAILED" in result.output
    (columns,) = [line for line in result.output.splitlines()
                  if "FAIL expect_table_columns_to_match_set" in line]
    assert '"missing": ["origin"]' in columns
    assert "FAIL expect_column_values_to_not_be_null [origin]: error:" in result.output


def invoke_cli(params, tmp_path: Path):
    from click.testing import CliRunner

    from llmlake.cli import cli

    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(as_dict(params)))
    return CliRunner().invoke(cli, ["--params", str(params_file), "validate", "bronze"])
