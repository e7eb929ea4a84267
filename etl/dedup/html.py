"""The dedup stage's HTML page: the largest clusters, survivor and removed copy side by side.

``render_dedup`` turns this run's counts, gold's state and a few example clusters into the
page ``templates/dedup.html.j2`` describes; ``llmlake.html`` does the rendering, so every
crawled string is escaped. It takes plain named values rather than the stage's report dict,
so the report's shape can change without touching the page.

Example::

    >>> page = render_dedup(
    ...     batch="dedup-20240101",
    ...     summary={"new_documents": 10, "kept": 7, "gold_documents": 1200},
    ...     removed={"exact": 2, "near": 1},
    ...     splits={"train": 1000, "val": 100, "test": 100},
    ...     histogram={"2": 5, "3": 1},
    ...     examples=[{"cluster_id": "a1b2c3d4e5f6a7b8", "size": 3, "match": "near",
    ...                "url": None, "text": "<b>hello</b>",
    ...                "survivor_url": "https://example.com/", "survivor_text": "hello"}],
    ... )
    >>> "&lt;b&gt;hello&lt;/b&gt;" in page and "<b>hello" not in page
    True
    >>> "1,200" in page and "exact 2, near 1" in page
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmlake.html import render

SNIPPET = 600  # characters of each text shown; enough to judge a pair, short enough to scan
SHORT_ID = 12


def render_dedup(*, batch: str, summary: Mapping[str, int], removed: Mapping[str, int],
                 splits: Mapping[str, int], histogram: Mapping[str, int],
                 examples: Sequence[Mapping[str, Any]]) -> str:
    """The dedup page as a string.

    - ``batch``: this run's batch id.
    - ``summary``: ``new_documents`` and ``kept`` of this run, ``gold_documents`` in gold.
    - ``removed``: this run's removed copies by how they matched (``{"exact": 3}``).
    - ``splits``: gold documents per split.
    - ``histogram``: clusters per size bin, in the order the rows should show.
    - ``examples``: one per cluster, largest first, each with ``cluster_id, size, match,
      url, text, survivor_url, survivor_text`` (either URL may be ``None``).
    """
    return render(
        "etl.dedup", "dedup.html.j2",
        batch=batch,
        new_documents=summary["new_documents"],
        kept=summary["kept"],
        gold_documents=summary["gold_documents"],
        removed=dict(removed),
        removed_total=sum(removed.values()),
        splits=dict(splits),
        histogram=_histogram_rows(histogram),
        examples=[_example(ex) for ex in examples],
    )


def _histogram_rows(histogram: Mapping[str, int]) -> list[dict[str, Any]]:
    # Bars are scaled to the largest bin, so the shape reads the same at any corpus size.
    top = max(histogram.values(), default=0) or 1
    return [{"label": label, "clusters": n, "percent": round(100 * n / top, 1)}
            for label, n in histogram.items()]


def _example(ex: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "cluster_id": ex["cluster_id"],
        "short_id": ex["cluster_id"][:SHORT_ID],
        "size": ex["size"],
        "match": ex["match"],
        "sides": [_side("kept", ex["survivor_url"], ex["survivor_text"]),
                  _side("removed", ex["url"], ex["text"])],
    }


def _side(role: str, url: str | None, text: str) -> dict[str, Any]:
    return {"role": role, "url": url or "", "text": text[:SNIPPET], "length": len(text)}
