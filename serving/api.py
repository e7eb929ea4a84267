"""The HTTP API's messages: what ``/generate``, ``/generate_stream``, ``/score`` and
``/feedback`` accept and answer, checked before any work is done.

Each request is a pydantic model that forbids unknown fields and converts nothing
(``strict``: ``"5"`` is not a number), so malformed JSON, a missing, unknown or mistyped
field and a value out of range each fail validation, which BentoML answers with 400 and
pydantic's errors (each with the field's ``loc`` and a ``msg``). The server's own limits,
``serve.max_new_tokens``, ``serve.max_prompt_chars`` and ``serve.max_score_texts``, are
checked here too: the service sets them with :func:`configure` when it starts (until then
the ``serve`` defaults hold). Errors found later, once a request is read (a prompt over the
model's context under ``truncate: refuse``, an unknown request id) are a
:class:`RequestError`, answered by :func:`error_response` as ``{"error": "<message>"}``.

This module imports pydantic and starlette only (both come with BentoML), not torch.

Example::

    >>> GenerateRequest(prompt="the cat", max_new_tokens=8, stop=["."]).sampling()
    {'max_new_tokens': 8, 'temperature': 1.0, 'top_k': 0, 'top_p': 1.0, 'seed': None, 'stop': ('.',)}
    >>> try:
    ...     GenerateRequest.model_validate_json('{"prompt": "hi", "max_new_tokens": 100000}')
    ... except ValueError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, max_new_tokens: at most 256 (serve.max_new_tokens), got 100000
    >>> sse({"text": "hi"})
    'data: {"text": "hi"}\\n\\n'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import JSONResponse

from llmlake.config_serve import ServeConfig

SEED_LIMIT = 2**63       # as serving.sampling: torch.Generator's range
MAX_STOPS = 8            # stop strings per request
MAX_STOP_CHARS = 200     # characters per stop string
MAX_ID_CHARS = 128       # a request id given back in feedback
MAX_COMMENT_CHARS = 4000


@dataclass(frozen=True)
class Limits:
    """What one request may ask of this server (from the ``serve`` params)."""

    max_new_tokens: int
    max_prompt_chars: int
    max_score_texts: int

    @classmethod
    def of(cls, serve: ServeConfig) -> Limits:
        return cls(serve.max_new_tokens, serve.max_prompt_chars, serve.max_score_texts)

    @property
    def max_body_bytes(self) -> int:
        """The largest request body worth reading: every text at its longest, 4 UTF-8 bytes
        a character, and room for JSON escapes and the other fields."""
        return 8 * self.max_prompt_chars * max(1, self.max_score_texts) + 65_536


_LIMITS = [Limits.of(ServeConfig())]  # one per process: the served model's


def configure(serve: ServeConfig) -> Limits:
    """Check requests against ``serve``'s limits from now on (the service calls it once)."""
    _LIMITS[0] = Limits.of(serve)
    return _LIMITS[0]


def limits() -> Limits:
    return _LIMITS[0]


class RequestError(Exception):
    """A request that cannot be served as asked: its HTTP status and a one-line reason."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error_response(exc: RequestError) -> JSONResponse:
    return JSONResponse({"error": exc.message}, status_code=exc.status)


def sse(event: dict[str, Any]) -> str:
    """One server-sent event carrying ``event`` as JSON."""
    return f"data: {json.dumps(event, ensure_ascii=False)}\n\n"


def check_text(name: str, value: str) -> str:
    """A prompt or text: not empty, within ``serve.max_prompt_chars``."""
    if not value:
        raise ValueError(f"{name}: must not be empty")
    limit = limits().max_prompt_chars
    if len(value) > limit:
        raise ValueError(f"{name}: {len(value)} characters, over the limit of {limit} "
                         "(serve.max_prompt_chars)")
    return value


def check_new_tokens(name: str, value: int) -> int:
    cap = limits().max_new_tokens
    if not 1 <= value <= cap:
        raise ValueError(f"{name}: at most {cap} (serve.max_new_tokens), got {value}"
                         if value > cap else f"{name}: must be at least 1, got {value}")
    return value


def check_stops(stops: list[str]) -> list[str]:
    if len(stops) > MAX_STOPS:
        raise ValueError(f"stop: at most {MAX_STOPS} strings, got {len(stops)}")
    for s in stops:
        if not 1 <= len(s) <= MAX_STOP_CHARS:
            raise ValueError(f"stop: each string must have 1 to {MAX_STOP_CHARS} characters, "
                             f"got {s!r}")
    return stops


class Message(BaseModel):
    """A request body: unknown fields and type conversions are errors."""

    # Errors never quote the input: a prompt may hold what no log should (a pasted key).
    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)


class Sampling(Message):
    """How the next token is chosen (as :class:`serving.sampling.SamplingParams`)."""

    temperature: float = Field(1.0, ge=0, allow_inf_nan=False)  # 0: greedy
    top_k: int = Field(0, ge=0)                                  # 0: off
    top_p: float = Field(1.0, gt=0, le=1)                        # 1: off
    seed: int | None = Field(None, ge=0, lt=SEED_LIMIT)          # None: a fresh seed
    stop: list[str] = Field(default_factory=list)

    @field_validator("stop")
    @classmethod
    def _stops(cls, stops: list[str]) -> list[str]:
        return check_stops(stops)


class GenerateRequest(Sampling):
    """``POST /generate`` and ``POST /generate_stream``."""

    prompt: str
    max_new_tokens: int = 64

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str) -> str:
        return check_text("prompt", value)

    @field_validator("max_new_tokens")
    @classmethod
    def _new_tokens(cls, value: int) -> int:
        return check_new_tokens("max_new_tokens", value)

    def sampling(self) -> dict[str, Any]:
        """The keyword arguments of :class:`serving.sampling.SamplingParams`."""
        return {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                "top_k": self.top_k, "top_p": self.top_p, "seed": self.seed,
                "stop": tuple(self.stop)}


class GenerateResponse(BaseModel):
    text: str
    prompt_tokens: int        # the tokens the model read: <|endoftext|> and the prompt's
    completion_tokens: int    # the tokens sampled, <|endoftext|> included when it ended
    finish_reason: str        # "stop": end of text or a stop string; "length": the budget
    request_id: str           # what /feedback refers to
    model: str                # the model tag


class ScoreRequest(Message):
    """``POST /score``: each text is scored after ``<|endoftext|>``, as a document."""

    texts: list[str]

    @field_validator("texts")
    @classmethod
    def _texts(cls, texts: list[str]) -> list[str]:
        most = limits().max_score_texts
        if not 1 <= len(texts) <= most:
            raise ValueError(f"texts: 1 to {most} texts (serve.max_score_texts), "
                             f"got {len(texts)}")
        for i, text in enumerate(texts):
            check_text(f"texts[{i}]", text)
        return texts


class TextScore(BaseModel):
    tokens: int                  # tokens scored: every token of the text
    nll: float                   # their summed negative log-likelihood, in nats
    perplexity: float            # exp(nll / tokens)
    bits_per_byte: float         # nll / ln 2 / UTF-8 bytes of the text
    token_logprobs: list[float]  # log p(token | everything before it), per token


class FeedbackRequest(Message):
    """``POST /feedback``: a rating of a served request (-1 bad, 1 good)."""

    request_id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    rating: Literal[-1, 1]
    comment: str | None = Field(None, max_length=MAX_COMMENT_CHARS)


class FeedbackResponse(BaseModel):
    request_id: str
    recorded: bool
