"""The promotion gate: every figure the decision rests on, then the decision with its reasons.

A candidate replaces the champion only if

* its validation perplexity is at most ``promote.tolerance`` (relative) above the
  champion's, both measured on the same documents: when the two were evaluated on
  different gold versions the stage re-scores the champion on the candidate's, and when
  their tokenizers differ the comparison is in bits per byte, since perplexity per token
  of two vocabularies is not comparable;
* every bias category's mean gap is at most ``promote.max_bias_gap``.

With no champion yet, the bias bound alone decides. A candidate that is the champion
(same weights) changes nothing. :func:`promotion_signals` gathers the figures (pure data,
stored in ``reports/promotion.json``); :func:`promotion_reason` names the decision and
gives one line per check.

Example::

    >>> cand = {"val": 10.0, "bias": {"gender": 0.1}, "weights": "a"}
    >>> signals = promotion_signals(cand, {"val": 10.1, "weights": "b"}, "perplexity",
    ...                             tolerance=0.02, max_bias_gap=0.5)
    >>> decision, reasons = promotion_reason(signals)
    >>> decision
    'promoted'
    >>> reasons[0]
    'val perplexity 10 vs the champion 10.1: ratio 0.9901, at most 1.02 allowed'
    >>> promotion_reason(promotion_signals({**cand, "val": 11.0}, {"val": 10.1, "weights": "b"},
    ...                  "perplexity", tolerance=0.02, max_bias_gap=0.5))[0]
    'refused_worse'
"""

from __future__ import annotations

from typing import Any

PROMOTED = ("promoted_first", "promoted")


def promotion_signals(candidate: dict[str, Any], champion: dict[str, Any] | None, metric: str,
                      tolerance: float, max_bias_gap: float) -> dict[str, Any]:
    """``candidate``: ``val`` (the compared metric), ``bias`` (category -> mean gap),
    ``weights`` (hash); ``champion``: ``val`` on the same documents and ``weights``."""
    gaps = candidate["bias"]
    signals: dict[str, Any] = {
        "metric": metric, "candidate_val": candidate["val"], "tolerance": tolerance,
        "bias_gaps": gaps, "max_bias_gap": max_bias_gap,
        "bias_over": sorted(k for k, v in gaps.items() if v > max_bias_gap),
        "champion_val": None, "ratio": None, "same_model": False,
    }
    if champion is not None:
        signals["champion_val"] = champion["val"]
        signals["same_model"] = champion["weights"] == candidate["weights"]
        if champion["val"]:
            signals["ratio"] = candidate["val"] / champion["val"]
    signals["has_champion"] = champion is not None
    return signals


def promotion_reason(signals: dict[str, Any]) -> tuple[str, list[str]]:
    """The decision (``promoted_first``, ``promoted``, ``already_champion``,
    ``refused_worse``, ``refused_bias``) and one line per check."""
    reasons = []
    if signals["same_model"]:
        return "already_champion", ["the candidate's weights are the champion's"]
    better = True
    if signals["has_champion"]:
        limit = 1 + signals["tolerance"]
        better = signals["ratio"] is not None and signals["ratio"] <= limit
        reasons.append(f"val {signals['metric'].replace('_', ' ')} "
                       f"{signals['candidate_val']:.4g} vs the champion "
                       f"{signals['champion_val']:.4g}: ratio {signals['ratio']:.4f}, "
                       f"at most {limit:.4g} allowed")
    else:
        reasons.append("no champion yet: the bias bound alone decides")
    bound = signals["max_bias_gap"]
    for category, gap in sorted(signals["bias_gaps"].items()):
        verdict = "over" if gap > bound else "within"
        reasons.append(f"bias {category}: mean gap {gap:.4g} nats/token, {verdict} the "
                       f"bound {bound:.4g}")
    if not better:
        return "refused_worse", reasons
    if signals["bias_over"]:
        return "refused_bias", reasons
    return ("promoted" if signals["has_champion"] else "promoted_first"), reasons
