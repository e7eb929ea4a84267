"""The registry of lake tables that the validation stage (``etl/validate.py``) checks.

``SUITES`` maps a table key (``"bronze"``, ``"silver"``) to a :class:`TableSuite`: the lake
table, its Great Expectations suite file under ``expectations/`` and a function that turns
:class:`~llmlake.config.Params` into the suite parameter values (the ``{"$PARAMETER": name}``
placeholders in the suite JSON). A later stage adds its table here, not another runner.

Example::

    >>> from llmlake.config import Params
    >>> sorted(SUITES["bronze"].parameters(Params()))
    ['bronze_min_rows', 'content_types']
    >>> sorted(SUITES["silver"].parameters(Params()))
    ['drop_reasons', 'languages', 'silver_min_kept', 'silver_min_rows']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlake.config import Params

SUITES_DIR = Path(__file__).resolve().parent.parent / "expectations"


@dataclass(frozen=True)
class TableSuite:
    """How to validate one lake table: where it lives, its suite, its suite parameters."""

    table: str
    suite_file: str
    parameters: Callable[[Params], dict[str, Any]]

    @property
    def suite_path(self) -> Path:
        return SUITES_DIR / self.suite_file


def _bronze_parameters(params: Params) -> dict[str, Any]:
    v = params.validate
    return {"bronze_min_rows": v.bronze_min_rows, "content_types": list(v.content_types)}


def _silver_parameters(params: Params) -> dict[str, Any]:
    # Imported here so that loading the registry does not load the text filters.
    from etl.text.pipeline import DROP_REASONS

    v = params.validate
    return {
        "silver_min_rows": v.silver_min_rows,
        "silver_min_kept": v.silver_min_kept,
        # [] keeps every language; the suite then skips its kept-language expectation.
        "languages": list(params.clean.languages),
        # Sorted, so the report lists the same set the same way every run.
        "drop_reasons": sorted(DROP_REASONS),
    }


SUITES: dict[str, TableSuite] = {
    "bronze": TableSuite("bronze/documents", "bronze_documents.json", _bronze_parameters),
    "silver": TableSuite("silver/documents", "silver_documents.json", _silver_parameters),
}


def table_suite(table: str) -> TableSuite:
    try:
        return SUITES[table]
    except KeyError:
        known = ", ".join(sorted(SUITES))
        raise ValueError(f"no suite registered for table {table!r}; known: {known}") from None
