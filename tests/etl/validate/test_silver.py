"""Tests for the silver_documents suite and its registry entry in etl/suites.py.

The Spark tests validate small silver-like tables (300 rows, a third of them dropped, with
the unredacted PII that dropped rows keep). Every planted defect sits in one shared bad
table, so the defects cost one GX validation between them.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime

import gx_helpers
import pytest
from gx_helpers import find

from etl.clean.document import DROP_REASONS
from etl.validate import stage as validate
from etl.validate.suites import SUITES
from llmlake.config import params_from_dict
from llmlake.lake import Lake


def suite_json() -> dict:
    return gx_helpers.suite_json("silver")

CORE_COLUMNS = [
    "doc_id", "source", "url", "fetched_at", "content_type", "origin", "text", "lang",
    "lang_score", "drop_reason", "pii_redactions", "config_hash", "batch",
]
SIGNAL_COLUMNS = ["gopher_n_words", "c4_lines", "fineweb_newline_ratio"]
SILVER_SCHEMA = (
    "doc_id string, source string, url string, fetched_at timestamp, content_type string,"
    " origin string, text string, lang string, lang_score double, drop_reason string,"
    " pii_redactions map<string,int>, config_hash string, batch string,"
    " gopher_n_words double, c4_lines double, fineweb_newline_ratio double"
)
ROWS = 300
LANGUAGES = ["en", "de"]
REASONS = sorted(DROP_REASONS)
KEPT = {"type": "nullity", "column": {"name": "drop_reason"}, "is_null": True}
SPEC = SUITES["silver"]

# kind -> (kept row, column, bad value, (failing expectation, column, word of its
# description), unexpected count GX reports)
DEFECTS = {
    "duplicate_doc_id": (10, "doc_id", "copy of the next row",
                         ("expect_column_values_to_be_unique", "doc_id", "unique"), 2),
    "lang_score_above_1": (20, "lang_score", 1.5,
                           ("expect_column_values_to_be_between", "lang_score", "probability"),
                           1),
    "unknown_drop_reason": (31, "drop_reason", "too_shiny",
                            ("expect_column_values_to_be_in_set", "drop_reason", "known"), 1),
    "empty_kept_text": (40, "text", "",
                        ("expect_column_value_lengths_to_be_between", "text", "empty"), 1),
    "kept_lang_not_configured": (50, "lang", "fr",
                                 ("expect_column_values_to_be_in_set", "lang", "languages"), 1),
    "kept_email": (61, "text", "Write to jo.smith@example.org for the recipe.",
                   ("expect_column_values_to_not_match_regex", "text", "e-mail"), 1),
    "kept_card": (70, "text", "The card 4111 1111 1111 1111 was charged twice.",
                  ("expect_column_values_to_not_match_regex", "text", "card"), 1),
}
MIN_ROWS = ("expect_table_row_count_to_be_between", None, "silver_min_rows")
MIN_KEPT = ("expect_table_row_count_to_be_between", None, "silver_min_kept")


def is_kept(i: int) -> bool:
    return i % 3 != 0


def good_rows(n: int = ROWS) -> list[dict]:
    rows = []
    for i in range(n):
        kept = is_kept(i)
        rows.append({
            "doc_id": hashlib.sha256(f"doc-{i}".encode()).hexdigest()[:32],
            "source": "warc" if i % 2 else "jsonl",
            "url": f"https://site{i % 7}.example.com/p/{i}" if i % 2 else None,
            "fetched_at": datetime(2024, 5, 1, 12, i % 60) if i % 2 else None,
            "content_type": "text/html" if i % 2 else "text/plain",
            "origin": f"data/raw/sample/shard-{i // 100:03d}.warc@{i * 4096}",
            # Kept text is redacted; dropped rows keep what they had, PII included, and a
            # 16-digit number without a card issuer's first digit is no card.
            "text": (f"Document {i} about gardens. Mail <EMAIL> or pay by <CARD>; order"
                     f" 9999888877776666, call 555-123-4567." if kept else
                     f"Spam {i}: write to jo{i}@example.com, card 4111 1111 1111 1111."),
            "lang": LANGUAGES[i % 2] if kept else "fr",
            "lang_score": 0.5 + (i % 50) / 100,
            "drop_reason": None if kept else REASONS[i % len(REASONS)],
            "pii_redactions": {"email": int(kept), "ip": 0, "phone": 0, "card": int(kept)},
            "config_hash": "c0ffee",
            "batch": "batch-0001",
            # A stage after the one that dropped a document records no signals.
            "gopher_n_words": 120.0 + i,
            "c4_lines": 8.0 if kept else None,
            "fineweb_newline_ratio": 0.05 if kept else None,
        })
    return rows


def bad_rows() -> list[dict]:
    rows = good_rows()
    for row, column, value, _, _ in DEFECTS.values():
        assert is_kept(row), f"row {row} must be a kept row"
        rows[row][column] = rows[row + 1][column] if value == "copy of the next row" else value
    return rows


def kept_count(rows: list[dict]) -> int:
    return sum(r["drop_reason"] is None for r in rows)


def frame(spark, rows: list[dict]):
    columns = CORE_COLUMNS + SIGNAL_COLUMNS
    return spark.createDataFrame([[r[c] for c in columns] for r in rows], SILVER_SCHEMA)


def silver_parameters(validate_section=None, languages=LANGUAGES) -> dict:
    raw = {"validate": validate_section or {}, "clean": {"languages": languages}}
    return SPEC.parameters(params_from_dict(raw))




def expectations_of(type_: str, column: str | None = None) -> list[dict]:
    return [e for e in suite_json()["expectations"]
            if e["type"] == type_ and e["kwargs"].get("column") == column]






# --- the suite file and the registry ----------------------------------------------------




def test_registry_takes_values_from_params():
    values = silver_parameters({"silver_min_rows": 7, "silver_min_kept": 3}, ["de"])
    assert values == {"silver_min_rows": 7, "silver_min_kept": 3, "languages": ["de"],
                      "drop_reasons": sorted(DROP_REASONS)}
    defaults = SPEC.parameters(params_from_dict({}))
    assert (defaults["silver_min_rows"], defaults["silver_min_kept"]) == (100, 1)
    assert SPEC.table == "silver/documents"


def test_suite_requires_the_core_columns():
    (columns,) = expectations_of("expect_table_columns_to_match_set")
    assert sorted(columns["kwargs"]["column_set"]) == sorted(CORE_COLUMNS)
    assert columns["kwargs"]["exact_match"] is False  # signal columns come and go


def test_text_and_lang_are_checked_on_kept_rows_only():
    checks = [e for e in suite_json()["expectations"]
              if e["kwargs"].get("column") in ("text", "lang")]
    assert len(checks) == 5
    assert all(e["kwargs"]["row_condition"] == KEPT for e in checks)
    (kept_rows,) = [e for e in expectations_of("expect_table_row_count_to_be_between")
                    if "row_condition" in e["kwargs"]]
    assert kept_rows["kwargs"]["row_condition"] == KEPT
    assert kept_rows["kwargs"]["min_value"] == {"$PARAMETER": "silver_min_kept"}


def regex(word: str) -> re.Pattern[str]:
    (e,) = [e for e in expectations_of("expect_column_values_to_not_match_regex", "text")
            if word in e["description"]]
    # Spark runs these as Java regexes; this syntax means the same in Python.
    return re.compile(e["kwargs"]["regex"])


@pytest.mark.parametrize(("text", "found"), [
    ("mail jo.smith@example.org today", True),
    ("<jo+news@mail.example.co.uk>", True),
    ("mail <EMAIL> today", False),
    ("user@localhost and @handle", False),
])
def test_email_pattern(text, found):
    assert bool(regex("e-mail").search(text)) is found


@pytest.mark.parametrize(("text", "found"), [
    ("card 4111 1111 1111 1111.", True),
    ("card 5500-0000-0000-0004", True),
    ("card 4111111111111111", True),
    ("card <CARD>", False),
    ("order 9999888877776666", False),  # no card issuer starts with 9
    ("id 41111111111111112", False),  # 17 digits
    ("call 555-123-4567", False),
])
def test_card_pattern(text, found):
    assert bool(regex("card").search(text)) is found


def test_empty_languages_skips_the_kept_language_expectation():
    suite = validate.load_suite(SPEC.suite_path)
    skipped = validate._skip_expectations(suite, silver_parameters(languages=[]))
    assert skipped == ("expect_column_values_to_be_in_set [lang]:"
                       " suite parameter languages is empty",)
    assert len(suite.expectations) == len(suite_json()["expectations"]) - 1
    suite = validate.load_suite(SPEC.suite_path)
    assert validate._skip_expectations(suite, silver_parameters()) == ()
    assert len(suite.expectations) == len(suite_json()["expectations"])


# --- validate_dataframe -----------------------------------------------------------------


@pytest.fixture(scope="module")
def good_summary(spark) -> validate.ValidationSummary:
    return validate.validate_dataframe(frame(spark, good_rows()), SPEC.suite_path,
                                       silver_parameters())


@pytest.fixture(scope="module")
def bad_summary(spark) -> validate.ValidationSummary:
    # One row more than the table has, and one kept row more, so both counts fail too.
    rows = bad_rows()
    limits = {"silver_min_rows": ROWS + 1, "silver_min_kept": kept_count(rows) + 1}
    return validate.validate_dataframe(frame(spark, rows), SPEC.suite_path,
                                       silver_parameters(limits))


@pytest.mark.spark
def test_good_data_passes(good_summary):
    assert good_summary.success, [o.line() for o in good_summary.failures]
    assert good_summary.evaluated == len(suite_json()["expectations"])
    assert good_summary.skipped == ()


@pytest.mark.spark
def test_pii_in_dropped_rows_is_allowed(good_summary):
    dropped = [r["text"] for r in good_rows() if r["drop_reason"] is not None]
    assert dropped and all(regex("e-mail").search(t) and regex("card").search(t)
                           for t in dropped)
    for word in ("e-mail", "card"):
        outcome = find(good_summary, ("expect_column_values_to_not_match_regex", "text", word))
        assert outcome.success
        assert outcome.unexpected_count == 0
        assert "row_condition=drop_reason IS NULL" in outcome.expected


@pytest.mark.spark
@pytest.mark.parametrize("kind", sorted(DEFECTS))
def test_planted_defect_fails_its_expectation(bad_summary, kind):
    _, column, value, key, count = DEFECTS[kind]
    failure = find(bad_summary, key)
    assert not failure.success
    assert failure.unexpected_count == count
    assert failure.line().startswith(f"FAIL {key[0]} [{key[1]}]")
    if column in validate.PRIVATE_COLUMNS:  # text may hold PII: never copied to reports
        assert failure.unexpected_sample == ()
    elif kind != "duplicate_doc_id":
        assert failure.unexpected_sample == (str(value) if column != "lang_score" else "1.5",)


@pytest.mark.spark
def test_too_few_rows_and_kept_rows_fail_the_counts(bad_summary):
    kept = kept_count(bad_rows())
    rows, kept_rows = find(bad_summary, MIN_ROWS), find(bad_summary, MIN_KEPT)
    assert rows.line().endswith(f"observed {ROWS} (expected min_value={ROWS + 1})")
    assert kept_rows.observed == f"observed {kept}"
    assert kept_rows.expected == f"min_value={kept + 1}, row_condition=drop_reason IS NULL"


@pytest.mark.spark
def test_only_the_planted_defects_fail(bad_summary):
    expected = [find(bad_summary, key) for _, _, _, key, _ in DEFECTS.values()]
    expected += [find(bad_summary, MIN_ROWS), find(bad_summary, MIN_KEPT)]
    assert not bad_summary.success
    assert set(bad_summary.failures) == set(expected)
    assert bad_summary.failed == len(DEFECTS) + 2


# --- run() and the CLI ------------------------------------------------------------------


@pytest.mark.spark
def test_run_writes_report_and_data_docs(spark, make_params, capsys):
    # clean.languages [] keeps every language: the kept-language check is skipped.
    params = make_params(clean={"languages": []})
    lake = Lake(params.lake)
    frame(spark, good_rows()).write.format("delta").save(lake.table("silver/documents"))
    assert validate.run(params, "silver") is True
    report = json.loads(lake.report("validate_silver.json").read_text())
    assert report["success"] is True
    assert report["table"] == "silver/documents"
    assert report["failed_expectations"] == []
    assert report["suite_parameters"]["languages"] == []
    assert report["suite_parameters"]["silver_min_rows"] == 100
    (skipped,) = report["skipped_expectations"]
    assert skipped.startswith("expect_column_values_to_be_in_set [lang]")
    assert report["statistics"]["evaluated"] == len(suite_json()["expectations"]) - 1
    index = lake.report("gx") / "silver" / "index.html"
    assert index.is_file()
    timings = json.loads(lake.report("timings/validate_silver.json").read_text())
    assert timings["data_docs"] == str(index)  # a path: not a metric
    out = capsys.readouterr().out
    assert f"SKIP {skipped}" in out
    assert "validate silver: PASSED" in out
