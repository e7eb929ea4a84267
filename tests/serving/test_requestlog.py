"""Request and feedback logs (serving.requestlog): every record lands exactly once, in batches,
redacted, readable with delta-rs; failed appends neither raise nor lose rows."""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import deltalake
import pyarrow as pa
import pytest
from deltalake import DeltaTable

from serving.logrows import request_row
from serving.requestlog import (
    FEEDBACK_SCHEMA,
    PARTITION,
    REQUESTS_SCHEMA,
    FeedbackRecord,
    RequestLog,
    RequestRecord,
    from_params,
)

pytestmark = pytest.mark.timeout(60)  # a writer that never answers shows as a hang
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2025, 6, 30, 23, 59, 58, tzinfo=UTC)
KEY = "sk-llmlake-0123456789abcdef"


@pytest.fixture
def uris(tmp_path: Path) -> tuple[str, str]:
    return str(tmp_path / "lake/ops/requests"), str(tmp_path / "lake/ops/feedback")


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMLAKE_API_KEY", raising=False)


def req(i: int, **over) -> RequestRecord:
    fields = {"request_id": f"req-{i}", "endpoint": "generate", "model": "run-1@ab12cd34",
              "prompt_tokens": i, "completion_tokens": 2 * i, "latency_ms": 1.5 * i,
              "finish_reason": "stop", "prompt": f"prompt {i}", "response": f"response {i}",
              "ts": T0 + timedelta(seconds=i)}
    return RequestRecord(**{**fields, **over})


def rows(uri: str) -> list[dict]:
    if not DeltaTable.is_deltatable(uri):
        return []
    return DeltaTable(uri).to_pyarrow_dataset().to_table().to_pylist()


def by_id(uri: str) -> dict[str, dict]:
    return {row["request_id"]: row for row in rows(uri)}


def rows_per_write(uri: str) -> list[int]:
    """Rows added by each commit after the table's creation, oldest first."""
    last = DeltaTable(uri).version()
    counts = [DeltaTable(uri, version=v).to_pyarrow_dataset().count_rows()
              for v in range(last + 1)]
    return [b - a for a, b in itertools.pairwise(counts) if b != a]


# A service process: records ``count`` requests and as many ratings, with small appends.
WRITER = """
import sys
from serving.requestlog import FeedbackRecord, RequestLog, RequestRecord
first, count, stop = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "stop"
log = RequestLog(sys.argv[1], sys.argv[2], flush_seconds=3600, flush_rows=3).start()
for i in range(first, first + count):
    log.record_request(RequestRecord(f"req-{i}", "generate", "m", 1, 1, 1.0))
    log.record_feedback(FeedbackRecord(f"req-{i}", rating=1))
if stop:
    assert log.stop() == 0
"""


def writer(uris: tuple[str, str], first: int, count: int, stop: bool) -> subprocess.Popen:
    """``WRITER`` in a process of its own; it exits without ``stop()`` unless ``stop``."""
    args = [*uris, str(first), str(count), "stop" if stop else "exit"]
    return subprocess.Popen([sys.executable, "-c", WRITER, *args], cwd=ROOT)


def wait_for(check, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.02)


def test_records_from_many_threads_all_land_once_on_stop(uris):
    requests_uri, feedback_uri = uris
    log = RequestLog(requests_uri, feedback_uri, flush_seconds=3600, flush_rows=7).start()

    def serve(worker: int) -> None:
        for i in range(worker * 25, worker * 25 + 25):
            log.record_request(req(i, endpoint="score" if i % 5 == 0 else "generate",
                                   finish_reason=None if i % 5 == 0 else "length",
                                   status=200 if i % 3 else 429))
            if i % 10 == 0:
                log.record_feedback(FeedbackRecord(f"req-{i}", rating=i % 5 - 2,
                                                   comment=f"note {i}", ts=T0))

    threads = [threading.Thread(target=serve, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert log.stop() == 0
    got = by_id(requests_uri)
    assert len(rows(requests_uri)) == 100 and set(got) == {f"req-{i}" for i in range(100)}
    row = got["req-37"]
    assert row["ts"] == T0 + timedelta(seconds=37) and row["date"] == "2025-07-01"
    assert (row["endpoint"], row["model"], row["finish_reason"]) == \
        ("generate", "run-1@ab12cd34", "length")
    assert (row["prompt_tokens"], row["completion_tokens"], row["latency_ms"]) == (37, 74, 55.5)
    assert (row["status"], row["prompt"], row["pii_redactions"]) == (200, "prompt 37", 0)
    assert row["response"] == "response 37"
    assert got["req-30"]["finish_reason"] is None and got["req-30"]["status"] == 429
    assert got["req-1"]["date"] == "2025-06-30"  # the UTC day of each record's ts
    feedback = by_id(feedback_uri)
    assert len(rows(feedback_uri)) == 10
    assert (feedback["req-30"]["rating"], feedback["req-30"]["comment"]) == (-2, "note 30")
    assert log.written == 110 and log.dropped == 0


def test_tables_have_the_fixed_schemas_and_are_partitioned_by_date(uris):
    with RequestLog(*uris) as log:
        log.record_request(req(1))
        log.record_feedback(FeedbackRecord("req-1", rating=1))
    for uri, schema in zip(uris, (REQUESTS_SCHEMA, FEEDBACK_SCHEMA), strict=True):
        table = DeltaTable(uri)
        assert table.metadata().partition_columns == ["date"]
        read = table.to_pyarrow_dataset().schema
        assert {f.name: f.type for f in read} == {f.name: f.type for f in schema}


def test_a_table_written_before_the_response_column_gains_it_on_append(uris):
    requests_uri, _ = uris
    old = pa.schema([f for f in REQUESTS_SCHEMA if f.name != "response"])
    before = {k: v for k, v in request_row(req(1)).items() if k != "response"}
    DeltaTable.create(requests_uri, old, partition_by=PARTITION)
    deltalake.write_deltalake(requests_uri, pa.Table.from_pylist([before], schema=old),
                              mode="append", partition_by=PARTITION)
    with RequestLog(*uris, flush_seconds=3600) as log:
        log.record_request(req(2))
        assert log.flush() == 0
        log.record_request(req(3))  # a plain append once the column exists
    got = by_id(requests_uri)
    assert sorted(got) == ["req-1", "req-2", "req-3"]
    assert [got[f"req-{i}"]["response"] for i in (1, 2, 3)] == [None, "response 2", "response 3"]
    assert got["req-1"]["prompt"] == "prompt 1" and got["req-2"]["prompt"] == "prompt 2"
    table = DeltaTable(requests_uri)
    assert table.metadata().partition_columns == ["date"]
    assert table.schema().to_arrow().field("response").nullable
    names = [DeltaTable(requests_uri, version=v).schema().to_arrow().names
             for v in range(table.version() + 1)]
    changed = [b for a, b in itertools.pairwise(names) if a != b]
    assert len(names) == 4 and len(changed) == 1  # the first new append alone changed it


def test_the_date_partition_is_the_utc_day_of_ts(uris):
    local = datetime(2025, 7, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    with RequestLog(*uris) as log:
        log.record_request(req(1, ts=local))
    row = by_id(uris[0])["req-1"]
    assert (row["ts"], row["date"]) == (local, "2025-06-30")


def test_appends_wait_for_the_row_threshold(uris):
    requests_uri, _ = uris
    log = RequestLog(*uris, flush_seconds=3600, flush_rows=5).start()
    for i in range(12):
        log.record_request(req(i))
    assert log.stop() == 0
    assert rows_per_write(requests_uri) == [5, 5, 2]  # two at the threshold, the rest at stop


def test_appends_happen_after_flush_seconds_without_a_stop(uris):
    requests_uri, _ = uris
    log = RequestLog(*uris, flush_seconds=0.1, flush_rows=1000).start()
    try:
        for i in range(3):
            log.record_request(req(i))
        wait_for(lambda: len(rows(requests_uri)) == 3)
    finally:
        log.stop()


def test_pii_is_redacted_in_prompts_responses_and_comments(uris):
    requests_uri, feedback_uri = uris
    text = "mail jo@example.com or call (555) 123-4567 today"
    with RequestLog(*uris) as log:
        log.record_request(req(1, prompt=text, response="write to al@example.org"))
        log.record_feedback(FeedbackRecord("req-1", rating=5, comment=text))
    row = by_id(requests_uri)["req-1"]
    assert row["prompt"] == "mail <EMAIL> or call <PHONE> today"
    assert (row["response"], row["pii_redactions"]) == ("write to <EMAIL>", 3)
    assert by_id(feedback_uri)["req-1"]["comment"] == "mail <EMAIL> or call <PHONE> today"


def test_log_text_false_keeps_counts_but_no_text(uris):
    requests_uri, feedback_uri = uris
    with RequestLog(*uris, log_text=False) as log:
        log.record_request(req(1, prompt="mail jo@example.com or call (555) 123-4567",
                               response="to jo@example.com"))
        log.record_feedback(FeedbackRecord("req-1", rating=4, comment="from jo@example.com"))
    row = by_id(requests_uri)["req-1"]
    assert (row["prompt"], row["response"]) == (None, None)
    assert (row["pii_redactions"], row["prompt_tokens"]) == (3, 1)
    assert by_id(feedback_uri)["req-1"]["comment"] is None


def test_the_api_key_never_reaches_the_tables(uris, monkeypatch):
    monkeypatch.setenv("LLMLAKE_API_KEY", KEY)
    requests_uri, feedback_uri = uris
    with RequestLog(*uris) as log:
        log.record_request(req(1, prompt=f"Authorization: Bearer {KEY}", model=f"m-{KEY}",
                               response=f"echo {KEY}"))
        log.record_feedback(FeedbackRecord("req-1", rating=1, comment=f"my key is {KEY}!"))
    stored = [*rows(requests_uri), *rows(feedback_uri)]
    assert len(stored) == 2
    assert not any(KEY in str(value) for row in stored for value in row.values())
    assert by_id(requests_uri)["req-1"]["prompt"] == "Authorization: Bearer <API_KEY>"
    assert by_id(requests_uri)["req-1"]["response"] == "echo <API_KEY>"
    assert by_id(feedback_uri)["req-1"]["comment"] == "my key is <API_KEY>!"


def test_a_short_api_key_is_not_scrubbed(uris, monkeypatch):
    monkeypatch.setenv("LLMLAKE_API_KEY", "the")  # would blank ordinary words
    with RequestLog(*uris) as log:
        log.record_request(req(1, prompt="the cat"))
    assert by_id(uris[0])["req-1"]["prompt"] == "the cat"


def test_knows_recent_ids_ids_in_the_table_and_not_others(uris):
    with RequestLog(*uris, flush_seconds=3600) as log:
        assert not log.knows("req-1")  # no table yet
        log.record_request(req(1))
        assert log.knows("req-1")      # recorded, not yet written
        assert not log.knows("req-2")
    restarted = RequestLog(*uris)      # a new process: nothing recent in memory
    assert restarted.knows("req-1")
    assert not restarted.knows("req-2")


def test_a_failing_append_neither_raises_nor_loses_records(uris, caplog):
    requests_uri, feedback_uri = uris
    Path(requests_uri).parent.mkdir(parents=True)
    Path(requests_uri).write_text("in the way")  # the table cannot be created
    caplog.set_level(logging.ERROR, logger="serving.requestlog")
    log = RequestLog(*uris, flush_seconds=3600, flush_rows=1000).start()
    try:
        for i in range(5):
            log.record_request(req(i))
        log.record_feedback(FeedbackRecord("req-0", rating=1))
        assert log.flush() == 5
        assert any("append failed, 5 records kept" in r.getMessage() for r in caplog.records)
        assert len(rows(feedback_uri)) == 1  # the other table is not held up
        Path(requests_uri).unlink()
        assert log.flush() == 0
        assert sorted(by_id(requests_uri)) == [f"req-{i}" for i in range(5)]
    finally:
        log.stop()


def test_stop_reports_what_it_could_not_write(uris, caplog):
    requests_uri, _ = uris
    Path(requests_uri).parent.mkdir(parents=True)
    Path(requests_uri).write_text("in the way")
    log = RequestLog(*uris, flush_seconds=3600).start()
    for i in range(3):
        log.record_request(req(i))
    assert log.stop(timeout=0.5) == 3 and log.dropped == 3
    assert "3 records not written at stop" in caplog.text


def test_a_failed_append_that_committed_is_not_written_twice(uris, monkeypatch):
    requests_uri, _ = uris
    real, calls = deltalake.write_deltalake, []

    def commit_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise OSError("connection reset after the commit")

    monkeypatch.setattr(deltalake, "write_deltalake", commit_then_fail)
    with RequestLog(*uris, flush_seconds=3600) as log:
        for i in range(4):
            log.record_request(req(i))
        assert log.flush() == 4  # reported failed ...
        log.record_request(req(4))
        assert log.flush() == 0  # ... found committed on the retry
    assert sorted(by_id(requests_uri)) == [f"req-{i}" for i in range(5)]
    assert len(rows(requests_uri)) == 5


def test_the_backlog_is_bounded_and_drops_are_logged(uris, caplog):
    requests_uri, _ = uris
    Path(requests_uri).parent.mkdir(parents=True)
    Path(requests_uri).write_text("in the way")
    caplog.set_level(logging.ERROR, logger="serving.requestlog")
    log = RequestLog(*uris, flush_seconds=3600, flush_rows=3, max_backlog=3).start()
    try:
        for i in range(5):
            log.record_request(req(i))
        assert log.flush() == 3 and log.dropped == 2
        assert any("dropped the 2 oldest" in r.getMessage() for r in caplog.records)
        Path(requests_uri).unlink()
        assert log.flush() == 0
        assert sorted(by_id(requests_uri)) == ["req-2", "req-3", "req-4"]
    finally:
        log.stop()


def test_two_processes_appending_to_the_same_tables_lose_nothing(uris):
    requests_uri, feedback_uri = uris
    procs = [writer(uris, first=n * 1000, count=20, stop=True) for n in range(2)]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    expected = {f"req-{i}" for n in range(2) for i in range(n * 1000, n * 1000 + 20)}
    for uri in (requests_uri, feedback_uri):
        assert len(rows(uri)) == 40 and set(by_id(uri)) == expected
    assert len(rows_per_write(requests_uri)) >= 2 * 20 // 3  # many small appends


def test_records_after_stop_are_refused_and_counted(uris, caplog):
    log = RequestLog(*uris).start()
    log.record_request(req(1))
    assert log.stop() == 0 and log.dropped == 0
    log.record_request(req(2))  # must not raise
    assert log.dropped == 1 and "after stop() was dropped" in caplog.text
    assert log.stop() == 0  # a second stop is a no-op
    assert sorted(by_id(uris[0])) == ["req-1"]


def test_a_process_that_exits_without_stop_still_writes_its_records(uris):
    assert writer(uris, first=0, count=25, stop=False).wait(timeout=60) == 0
    assert len(rows(uris[0])) == 25 and len(rows(uris[1])) == 25


def test_records_reject_values_the_tables_cannot_hold():
    with pytest.raises(ValueError, match="endpoint: must be one of"):
        req(1, endpoint="chat")
    with pytest.raises(ValueError, match="ts: must be a timezone-aware"):
        req(1, ts=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="prompt_tokens"):
        req(1, prompt_tokens=-1)
    with pytest.raises(ValueError, match="model: must be a string"):
        req(1, model=None)
    with pytest.raises(ValueError, match="rating"):
        FeedbackRecord("req-1", rating=70_000)
    with pytest.raises(ValueError, match="comment: must be a string or None"):
        FeedbackRecord("req-1", rating=1, comment=b"bytes")


def test_from_params_uses_the_lake_tables_and_serve_settings(make_params):
    params = make_params(serve={"log_text": False, "log_flush_rows": 7,
                                "log_flush_seconds": 0.5})
    log = from_params(params)
    assert (log.log_text, log.flush_rows, log.flush_seconds) == (False, 7, 0.5)
    assert log.requests_uri == str(params.lake.root) + "/ops/requests"
    assert log.feedback_uri == str(params.lake.root) + "/ops/feedback"
