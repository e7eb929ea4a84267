"""Logging and progress for long-running stages.

``get_logger(__name__)`` gives a logger that writes ``time level name: message`` lines to
stderr; ``progress(iterable, ...)`` wraps tqdm so long loops show a bar on a terminal and
periodic log lines when the output is not a terminal (CI, ``dvc repro`` logs); ``Steps``
logs each step of a stage as it starts and as it ends, with its time, and keeps the times
for the report.

Example::

    >>> for _ in progress(range(3), desc="demo", total=3):
    ...     pass
    >>> steps = Steps(get_logger("demo"), "demo")
    >>> with steps("count"):
    ...     pass
    >>> list(steps.seconds)
    ['count']
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

_CONFIGURED = False


def get_logger(name: str) -> logging.Logger:
    global _CONFIGURED
    if not _CONFIGURED:
        logging.basicConfig(
            level=os.environ.get("LLMLAKE_LOG_LEVEL", "INFO"),
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            datefmt="%H:%M:%S",
            stream=sys.stderr,
        )
        _CONFIGURED = True
    return logging.getLogger(name)


def progress(
    iterable: Iterable[T], desc: str, total: int | None = None, unit: str = "it"
) -> Iterator[T]:
    from tqdm import tqdm

    yield from tqdm(iterable, desc=desc, total=total, unit=unit, **_bar_settings())


def progress_bar(total: int, desc: str, unit: str = "it") -> Any:
    """A bar to ``update(n)`` by hand (for work counted in batches, not items of a loop);
    use it as a context manager so it closes."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, **_bar_settings())


def _bar_settings() -> dict[str, Any]:
    """A bar on a terminal; on a log (CI, ``dvc repro``), a line every 10 seconds."""
    interactive = sys.stderr.isatty()
    return {"disable": None if interactive else False,
            "mininterval": 0.5 if interactive else 10.0, "file": sys.stderr}


class Steps:
    """Times the steps of a stage: ``with steps("name"):`` logs the step as it starts and
    ends, so a long stage is never silent."""

    def __init__(self, log: logging.Logger, stage: str) -> None:
        self.log, self.stage = log, stage
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        self.log.info("%s: %s ...", self.stage, name)
        yield
        took = time.perf_counter() - started
        self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 2)
        self.log.info("%s: %s done in %.1fs", self.stage, name, took)
