"""Generation with a KV cache and continuous batching: the engine a server runs.

Owns :class:`Engine`. Requests are submitted from any thread and decoded together: the
cache has ``max_batch`` rows (slots), each at its own length, and a scheduler
:meth:`~Engine.step`

1. retires the rows of finished (or cancelled) requests, moving the last active row into
   each freed one so the active rows stay ``0 .. n - 1``;
2. admits waiting requests into free rows, each prefilled alone with its prompt, which
   also samples its first token;
3. decodes one token for every active row in one batched forward pass.

So a short request admitted behind a long one finishes first, and the batch refills as
requests end rather than when the slowest one does. :meth:`~Engine.start` runs steps on a
background thread while there is work (sleeping on a condition variable when idle);
:meth:`~Engine.generate` is the synchronous form for tests and benchmarks.

A prompt is encoded as text (special-token strings included) after ``<|endoftext|>``, the
separator the model was trained to read documents after; an empty prompt is that separator
alone, and generation starts a document. A prompt of more than ``context - 1`` tokens keeps
its last ``context - 1`` (``truncate="left"``) or is refused (``"refuse"``, ValueError).
A completion ends at ``<|endoftext|>`` or a stop string (finish_reason "stop"), or after
``max_new_tokens`` (capped by ``max_new_tokens_cap``) or when prompt and completion fill
the context ("length"). Imports torch, the standard library and the model; takes the
``tokenizers.Tokenizer`` of :func:`llmlake.tokenizer.load`.

Example::

    >>> import torch
    >>> from etl.tokenizer.bpe import train
    >>> from training.model import LanguageModel, ModelConfig
    >>> tok = train(["the cat sat on the mat"] * 50, vocab_size=300)
    >>> _ = torch.manual_seed(0)
    >>> model = LanguageModel(ModelConfig.from_preset(
    ...     "tiny", n_layer=1, vocab_size=tok.get_vocab_size(), context=32))
    >>> engine = Engine(model, tok, max_batch=2)
    >>> done = engine.generate(["the cat", "", "the mat"], SamplingParams(max_new_tokens=5))
    >>> [(c.prompt_tokens, c.completion_tokens <= 5, c.finish_reason in ("stop", "length"))
    ...  for c in done]
    [(3, True, True), (1, True, True), (3, True, True)]
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from llmlake.config_serve import TRUNCATE
from llmlake.tokenizer import EOS
from serving.sampling import SamplingParams, new_generator, sample
from serving.stream import Completion, Handle, TextStream
from training.model import LanguageModel

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = ["Completion", "Engine", "Handle", "SamplingParams"]

DEFAULT_PARAMS = SamplingParams()
log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Request:
    """A request's state while it waits or decodes."""

    id: str
    prompt_ids: list[int]
    params: SamplingParams
    budget: int  # new tokens allowed: the request's, the engine's cap and the context's
    stream: TextStream
    handle: Handle
    generator: torch.Generator | None
    submitted: float = field(default_factory=time.perf_counter)
    first_token: float = 0.0
    finish: str | None = None


class Engine:
    """Continuous-batching generation over one model and tokenizer (see the module doc).

    ``device``: where to decode (the model is moved there); by default the model's.
    """

    def __init__(self, model: LanguageModel, tokenizer: Tokenizer, max_batch: int = 16,
                 max_new_tokens_cap: int = 256, truncate: str = "left",
                 device: torch.device | str | None = None) -> None:
        if truncate not in TRUNCATE:
            raise ValueError(f"serve.truncate: must be one of {', '.join(TRUNCATE)}, "
                             f"got {truncate!r}")
        for name, value in (("max_batch", max_batch), ("max_new_tokens", max_new_tokens_cap)):
            if value < 1:
                raise ValueError(f"serve.{name}: must be positive, got {value}")
        self.device = torch.device(device) if device else model.wte.weight.device
        self.model = model.to(self.device).eval()
        self.tokenizer, self.truncate = tokenizer, truncate
        self.max_batch, self.max_new_tokens_cap = max_batch, max_new_tokens_cap
        self.context = model.config.context
        eos = tokenizer.token_to_id(EOS)
        if eos is None:
            raise ValueError(f"tokenizer: has no {EOS} token")
        self.eos = eos
        self.cache = model.new_cache(max_batch, device=self.device)
        self.decode_steps = 0  # batched decode forward passes so far
        self._rows: list[_Request] = []  # cache row i decodes _rows[i]
        self._waiting: deque[_Request] = deque()
        self._cond = threading.Condition()  # guards _waiting and the thread's state
        self._step_lock = threading.Lock()  # one step at a time owns the cache and _rows
        self._thread: threading.Thread | None = None
        self._stopping = False

    # Submitting.

    def encode(self, prompt: str) -> list[int]:
        """The ids the model reads for ``prompt``: ``<|endoftext|>``, then the prompt's."""
        if not isinstance(prompt, str):
            raise ValueError(f"prompt: must be a string, got {type(prompt).__name__}")
        ids = self.tokenizer.encode(prompt, add_special_tokens=False).ids
        limit = self.context - 1
        if len(ids) > limit:
            if self.truncate == "refuse":
                raise ValueError(f"prompt: {len(ids)} tokens exceed the context's limit of "
                                 f"{limit} (serve.truncate: refuse)")
            ids = ids[-limit:]
        return [self.eos, *ids]

    def submit(self, prompt: str, params: SamplingParams = DEFAULT_PARAMS,
               request_id: str | None = None) -> Handle:
        """Queue a request; its :class:`Handle` streams the text and gives the result.

        Raises ValueError (naming the field) for a prompt that is not text, or too long
        under ``truncate="refuse"``.
        """
        if not isinstance(params, SamplingParams):
            raise ValueError(f"params: must be SamplingParams, got {type(params).__name__}")
        ids = self.encode(prompt)
        request_id = request_id or uuid.uuid4().hex
        budget = min(params.max_new_tokens, self.max_new_tokens_cap,
                     self.context - len(ids) + 1)  # the last token is sampled, never read
        decode = self.tokenizer.decode
        request = _Request(request_id, ids, params, budget, TextStream(decode, params.stop),
                           Handle(request_id), new_generator(params, self.device))
        with self._cond:
            self._waiting.append(request)
            self._cond.notify_all()
        return request.handle

    def generate(self, prompts: Sequence[str],
                 params: SamplingParams | Sequence[SamplingParams] = DEFAULT_PARAMS
                 ) -> list[Completion]:
        """Complete every prompt (one params for all, or one each), in order. Steps in this
        thread unless the background thread runs."""
        each = [params] * len(prompts) if isinstance(params, SamplingParams) else list(params)
        if len(each) != len(prompts):
            raise ValueError(f"params: {len(each)} given for {len(prompts)} prompts")
        handles = [self.submit(p, s) for p, s in zip(prompts, each, strict=True)]
        if not self.running:
            self.drain()
        return [h.result() for h in handles]

    def drain(self) -> None:
        """Step in this thread until no request waits or decodes."""
        while self.step():
            pass

    # Scheduling.

    @torch.inference_mode()
    def step(self) -> bool:
        """Retire, admit, decode one token per active row; whether work remains. A failure
        fails the requests in the batch, then is raised."""
        with self._step_lock:
            try:
                self._retire()
                self._admit()
                if self._rows:
                    self._decode()
            except Exception as exc:
                for request in self._rows:
                    request.handle.finish(error=exc)
                self._rows.clear()
                raise
            with self._cond:
                return bool(self._rows or self._waiting)

    def _retire(self) -> None:
        for row in reversed(range(len(self._rows))):
            request = self._rows[row]
            if request.finish is None and request.handle.cancelled:
                self._complete(request, "cancelled")
            if request.finish is not None:
                last = len(self._rows) - 1  # rows past this one are already kept ones
                if row != last:
                    self.cache.copy_row(last, row)
                    self._rows[row] = self._rows[last]
                self._rows.pop()

    def _admit(self) -> None:
        while len(self._rows) < self.max_batch:
            with self._cond:
                if not self._waiting:
                    return
                request = self._waiting.popleft()
            if request.handle.cancelled:
                self._complete(request, "cancelled")
                continue
            row = len(self._rows)
            view = self.cache.rows(row, row + 1)
            view.reset()
            self._rows.append(request)  # before the forward, so that a failure fails it
            ids = torch.tensor([request.prompt_ids], device=self.device)  # (1, P)
            logits, _ = self.model(ids, cache=view)
            self._accept([request], logits[:, -1])
            if request.finish is not None:  # done at its first token: the row stays free
                self._rows.pop()

    def _decode(self) -> None:
        tokens = torch.tensor([[r.stream.ids[-1]] for r in self._rows], device=self.device)
        logits, _ = self.model(tokens, cache=self.cache.rows(0, len(self._rows)))  # (n, 1, V)
        self.decode_steps += 1
        self._accept(self._rows, logits[:, -1])

    def _accept(self, requests: list[_Request], logits: torch.Tensor) -> None:
        """Sample each request's next token from its logits row; stream, or finish it."""
        tokens = sample(logits, [r.params for r in requests], [r.generator for r in requests])
        now = time.perf_counter()
        for request, token in zip(requests, tokens, strict=True):
            request.first_token = request.first_token or now
            if token == self.eos and not request.params.ignore_eos:
                request.stream.ids.append(token)
                self._complete(request, "stop")
                continue
            piece = request.stream.push(token)
            if piece:
                request.handle.put(piece)
            if request.stream.stopped:
                self._complete(request, "stop")
            elif len(request.stream.ids) >= request.budget:
                self._complete(request, "length")

    def _complete(self, request: _Request, reason: str) -> None:
        request.finish = reason
        piece = request.stream.flush()
        if piece:
            request.handle.put(piece)
        ids = request.stream.ids
        end = time.perf_counter()
        request.handle.finish(Completion(
            request_id=request.id, text=request.stream.text, finish_reason=reason,
            prompt_tokens=len(request.prompt_ids), completion_tokens=len(ids),
            token_ids=tuple(ids), ttft_s=(request.first_token or end) - request.submitted,
            latency_s=end - request.submitted))

    # The background thread.

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Decode on a background thread from now on (a no-op when already running)."""
        with self._cond:
            if self.running:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """End the background thread after its current step; requests still waiting or
        decoding fail with 'engine stopped'."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        with self._step_lock, self._cond:
            stopped = RuntimeError("engine stopped")
            for request in [*self._rows, *self._waiting]:
                request.handle.finish(error=stopped)
            self._rows.clear()
            self._waiting.clear()

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or self._waiting or self._rows)
                if self._stopping:
                    return
            try:
                self.step()
            except Exception:  # the batch's requests have failed; keep serving the rest
                log.exception("generation step failed")
