"""Rows of the request and feedback logs (serving.logrows): the response column is scrubbed,
redacted and counted exactly as the prompt is, and kept out when ``log_text`` is false."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from serving.logrows import REQUESTS_SCHEMA, RequestRecord, request_row

KEY = "sk-llmlake-0123456789abcdef"
T0 = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)


def record(**over) -> RequestRecord:
    fields = {"request_id": "req-1", "endpoint": "generate", "model": "run-1@ab12cd34",
              "prompt_tokens": 3, "completion_tokens": 5, "latency_ms": 2.0,
              "finish_reason": "stop", "prompt": "hello", "response": "world", "ts": T0}
    return RequestRecord(**{**fields, **over})


def test_the_response_is_scrubbed_and_redacted_like_the_prompt():
    rec = record(prompt=f"key {KEY}, mail jo@example.com",
                 response=f"your key {KEY}; call (555) 123-4567 or jo@example.com")
    row = request_row(rec, log_text=True, api_key=KEY)
    assert row["prompt"] == "key <API_KEY>, mail <EMAIL>"
    assert row["response"] == "your key <API_KEY>; call <PHONE> or <EMAIL>"
    assert row["pii_redactions"] == 1 + 2  # the prompt's plus the response's


def test_log_text_false_stores_no_response_but_counts_its_redactions():
    row = request_row(record(response="mail jo@example.com"), log_text=False)
    assert (row["prompt"], row["response"], row["pii_redactions"]) == (None, None, 1)


def test_a_record_without_a_response_has_a_null_response():
    row = request_row(record(endpoint="score", finish_reason=None, response=None))
    assert row["response"] is None and row["pii_redactions"] == 0


def test_a_row_converts_to_the_requests_schema():
    rows = [request_row(record()), request_row(record(request_id="req-2", response=None))]
    table = pa.Table.from_pylist(rows, schema=REQUESTS_SCHEMA)
    assert table.column("response").to_pylist() == ["world", None]
    assert REQUESTS_SCHEMA.field("response").nullable


def test_a_response_that_is_not_text_is_refused_on_the_request_path():
    with pytest.raises(ValueError, match="response: must be a string or None"):
        record(response=["tokens"])
