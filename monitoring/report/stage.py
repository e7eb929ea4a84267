"""The ``report`` stage: ``reports/index.html``, the pipeline at a glance.

It reads what the other stages reported in the reports folder (``lake.reports``) and writes
one static page beside them, so its links to the other pages (``dedup.html``,
``gx/<table>/index.html``, ``drift/<run>/report.html``) are relative and the folder can be
opened or served as it is. A missing or unreadable report is never an error: its section
says what is missing and which command makes it (:mod:`monitoring.report.page`).
``reports/report.json`` records each section as ``present`` or ``missing``.

Example::

    >>> from llmlake.config import Params, LakeConfig
    >>> import tempfile, pathlib
    >>> tmp = tempfile.mkdtemp()
    >>> metrics = run(Params(lake=LakeConfig(root=f"{tmp}/lake", reports=f"{tmp}/reports")))
    >>> metrics["sections"]["funnel"], (pathlib.Path(tmp) / "reports" / "index.html").is_file()
    ('missing', True)
"""

from __future__ import annotations

from typing import Any

from llmlake.config import Params
from llmlake.html import write_html
from llmlake.stage import stage_shell
from monitoring.report.inputs import INDEX


def run(params: Params) -> dict[str, Any]:
    from monitoring.report.page import build_page

    with stage_shell("report", params) as sh:
        with sh.step("render"):
            html, sections = build_page(sh.lake.report(""))
            path = write_html(sh.lake.report(INDEX), html)
        present = [s["id"] for s in sections if s["status"] == "present"]
        sh.log.info("report: %s (%d of %d sections present)", path, len(present),
                    len(sections))
        return sh.finish({"sections": {s["id"]: s["status"] for s in sections}})
