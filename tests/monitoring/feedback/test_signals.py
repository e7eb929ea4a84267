"""Ratings into examples (monitoring.feedback.signals): the latest rating counts, every rating
lands in one set or one skip reason, and rows come out in request order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.feedback.signals import REASONS, feedback_signals, latest_ratings

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def request(i: int, prompt: str | None = "p", response: str | None = "r", **over) -> dict:
    return {"request_id": f"req-{i}", "ts": T0 + timedelta(seconds=i), "model": "m@1",
            "prompt": prompt and f"{prompt}{i}", "response": response and f"{response}{i}",
            **over}


def rating(i: int, value: int, at: int, comment: str | None = None) -> dict:
    return {"request_id": f"req-{i}", "ts": T0 + timedelta(hours=at), "rating": value,
            "comment": comment}


def test_the_latest_rating_counts_whatever_order_the_rows_come_in():
    ratings = [rating(1, 1, at=3), rating(1, -1, at=1), rating(1, 1, at=2)]
    for rows in (ratings, ratings[::-1]):
        out = feedback_signals([request(1)], rows, good=1, bad=-1)
        assert [p["rating"] for p in out.sft] == [1] and out.eval == []
        assert out.skipped["superseded"] == 2 and out.rated_requests == 1
    later_bad = [*ratings, rating(1, -1, at=4, comment="worse now")]
    out = feedback_signals([request(1)], later_bad, good=1, bad=-1)
    assert out.sft == [] and [e["comment"] for e in out.eval] == ["worse now"]


def test_a_tie_on_ts_goes_to_the_lower_rating():
    latest, superseded = latest_ratings([rating(1, 1, at=1), rating(1, -1, at=1)])
    assert latest["req-1"]["rating"] == -1 and superseded == 1


def test_the_exported_rows_carry_the_logged_texts_and_the_rating():
    requests = [request(1), request(2)]
    out = feedback_signals(requests, [rating(1, 1, 0), rating(2, -1, 0, "wrong")], 1, -1)
    assert out.sft == [{"prompt": "p1", "response": "r1", "request_id": "req-1", "rating": 1,
                        "model": "m@1"}]
    assert out.eval == [{"prompt": "p2", "response": "r2", "request_id": "req-2",
                         "rating": -1, "model": "m@1", "comment": "wrong"}]


def test_rows_come_in_request_order_not_rating_order():
    requests = [request(3), request(1), request(2, ts=T0 + timedelta(seconds=1))]
    ratings = [rating(1, 1, at=9), rating(2, 1, at=1), rating(3, 1, at=5)]
    out = feedback_signals(requests, ratings, good=1, bad=-1)
    # req-1 and req-2 share a ts: the id breaks the tie
    assert [p["request_id"] for p in out.sft] == ["req-1", "req-2", "req-3"]


def test_what_makes_no_example_is_counted_by_reason():
    requests = [request(1, prompt=None, response=None), request(2, response=None),
                request(3)]
    ratings = [rating(1, 1, 0), rating(2, -1, 0), rating(3, 0, 0), rating(9, 1, 0),
               rating(3, 1, -1)]
    out = feedback_signals(requests, ratings, good=1, bad=-1)
    assert (out.sft, out.eval, out.ratings) == ([], [], 5)
    assert out.skipped == {"superseded": 1, "unknown_request": 1, "neutral": 1,
                           "no_text": 1, "no_response": 1}


def test_the_thresholds_decide_the_sets():
    requests = [request(i) for i in range(5)]
    ratings = [rating(i, value, 0) for i, value in enumerate((-2, -1, 0, 1, 2))]
    out = feedback_signals(requests, ratings, good=2, bad=-2)
    assert [p["rating"] for p in out.sft] == [2] and [e["rating"] for e in out.eval] == [-2]
    assert out.skipped["neutral"] == 3
    with pytest.raises(ValueError, match="bad must be below good"):
        feedback_signals(requests, ratings, good=0, bad=0)


def test_a_row_without_a_response_column_reads_as_no_response():
    old = {k: v for k, v in request(1).items() if k != "response"}  # an old table's row
    out = feedback_signals([old], [rating(1, 1, 0)], good=1, bad=-1)
    assert out.sft == [] and out.skipped["no_response"] == 1


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(-2, 2), st.integers(0, 3)),
                max_size=30),
       st.sets(st.integers(0, 6)))
def test_every_rating_is_exported_or_counted_once(rows, logged):
    requests = [request(i, prompt=None if i == 5 else "p", response=None if i == 4 else "r")
                for i in sorted(logged)]
    out = feedback_signals(requests, [rating(i, v, at) for i, v, at in rows], good=1, bad=-1)
    assert set(out.skipped) == set(REASONS)
    assert len(out.sft) + len(out.eval) + sum(out.skipped.values()) == out.ratings == len(rows)
    assert len({p["request_id"] for p in [*out.sft, *out.eval]}) == len(out.sft) + len(out.eval)
