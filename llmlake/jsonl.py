"""JSONL whose lines may be broken: each line is decoded on its own, so one bad line is one
reported problem (its 1-based number and a reason), never the end of the file.

Evaluation tasks, fine-tuning sets and augmentation inputs all read their lines through
:func:`json_lines`; each then checks the objects for its own schema. Blank lines are
skipped (they are no records and no errors); a UTF-8 byte-order mark is ignored.

Example::

    >>> for line in json_lines([b'{"a": 1}', b"", b"{oops", b"\\xff"]):
    ...     print(line)
    (1, {'a': 1}, None)
    (3, None, 'not JSON (Expecting property name enclosed in double quotes at column 2)')
    (4, None, 'not UTF-8 text')
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def json_lines(lines: Iterable[str | bytes]) -> Iterator[tuple[int, Any, str | None]]:
    """``(line number, decoded value, None)`` per good line, ``(number, None, reason)`` per
    line that is not UTF-8 text or not JSON."""
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            yield number, None, "not UTF-8 text"
            continue
        text = text.lstrip("\ufeff")
        if not text.strip():
            continue
        try:
            yield number, json.loads(text), None
        except json.JSONDecodeError as exc:
            yield number, None, f"not JSON ({exc.msg} at column {exc.colno})"
