"""The feedback export (monitoring.feedback.stage) on tables the service's own request log
wrote: what was logged comes out, redacted as stored; what cannot come out is counted; the
same table versions give the same bytes and the same lineage record."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import deltalake
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from llmlake.stage import StageError
from monitoring.feedback.stage import export_feedback, run
from serving.logrows import FEEDBACK_SCHEMA, REQUESTS_SCHEMA, feedback_row, request_row
from serving.requestlog import PARTITION, FeedbackRecord, RequestLog, RequestRecord

pytestmark = pytest.mark.timeout(120)
T0 = datetime(2025, 6, 30, 23, 59, tzinfo=UTC)
KEY = "sk-llmlake-0123456789abcdef"


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMLAKE_API_KEY", KEY)


@pytest.fixture
def params(make_params, tmp_path):
    return make_params(monitor={"feedback_out": str(tmp_path / "feedback")})


def tables(params) -> tuple[str, str]:
    root = params.lake.root
    return f"{root}/ops/requests", f"{root}/ops/feedback"


def req(i: int, **over) -> RequestRecord:
    fields = {"request_id": f"req-{i}", "endpoint": "generate", "model": "run-1@ab12cd34",
              "prompt_tokens": 3, "completion_tokens": 4, "latency_ms": 5.0,
              "finish_reason": "stop", "prompt": f"question {i} from jo@example.com",
              "response": f"answer {i}, key {KEY}", "ts": T0 + timedelta(seconds=i)}
    return RequestRecord(**{**fields, **over})


def rate(i: int, rating: int, minutes: int = 0, comment: str | None = None) -> FeedbackRecord:
    return FeedbackRecord(f"req-{i}", rating=rating, comment=comment,
                          ts=T0 + timedelta(minutes=10 + minutes))


def serve(params, requests=(), ratings=(), log_text: bool = True) -> None:
    """Log records as the service does: one request log, stopped (so written) at the end."""
    with RequestLog(*tables(params), log_text=log_text) as log:
        for rec in requests:
            log.record_request(rec)
        for rec in ratings:
            log.record_feedback(rec)


def write_alone(uri: str, schema: pa.Schema, rows: list[dict]) -> None:
    """One table without the other (a request log creates both when it starts)."""
    deltalake.write_deltalake(uri, pa.Table.from_pylist(rows, schema=schema),
                              partition_by=PARTITION)


def stored(uri: str) -> dict[str, dict]:
    rows = DeltaTable(uri).to_pyarrow_dataset().to_table().to_pylist()
    return {row["request_id"]: row for row in rows}


def lines(params, name: str) -> list[dict]:
    text = (Path(params.monitor.feedback_out) / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_logged_pairs_come_out_as_stored(params):
    serve(params, [req(i) for i in range(1, 5)],
          [rate(2, 1), rate(1, 1), rate(3, -1, comment="wrong, mail al@example.org")])
    record = export_feedback(params)
    rows = stored(tables(params)[0])
    assert rows["req-1"]["prompt"] == "question 1 from <EMAIL>"  # redacted when logged
    assert rows["req-1"]["response"] == "answer 1, key <API_KEY>"
    assert lines(params, "sft.jsonl") == [
        {"prompt": rows[f"req-{i}"]["prompt"], "response": rows[f"req-{i}"]["response"],
         "request_id": f"req-{i}", "rating": 1, "model": "run-1@ab12cd34"} for i in (1, 2)]
    assert lines(params, "eval.jsonl") == [
        {"prompt": rows["req-3"]["prompt"], "response": rows["req-3"]["response"],
         "request_id": "req-3", "rating": -1, "model": "run-1@ab12cd34",
         "comment": "wrong, mail <EMAIL>"}]
    assert (record["ratings"], record["rated_requests"]) == (3, 3)
    assert not any(record["skipped"].values())


def test_the_latest_rating_by_ts_wins_whatever_order_it_was_written(params):
    serve(params, [req(1), req(2)], [rate(1, -1, minutes=5), rate(2, 1)])
    serve(params, ratings=[rate(1, 1, minutes=1), rate(2, -1, minutes=2, comment="no")])
    export_feedback(params)
    assert [r["request_id"] for r in lines(params, "sft.jsonl")] == []
    assert [(r["request_id"], r["comment"]) for r in lines(params, "eval.jsonl")] == [
        ("req-1", None), ("req-2", "no")]


def test_ratings_that_make_no_example_are_counted_by_reason(params):
    serve(params, [req(1), req(2, endpoint="score", finish_reason=None, response=None)],
          [rate(1, 1), rate(2, 1), rate(7, -1), rate(8, 1)])
    serve(params, [req(3)], [rate(3, -1, comment="private")], log_text=False)
    record = export_feedback(params)
    assert [r["request_id"] for r in lines(params, "sft.jsonl")] == ["req-1"]
    assert lines(params, "eval.jsonl") == []
    assert record["skipped"] == {"superseded": 0, "unknown_request": 2, "neutral": 0,
                                 "no_text": 1, "no_response": 1}
    assert record["files"]["sft.jsonl"]["rows"] == 1 and record["ratings"] == 5


def test_a_requests_table_from_before_the_response_column_is_read(params):
    requests_uri, _ = tables(params)
    old = pa.schema([f for f in REQUESTS_SCHEMA if f.name != "response"])
    row = {k: v for k, v in request_row(req(1)).items() if k != "response"}
    write_alone(requests_uri, old, [row])
    serve(params, ratings=[rate(1, 1)])
    record = export_feedback(params)
    assert record["skipped"]["no_response"] == 1 and lines(params, "sft.jsonl") == []


def test_exports_of_the_same_versions_are_identical_and_the_lineage_says_what_was_read(
        params):
    serve(params, [req(i) for i in range(6)],
          [rate(i, 1 if i % 2 else -1, minutes=-i, comment=f"c{i}") for i in range(6)])
    out, lineage = Path(params.monitor.feedback_out), Path(params.lake.reports, "lineage")
    first = export_feedback(params)
    files = {name: (out / name).read_bytes() for name in ("sft.jsonl", "eval.jsonl")}
    record = (lineage / "feedback.json").read_text()
    assert run(params) == first
    assert {name: (out / name).read_bytes() for name in files} == files
    assert (lineage / "feedback.json").read_text() == record
    assert json.loads(record) == first
    requests_uri, feedback_uri = tables(params)
    assert first["inputs"] == {
        "ops/requests": {"path": requests_uri, "version": DeltaTable(requests_uri).version()},
        "ops/feedback": {"path": feedback_uri, "version": DeltaTable(feedback_uri).version()}}
    for name, data in files.items():
        assert first["files"][name] == {"path": str(out / name), "rows": 3,
                                        "sha256": hashlib.sha256(data).hexdigest()}
    assert first["thresholds"] == {"feedback_good": 1, "feedback_bad": -1}


def test_no_feedback_table_gives_empty_sets_and_says_so(params, caplog):
    caplog.set_level(logging.INFO, logger="monitoring.feedback.stage")
    write_alone(tables(params)[0], REQUESTS_SCHEMA, [request_row(req(1))])
    record = export_feedback(params)
    assert "no ratings yet" in caplog.text
    assert [lines(params, name) for name in ("sft.jsonl", "eval.jsonl")] == [[], []]
    assert record["ratings"] == 0 and not any(record["skipped"].values())
    assert record["inputs"]["ops/feedback"]["version"] is None
    assert record["inputs"]["ops/requests"]["version"] is not None


def test_ratings_without_a_requests_table_are_of_unknown_requests(params):
    write_alone(tables(params)[1], FEEDBACK_SCHEMA,
                [feedback_row(rate(1, 1)), feedback_row(rate(2, -1))])
    record = export_feedback(params)
    assert record["skipped"]["unknown_request"] == 2
    assert record["inputs"]["ops/requests"]["version"] is None


def test_a_table_that_cannot_be_read_is_a_clear_error(params):
    serve(params, [req(1)], [rate(1, 1)])
    _, feedback_uri = tables(params)
    for data in Path(feedback_uri).rglob("*.parquet"):
        data.unlink()  # the log names files that are gone
    with pytest.raises(StageError, match=f"cannot read {feedback_uri}"):
        export_feedback(params)
    assert not Path(params.monitor.feedback_out).exists()


def test_a_folder_that_is_not_a_delta_table_is_a_clear_error(params):
    _, feedback_uri = tables(params)
    Path(feedback_uri).mkdir(parents=True)
    (Path(feedback_uri) / "ratings.csv").write_text("req-1,1\n")
    with pytest.raises(StageError, match="exists but is not a Delta table"):
        export_feedback(params)


def test_an_output_folder_with_other_files_is_left_alone(params):
    out = Path(params.monitor.feedback_out)
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(StageError, match=r"holds other files \(notes\.txt\)"):
        export_feedback(params)
    assert (out / "notes.txt").read_text() == "mine"


def test_an_empty_feedback_table_gives_empty_sets(params):
    serve(params, [req(1)])  # the request log creates ops/feedback too, with no rows
    record = export_feedback(params)
    assert record["inputs"]["ops/feedback"]["version"] == 0 and record["ratings"] == 0
    assert [lines(params, name) for name in ("sft.jsonl", "eval.jsonl")] == [[], []]
