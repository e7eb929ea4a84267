"""A completion's text as its tokens arrive, and the handle its consumer reads it through.

Owns :class:`TextStream` (the pure core: token ids in, text pieces out), :class:`Completion`
(a finished request) and :class:`Handle` (one request's pieces and result, safe to read
from any thread or from an asyncio loop while the engine's thread writes them).

Streaming must never take text back, so a piece is only what no later token can change:

- byte-level BPE may split a UTF-8 character across tokens, and a split character decodes
  to U+FFFD until its last byte arrives: a trailing U+FFFD is held back;
- a stop string ends the text before it: a suffix that could still grow into a stop string
  is held back until it cannot.

The pieces joined are exactly :attr:`TextStream.text`, the completion's final text.

Example::

    >>> decode = lambda ids: bytes(ids).decode("utf-8", errors="replace")
    >>> stream = TextStream(decode, stop=("!!",))
    >>> [stream.push(b) for b in "a€!".encode()]  # '€' is 3 bytes, '!' may start '!!'
    ['a', '', '', '€', '']
    >>> stream.push(ord("!")), stream.stopped, stream.text
    ('', True, 'a€')
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

REPLACEMENT = "\ufffd"  # what a split UTF-8 character decodes to until it is complete
FINISH_REASONS = ("stop", "length", "cancelled")
_END = object()  # the sentinel an asyncio consumer's queue ends with


class TextStream:
    """Token ids in, text pieces out; ``text`` is the text so far (final once ``stopped``).

    Each push decodes the whole completion again: byte-level decoding of a few hundred ids
    costs microseconds, and decoding from the start is what makes the pieces exact.
    """

    def __init__(self, decode: Callable[[list[int]], str], stop: tuple[str, ...] = ()) -> None:
        self.decode, self.stop = decode, stop
        self.ids: list[int] = []
        self.text, self.sent, self.stopped = "", 0, False

    def push(self, token: int) -> str:
        """Add one token; the new piece that is safe to stream (often '')."""
        self.ids.append(token)
        text = self.decode(self.ids)
        hits = [i for i in (text.find(s) for s in self.stop) if i >= 0]
        if hits:
            self.text, self.stopped = text[:min(hits)], True
            return self._emit(len(self.text))
        self.text = text
        settled = text.rstrip(REPLACEMENT)
        return self._emit(len(settled) - self._stop_prefix(settled))

    def flush(self) -> str:
        """The rest of the text, at the end of the completion."""
        return self._emit(len(self.text))

    def _stop_prefix(self, text: str) -> int:
        """The length of the longest end of ``text`` that begins some stop string."""
        return max((k for s in self.stop for k in range(min(len(s) - 1, len(text)), 0, -1)
                    if text.endswith(s[:k])), default=0)

    def _emit(self, end: int) -> str:
        piece = self.text[self.sent:end]
        self.sent = max(self.sent, end)
        return piece


@dataclass(frozen=True)
class Completion:
    """A finished request.

    ``token_ids`` are every token sampled, the ``<|endoftext|>`` that ended it included;
    ``text`` excludes it and any stop string and what followed. ``prompt_tokens`` counts
    the ids the model read, the leading ``<|endoftext|>`` included (after truncation).
    """

    request_id: str
    text: str
    finish_reason: str  # "stop": EOS or a stop string; "length": the budget or the context
    prompt_tokens: int
    completion_tokens: int
    token_ids: tuple[int, ...]
    ttft_s: float  # from submit to the first token (queueing and prefill)
    latency_s: float  # from submit to the end


class Handle:
    """One request's text pieces and result, written by the engine, read by anyone.

    ``for piece in handle`` blocks for each piece; ``async for piece in handle.aiter()``
    awaits them on an asyncio loop (the engine hands each over with
    ``loop.call_soon_threadsafe``); :meth:`result` and :meth:`aresult` wait for the end.
    Every reader sees every piece. A consumer that goes away (a client disconnects)
    should :meth:`cancel`, which frees the request's batch slot at the next step.
    """

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._cond = threading.Condition()
        self._pieces: list[str] = []
        self._completion: Completion | None = None
        self._error: BaseException | None = None
        self._loops: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []
        self._cancel = threading.Event()

    @property
    def done(self) -> bool:
        return self._completion is not None or self._error is not None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Ask the engine to stop this request; it ends with finish_reason 'cancelled'."""
        self._cancel.set()

    # The engine's side.

    def put(self, piece: str) -> None:
        with self._cond:
            self._pieces.append(piece)
            self._cond.notify_all()
            self._hand_over(piece)

    def finish(self, completion: Completion | None = None,
               error: BaseException | None = None) -> None:
        with self._cond:
            if self.done:
                return
            self._completion, self._error = completion, error
            self._cond.notify_all()
            self._hand_over(_END)

    def _hand_over(self, item: object) -> None:
        for loop, queue in list(self._loops):
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # that loop has closed: nobody is listening there
                self._loops.remove((loop, queue))

    # The consumer's side.

    def __iter__(self) -> Iterator[str]:
        seen = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda n=seen: len(self._pieces) > n or self.done)
                new, ended = self._pieces[seen:], self.done
            seen += len(new)
            yield from new
            if ended and seen == len(self._pieces):
                self._raise_error()
                return

    def result(self, timeout: float | None = None) -> Completion:
        """The completion, once finished; TimeoutError after ``timeout`` seconds."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.done, timeout):
                raise TimeoutError(f"request {self.request_id}: not finished "
                                   f"after {timeout} s")
        self._raise_error()
        assert self._completion is not None
        return self._completion

    async def aiter(self) -> AsyncIterator[str]:
        """The pieces on the running asyncio loop, without blocking it."""
        queue: asyncio.Queue = asyncio.Queue()
        entry = (asyncio.get_running_loop(), queue)
        with self._cond:  # the pieces so far, then the queue: none missed, none twice
            backlog, ended = list(self._pieces), self.done
            if not ended:
                self._loops.append(entry)
        try:
            for piece in backlog:
                yield piece
            while not ended and (item := await queue.get()) is not _END:
                yield item
        finally:
            with self._cond:
                if entry in self._loops:
                    self._loops.remove(entry)
        self._raise_error()

    async def aresult(self) -> Completion:
        """The completion, awaited on the running asyncio loop."""
        async for _ in self.aiter():
            pass
        return self.result(timeout=0)

    def _raise_error(self) -> None:
        if self._error is not None:
            failure = f"request {self.request_id} failed: {self._error}"
            raise RuntimeError(failure) from self._error
