"""The OpenAI-compatible API, mounted at ``/v1``: ``POST /v1/completions`` and
``GET /v1/models``, so the official ``openai`` client and the tools built on it work
against the service.

It follows OpenAI's Completions API:

* **request**: ``model`` (this server's model tag, or its bare name), ``prompt`` (a string,
  or a list of one), ``max_tokens`` (default 16, capped by ``serve.max_new_tokens``),
  ``temperature``, ``top_p``, ``seed``, ``stop`` (a string or a list), ``stream``,
  ``stream_options.include_usage``, ``user``; and ``top_k``, an extension as in vLLM.
  ``n``, ``best_of``, ``echo``, ``logprobs``, ``suffix``, the two penalties and
  ``logit_bias`` are accepted at their defaults only; any other field is an error.
* **response**: a ``text_completion`` with one choice and ``usage``; with ``stream: true``,
  server-sent events: one chunk per text piece, a last one with its ``finish_reason``, a
  usage chunk when ``stream_options.include_usage`` asks for it, then ``data: [DONE]``.
* **errors**: OpenAI's shape, ``{"error": {"message", "type", "param", "code"}}``: 400
  ``invalid_request_error`` naming the parameter (a prompt over the context under
  ``truncate: refuse`` has code ``context_length_exceeded``), 404 ``model_not_found``.

The handlers reach the running service through the ``backend`` given to :func:`create_app`:
its ``settings.model_tag``, ``created`` (seconds) and ``submit(prompt, sampling)``, which
queues a generation (raising :class:`serving.api.RequestError`) and returns its handle.

Example::

    >>> req = CompletionRequest.model_validate_json(
    ...     '{"model": "llmlake-lm", "prompt": ["the cat"], "max_tokens": 5, "stop": "."}')
    >>> req.text(), req.sampling()["stop"], req.sampling()["max_new_tokens"]
    ('the cat', ('.',), 5)
    >>> try:
    ...     CompletionRequest.model_validate_json('{"model": "m", "prompt": "x", "n": 2}')
    ... except ValueError as exc:
    ...     print(exc.errors()[0]["msg"])
    Value error, n: only 1 is supported, got 2
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from serving.api import (
    SEED_LIMIT,
    Message,
    RequestError,
    check_new_tokens,
    check_stops,
    check_text,
    sse,
)
from serving.stream import Completion, Handle

DONE = "data: [DONE]\n\n"
OWNER = "llmlake"
# Parameters this server accepts at OpenAI's default only.
DEFAULT_ONLY = {"n": 1, "best_of": 1, "echo": False, "logprobs": None, "suffix": None,
                "presence_penalty": 0, "frequency_penalty": 0, "logit_bias": None}


class StreamOptions(Message):
    include_usage: bool = False


class CompletionRequest(Message):
    """``POST /v1/completions``."""

    model: str
    prompt: str | list[str]
    max_tokens: int | None = 16
    temperature: float | None = Field(1.0, ge=0, le=2, allow_inf_nan=False)
    top_p: float | None = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0)
    seed: int | None = Field(None, ge=0, lt=SEED_LIMIT)
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    n: int | None = 1
    best_of: int | None = 1
    echo: bool | None = False
    logprobs: int | None = None
    suffix: str | None = None
    presence_penalty: float | None = 0
    frequency_penalty: float | None = 0
    logit_bias: dict[str, float] | None = None

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError(f"prompt: one prompt per request, got a list of {len(value)}")
        check_text("prompt", value if isinstance(value, str) else value[0])
        return value

    @field_validator("max_tokens")
    @classmethod
    def _max_tokens(cls, value: int | None) -> int | None:
        return None if value is None else check_new_tokens("max_tokens", value)

    @field_validator("stop")
    @classmethod
    def _stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        check_stops([value] if isinstance(value, str) else value or [])
        return value

    @field_validator(*DEFAULT_ONLY)
    @classmethod
    def _default_only(cls, value: Any, info: ValidationInfo) -> Any:
        default = DEFAULT_ONLY[info.field_name]
        if value not in (None, default) and not (info.field_name == "logit_bias" and not value):
            raise ValueError(f"{info.field_name}: only {default!r} is supported, got {value!r}")
        return value

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]

    def sampling(self) -> dict[str, Any]:
        """The keyword arguments of :class:`serving.sampling.SamplingParams`."""
        stop = [self.stop] if isinstance(self.stop, str) else self.stop or []
        return {"max_new_tokens": 16 if self.max_tokens is None else self.max_tokens,
                "temperature": 1.0 if self.temperature is None else self.temperature,
                "top_k": self.top_k, "top_p": 1.0 if self.top_p is None else self.top_p,
                "seed": self.seed, "stop": tuple(stop)}


def openai_error(status: int, message: str, param: str | None = None,
                 code: str | None = None) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse({"error": {"message": message, "type": kind, "param": param,
                                   "code": code}}, status_code=status)


def _validation_error(exc: ValidationError) -> JSONResponse:
    first = exc.errors()[0]
    param = ".".join(str(p) for p in first["loc"]) or None
    message = first["msg"].removeprefix("Value error, ")
    if param and not message.startswith(f"{param}:"):
        message = f"{param}: {message}"
    return openai_error(400, message, param)


def usage(done: Completion) -> dict[str, int]:
    return {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens,
            "total_tokens": done.prompt_tokens + done.completion_tokens}


def completion_body(head: dict[str, Any], done: Completion) -> dict[str, Any]:
    choice = {"text": done.text, "index": 0, "logprobs": None,
              "finish_reason": done.finish_reason}
    return {**head, "choices": [choice], "usage": usage(done)}


def chunk(head: dict[str, Any], text: str, finish_reason: str | None) -> dict[str, Any]:
    return {**head, "choices": [{"text": text, "index": 0, "logprobs": None,
                                 "finish_reason": finish_reason}]}


async def stream_events(handle: Handle, head: dict[str, Any],
                        include_usage: bool) -> AsyncIterator[str]:
    """The server-sent events of a streamed completion."""
    try:
        async for piece in handle.aiter():
            yield sse(chunk(head, piece, None))
    except RuntimeError as exc:  # the generation failed: tell the client, then end
        yield sse({"error": {"message": str(exc), "type": "server_error", "param": None,
                             "code": None}})
        yield DONE
        return
    done = handle.result(timeout=0)
    yield sse(chunk(head, "", done.finish_reason))
    if include_usage:
        yield sse({**head, "choices": [], "usage": usage(done)})
    yield DONE


def create_app(backend: Callable[[], Any]) -> Starlette:
    """The ``/v1`` app; ``backend()`` returns the running service (see the module doc)."""

    async def models(request: Request) -> Response:
        svc = backend()
        return JSONResponse({"object": "list", "data": [
            {"id": svc.settings.model_tag, "object": "model", "created": svc.created,
             "owned_by": OWNER}]})

    async def completions(request: Request) -> Response:
        svc = backend()
        try:
            req = CompletionRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return _validation_error(exc)
        tag = svc.settings.model_tag
        if req.model not in (tag, tag.partition(":")[0]):
            return openai_error(404, f"model: {req.model!r} is not served here; this server "
                                     f"serves {tag!r}", "model", "model_not_found")
        try:
            handle = svc.submit(req.text(), req.sampling())
        except RequestError as exc:
            code = "context_length_exceeded" if exc.status == 413 else None
            return openai_error(400, exc.message, "prompt", code)
        head = {"id": f"cmpl-{handle.request_id}", "object": "text_completion",
                "created": int(time.time()), "model": tag}
        if req.stream:
            include = bool(req.stream_options and req.stream_options.include_usage)
            return StreamingResponse(stream_events(handle, head, include),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return JSONResponse(completion_body(head, await handle.aresult()))

    return Starlette(routes=[Route("/completions", completions, methods=["POST"]),
                             Route("/models", models, methods=["GET"])])
