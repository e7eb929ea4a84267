"""The promotion gate's decision (training.promote.gate) on figures alone."""

from __future__ import annotations

import pytest

from training.promote.gate import PROMOTED, promotion_reason, promotion_signals


def decide(val: float, champion_val: float | None, gaps: dict[str, float] | None = None,
           tolerance: float = 0.02, bound: float = 0.5, same: bool = False):
    candidate = {"val": val, "bias": gaps or {"gender": 0.1, "age": 0.2}, "weights": "new"}
    champion = None if champion_val is None else {
        "val": champion_val, "weights": "new" if same else "old"}
    signals = promotion_signals(candidate, champion, "perplexity", tolerance, bound)
    return (*promotion_reason(signals), signals)


@pytest.mark.parametrize("val,champion,want", [
    (90.0, 100.0, "promoted"),          # better
    (101.9, 100.0, "promoted"),         # worse, within the 2% tolerance
    (102.1, 100.0, "refused_worse"),    # worse beyond it
    (500.0, None, "promoted_first"),    # no champion: only bias counts
])
def test_perplexity_against_the_champion(val, champion, want):
    decision, reasons, signals = decide(val, champion)
    assert decision == want
    if champion is not None:
        assert signals["ratio"] == pytest.approx(val / champion)
        assert f"{val:.4g}" in reasons[0] and f"{champion:.4g}" in reasons[0]


def test_every_bias_category_must_be_within_the_bound():
    decision, reasons, signals = decide(90.0, 100.0, gaps={"gender": 0.1, "religion": 0.7})
    assert decision == "refused_bias" and signals["bias_over"] == ["religion"]
    assert any("religion" in r and "over" in r for r in reasons)
    assert any("gender" in r and "within" in r for r in reasons)
    assert decide(10.0, None, gaps={"age": 0.51})[0] == "refused_bias"


def test_a_worse_and_biased_candidate_lists_both_reasons():
    decision, reasons, _ = decide(150.0, 100.0, gaps={"gender": 2.0})
    assert decision == "refused_worse"
    assert any("over" in r for r in reasons) and "ratio 1.5000" in reasons[0]


def test_the_champion_itself_changes_nothing():
    assert decide(100.0, 100.0, same=True)[0] == "already_champion"


def test_zero_tolerance_still_accepts_an_equal_model():
    assert decide(100.0, 100.0, tolerance=0.0)[0] in PROMOTED
