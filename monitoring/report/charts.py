"""Line-chart geometry for the report's loss curves, computed in Python so the template
only draws: each series becomes an SVG ``points`` string, and the axes a few ticks.

:func:`line_chart` takes ``{series name: [(x, y), ...]}`` and returns the chart the
``lines.html.j2`` macro draws: plot size, the series' polylines (with their colour and last
value), and the x and y ticks with their pixel positions. Points whose y is None are
skipped (a validation loss is logged every few steps only). An empty chart is None.

Example::

    >>> chart = line_chart({"train_loss": [(0, 9.0), (10, 5.0)], "val_loss": [(0, 9.0)]})
    >>> [s["name"] for s in chart["series"]]
    ['train_loss', 'val_loss']
    >>> chart["series"][0]["points"]
    '56.0,12.0 676.0,232.0'
    >>> [t["text"] for t in chart["x_ticks"]][:3]
    ['0', '2', '4']
    >>> line_chart({"train_loss": [(0, None)]}) is None
    True
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

WIDTH, HEIGHT = 700, 260
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 12, 28
DOTS = 40
COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00")


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values covering ``lo``..``hi`` (1, 2 or 5 times a power of ten apart).

    >>> nice_ticks(0, 200)
    [0.0, 50.0, 100.0, 150.0, 200.0]
    >>> nice_ticks(4.5, 9.1)
    [5.0, 6.0, 7.0, 8.0, 9.0]
    >>> nice_ticks(3, 3)
    [3.0]
    """
    if hi <= lo:
        return [float(lo)]
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    ticks, value = [], first
    while value <= hi + step * 1e-9:
        ticks.append(float(round(value, 10)))
        value += step
    return ticks


def _scale(lo: float, hi: float, start: float, end: float):
    span = hi - lo
    return lambda v: round(start + ((v - lo) / span if span else 0.5) * (end - start), 1)


def line_chart(series: Mapping[str, Sequence[tuple[float, float | None]]]) -> dict[str, Any] | None:
    """The drawable chart of ``series`` (x ascending within each), or None if no point."""
    kept = {name: [(x, y) for x, y in pts if x is not None and y is not None
                   and math.isfinite(x) and math.isfinite(y)]
            for name, pts in series.items()}
    kept = {name: pts for name, pts in kept.items() if pts}
    if not kept:
        return None
    xs = [x for pts in kept.values() for x, _ in pts]
    ys = [y for pts in kept.values() for _, y in pts]
    x_of = _scale(min(xs), max(xs), LEFT, WIDTH - RIGHT)
    y_of = _scale(min(ys), max(ys), HEIGHT - BOTTOM, TOP)
    lines = [{"name": name, "colour": COLOURS[i % len(COLOURS)],
              "points": " ".join(f"{x_of(x)},{y_of(y)}" for x, y in pts),
              "last": f"{pts[-1][1]:.4g}",
              # A sparse series (validation every few steps) gets a dot on each point.
              "dots": [{"x": x_of(x), "y": y_of(y)} for x, y in pts] if len(pts) <= DOTS else []}
             for i, (name, pts) in enumerate(kept.items())]
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT,
        "top": TOP, "bottom": HEIGHT - BOTTOM, "series": lines,
        "x_ticks": [{"at": x_of(t), "text": _tick_text(t)} for t in nice_ticks(min(xs), max(xs))],
        "y_ticks": [{"at": y_of(t), "text": _tick_text(t)} for t in nice_ticks(min(ys), max(ys))
                    if min(ys) <= t <= max(ys)],
    }


def _tick_text(value: float) -> str:
    """``200`` rather than ``200.0``; a fraction keeps what it needs."""
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def loss_series(rows: Sequence[Mapping[str, float | None]]) -> dict[str, list[tuple[Any, Any]]]:
    """``train_loss`` and ``val_loss`` against ``step`` from a training log's rows.

    >>> loss_series([{"step": 0.0, "train_loss": None, "val_loss": 9.0},
    ...              {"step": 5.0, "train_loss": 8.7, "val_loss": None}])
    {'train_loss': [(0.0, None), (5.0, 8.7)], 'val_loss': [(0.0, 9.0), (5.0, None)]}
    """
    return {name: [(r.get("step"), r.get(name)) for r in rows]
            for name in ("train_loss", "val_loss") if any(name in r for r in rows)}
