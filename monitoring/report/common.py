"""Helpers every section builder shares: the section record, the missing-input message,
and number access that never raises on a report of another shape.

A section is ``{"id", "title", "status", "missing", "body"}``: ``status`` is ``present``
when its main input was read, ``missing`` otherwise; ``missing`` lists, in words, each input
that is absent or unreadable and the command that makes it; ``body`` is what the template
draws (None when there is nothing to draw).

Example::

    >>> reports = {"json": {"clean": {"documents": {"kept": 5}}}, "problems": {}}
    >>> need(reports, "clean")[1] is None, need(reports, "dedup")
    (True, (None, 'reports/dedup.json is missing: run `llmlake etl dedup`'))
    >>> num("7"), num(True), num(2.5)
    (None, None, 2.5)
    >>> texts(["a", 1]), texts("abc")
    (['a', '1'], [])
    >>> fmt(1234567), fmt(1.23456), fmt(0.000123), fmt(None)
    ('1,234,567', '1.235', '0.000123', '–')
"""

from __future__ import annotations

import math
from typing import Any

from monitoring.report.inputs import made_by

DASH = "–"


def section(sid: str, title: str, body: dict[str, Any] | None,
            missing: list[str]) -> dict[str, Any]:
    return {"id": sid, "title": title, "status": "present" if body is not None else "missing",
            "missing": missing, "body": body}


def need(reports: dict[str, Any], stem: str,
         absent: str | None = None) -> tuple[dict[str, Any] | None, str | None]:
    """The parsed ``reports/<stem>.json``, or None and what to say instead: the problem
    reading it, or ``absent`` (default: that it is missing and which command makes it)."""
    if stem in reports["json"]:
        return reports["json"][stem], None
    if stem in reports["problems"]:
        return None, reports["problems"][stem]
    return None, absent or f"reports/{stem}.json is missing: run `{made_by(stem)}`"


def num(value: Any) -> float | int | None:
    """``value`` if it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def count(value: Any) -> int:
    """A count for a chart: the number, or 0 where there is none."""
    n = num(value)
    return int(n) if n is not None and n > 0 else 0


def total(mapping: Any) -> int | None:
    """The sum of a ``{reason: count}`` mapping's counts; None if it is not one."""
    if not isinstance(mapping, dict):
        return None
    return sum(count(v) for v in mapping.values())


def reasons(mapping: Any) -> list[dict[str, Any]]:
    """``{reason: count}`` as rows, the largest first."""
    if not isinstance(mapping, dict):
        return []
    rows = [{"reason": str(k), "count": count(v)} for k, v in mapping.items()]
    return sorted(rows, key=lambda r: (-r["count"], r["reason"]))


def fmt(value: Any, digits: int = 4) -> str:
    """A number as people read it: thousands separators for counts, ``digits``
    significant digits for fractions; text as is; a dash for nothing."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) >= 1000:
            return f"{int(value):,}"
        return f"{value:.{digits}g}"
    return str(value)


def interval(ci: Any, digits: int = 4) -> str:
    """``[lo, hi]`` as text, a dash if it is not a pair of numbers."""
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(num(v) is not None for v in ci):
        return f"[{fmt(float(ci[0]), digits)}, {fmt(float(ci[1]), digits)}]"
    return DASH


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a mapping, else an empty one."""
    return value if isinstance(value, dict) else {}


def texts(value: Any) -> list[str]:
    """A list of strings from a report's list; nothing from anything else (a string
    would otherwise become its letters)."""
    return [str(v) for v in value] if isinstance(value, list) else []


def facts(*pairs: tuple[str, Any]) -> list[dict[str, str]]:
    """``(label, value)`` pairs as display rows, leaving out the values that are None."""
    return [{"label": label, "value": fmt(value)} for label, value in pairs
            if value is not None]
