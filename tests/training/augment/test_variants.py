"""Variants: deterministic per seed and per row, tagged, capped by share, deduplicated."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from llmlake.config_finetune import AugmentConfig
from training.augment.rows import parse_lines, segments
from training.augment.variants import (
    ORIGINAL,
    allowed_variants,
    augment,
    cap_reason,
    cap_signals,
    row_seed,
)

TABLE = {"cat": ["kitten"], "dog": ["hound", "puppy"], "garden": ["yard"],
         "sees": ["spots"], "chases": ["pursues"], "river": ["stream"]}
EDA = ["synonym", "insert", "swap", "delete"]


def rows_of(raw):
    return parse_lines([json.dumps(r) for r in raw]).rows


def cfg(**kw):
    return AugmentConfig(**{"methods": EDA, "max_share": 0.95, "alpha": 0.2, **kw})


def test_two_runs_give_the_same_rows_another_seed_differs(rows):
    first = augment(rows_of(rows), cfg(copies=2), TABLE)
    again = augment(rows_of(rows), cfg(copies=2), TABLE)
    assert json.dumps(first.rows) == json.dumps(again.rows)
    other = augment(rows_of(rows), cfg(copies=2, seed=1), TABLE)
    assert other.rows != first.rows


def test_adding_a_row_leaves_the_others_variants_alone(rows):
    before = augment(rows_of(rows[1:]), cfg(), TABLE).rows
    after = augment(rows_of(rows), cfg(), TABLE).rows
    assert [r for r in after if r["parent_id"] != rows[0]["id"]] == before


def test_seeds_depend_on_every_coordinate():
    seeds = {row_seed(s, r, m, c) for s in (0, 1) for r in ("a", "b") for m in EDA
             for c in (0, 1)}
    assert len(seeds) == 2 * 2 * 4 * 2 and all(0 <= s < 2**63 for s in seeds)


def test_every_row_is_tagged(rows):
    out = augment(rows_of(rows), cfg(copies=2), TABLE).rows
    ids = {r["id"] for r in rows}
    originals = [r for r in out if r["method"] == ORIGINAL]
    assert [(r["id"], r["parent_id"]) for r in originals] == [(i["id"], i["id"]) for i in rows]
    variants = [r for r in out if r["method"] != ORIGINAL]
    assert variants and all(r["parent_id"] in ids and r["method"] in EDA for r in variants)
    assert len({r["id"] for r in out}) == len(out)
    for r in variants:  # the input's shape, and the taught answer untouched
        parent = next(p for p in rows if p["id"] == r["parent_id"])
        assert set(r) - {"id", "parent_id", "method"} == set(parent) - {"id"}
        assert r.get("response") == parent.get("response")
        if "messages" in r:
            assert [m for m in r["messages"] if m["role"] != "user"] == \
                [m for m in parent["messages"] if m["role"] != "user"]


@pytest.mark.parametrize("max_share", [0.0, 0.1, 0.25, 0.5, 0.8])
def test_share_never_exceeds_the_cap(rows, max_share):
    result = augment(rows_of(rows), cfg(copies=2, max_share=max_share), TABLE)
    s = result.signals
    variants = sum(r["method"] != ORIGINAL for r in result.rows)
    assert variants / len(result.rows) <= max_share + 1e-12
    assert s["share"] == round(variants / len(result.rows), 4)
    assert s["removed_by_cap"] == s["variants"] - variants
    assert variants == min(s["variants"], allowed_variants(len(rows), max_share))


def test_the_cap_bites_and_keeps_methods_balanced(rows):
    result = augment(rows_of(rows), cfg(copies=2, max_share=0.5), TABLE)
    s = result.signals
    assert s["reason"] == "over_cap" and s["removed_by_cap"] > 0
    assert s["allowed"] == len(rows) == sum(s["augmented"].values())
    counts = Counter(r["method"] for r in result.rows if r["method"] != ORIGINAL)
    assert max(counts.values()) - min(counts.values()) <= 1 and set(counts) == set(EDA)
    # The subset is seeded: another seed keeps other variants.
    other = augment(rows_of(rows), cfg(copies=2, max_share=0.5, seed=3), TABLE)
    assert {r["id"] for r in other.rows} != {r["id"] for r in result.rows}


def test_cap_signals_and_reason():
    s = cap_signals(10, {"swap": 6, "delete": 5}, 0.5)
    assert s == {"originals": 10, "variants": 11, "max_share": 0.5, "allowed": 10,
                 "share_before_cap": 0.5238}
    assert cap_reason(s) == "over_cap"
    assert cap_reason(cap_signals(10, {"swap": 10}, 0.5)) == "within_cap"
    assert allowed_variants(3, 0.95) == 57 and allowed_variants(7, 0.0) == 0


def test_variants_equal_to_their_parent_are_dropped_and_counted():
    rows = rows_of([{"id": "one", "text": "word"}, {"id": "two", "text": "plain two"},
                    {"id": "cat", "text": "the cat"}])
    result = augment(rows, cfg(), TABLE)
    s = result.signals
    # "word": no synonym, swap or delete can change it; "plain two" has no table word.
    assert s["identical_dropped"] == {"synonym": 2, "insert": 2, "swap": 1, "delete": 1}
    assert s["made"] == {m: 3 for m in EDA}
    for r in result.rows:
        if r["method"] != ORIGINAL:
            parent = next(p for p in rows if p.id == r["parent_id"])
            assert r["text"] != segments(parent)[0]


def test_examples_pair_parents_with_variants(rows):
    result = augment(rows_of(rows), cfg(), TABLE)
    assert [e["method"] for e in result.examples] == EDA[:3]
    for e in result.examples:
        assert e["parent"] != e["variant"]


def test_paraphrase_needs_a_paraphraser(rows):
    with pytest.raises(ValueError, match="paraphrase needs a model"):
        augment(rows_of(rows), cfg(methods=["paraphrase"]), TABLE)
    result = augment(rows_of(rows), cfg(methods=["paraphrase"]), TABLE,
                     lambda jobs: [f"{text} again" for text, _ in jobs])
    assert result.signals["augmented"] == {"paraphrase": len(rows)}
