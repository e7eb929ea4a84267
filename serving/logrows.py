"""Rows of the request and feedback logs: the Arrow schemas of ``ops/requests`` and
``ops/feedback``, the records the service fills, and the pure conversion of a record into a
row (API key scrubbed, then PII redacted by the clean stage's
:func:`~etl.clean.pii.redact_pii`). :mod:`serving.requestlog` writes the rows.

A request row keeps the prompt and the generated ``response`` (null for ``score``, for a
failed request and in tables written before the column existed), both scrubbed and
redacted the same way; its ``pii_redactions`` counts the redactions of both.

A record checks its values when it is made, on the request path, so that a row never fails
the Arrow conversion of a whole batch later. ``log_text=False`` keeps no prompt, response
or comment text, but still counts the prompt's and the response's redactions. The API key (env
``LLMLAKE_API_KEY``, at least 8 characters) is replaced by ``<API_KEY>`` in every text
field before redaction, so redaction cannot split it.

Example::

    >>> from datetime import UTC, datetime
    >>> rec = RequestRecord(request_id="r1", endpoint="generate", model="run-7@3f2a9c1d",
    ...                     prompt_tokens=9, completion_tokens=20, latency_ms=41.5,
    ...                     finish_reason="stop", prompt="mail jo@example.com, key s3cr3t-key",
    ...                     response="or call (555) 123-4567",
    ...                     ts=datetime(2025, 3, 1, 23, 59, tzinfo=UTC))
    >>> row = request_row(rec, log_text=True, api_key="s3cr3t-key")
    >>> row["prompt"], row["response"], row["pii_redactions"], row["date"]
    ('mail <EMAIL>, key <API_KEY>', 'or call <PHONE>', 2, '2025-03-01')
    >>> hidden = request_row(rec, log_text=False)
    >>> hidden["prompt"], hidden["response"], hidden["pii_redactions"]
    (None, None, 2)
    >>> FeedbackRecord("r1", rating=1, ts=datetime(2025, 3, 1))
    Traceback (most recent call last):
    ...
    ValueError: ts: must be a timezone-aware datetime, got datetime.datetime(2025, 3, 1, 0, 0)
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from etl.clean.pii import redact_pii

ENDPOINTS = ("generate", "generate_stream", "completions", "score")
API_KEY_ENV = "LLMLAKE_API_KEY"
API_KEY_MIN_CHARS = 8  # a shorter value would blank ordinary words
API_KEY_MARK = "<API_KEY>"
_INT16, _INT32 = 2**15 - 1, 2**31 - 1

REQUESTS_SCHEMA = pa.schema([
    pa.field("request_id", pa.string(), nullable=False),
    pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("endpoint", pa.string(), nullable=False),
    pa.field("model", pa.string(), nullable=False),
    pa.field("prompt_tokens", pa.int32(), nullable=False),
    pa.field("completion_tokens", pa.int32(), nullable=False),
    pa.field("latency_ms", pa.float64(), nullable=False),
    pa.field("finish_reason", pa.string()),  # null for score
    pa.field("status", pa.int16(), nullable=False),
    pa.field("prompt", pa.string()),  # redacted; null when log_text is false
    # The completion's text, redacted; null for score, a failed request, log_text false.
    pa.field("response", pa.string()),
    pa.field("pii_redactions", pa.int32(), nullable=False),  # prompt's + response's
    pa.field("date", pa.string(), nullable=False),
])
FEEDBACK_SCHEMA = pa.schema([
    pa.field("request_id", pa.string(), nullable=False),
    pa.field("ts", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("rating", pa.int16(), nullable=False),
    pa.field("comment", pa.string()),  # redacted; null when absent or log_text is false
    pa.field("date", pa.string(), nullable=False),
])


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check(request_id: Any, ts: Any, texts: dict[str, Any],
           **ints: tuple[Any, int, int]) -> None:
    # On the request path: a value Arrow cannot store would fail its whole batch later.
    if not isinstance(request_id, str) or not request_id:
        raise ValueError(f"request_id: must be a non-empty string, got {request_id!r}")
    if not isinstance(ts, datetime) or ts.tzinfo is None:
        raise ValueError(f"ts: must be a timezone-aware datetime, got {ts!r}")
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name}: must be a string or None, got {value!r}")
    for name, (value, low, high) in ints.items():
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{name}: must be an integer in [{low}, {high}], got {value!r}")


@dataclass(frozen=True)
class RequestRecord:
    request_id: str
    endpoint: str                 # one of ENDPOINTS
    model: str                    # the model version: run name + short weights hash
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    status: int = 200             # the HTTP status answered
    finish_reason: str | None = None  # None for score
    prompt: str | None = None     # as received: the writer redacts it, off the request path
    ts: datetime = field(default_factory=_utc_now)
    response: str | None = None   # the completion's text, as generated (redacted likewise)

    def __post_init__(self) -> None:
        _check(self.request_id, self.ts, {"prompt": self.prompt, "response": self.response,
                                          "finish_reason": self.finish_reason},
               prompt_tokens=(self.prompt_tokens, 0, _INT32),
               completion_tokens=(self.completion_tokens, 0, _INT32),
               status=(self.status, 0, _INT16))
        if not isinstance(self.model, str):
            raise ValueError(f"model: must be a string, got {self.model!r}")
        if self.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint: must be one of {', '.join(ENDPOINTS)}, "
                             f"got {self.endpoint!r}")
        latency = self.latency_ms
        if not (isinstance(latency, int | float) and math.isfinite(latency) and latency >= 0):
            raise ValueError(f"latency_ms: must be a finite number >= 0, got {self.latency_ms!r}")


@dataclass(frozen=True)
class FeedbackRecord:
    request_id: str
    rating: int
    comment: str | None = None
    ts: datetime = field(default_factory=_utc_now)

    def __post_init__(self) -> None:
        _check(self.request_id, self.ts, {"comment": self.comment},
               rating=(self.rating, -_INT16 - 1, _INT16))


def api_key_from_env() -> str | None:
    """The service's API key, if it is set and long enough to scrub safely."""
    key = os.environ.get(API_KEY_ENV, "")
    return key if len(key) >= API_KEY_MIN_CHARS else None


def scrub(text: str | None, api_key: str | None = None) -> tuple[str | None, int]:
    """``text`` with the API key replaced (first, so redaction cannot split it) and PII
    redacted, and the number of PII redactions (the key is not counted)."""
    if text is None:
        return None, 0
    text, counts = redact_pii(_no_key(text, api_key))
    return text, sum(counts.values())


def _no_key(value: str | None, api_key: str | None) -> str | None:
    return value.replace(api_key, API_KEY_MARK) if value and api_key else value


def request_row(rec: RequestRecord, log_text: bool = True,
                api_key: str | None = None) -> dict[str, Any]:
    """The ``ops/requests`` row of a record (pure). ``pii_redactions`` is the prompt's
    redactions plus the response's, counted even when ``log_text`` keeps neither text."""
    prompt, in_prompt = scrub(rec.prompt, api_key)
    response, in_response = scrub(rec.response, api_key)
    ts = rec.ts.astimezone(UTC)
    return {
        "request_id": _no_key(rec.request_id, api_key), "ts": ts, "endpoint": rec.endpoint,
        "model": _no_key(rec.model, api_key), "prompt_tokens": rec.prompt_tokens,
        "completion_tokens": rec.completion_tokens, "latency_ms": float(rec.latency_ms),
        "finish_reason": _no_key(rec.finish_reason, api_key), "status": rec.status,
        "prompt": prompt if log_text else None, "response": response if log_text else None,
        "pii_redactions": in_prompt + in_response,
        "date": ts.strftime("%Y-%m-%d"),
    }


def feedback_row(rec: FeedbackRecord, log_text: bool = True,
                 api_key: str | None = None) -> dict[str, Any]:
    """The ``ops/feedback`` row of a record (pure)."""
    ts = rec.ts.astimezone(UTC)
    return {"request_id": _no_key(rec.request_id, api_key), "ts": ts, "rating": rec.rating,
            "comment": scrub(rec.comment, api_key)[0] if log_text else None,
            "date": ts.strftime("%Y-%m-%d")}
