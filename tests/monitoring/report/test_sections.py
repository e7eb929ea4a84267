"""The page's sections built from reports folders: a full run, ETL only, and inputs that
are missing, malformed or of another shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from monitoring.report.charts import line_chart
from monitoring.report.inputs import read_reports
from monitoring.report.page import SECTIONS, build_page, build_sections

IDS = [sid for sid, _, _ in SECTIONS]


def sections_of(folder: Path) -> dict[str, dict]:
    return {s["id"]: s for s in build_sections(read_reports(folder))}


def test_every_builder_names_its_own_section(full_reports):
    built = build_sections(read_reports(full_reports))
    assert [(s["id"], s["title"]) for s in built] == [(sid, t) for sid, t, _ in SECTIONS]


def test_full_run_has_every_section(full_reports):
    built = sections_of(full_reports)
    assert {sid: s["status"] for sid, s in built.items()} == dict.fromkeys(IDS, "present")
    # Only the committed validate reports' age shows: nothing else is missing.
    assert all(not s["missing"] for sid, s in built.items())


def test_funnel_counts_every_stage(full_reports, committed):
    body = sections_of(full_reports)["funnel"]["body"]
    rows = {r["stage"]: r for r in body["rows"]}
    assert list(rows) == ["sample", "ingest", "clean", "dedup", "tokenize"]
    clean, dedup = committed("clean"), committed("dedup")
    assert rows["clean"]["out"] == f"{clean['documents']['kept']:,}"
    (dropped,) = rows["clean"]["removed"]
    assert dropped["count"] == f"{clean['documents']['dropped']:,}"
    top = max(clean["dropped_by_reason"].items(), key=lambda kv: kv[1])
    assert dropped["reasons"][0] == {"reason": top[0], "count": f"{top[1]:,}"}
    assert rows["dedup"]["out"] == f"{dedup['gold_documents']:,}"
    assert {r["reason"] for r in rows["dedup"]["removed"][0]["reasons"]} == {"exact", "near"}
    quarantined = rows["ingest"]["removed"][1]
    assert quarantined["what"] == "quarantined"
    assert quarantined["count"] == f"{sum(committed('ingest')['quarantined'].values()):,}"
    sequences = sum(s["sequences"] for s in committed("tokenize")["splits"].values())
    assert f"{sequences:,} sequences" in rows["tokenize"]["note"]
    # The chart: one bar per stage, none longer than the one before it.
    values = [b["value"] for b in body["bars"]]
    assert values == sorted(values, reverse=True) and len(values) == 5


def test_quality_falls_back_to_failures_for_old_reports(full_reports):
    for table in ("bronze", "silver", "gold", "sequences"):  # as validate wrote them before
        path = full_reports / f"validate_{table}.json"
        report = json.loads(path.read_text())
        report.pop("expectations", None)
        path.write_text(json.dumps(report))
    suites = sections_of(full_reports)["quality"]["body"]["suites"]
    assert [s["table"] for s in suites] == ["bronze", "silver", "gold", "sequences"]
    assert all(s["expectations"] is None and s["docs"] == f"gx/{s['table']}/index.html"
               for s in suites)


def test_quality_lists_every_expectation(full_reports):
    report = json.loads((full_reports / "validate_gold.json").read_text())
    report["success"] = False
    report["expectations"] = [
        {"expectation": "expect_column_values_to_not_be_null", "column": "doc_id",
         "success": True, "unexpected_count": 0, "unexpected_percent": 0.0},
        {"expectation": "expect_table_row_count_to_be_between", "column": None,
         "success": False, "unexpected_count": None, "unexpected_percent": None},
        {"expectation": "expect_column_values_to_be_in_set", "column": "split",
         "success": False, "unexpected_count": 12, "unexpected_percent": 0.5347}]
    (full_reports / "validate_gold.json").write_text(json.dumps(report))
    (gold,) = [s for s in sections_of(full_reports)["quality"]["body"]["suites"]
               if s["table"] == "gold"]
    assert [(e["column"], e["success"], e["unexpected"], e["percent"])
            for e in gold["expectations"]] == [
        ("doc_id", True, "0", "0.00%"), ("", False, "–", "–"), ("split", False, "12", "0.53%")]
    html, _ = build_page(full_reports)
    assert "expect_column_values_to_be_in_set" in html and "FAILED" in html


def test_etl_only_says_what_is_missing_and_how_to_make_it(etl_reports):
    built = sections_of(etl_reports)
    present = {sid for sid, s in built.items() if s["status"] == "present"}
    assert present == {"funnel", "quality", "tokenizer", "links"}
    assert built["training"]["missing"][0] == \
        "No model yet: run `llmlake train` (or `dvc repro`)"
    assert "run `llmlake evaluate`" in built["evaluation"]["missing"][0]
    assert "run `llmlake promote`" in built["promotion"]["missing"][0]
    assert built["ablation"]["missing"] == ["No ablation yet: run `llmlake ablate`"]
    assert "run `llmlake monitor`" in built["drift"]["missing"][0]
    assert "reports/bias.html is missing: run `llmlake evaluate`" in built["links"]["missing"]
    assert [r["href"] for r in built["links"]["body"]["rows"]] == ["dedup.html"]


def test_empty_folder_renders_every_section_as_missing(tmp_path):
    html, built = build_page(tmp_path / "nothing")
    assert {s["status"] for s in built} == {"missing"}
    assert "reports/ingest.json is missing: run <code>llmlake etl ingest</code>" in html


@pytest.mark.parametrize("stem, section", [("eval", "evaluation"), ("clean", "funnel"),
                                           ("ablate", "ablation"), ("drift", "drift")])
def test_malformed_json_is_named_in_its_section(full_reports, stem, section):
    (full_reports / f"{stem}.json").write_text('{"cut short": ')
    built = sections_of(full_reports)
    assert f"reports/{stem}.json is not valid JSON (line 1, column 15)" in \
        built[section]["missing"]
    html, _ = build_page(full_reports)
    assert f"reports/{stem}.json is not valid JSON" in html


def test_json_that_is_not_an_object_is_malformed(full_reports):
    (full_reports / "promotion.json").write_text("[1, 2]")
    assert sections_of(full_reports)["promotion"]["missing"] == \
        ["reports/promotion.json is not a JSON object"]


def test_reports_of_another_shape_never_break_the_page(full_reports):
    odd = {"clean": {"documents": "many", "dropped_by_reason": [1, 2]},
           "dedup": {"gold_documents": "x", "removed_total": None},
           "eval": {"val": [], "tasks": {"t": {"accuracy": "high", "accuracy_ci": [1]}}},
           "ablate": {"variants": {"raw": [], "x": {"verdict": "great", "task_ci": "wide"}},
                      "seeds": 3, "model": "tiny"},
           "drift": {"drift_detected": "yes", "reasons": None, "current": 5},
           "tokenize": {"splits": [7]}, "promotion": {"reasons": "abc", "signals": 3},
           "bias": {"categories": {"age": {"mean_gap": "wide"}}}, "sample": {"dups": 3},
           "ingest": {"skipped": "x", "records": 3, "tables": {"bronze/documents": 4}},
           "validate_gold": {"statistics": [], "expectations": [None, "x"]}}
    for stem, data in odd.items():
        (full_reports / f"{stem}.json").write_text(json.dumps(data))
    _, built = build_page(full_reports)
    assert [s["id"] for s in built] == IDS
    # Each builder coped on its own: no section fell back to the shape error.
    assert not any("unexpected shape" in m for s in built for m in s["missing"])
    variants = {s["id"]: s for s in built}["ablation"]["body"]["variants"]
    assert {s["id"]: s for s in built}["promotion"]["body"]["reasons"] == []
    assert [(v["name"], v["verdict"], v["tone"]) for v in variants] == [
        ("raw", "–", "unknown"), ("x", "great", "unknown")]


def test_ablation_table_keeps_the_reports_order_and_figures(full_reports):
    body = sections_of(full_reports)["ablation"]["body"]
    assert [v["name"] for v in body["variants"]] == ["raw", "curated", "no_dedup"]
    raw = body["variants"][0]
    assert (raw["bits_per_byte"], raw["std"], raw["task_ci"], raw["delta"], raw["delta_ci"],
            raw["verdict"]) == ("2.31", "0.01", "[0.35, 0.47]", "0.05", "[0.03, 0.07]", "worse")
    assert body["variants"][2]["same_as"] == "filtered"
    assert body["page"] == "ablate.html"
    assert {"label": "seeds", "value": "0, 1"} in body["facts"]


def test_drift_links_only_pages_that_exist(full_reports, committed):
    body = sections_of(full_reports)["drift"]["body"]
    assert body["verdict"] == ("drift" if committed("drift")["drift_detected"] else "no drift")
    (check,) = body["checks"]
    assert check["page"].startswith("drift/") and check["evidently"].endswith("report.html")
    (full_reports / "drift" / check["run"] / "index.html").unlink()
    (check,) = sections_of(full_reports)["drift"]["body"]["checks"]
    assert check["page"] is None
    assert [e["champion"] for e in body["history"]] == ["train-new"]


def test_training_curves_from_the_logs(full_reports, committed):
    body = sections_of(full_reports)["training"]["body"]
    assert [r["name"] for r in body["runs"]] == ["train", "finetune"]
    chart = body["runs"][0]["chart"]
    assert [s["name"] for s in chart["series"]] == ["train_loss", "val_loss"]
    assert chart["series"][1]["last"] == f"{committed('train')['val_loss']:.4g}"


def test_an_unreadable_log_is_named(full_reports):
    (full_reports / "train" / "log.csv").write_text("step,train_loss\n0,nan?\n")
    training = sections_of(full_reports)["training"]
    assert training["status"] == "present"  # train.json still says how it went
    assert training["missing"][0].startswith("reports/train/log.csv cannot be read")
    assert training["body"]["runs"][0]["chart"] is None


def test_crawled_text_is_escaped(full_reports):
    drift = json.loads((full_reports / "drift.json").read_text())
    drift["reasons"] = ["<script>alert(1)</script> drifted"]
    (full_reports / "drift.json").write_text(json.dumps(drift))
    html, _ = build_page(full_reports)
    assert "<script" not in html and "&lt;script&gt;alert(1)" in html


def test_line_chart_stays_inside_its_plot():
    chart = line_chart({"a": [(0, 3.0), (50, 1.0), (100, None), (200, 0.5)],
                        "b": [(0, float("nan")), (100, 2.0)]})
    for series in chart["series"]:
        for point in series["points"].split():
            x, y = map(float, point.split(","))
            assert chart["left"] <= x <= chart["right"] and chart["top"] <= y <= chart["bottom"]
    assert [t["text"] for t in chart["x_ticks"]] == ["0", "50", "100", "150", "200"]
    assert chart["series"][1]["dots"] == [{"x": chart["series"][1]["dots"][0]["x"],
                                           "y": chart["series"][1]["dots"][0]["y"]}]
