"""The current batch (monitoring.monitor.batch): a folder of raw files parsed and cleaned as
ingest and clean would, the answered prompts of ``ops/requests`` in a time window, and the
reasons a batch cannot be judged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from etl.sample.stage import generate
from llmlake.config import SampleConfig
from monitoring.monitor.batch import (
    TRUTH,
    Batch,
    BatchError,
    parse_time,
    raw_files,
    read_folder,
    read_requests,
)
from serving.requestlog import RequestLog, RequestRecord

T0 = datetime(2025, 6, 30, 23, 58, tzinfo=UTC)


def batch_of(n: int) -> Batch:
    return Batch("files", "x", [f"text {i}" for i in range(n)], [f"id-{i}" for i in range(n)],
                 read=n)


# ---- Batch ---------------------------------------------------------------------------------

def test_sampled_is_seeded_keeps_order_and_pairs():
    batch = batch_of(50)
    one = batch.sampled(10, seed=3)
    assert one == batch.sampled(10, seed=3)
    assert one.ids != batch.sampled(10, seed=4).ids
    positions = [int(i.split("-")[1]) for i in one.ids]
    assert positions == sorted(positions) and len(set(positions)) == 10
    assert one.texts == [f"text {p}" for p in positions]
    assert one.read == 50  # the counts still cover the whole batch
    assert batch.sampled(50, seed=3) is batch and batch.sampled(80, seed=3) is batch


def test_yield_shares_and_summary():
    batch = Batch("files", "data/new", ["a"] * 6, [str(i) for i in range(6)], read=10,
                  dropped={"short": 3, "lang_not_allowed": 1}, quarantined={"invalid_json": 2},
                  files=["a.jsonl", "b.warc.gz"])
    assert batch.yield_shares() == {"kept": 0.6, "lang_not_allowed": 0.1, "short": 0.3}
    assert batch.summary() == {
        "kind": "files", "source": "data/new", "documents": 6, "read": 10,
        "dropped": {"lang_not_allowed": 1, "short": 3}, "quarantined": {"invalid_json": 2},
        "files": 2, "table_version": None, "window": {}}
    assert batch_of(0).yield_shares() == {}


# ---- a folder of raw files ---------------------------------------------------------------

def test_raw_files_finds_crawl_files_but_not_the_answer_key(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "part-1.jsonl").write_text('{"text": "x"}\n')
    (tmp_path / "a.jsonl").write_text('{"text": "y"}\n')
    (tmp_path / TRUTH).write_text('{"kind": "document"}\n')
    (tmp_path / "notes.txt").write_text("a note\n")
    found = raw_files(tmp_path)
    assert [(p.relative_to(tmp_path).as_posix(), fmt) for p, fmt in found] == [
        ("a.jsonl", "jsonl"), ("b/part-1.jsonl", "jsonl")]
    assert raw_files(tmp_path / "a.jsonl") == [(tmp_path / "a.jsonl", "jsonl")]


def test_raw_files_names_what_is_missing(tmp_path):
    with pytest.raises(BatchError, match="no such folder"):
        raw_files(tmp_path / "nowhere")
    with pytest.raises(BatchError, match="no WARC, WET, JSONL or Parquet file in it"):
        raw_files(tmp_path)
    (tmp_path / TRUTH).write_text('{"kind": "document"}\n')  # an answer key alone
    with pytest.raises(BatchError, match="no WARC, WET, JSONL or Parquet file in it"):
        raw_files(tmp_path)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crawl")
    generate(SampleConfig(docs=60, seed=5, foreign_rate=0.2), out)
    return out


def test_read_folder_counts_what_the_crawl_holds(crawl, make_params):
    params = make_params()
    batch = read_folder(crawl, params)
    truth = [json.loads(line) for line in (crawl / TRUTH).read_text().splitlines()]
    documents = [t for t in truth if t["kind"] == "document"]
    assert batch.kind == "files" and batch.source == str(crawl)
    assert batch.read == len(documents)
    assert sum(batch.quarantined.values()) == sum(1 for t in truth if t["kind"] == "corrupt")
    assert len(batch.texts) == len(batch.ids) == batch.read - sum(batch.dropped.values())
    assert len(set(batch.ids)) == len(batch.ids)
    foreign = sum(1 for t in documents if t["lang"] != "en")
    assert 0 < batch.dropped["lang_not_allowed"] <= foreign
    assert TRUTH not in {Path(f).name for f in batch.files}
    assert all(text.strip() for text in batch.texts)
    assert read_folder(crawl, params) == batch  # the same files give the same batch


def test_a_folder_nothing_survives_is_an_error_with_the_counts(tmp_path, make_params):
    (tmp_path / "part-0.jsonl").write_text('{"url": "https://a.example/1", "text": "Hi"}\n'
                                           '{"broken\n')
    with pytest.raises(BatchError, match=r"none of its 1 documents survived cleaning "
                                         r"\(dropped: \{'\w+': 1\}; unreadable: "
                                         r"\{'invalid_json': 1\}\)"):
        read_folder(tmp_path, make_params())


# ---- the served prompts -------------------------------------------------------------------

def test_parse_time_reads_dates_and_times_as_utc():
    assert parse_time("", "since") is None
    assert parse_time("2025-07-01", "since") == datetime(2025, 7, 1, tzinfo=UTC)
    zoned = parse_time("2025-07-01T02:00:00+02:00", "until")
    assert zoned == datetime(2025, 7, 1, tzinfo=UTC)
    with pytest.raises(BatchError, match=r"monitor.until: not an ISO date or time: 'yesterday'"):
        parse_time("yesterday", "until")


@pytest.fixture
def requests_table(tmp_path, monkeypatch) -> str:
    """ops/requests as the service logs it: one request a minute from T0 (23:58), and
    requests that are no generated prompt: a failed one, a score, one logged without text."""
    monkeypatch.delenv("LLMLAKE_API_KEY", raising=False)
    table = str(tmp_path / "lake" / "ops" / "requests")

    def req(i: int, **over) -> RequestRecord:
        fields = {"request_id": f"req-{i}", "endpoint": "generate", "model": "run@ab12",
                  "prompt_tokens": 3, "completion_tokens": 4, "latency_ms": 5.0,
                  "finish_reason": "stop", "prompt": f"prompt {i}",
                  "ts": T0 + timedelta(minutes=i)}
        return RequestRecord(**{**fields, **over})

    with RequestLog(table, str(tmp_path / "lake" / "ops" / "feedback")) as log:
        for i in (3, 0, 4, 1, 2):  # logged out of order: the batch is in time order
            log.record_request(req(i))
        log.record_request(req(5, endpoint="generate_stream"))
        log.record_request(req(6, endpoint="completions"))
        log.record_request(req(7, status=500, finish_reason=None))
        log.record_request(req(8, endpoint="score", finish_reason=None))
    with RequestLog(table, str(tmp_path / "lake" / "ops" / "feedback"),
                    log_text=False) as log:
        log.record_request(req(9))
    return table


def test_requests_window_is_since_inclusive_until_exclusive(requests_table):
    everything = read_requests(requests_table, "", "")
    assert everything.ids == [f"req-{i}" for i in range(7)]
    assert everything.texts == [f"prompt {i}" for i in range(7)]
    assert everything.kind == "requests" and everything.read == 7
    assert everything.table_version is not None and everything.dropped == {}
    # 23:58 + 2 min = 2025-07-01 00:00, the first instant of the day.
    day = read_requests(requests_table, "2025-07-01", "2025-07-01T00:03:00")
    assert day.ids == ["req-2", "req-3", "req-4"]
    assert "[2025-07-01, 2025-07-01T00:03:00)" in day.source
    assert day.window == {"since": "2025-07-01", "until": "2025-07-01T00:03:00"}
    assert read_requests(requests_table, "", "2025-07-01").ids == ["req-0", "req-1"]
    assert read_requests(requests_table, "2025-07-01T02:04:00+02:00", "").ids == [
        "req-6"]


def test_a_window_without_prompts_is_an_error(requests_table, tmp_path):
    with pytest.raises(BatchError, match="no logged prompts in the window"):
        read_requests(requests_table, "2025-07-01T00:07:00", "")  # only unusable ones
    with pytest.raises(BatchError, match="no logged prompts in the window"):
        read_requests(requests_table, "2026-01-01", "2026-02-01")
    with pytest.raises(BatchError, match="no request log table yet"):
        read_requests(str(tmp_path / "none" / "ops" / "requests"), "", "")
