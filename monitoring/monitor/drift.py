"""The drift decision: every figure a drift check measured, then the verdict in words.

:func:`drift_signals` gathers the figures (per descriptor: Evidently's test, its score and
threshold, drifted or not; the perplexity ratio; the embedding drift score; the yield of a
raw batch against the lake's); :func:`drift_reason` turns them into the verdict, its named
kinds and one sentence per finding. Both are pure: the Evidently run and the files are
:mod:`monitoring.monitor.stage`'s.

Kinds of drift: ``data`` (at least ``drift_share`` of the descriptors drifted),
``perplexity`` (the champion finds the batch harder: median perplexity ratio above
``perplexity_ratio``), ``embedding`` (a classifier tells the batches apart by the
champion's embeddings), ``yield`` (cleaning drops a different share of the batch for some
reason than it dropped of the lake).

Example::

    >>> from llmlake.config_monitor import MonitorConfig
    >>> cols = [Column("chars", "K-S p_value", 0.001, 0.01, True),
    ...         Column("language", "chi-square p_value", 0.4, 0.01, False)]
    >>> s = drift_signals(cols, [10.0, 12.0], [11.0, 13.0], 0.52, {}, 0, {}, 0,
    ...                   MonitorConfig(drift_share=0.5))
    >>> s["drifted"], s["drift_share"], round(s["perplexity"]["ratio"], 3)
    (['chars'], 0.5, 1.091)
    >>> drift_reason(s, MonitorConfig(drift_share=0.5))
    (True, ['data'], ['1 of 2 descriptors drifted (50%, threshold 50%): chars'])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from llmlake.config_monitor import MonitorConfig


@dataclass(frozen=True)
class Column:
    """Evidently's drift test of one descriptor."""

    name: str
    method: str
    score: float | None  # a p-value (drift when below threshold); None: test undefined
    threshold: float
    drifted: bool


def _median(values: Sequence[float]) -> float | None:
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    if not finite:
        return None
    mid = len(finite) // 2
    return finite[mid] if len(finite) % 2 else (finite[mid - 1] + finite[mid]) / 2


def two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value that two shares k1/n1 and k2/n2 are equal (pooled z-test)."""
    if not n1 or not n2:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    return math.erfc(abs(k1 / n1 - k2 / n2) / se / math.sqrt(2))


def yield_signals(current: dict[str, int], n_cur: int, lake: dict[str, int], n_lake: int,
                  cfg: MonitorConfig) -> list[dict[str, Any]]:
    """Per outcome (kept, or a drop reason): both shares, the test, and whether it moved."""
    if not n_cur or not n_lake:
        return []
    rows = []
    for reason in sorted(set(current) | set(lake), key=lambda r: (r != "kept", r)):
        k1, k2 = current.get(reason, 0), lake.get(reason, 0)
        p = two_proportion_p(k1, n_cur, k2, n_lake)
        change = k1 / n_cur - k2 / n_lake
        rows.append({"outcome": reason, "current": round(k1 / n_cur, 4),
                     "lake": round(k2 / n_lake, 4), "p_value": p,
                     # rounded: 0.15 - 0.10 is 0.0499999... in binary
                     "drifted": p < cfg.p_value and round(abs(change), 12) >= cfg.yield_change})
    return rows


def drift_signals(columns: Sequence[Column], ppl_reference: Sequence[float],
                  ppl_current: Sequence[float], embedding_score: float | None,
                  current_yield: dict[str, int], n_read: int, lake_yield: dict[str, int],
                  n_lake: int, cfg: MonitorConfig) -> dict[str, Any]:
    """Every figure of one drift check (JSON-ready)."""
    drifted = [c.name for c in columns if c.drifted]
    ref_med, cur_med = _median(ppl_reference), _median(ppl_current)
    ratio = cur_med / ref_med if ref_med and cur_med is not None else None
    outcomes = yield_signals(current_yield, n_read, lake_yield, n_lake, cfg)
    return {
        "descriptors": [asdict(c) for c in columns],
        "drifted": drifted,
        "drift_share": len(drifted) / len(columns) if columns else 0.0,
        "perplexity": {"reference_median": ref_med, "current_median": cur_med, "ratio": ratio},
        "embedding": {"score": embedding_score, "method": "ROC AUC of a classifier"},
        "yield": outcomes,
        "yield_drifted": [o["outcome"] for o in outcomes if o["drifted"]],
    }


def drift_reason(signals: dict[str, Any], cfg: MonitorConfig
                 ) -> tuple[bool, list[str], list[str]]:
    """(drift detected, the kinds found, one sentence per finding)."""
    kinds, reasons = [], []
    n, drifted = len(signals["descriptors"]), signals["drifted"]
    if n and signals["drift_share"] >= cfg.drift_share:
        kinds.append("data")
        reasons.append(f"{len(drifted)} of {n} descriptors drifted "
                       f"({signals['drift_share']:.0%}, threshold {cfg.drift_share:.0%}): "
                       f"{', '.join(drifted)}")
    ppl = signals["perplexity"]
    if ppl["ratio"] is not None and ppl["ratio"] > cfg.perplexity_ratio:
        kinds.append("perplexity")
        reasons.append(f"the champion's median perplexity is {ppl['ratio']:.2f}x the "
                       f"reference's ({ppl['reference_median']:.1f} -> "
                       f"{ppl['current_median']:.1f}; threshold {cfg.perplexity_ratio}x)")
    score = signals["embedding"]["score"]
    if score is not None and score > cfg.embedding_threshold:
        kinds.append("embedding")
        reasons.append(f"a classifier tells the batches apart by their embeddings "
                       f"(ROC AUC {score:.3f} > {cfg.embedding_threshold})")
    for row in signals["yield"]:
        if row["drifted"]:
            if "yield" not in kinds:
                kinds.append("yield")
            reasons.append(f"cleaning's share '{row['outcome']}' is {row['current']:.1%} of "
                           f"the batch against {row['lake']:.1%} of the lake "
                           f"(p={row['p_value']:.2g})")
    return bool(kinds), kinds, reasons
