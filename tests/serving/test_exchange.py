"""An exchange's request record (serving.exchange.request_record): the completion's text is
the response of a generation answered without error, and nothing else's."""

from __future__ import annotations

import json

import pytest

from serving.exchange import Exchange, request_record
from serving.stream import Completion

MODEL = "run-1@ab12cd34"


def completion(text: str = "a fine answer", reason: str = "stop") -> Completion:
    return Completion(request_id="r1", text=text, finish_reason=reason, prompt_tokens=4,
                      completion_tokens=3, token_ids=(7, 8, 0), ttft_s=0.01, latency_s=0.02)


def exchange(endpoint: str = "generate", status: int = 200, **over) -> Exchange:
    return Exchange("r1", endpoint, started=1.0, ended=1.5, status=status,
                    prompt=over.pop("prompt", "a question"), **over)


@pytest.mark.parametrize("endpoint", ["generate", "generate_stream", "completions"])
def test_a_generation_records_its_completion_text(endpoint):
    rec = request_record(exchange(endpoint), MODEL, completion())
    assert (rec.prompt, rec.response) == ("a question", "a fine answer")
    assert (rec.prompt_tokens, rec.completion_tokens, rec.finish_reason) == (4, 3, "stop")


def test_a_cancelled_stream_records_the_text_it_sent():
    rec = request_record(exchange("generate_stream"), MODEL, completion("a fi", "cancelled"))
    assert (rec.response, rec.finish_reason) == ("a fi", "cancelled")


def test_a_failed_exchange_records_no_response():
    # the client left before the answer: the app ended without one (500)
    rec = request_record(exchange(status=500), MODEL, completion())
    assert rec.response is None and rec.completion_tokens == 3
    refused = request_record(exchange(status=413), MODEL, None)
    assert refused.response is None and refused.prompt == "a question"


def test_score_records_no_response():
    scores = json.dumps([{"tokens": 5, "perplexity": 3.0}]).encode()
    ex = exchange("score", prompt=None, body=bytearray(b'{"texts": ["a", "b"]}'),
                  response=bytearray(scores))
    rec = request_record(ex, MODEL, None)
    assert (rec.prompt, rec.response, rec.prompt_tokens) == ("a\n\nb", None, 5)
