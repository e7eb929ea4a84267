"""Ratings into data (pure): the fine-tuning pairs and the evaluation failures that user
feedback makes, and what it cannot make, counted by reason.

:func:`feedback_signals` joins the rows of ``ops/feedback`` to those of ``ops/requests`` on
``request_id``. A request rated more than once counts with its latest rating (by ``ts``;
the others are ``superseded``). A latest rating of at least ``good`` makes a fine-tuning
pair, one of at most ``bad`` an evaluation row (the pair, plus the rater's comment). Every
rating lands in exactly one place: a pair, an evaluation row, or one of the skip reasons

* ``superseded``: a later rating of the same request counts instead;
* ``unknown_request``: no row of ``ops/requests`` has its id;
* ``neutral``: between ``bad`` and ``good``, neither kind of example;
* ``no_text``: the request was logged without its prompt (``serve.log_text`` false);
* ``no_response``: a prompt but no response (a failed request, a score, a row logged
  before the response column existed).

The texts are exported as the service stored them: API key scrubbed, PII redacted. Rows
come out in request order (request ``ts``, then ``request_id``), so the same tables always
give the same rows.

Example::

    >>> from datetime import UTC, datetime
    >>> at = lambda s: datetime(2025, 3, 1, 12, 0, s, tzinfo=UTC)
    >>> requests = [
    ...     {"request_id": "a", "ts": at(1), "model": "m@1", "prompt": "hi", "response": "yo"},
    ...     {"request_id": "b", "ts": at(2), "model": "m@1", "prompt": None, "response": None}]
    >>> ratings = [{"request_id": "a", "ts": at(5), "rating": -1, "comment": "rude"},
    ...            {"request_id": "a", "ts": at(9), "rating": 1, "comment": None},
    ...            {"request_id": "b", "ts": at(6), "rating": -1, "comment": None},
    ...            {"request_id": "zz", "ts": at(7), "rating": -1, "comment": "gone"}]
    >>> out = feedback_signals(requests, ratings, good=1, bad=-1)
    >>> out.sft
    [{'prompt': 'hi', 'response': 'yo', 'request_id': 'a', 'rating': 1, 'model': 'm@1'}]
    >>> out.eval, out.skipped["superseded"], out.skipped["unknown_request"], out.skipped["no_text"]
    ([], 1, 1, 1)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

SFT_KEYS = ("prompt", "response", "request_id", "rating", "model")
EVAL_KEYS = (*SFT_KEYS, "comment")
REASONS = ("superseded", "unknown_request", "neutral", "no_text", "no_response")

Row = Mapping[str, Any]


@dataclass(frozen=True)
class FeedbackSignals:
    sft: list[dict[str, Any]]     # rating >= good: prompt/response pairs, in request order
    eval: list[dict[str, Any]]    # rating <= bad: the same keys plus the comment
    ratings: int                  # rows of ops/feedback read
    skipped: dict[str, int]       # ratings exported in neither set, by reason (all REASONS)

    @property
    def rated_requests(self) -> int:
        return self.ratings - self.skipped["superseded"]


def latest_ratings(ratings: Iterable[Row]) -> tuple[dict[str, Row], int]:
    """The latest rating of each rated request, and how many earlier ones it superseded.

    Two ratings of one request with the same ``ts`` (two clicks within a microsecond) are
    ordered by rating, and the lower wins: a reported failure is never hidden by a tie.
    """
    latest: dict[str, Row] = {}
    seen = 0
    for row in ratings:
        seen += 1
        now = latest.get(row["request_id"])
        if now is None or _rank(row) > _rank(now):
            latest[row["request_id"]] = row
    return latest, seen - len(latest)


def _rank(row: Row) -> tuple[Any, ...]:
    return row["ts"], -row["rating"], row.get("comment") or ""


def _reason(request: Row | None, rating: int, good: int, bad: int) -> str | None:
    """Why a latest rating makes no example (None: it makes one)."""
    if request is None:
        return "unknown_request"
    if bad < rating < good:
        return "neutral"
    if request.get("prompt") is None:
        return "no_text"
    if request.get("response") is None:
        return "no_response"
    return None


def feedback_signals(requests: Iterable[Row], ratings: Iterable[Row], good: int,
                     bad: int) -> FeedbackSignals:
    """The fine-tuning pairs and evaluation rows of ``ratings`` (rows of ``ops/feedback``)
    joined to ``requests`` (rows of ``ops/requests``; those never rated may be left out)."""
    if bad >= good:
        raise ValueError(f"bad must be below good, got bad={bad}, good={good}")
    by_id = {row["request_id"]: row for row in requests}
    latest, superseded = latest_ratings(ratings)
    skipped = dict.fromkeys(REASONS, 0)
    skipped["superseded"] = superseded
    found: list[tuple[Row, Row]] = []
    for request_id, rated in latest.items():
        request = by_id.get(request_id)
        reason = _reason(request, rated["rating"], good, bad)
        if reason is not None:
            skipped[reason] += 1
        elif request is not None:
            found.append((request, rated))
    found.sort(key=lambda pair: (pair[0]["ts"], pair[0]["request_id"]))
    sft, failures = [], []
    for request, rated in found:
        pair = {"prompt": request["prompt"], "response": request["response"],
                "request_id": request["request_id"], "rating": rated["rating"],
                "model": request["model"]}
        if rated["rating"] >= good:
            sft.append(pair)
        else:
            failures.append({**pair, "comment": rated.get("comment")})
    return FeedbackSignals(sft, failures, superseded + len(latest), skipped)
