"""Tests for the gold_documents suite and its registry entry in etl/suites.py.

The Spark tests validate small gold-like tables (300 rows split 270/15/15, that is exactly
90/5/5, the default dedup ratios). Every planted defect sits in one shared bad table, so
the defects cost one GX validation between them.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

import gx_helpers
import pytest
from gx_helpers import find

from etl.dedup.stage import GOLD_COLUMNS
from etl.validate import stage as validate
from etl.validate.suites import SUITES
from llmlake.config import params_from_dict
from llmlake.lake import SPLITS, Lake


def suite_json() -> dict:
    return gx_helpers.suite_json("gold")

GOLD_SCHEMA = (
    "doc_id string, text string, lang string, url string, fetched_at timestamp,"
    " cluster_id string, split string, text_hash string, batch string"
)
ROWS = 300
SPEC = SUITES["gold"]
SHARE_PARAMETERS = {f"{p}{s}_min_share" for s in SPLITS for p in ("", "not_")}

# kind -> (train row, column, bad value, (failing expectation, column, words of its
# description), unexpected count GX reports)
DEFECTS = {
    "duplicate_text_hash": (10, "text_hash", "copy of the next row",
                            ("expect_column_values_to_be_unique", "text_hash", "same"), 2),
    "empty_text": (20, "text", "",
                   ("expect_column_value_lengths_to_be_between", "text", "empty"), 1),
    "unknown_split": (30, "split", "holdout",
                      ("expect_column_values_to_be_in_set", "split", "one of"), 1),
    "cluster_id_not_doc_id": (40, "cluster_id", "copy of the next row",
                              ("expect_column_pair_values_to_be_equal", None, "survivor"), 1),
}
ROW_COUNT = "expect_table_row_count_to_be_between"
MIN_ROWS = (ROW_COUNT, None, "gold_min_rows")
TEST_ROWS = (ROW_COUNT, None, "test split has")
TRAIN_MAX = ("expect_column_values_to_not_be_in_set", "split", "train share is at most")
TEST_MIN = ("expect_column_values_to_be_in_set", "split", "test share is at least")
VAL_MIN = ("expect_column_values_to_be_in_set", "split", "val share is at least")


def split_of(i: int) -> str:
    return {18: "val", 19: "test"}.get(i % 20, "train")


def good_rows(n: int = ROWS) -> list[dict]:
    rows = []
    for i in range(n):
        doc_id = hashlib.sha256(f"doc-{i}".encode()).hexdigest()[:32]
        text = f"Document {i} about gardens, the survivor of its cluster."
        rows.append({
            "doc_id": doc_id,
            "text": text,
            "lang": "en",
            "url": f"https://site{i % 7}.example.com/p/{i}" if i % 2 else None,
            "fetched_at": datetime(2024, 5, 1, 12, i % 60) if i % 2 else None,
            "cluster_id": doc_id,
            "split": split_of(i),
            "text_hash": hashlib.sha1(text.lower().encode()).hexdigest(),
            "batch": "batch-0001",
        })
    return rows


def bad_rows() -> list[dict]:
    # No test rows: they went to train, which then holds 284 of 300 rows (one is holdout).
    rows = [dict(r, split="train") if r["split"] == "test" else r for r in good_rows()]
    for row, column, value, _, _ in DEFECTS.values():
        assert rows[row]["split"] == rows[row + 1]["split"] == "train"
        rows[row][column] = rows[row + 1][column] if value == "copy of the next row" else value
    return rows


def frame(spark, rows: list[dict]):
    return spark.createDataFrame([[r[c] for c in GOLD_COLUMNS] for r in rows], GOLD_SCHEMA)


def gold_parameters(validate_section=None, dedup=None) -> dict:
    raw = {"validate": validate_section or {}, "dedup": dedup or {}}
    return SPEC.parameters(params_from_dict(raw))








# --- the suite file and the registry ----------------------------------------------------



def test_suite_requires_the_columns_the_dedup_stage_writes():
    (columns,) = [e for e in suite_json()["expectations"]
                  if e["type"] == "expect_table_columns_to_match_set"]
    assert columns["kwargs"]["column_set"] == GOLD_COLUMNS



def test_registry_takes_values_from_params():
    assert gold_parameters() == {
        "gold_min_rows": 100,
        "train_min_rows": 1, "val_min_rows": 1, "test_min_rows": 1,
        # Exact decimals: a table sitting on a bound must pass (see _share).
        "train_min_share": 0.85, "not_train_min_share": 0.05,
        "val_min_share": 0.0, "not_val_min_share": 0.9,
        "test_min_share": 0.0, "not_test_min_share": 0.9,
    }
    values = gold_parameters({"gold_min_rows": 7, "split_tolerance": 0.02},
                             {"train": 0.8, "val": 0.1, "test": 0.1})
    assert values["gold_min_rows"] == 7
    assert (values["train_min_share"], values["not_train_min_share"]) == (0.78, 0.18)
    assert (values["val_min_share"], values["not_val_min_share"]) == (0.08, 0.88)
    assert SPEC.table == "gold/documents"


def test_a_split_with_ratio_zero_need_not_exist():
    values = gold_parameters(dedup={"train": 0.95, "val": 0.05, "test": 0.0})
    assert (values["train_min_rows"], values["val_min_rows"], values["test_min_rows"]) == (1, 1, 0)
    # Its share is still bounded: at most the tolerance.
    assert (values["test_min_share"], values["not_test_min_share"]) == (0.0, 0.95)


def test_share_bounds_are_clamped_to_0_1():
    values = gold_parameters({"split_tolerance": 0.5}, {"train": 1.0, "val": 0.0, "test": 0.0})
    assert all(0.0 <= values[name] <= 1.0 for name in SHARE_PARAMETERS)
    assert (values["train_min_share"], values["not_train_min_share"]) == (0.5, 0.0)
    assert (values["val_min_share"], values["not_val_min_share"]) == (0.0, 0.5)
    with pytest.raises(ValueError, match="split_tolerance"):
        gold_parameters({"split_tolerance": -0.01})


# --- validate_dataframe -----------------------------------------------------------------


@pytest.fixture(scope="module")
def good_summary(spark) -> validate.ValidationSummary:
    return validate.validate_dataframe(frame(spark, good_rows()), SPEC.suite_path,
                                       gold_parameters())


@pytest.fixture(scope="module")
def bad_summary(spark) -> validate.ValidationSummary:
    # One row more than the table has, so the row count fails too. Tolerance 0.04, because
    # at 0.05 a missing 5% split is still in range (the test row count catches it alone).
    limits = {"gold_min_rows": ROWS + 1, "split_tolerance": 0.04}
    return validate.validate_dataframe(frame(spark, bad_rows()), SPEC.suite_path,
                                       gold_parameters(limits))


@pytest.mark.spark
def test_good_data_passes(good_summary):
    assert good_summary.success, [o.line() for o in good_summary.failures]
    assert good_summary.evaluated == len(suite_json()["expectations"])


@pytest.mark.spark
@pytest.mark.parametrize("kind", sorted(DEFECTS))
def test_planted_defect_fails_its_expectation(bad_summary, kind):
    _, column, value, key, count = DEFECTS[kind]
    failure = find(bad_summary, key)
    assert not failure.success
    assert failure.unexpected_count == count
    assert failure.line().startswith(f"FAIL {key[0]}")
    if column in validate.PRIVATE_COLUMNS:  # text may hold PII: never copied to reports
        assert failure.unexpected_sample == ()
    elif kind == "unknown_split":
        assert failure.unexpected_sample == (value,)


@pytest.mark.spark
def test_missing_split_fails_its_row_count_and_shares(bad_summary):
    empty = find(bad_summary, TEST_ROWS)
    assert empty.line() == (f"FAIL {ROW_COUNT}: observed 0"
                            " (expected min_value=1, row_condition=split == test)")
    # 284 of 300 rows are train: above 0.90 + 0.04, so fewer than 6% are not train.
    assert find(bad_summary, TRAIN_MAX).observed.startswith("284 unexpected of 300 non-null")
    assert "mostly=0.06" in find(bad_summary, TRAIN_MAX).expected
    assert find(bad_summary, TEST_MIN).observed.startswith("300 unexpected of 300 non-null")
    assert find(bad_summary, VAL_MIN).success  # 15 of 300 is within 0.05 +- 0.04


@pytest.mark.spark
def test_only_the_planted_defects_fail(bad_summary):
    keys = [key for _, _, _, key, _ in DEFECTS.values()] + [MIN_ROWS, TEST_ROWS, TRAIN_MAX,
                                                            TEST_MIN]
    assert not bad_summary.success
    assert set(bad_summary.failures) == {find(bad_summary, key) for key in keys}
    assert bad_summary.failed == len(keys)


@pytest.mark.spark
def test_split_ratios_out_of_tolerance_fail(spark):
    # The same 90/5/5 table, validated against 80/15/5: train is 5 points over 0.85 and
    # val 5 under 0.10.
    summary = validate.validate_dataframe(
        frame(spark, good_rows()), SPEC.suite_path,
        gold_parameters(dedup={"train": 0.8, "val": 0.15, "test": 0.05}))
    assert not summary.success
    assert set(summary.failures) == {find(summary, TRAIN_MAX), find(summary, VAL_MIN)}
    assert "mostly=0.1," in find(summary, VAL_MIN).expected


@pytest.mark.spark
def test_a_missing_split_with_ratio_zero_passes(spark):
    rows = [r for r in good_rows() if r["split"] != "test"]  # 270 train, 15 val
    summary = validate.validate_dataframe(
        frame(spark, rows), SPEC.suite_path,
        gold_parameters(dedup={"train": 0.95, "val": 0.05, "test": 0.0}))
    assert summary.success, [o.line() for o in summary.failures]
    assert find(summary, TEST_ROWS).observed == "observed 0"


# --- run() and the CLI ------------------------------------------------------------------


@pytest.mark.spark
def test_run_writes_report_and_data_docs(spark, make_params, capsys):
    params = make_params()
    lake = Lake(params.lake)
    frame(spark, good_rows()).write.format("delta").save(lake.table("gold/documents"))
    assert validate.run(params, "gold") is True
    report = json.loads(lake.report("validate_gold.json").read_text())
    assert report["success"] is True
    assert report["table"] == "gold/documents"
    assert report["failed_expectations"] == []
    assert report["suite_parameters"] == gold_parameters()
    assert report["statistics"]["evaluated"] == len(suite_json()["expectations"])
    index = lake.report("gx") / "gold" / "index.html"
    assert index.is_file()
    timings = json.loads(lake.report("timings/validate_gold.json").read_text())
    assert timings["data_docs"] == str(index)  # a path: not a metric
    assert "validate gold: PASSED" in capsys.readouterr().out
