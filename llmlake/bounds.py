"""Valid ranges of numeric params: declared beside each field, checked at load.

Every numeric field of every params dataclass declares its range next to its default with
:func:`bounded` (or :func:`fraction`, :func:`seed_field`). The :class:`Bounded` base checks
them (:func:`check_bounds`) whenever a config is built, before any cross-field check of its
own; ``llmlake.config`` puts the section in front of the message, so the error names the
full key (``dedup.bands: must be at least 1, got 0``).

Example::

    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo(Bounded):
    ...     rows: int = bounded(8, min=1)
    ...     share: float = fraction(0.5)
    >>> Demo(rows=0)
    Traceback (most recent call last):
    ...
    ValueError: rows: must be at least 1, got 0
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# Seeds end up in Spark as a 64-bit literal (xxhash64) and in numpy's default_rng, which
# refuses negative seeds; one range for every seed keeps them interchangeable.
SEED_MAX = 2**63 - 1
_BOUNDS = "bounds"


@dataclass(frozen=True)
class Bounds:
    """The valid range of one numeric field: ``min <= value <= max``, ``value > above``."""

    min: float | None = None
    max: float | None = None
    above: float | None = None  # exclusive lower bound, for ranges such as (0, 1]

    def error(self, value: float) -> str | None:
        """Why ``value`` is out of range, or ``None`` when it is inside (or unset: an
        optional field's ``None`` takes its value from elsewhere, a model preset)."""
        if value is None:
            return None
        if isinstance(value, float) and math.isnan(value):
            return f"must be a number, got {value}"  # NaN compares false with every bound
        if self.min is not None and value < self.min:
            return f"must be at least {self.min}, got {value}"
        if self.above is not None and value <= self.above:
            return f"must be greater than {self.above}, got {value}"
        if self.max is not None and value > self.max:
            return f"must be at most {self.max}, got {value}"
        return None


def bounded(default: float, *, min: float | None = None, max: float | None = None,
            above: float | None = None) -> Any:
    """A dataclass field with ``default`` and its valid range (see :class:`Bounds`)."""
    return field(default=default, metadata={_BOUNDS: Bounds(min, max, above)})


def seed_field(default: int) -> Any:
    """A seed field: any integer from 0 to :data:`SEED_MAX`."""
    return bounded(default, min=0, max=SEED_MAX)


def fraction(default: float) -> Any:
    """A share, rate or fraction field: 0 to 1."""
    return bounded(default, min=0, max=1)


def bounds_of(f: dataclasses.Field) -> Bounds | None:
    """The bounds declared on a dataclass field, or ``None``."""
    return f.metadata.get(_BOUNDS)


def check_bounds(cls: type, values: Mapping[str, Any], prefix: str = "") -> None:
    """Raise ``ValueError`` naming ``prefix + field`` for the first value out of its bounds.

    Only the fields present in ``values`` are checked, so a loader can pass the keys it read.
    """
    for f in dataclasses.fields(cls):
        bounds = bounds_of(f)
        if bounds is not None and f.name in values:
            message = bounds.error(values[f.name])
            if message:
                raise ValueError(f"{prefix}{f.name}: {message}")


class Bounded:
    """Base of the params dataclasses: a directly built config is range-checked too."""

    def __post_init__(self) -> None:
        check_bounds(type(self), vars(self))


# A Delta table property duration, as Delta parses it ("interval 7 days").
_INTERVAL = re.compile(r"interval (\d+) (second|minute|hour|day|week)s?")
_HOURS = {"second": 1 / 3600, "minute": 1 / 60, "hour": 1, "day": 24, "week": 168}


def interval_hours(text: str) -> float:
    """Hours in a Delta interval property value; ValueError if it is not one.

    >>> interval_hours("interval 365 days"), interval_hours("interval 1 week")
    (8760, 168)
    """
    match = _INTERVAL.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"expected 'interval <n> <seconds|minutes|hours|days|weeks>', "
                         f"got {text!r}")
    return int(match.group(1)) * _HOURS[match.group(2)]
