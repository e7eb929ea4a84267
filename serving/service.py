"""The BentoML service: the champion model behind an HTTP API, decoded with continuous
batching, every request recorded in the lake.

Routes (JSON bodies; the fields are in :mod:`serving.api` and :mod:`serving.openai_api`):

* ``POST /generate``: a prompt and sampling settings -> the completion, its token counts,
  ``finish_reason`` and ``request_id``;
* ``POST /generate_stream``: the same, as server-sent events ``{"text": piece}``, then
  one ``{"finish_reason", "prompt_tokens", "completion_tokens", "request_id"}``;
* ``POST /score``: texts -> per text, tokens, perplexity, bits per byte and every token's
  log-probability; BentoML's adaptive batching scores the texts of concurrent requests
  together;
* ``POST /feedback``: a rating (-1 or 1) and optional comment on a served ``request_id``
  (404 for an id never served);
* ``POST /v1/completions`` and ``GET /v1/models``: OpenAI-compatible;
* ``GET /livez``, ``/readyz`` (ready once the engine runs) and ``/metrics``: BentoML's,
  open without the API key.

The model is the BentoML model ``LLMLAKE_BENTO_MODEL`` (default ``llmlake-lm:latest``),
saved by ``llmlake package`` with its settings in its metadata (:mod:`serving.settings`
lists them and the environment variables overriding them). One worker process holds the
model; its :class:`serving.generate.Engine` decodes on a background thread, batching
whatever requests are in flight, and :class:`serving.requestlog.RequestLog` appends the
records :class:`serving.exchange.ApiMiddleware` hands over to ``ops/requests`` (and the
ratings to ``ops/feedback``) from its own thread. ``bentoml serve`` stopped by SIGTERM or
SIGINT lets in-flight requests finish, then the shutdown hook stops the engine and writes
every record still held.

Run it from the source tree, or as the Bento ``llmlake package`` builds::

    BENTOML_HOME=artifacts/bentoml bentoml serve serving.service:LLMService
    BENTOML_HOME=artifacts/bentoml bentoml serve llmlake:latest

Example::

    >>> sorted(LLMService.apis), LLMService.name
    (['feedback', 'generate', 'generate_stream', 'score'], 'llmlake')
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import bentoml
from bentoml.validators import ContentType
from starlette.responses import StreamingResponse

from llmlake.config import ConfigError, LakeConfig
from llmlake.lake import Lake, retention_properties
from llmlake.storage import storage_options
from serving.api import (
    FeedbackRequest,
    FeedbackResponse,
    GenerateRequest,
    GenerateResponse,
    RequestError,
    ScoreRequest,
    TextScore,
    configure,
    error_response,
    sse,
)
from serving.exchange import (
    ApiMiddleware,
    Exchange,
    current_exchange,
    quiet_client_errors,
    request_record,
)
from serving.openai_api import create_app
from serving.settings import DEFAULT_MODEL, MODEL_ENV, resolve
from serving.stream import Handle

with bentoml.importing():
    import torch

    from llmlake.tokenizer import load as load_tokenizer
    from serving.generate import Engine
    from serving.requestlog import FeedbackRecord, RequestLog
    from serving.sampling import SamplingParams
    from serving.scoring import summary, token_logprobs
    from training.checkpoint import load_model

SCORE_BATCH = 256          # texts per adaptive /score batch: serve.max_score_texts at most
SCORE_WINDOWS = 16         # windows per forward pass when scoring
CANCELLED_WAIT_S = 30.0    # how long a cancelled generation's record waits for its end
STOP_TIMEOUT_S = 30.0

log = logging.getLogger("bentoml.llmlake")


def _running() -> Any:
    return bentoml.get_current_service()


def _record(exchange: Exchange) -> None:
    _running().finish(exchange)


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


@bentoml.asgi_app(create_app(_running), path="/v1")
@bentoml.service(
    name="llmlake",
    workers=1,  # one process holds the model; its engine batches the requests
    traffic={"timeout": 300},
)  # the container's image (Python, packages) is bentofile.yaml's
class LLMService:
    """A language model behind a batched, logged HTTP API (see the module doc)."""

    model_ref = bentoml.models.BentoModel(os.environ.get(MODEL_ENV, DEFAULT_MODEL))

    def __init__(self) -> None:
        stored = self.model_ref
        self.settings = resolve(stored.info.metadata, stored.info.labels, str(stored.tag),
                                os.environ)
        serve = self.settings.serve
        if serve.max_score_texts > SCORE_BATCH:
            raise ConfigError(f"serve.max_score_texts: at most {SCORE_BATCH}, "
                              f"got {serve.max_score_texts}")
        configure(serve)
        quiet_client_errors()
        self.device = _device(serve.device)
        self.model, _ = load_model(stored.path, self.device)
        self.tokenizer = load_tokenizer(stored.path)
        self.created = int(stored.info.creation_time.timestamp())
        self.engine = Engine(self.model, self.tokenizer, serve.max_batch, serve.max_new_tokens,
                             serve.truncate, self.device)
        lake = Lake(LakeConfig(root=self.settings.lake_root))
        requests = lake.table("ops/requests")
        self.request_log = RequestLog(
            requests, lake.table("ops/feedback"), log_text=serve.log_text,
            flush_seconds=serve.log_flush_seconds, flush_rows=serve.log_flush_rows,
            storage_options=storage_options(requests),
            table_config=retention_properties(lake.config)).start()
        # Records of cancelled generations wait there for the engine to end them.
        self.deferred = ThreadPoolExecutor(2, thread_name_prefix="record-cancelled")
        self.engine.start()
        log.info("serving %s (%s) on %s; request logs to %s; API key %s",
                 self.settings.model_tag, self.settings.version, self.device,
                 self.settings.lake_root, "required" if self.settings.api_key else "off")

    def __is_ready__(self) -> bool:
        return self.engine.running

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        self.engine.stop(timeout=STOP_TIMEOUT_S)  # fails what is left: nothing waits on
        self.deferred.shutdown(wait=True)         # ... so every record is in the log
        left = self.request_log.stop(timeout=STOP_TIMEOUT_S)
        log.info("stopped; request log: %d records written, %s", self.request_log.written,
                 "none lost" if left == 0 else f"{left} not written")

    # Generation.

    def submit(self, prompt: str, sampling: dict[str, Any]) -> Handle:
        """Queue a generation for the request being handled (RequestError if refused)."""
        exchange = current_exchange()
        try:
            params = SamplingParams(**sampling)
        except ValueError as exc:
            raise RequestError(400, str(exc)) from exc
        try:
            handle = self.engine.submit(prompt, params, request_id=exchange.request_id)
        except ValueError as exc:  # a prompt over the context under truncate: refuse
            raise RequestError(413, str(exc)) from exc
        exchange.handle, exchange.prompt = handle, prompt
        return handle

    @bentoml.api
    async def generate(self, request: GenerateRequest, /) -> GenerateResponse:
        """Complete a prompt."""
        try:
            handle = self.submit(request.prompt, request.sampling())
        except RequestError as exc:
            return error_response(exc)
        done = await handle.aresult()
        return GenerateResponse(text=done.text, prompt_tokens=done.prompt_tokens,
                                completion_tokens=done.completion_tokens,
                                finish_reason=done.finish_reason, request_id=done.request_id,
                                model=self.settings.model_tag)

    @bentoml.api
    async def generate_stream(self, request: GenerateRequest, /
                              ) -> Annotated[str, ContentType("text/event-stream")]:
        """Complete a prompt, streaming the text as server-sent events."""
        try:
            handle = self.submit(request.prompt, request.sampling())
        except RequestError as exc:
            return error_response(exc)
        return StreamingResponse(self._events(handle), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    async def _events(self, handle: Handle) -> AsyncIterator[str]:
        try:
            async for piece in handle.aiter():
                yield sse({"text": piece})
        except RuntimeError as exc:  # the generation failed after the response began
            yield sse({"error": str(exc)})
            return
        done = handle.result(timeout=0)
        yield sse({"finish_reason": done.finish_reason, "prompt_tokens": done.prompt_tokens,
                   "completion_tokens": done.completion_tokens,
                   "request_id": done.request_id})

    # Scoring and feedback.

    @bentoml.api(batchable=True, max_batch_size=SCORE_BATCH, max_latency_ms=60_000,
                 input_spec=ScoreRequest)
    def score(self, texts: list[str]) -> list[TextScore]:
        """Score texts: per text, perplexity and every token's log-probability."""
        eos = self.engine.eos
        ids = [[eos, *self.tokenizer.encode(t, add_special_tokens=False).ids] for t in texts]
        scored = token_logprobs(self.model, ids, batch_size=SCORE_WINDOWS, device=self.device)
        return [TextScore(**summary(lp, len(text.encode())), token_logprobs=lp.tolist())
                for lp, text in zip(scored, texts, strict=True)]

    @bentoml.api
    async def feedback(self, request: FeedbackRequest, /) -> FeedbackResponse:
        """Rate a served request (-1 or 1), with an optional comment."""
        request_id = request.request_id.removeprefix("cmpl-")  # an OpenAI completion's id
        if not await asyncio.to_thread(self.request_log.knows, request_id):
            return error_response(RequestError(
                404, f"request_id: no request {request_id!r} was served"))
        self.request_log.record_feedback(
            FeedbackRecord(request_id, rating=request.rating, comment=request.comment))
        return FeedbackResponse(request_id=request_id, recorded=True)

    # Accounting.

    def finish(self, exchange: Exchange) -> None:
        """Record a finished exchange (called by the middleware on the event loop)."""
        if exchange.handle is not None and not exchange.handle.done:
            # Cancelled (its client left): the engine ends it at its next step.
            self.deferred.submit(self._record, exchange, CANCELLED_WAIT_S)
        else:
            self._record(exchange, 0.0)

    def _record(self, exchange: Exchange, wait: float) -> None:
        completion = None
        if exchange.handle is not None:
            try:
                completion = exchange.handle.result(timeout=wait)
            except (RuntimeError, TimeoutError):  # failed, or the engine stopped first
                completion = None
        try:
            record = request_record(exchange, self.settings.version, completion)
        except ValueError:  # a value no row can hold: say so, serve on
            log.exception("request %s: no record", exchange.request_id)
            return
        self.request_log.record_request(record)


LLMService.add_asgi_middleware(ApiMiddleware, on_finish=_record)
