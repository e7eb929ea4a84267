"""Typed schema of the serving sections: ``serve`` (the BentoML service) and ``package``
(the Bento).

``serve`` bounds what one request may ask (prompt size, new tokens), how the engine
batches (``max_batch`` slots decoded together), what a too-long prompt does
(``truncate``: keep its last tokens, or refuse it) and what the request log keeps
(``log_text: false`` records counts and timings but no prompt text). ``package`` names
what ``llmlake package`` writes into the BentoML store, and where that store is.

Example::

    >>> ServeConfig(truncate="middle")
    Traceback (most recent call last):
    ...
    ValueError: truncate: must be one of left, refuse, got 'middle'
    >>> ServeConfig(max_batch=0)
    Traceback (most recent call last):
    ...
    ValueError: max_batch: must be at least 1, got 0
"""

from __future__ import annotations

from dataclasses import dataclass

from llmlake.bounds import Bounded, bounded
from llmlake.config_eval import DEVICES

TRUNCATE = ("left", "refuse")


@dataclass(frozen=True)
class ServeConfig(Bounded):
    model: str = ""               # a model folder; "" = the champion (artifacts/champion.json)
    device: str = "auto"          # auto = cuda when available | cpu | cuda
    max_batch: int = bounded(16, min=1)         # requests decoded together (batch slots)
    max_new_tokens: int = bounded(256, min=1)   # the cap on any request's max_new_tokens
    max_prompt_chars: int = bounded(20_000, min=1)  # longer prompts are refused (413/422)
    truncate: str = "left"        # a prompt longer than the context: keep its end | refuse
    max_score_texts: int = bounded(64, min=1)   # texts per /score request
    log_text: bool = True         # record the (PII-redacted) prompt in ops/requests
    log_flush_seconds: float = bounded(2.0, above=0)  # request-log appends at most this often
    log_flush_rows: int = bounded(200, min=1)   # ... or once this many records wait

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.device not in DEVICES:
            raise ValueError(f"device: must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.truncate not in TRUNCATE:
            raise ValueError(f"truncate: must be one of {', '.join(TRUNCATE)}, "
                             f"got {self.truncate!r}")


@dataclass(frozen=True)
class PackageConfig(Bounded):
    model_name: str = "llmlake-lm"    # the BentoML model store name of the champion
    service: str = "llmlake"          # the Bento's name
    home: str = ""                    # the BentoML home (stores); "" = <artifacts>/bentoml
