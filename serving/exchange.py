"""One HTTP exchange with the service, from the API key check to its request-log record.

:class:`ApiMiddleware` wraps the whole ASGI app, BentoML's routes and the mounted ``/v1``
app alike:

* **auth**: with an API key set, every route but ``/livez``, ``/healthz``, ``/readyz`` and
  ``/metrics`` needs ``Authorization: Bearer <key>``, compared in constant time
  (:func:`hmac.compare_digest`); a miss is answered 401 before the body is read. The
  header is neither logged nor recorded.
* **accounting**: a request to a generation or scoring endpoint gets an :class:`Exchange`:
  a fresh request id (sent back as ``x-request-id``), its start, the request body as the
  app reads it, the status answered and, set by the handler through
  :func:`current_exchange`, the engine's handle of its generation.
* **size**: a ``Content-Length`` over :attr:`serving.api.Limits.max_body_bytes` is
  answered 413 unread.

When the last byte of the response is about to leave, or the app ends without sending it
(an error, a client gone), the exchange is handed to ``on_finish``, which records it (the
service queues a record: no I/O on the request path). A generation still running then has
lost its client, and is cancelled, so its batch slot frees at the next decode step.
:func:`request_record` turns a finished exchange into its ``ops/requests`` record (pure: the
prompt, and the completion's text as the response of a request answered without error);
:func:`quiet_client_errors` logs a request that failed validation as one line, not as an
error with a traceback.

Example::

    >>> authorized("Bearer s3cr3t-key", "s3cr3t-key"), authorized("Bearer s3cr3t", "s3cr3t-key")
    (True, False)
    >>> ex = Exchange("r1", "generate", started=10.0, ended=10.25, status=400,
    ...               body=bytearray(b'{"prompt": "hi", "max_new_tokens": -1}'))
    >>> rec = request_record(ex, "train-1@b1e74169", None)
    >>> rec.endpoint, rec.status, rec.prompt, rec.response, rec.latency_ms
    ('generate', 400, 'hi', None, 250.0)
"""

from __future__ import annotations

import contextvars
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

from serving.api import limits
from serving.logrows import API_KEY_ENV, RequestRecord
from serving.stream import Completion, Handle

log = logging.getLogger(__name__)

# The endpoints whose requests are recorded, by path (POST only).
ENDPOINTS = {"/generate": "generate", "/generate_stream": "generate_stream",
             "/v1/completions": "completions", "/score": "score"}
OPEN_PATHS = frozenset({"/livez", "/healthz", "/readyz", "/metrics"})
REQUEST_ID_HEADER = b"x-request-id"
BENTOML_ERROR_LOGGER = "bentoml._internal.server.http_app"  # where it logs failed requests


@dataclass(eq=False)
class Exchange:
    """One request to a recorded endpoint, as the middleware and the handler see it."""

    request_id: str
    endpoint: str
    started: float = field(default_factory=time.perf_counter)
    ended: float | None = None
    status: int = 0                 # 0 until the response starts
    body: bytearray = field(default_factory=bytearray)  # the request body (up to a limit)
    response: bytearray | None = None  # the response body, kept for /score only
    handle: Handle | None = None    # the generation, once submitted
    prompt: str | None = None       # set by the handler that read it (else read from body)
    finished: bool = False


_CURRENT: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "llmlake_exchange", default=None)


def current_exchange() -> Exchange:
    """The exchange of the request being handled (outside the middleware, as in a test that
    calls a handler directly, a detached one)."""
    ex = _CURRENT.get()
    return ex if ex is not None else Exchange(uuid.uuid4().hex, "generate")


def authorized(header: str | None, key: str) -> bool:
    """Whether an ``Authorization`` header carries ``key`` as a bearer token."""
    scheme, _, token = (header or "").partition(" ")
    same = hmac.compare_digest(token.strip().encode(), key.encode())
    return same and scheme.lower() == "bearer"


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def _too_big(scope: dict[str, Any]) -> JSONResponse | None:
    """The 413 answer to a request whose declared body is over the limit, else None."""
    length, cap = _header(scope, b"content-length"), limits().max_body_bytes
    if length and length.isdigit() and int(length) > cap:
        return JSONResponse({"error": f"request body: {length} bytes, over the limit of "
                                      f"{cap}"}, status_code=413)
    return None


class ApiMiddleware:
    """Auth, request ids, body limits and accounting (see the module doc).

    ``on_finish(exchange)`` is called once per exchange, on the event loop: it must not
    block. The API key is read from ``LLMLAKE_API_KEY`` when the app is built.
    """

    def __init__(self, app: Any, on_finish: Callable[[Exchange], None]) -> None:
        self.app, self.on_finish = app, on_finish
        self.api_key = os.environ.get(API_KEY_ENV) or None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if self.api_key and not authorized(_header(scope, b"authorization"), self.api_key):
            denied = JSONResponse({"error": "missing or wrong API key: send "
                                            "'Authorization: Bearer <key>'"},
                                  status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await denied(scope, receive, send)
            return
        app = _too_big(scope) or self.app
        endpoint = ENDPOINTS.get(path) if scope.get("method") == "POST" else None
        if endpoint is None:
            await app(scope, receive, send)
            return
        ex = Exchange(uuid.uuid4().hex, endpoint,
                      response=bytearray() if endpoint == "score" else None)
        token = _CURRENT.set(ex)
        try:
            await app(scope, self._keeping(ex, receive), self._counting(ex, send))
        finally:
            _CURRENT.reset(token)
            self._finish(ex)

    @staticmethod
    def _keeping(ex: Exchange, receive: Any) -> Any:
        """``receive``, keeping the request body in the exchange (up to the limit)."""
        cap = limits().max_body_bytes

        async def receive_kept() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request" and len(ex.body) <= cap:
                ex.body.extend(message.get("body", b"")[:cap + 1 - len(ex.body)])
            return message

        return receive_kept

    def _counting(self, ex: Exchange, send: Any) -> Any:
        """``send``, noting the status (and, for /score, the body) and finishing the
        exchange just before its last message leaves."""
        cap = limits().max_body_bytes

        async def send_counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                ex.status = message["status"]
                headers = [*message.get("headers", []),
                           (REQUEST_ID_HEADER, ex.request_id.encode())]
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body":
                if ex.response is not None and len(ex.response) <= cap:
                    ex.response.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    self._finish(ex)  # before the last byte: a client's next call sees it
            await send(message)

        return send_counted

    def _finish(self, ex: Exchange) -> None:
        if ex.finished:
            return
        ex.finished, ex.ended = True, time.perf_counter()
        ex.status = ex.status or 500  # the app ended without answering
        if ex.handle is not None and not ex.handle.done:
            ex.handle.cancel()  # its client has gone
        try:
            self.on_finish(ex)
        except Exception:  # accounting must never fail a response
            log.exception("request %s: could not be recorded", ex.request_id)


class ClientErrors(logging.Filter):
    """BentoML logs each request that fails validation as an error with a traceback; a
    400 is the client's mistake, so it becomes one INFO line naming the fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, ValidationError):
            fields = ", ".join(".".join(map(str, e["loc"])) or "body" for e in exc.errors())
            note = f"{exc.error_count()} invalid field(s): {fields}".replace("%", "%%")
            record.msg = f"Rejected %s [%s]: 400, {note}"
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.exc_info, record.exc_text = None, None
        return True


def quiet_client_errors() -> None:
    """Install :class:`ClientErrors` on BentoML's request-error logger (once)."""
    logger = logging.getLogger(BENTOML_ERROR_LOGGER)
    if not any(isinstance(f, ClientErrors) for f in logger.filters):
        logger.addFilter(ClientErrors())


def _prompt_of(ex: Exchange) -> str | None:
    """The prompt (or the texts to score, one paragraph each) of a readable request body:
    for /score, whose batched handler never sees its request, and for refused requests."""
    try:
        data = json.loads(bytes(ex.body))
    except ValueError:
        return None
    value = data.get("texts" if ex.endpoint == "score" else "prompt") \
        if isinstance(data, dict) else None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n\n".join(value)
    return value if isinstance(value, str) else None


def _scored_tokens(ex: Exchange) -> int:
    try:
        scores = json.loads(bytes(ex.response or b""))
        return sum(int(s["tokens"]) for s in scores)
    except (ValueError, TypeError, KeyError):
        return 0


def request_record(ex: Exchange, model: str, completion: Completion | None) -> RequestRecord:
    """The ``ops/requests`` record of a finished exchange (pure); ``completion`` is its
    generation's, if it has one and it finished. Its text is the record's ``response``
    unless the exchange failed (a client gone before the answer is a 500: nobody read it)."""
    ended = ex.ended if ex.ended is not None else ex.started
    if completion is not None:
        tokens = (completion.prompt_tokens, completion.completion_tokens)
    else:
        tokens = (_scored_tokens(ex) if ex.endpoint == "score" and ex.status == 200 else 0, 0)
    return RequestRecord(
        request_id=ex.request_id, endpoint=ex.endpoint, model=model,
        prompt_tokens=tokens[0], completion_tokens=tokens[1],
        latency_ms=round((ended - ex.started) * 1000, 3), status=ex.status,
        finish_reason=completion.finish_reason if completion else None,
        prompt=ex.prompt if ex.prompt is not None else _prompt_of(ex),
        response=completion.text if completion is not None and ex.status < 400 else None)
