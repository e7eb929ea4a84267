"""The page: every section built from the reports folder, rendered as one HTML file.

:data:`SECTIONS` is the page's order: ``(id, title, builder)``. :func:`build_sections`
calls each builder on :func:`monitoring.report.inputs.read_reports`'s result; a builder
that trips over a report of an unexpected shape yields its section as missing, with the
reason, instead of failing the page. :func:`build_page` renders them through
``monitoring/report/templates/index.html.j2`` (autoescaped, no script, no external file).

Example::

    >>> import tempfile
    >>> html, sections = build_page(tempfile.mkdtemp())
    >>> all(f'<section id="{sid}"' in html for sid, _, _ in SECTIONS)
    True
    >>> "<script" in html
    False
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmlake.html import render
from monitoring.report.common import section
from monitoring.report.data_sections import funnel, quality, tokenizer, training
from monitoring.report.inputs import read_reports
from monitoring.report.model_sections import ablation, drift, evaluation, links, promotion

Builder = Callable[[dict[str, Any]], dict[str, Any]]
SECTIONS: tuple[tuple[str, str, Builder], ...] = (
    ("funnel", "Documents through the pipeline", funnel),
    ("quality", "Data quality (Great Expectations)", quality),
    ("tokenizer", "Tokenizer", tokenizer),
    ("training", "Training", training),
    ("evaluation", "Evaluation and bias", evaluation),
    ("promotion", "Promotion", promotion),
    ("ablation", "Data ablation", ablation),
    ("drift", "Drift and retraining", drift),
    ("links", "Other reports", links),
)


def build_sections(reports: dict[str, Any]) -> list[dict[str, Any]]:
    """Every section in page order; one whose inputs have an unexpected shape is shown
    as missing with the reason."""
    built = []
    for sid, title, build in SECTIONS:
        try:
            built.append(build(reports))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            built.append(section(sid, title, None, [
                f"The reports behind this section have an unexpected shape "
                f"({type(exc).__name__}: {exc}); rerun the stages that write them"]))
    return built


def build_page(folder: str | Path) -> tuple[str, list[dict[str, Any]]]:
    """The page's HTML for the reports in ``folder``, and its sections."""
    sections = build_sections(read_reports(folder))
    return render("monitoring.report", "index.html.j2", sections=sections), sections
