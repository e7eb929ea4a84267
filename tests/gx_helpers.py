"""Helpers shared by the suite tests (a plain module: pytest collects nothing from it)."""

from __future__ import annotations

import json
from typing import Any

from etl.validate import stage as validate
from etl.validate.suites import table_suite


def suite_json(table: str) -> dict:
    """The suite file of a registered table, as plain JSON."""
    return json.loads(table_suite(table).suite_path.read_text())


def placeholders(node: Any) -> set[str]:
    """Every ``{"$PARAMETER": name}`` in a JSON tree, found without GX's own parser."""
    if isinstance(node, dict):
        if set(node) == {"$PARAMETER"}:
            return {node["$PARAMETER"]}
        return set().union(*(placeholders(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(placeholders(v) for v in node))
    return set()


def find(summary: validate.ValidationSummary, key: tuple[str, str | None, str]
         ) -> validate.ExpectationOutcome:
    """The one outcome of ``(expectation, column)`` whose description contains ``words``."""
    expectation, column, words = key
    (outcome,) = [o for o in summary.outcomes if (o.expectation, o.column) == (expectation, column)
                  and words in o.description]
    return outcome
