"""Which rows each ablation variant holds, on hand-made lake rows (no Spark, no lake)."""

from __future__ import annotations

import pytest

from llmlake.config import DedupConfig
from llmlake.config_ablate import VARIANTS, AblateConfig
from llmlake.config_clean import CleanConfig
from training.ablate.build import LakeRows, build
from training.ablate.neardup import find_copies
from training.ablate.variants import (
    Duplicate,
    GoldDoc,
    held_out_ids,
    kind_of,
    needs_reclean,
    step_off,
)


def words(seed: str, n: int = 80) -> str:
    return " ".join(f"{seed}{i}" for i in range(n))


@pytest.fixture
def lake() -> LakeRows:
    """Gold: train a, b; test t (its exact copy tc was removed); val v. Silver also has a
    near copy of a (an, removed), a dropped page (spam) and a dropped near copy of the test
    document (tx), which dedup never saw."""
    texts = {k: words(k) for k in ("a", "b", "t", "v", "spam")}
    texts["an"] = texts["a"] + " extra"
    texts["tc"] = texts["t"]
    texts["tx"] = texts["t"] + " tail words"
    silver = {k: (t, None) for k, t in texts.items()}
    silver.update(spam=(texts["spam"], "gopher_stop_words"), tx=(texts["tx"], "c4_bad_words"),
                  empty=("", "empty_text"))
    gold = {"a": GoldDoc("a", "train", texts["a"]), "b": GoldDoc("b", "train", texts["b"]),
            "t": GoldDoc("t", "test", texts["t"]), "v": GoldDoc("v", "val", texts["v"])}
    dups = [Duplicate("an", "a", "near"), Duplicate("tc", "t", "exact")]
    return LakeRows(silver=silver, gold=gold, duplicates=dups)


def test_each_variant_holds_its_rows_and_no_held_out_text(lake):
    v = build(lake, ["raw", "filtered", "curated", "no_near_dedup", "no_dedup"], CleanConfig(),
              DedupConfig())
    assert sorted(v["curated"].docs) == ["a", "b"]
    assert sorted(v["filtered"].docs) == ["a", "an", "b"]          # removed duplicates too
    assert sorted(v["no_dedup"].docs) == ["a", "an", "b"]
    assert v["no_dedup"].fingerprint() == v["filtered"].fingerprint()
    assert sorted(v["no_near_dedup"].docs) == ["a", "an", "b"]
    assert sorted(v["raw"].docs) == ["a", "an", "b", "spam"]       # what silver dropped
    assert v["raw"].held_out_copies == 1                           # tx copies the test doc
    for variant in v.values():
        assert not set(variant.docs) & {"t", "tc", "tx", "v", "empty"}


def test_a_filter_turned_off_lets_its_drops_through_deduplicated(lake):
    html = "<html><body><article>{}</article></body></html>"
    good = [f"<p>{s}</p>" for s in (
        "The garden was quiet in the early morning, and the dew was still on the grass.",
        "We walked to the old oak tree and sat down with our coffee to watch the birds.",
        "A robin landed near the bench and looked at us with great curiosity for a while.",
        "Later that day the wind picked up, so we moved the chairs back into the shed.",
        "In the evening we read a book about the history of the town by the warm fire.")]
    lake.silver["spam"] = ("short", "gopher_short_doc")
    lake.silver["again"] = ("short too", "gopher_short_doc")
    payload = html.format("".join(good))
    lake.payloads = lambda ids: {i: (payload, "text/html", "https://example.org/" + i)
                                 for i in ids}
    v = build(lake, ["no_gopher"], CleanConfig(), DedupConfig())["no_gopher"]
    # Both pass every other filter with Gopher off, and are copies of each other: one stays.
    assert sorted(v.docs) == ["a", "again", "b"]
    assert "garden was quiet" in v.docs["again"]
    assert "2 rows cleaned again" in v.notes[0]


def test_reclean_rules():
    assert needs_reclean("gopher_dup_line_frac", "gopher_repetition")
    assert not needs_reclean("gopher_dup_line_frac", "gopher_quality")
    assert not needs_reclean("lang_not_allowed", "gopher")          # dropped before it
    assert not needs_reclean("c4_bad_words", "fineweb")            # dropped before it
    assert needs_reclean("lang_low_score", "lang")
    assert needs_reclean(None, "pii") and not needs_reclean("c4_bad_words", "pii")
    assert step_off(CleanConfig(), "c4").c4.enabled is False
    assert step_off(CleanConfig(), "gopher").gopher_quality.enabled is False
    assert step_off(CleanConfig(), "pii").pii.enabled is False


def test_every_configured_name_has_a_rule():
    for name in VARIANTS:
        kind, _ = kind_of(name)
        assert kind in ("raw", "filtered", "curated", "filter", "dedup"), name
    with pytest.raises(ValueError, match="unknown variant"):
        AblateConfig(variants=["curated", "no_spam"])


def test_held_out_includes_copies_of_val_and_test_only():
    gold = [GoldDoc("t", "test", ""), GoldDoc("v", "val", ""), GoldDoc("a", "train", "")]
    dups = [Duplicate("t2", "t", "near"), Duplicate("v2", "v", "exact"),
            Duplicate("a2", "a", "near")]
    assert held_out_ids(gold, dups) == {"t", "t2", "v", "v2"}


def test_copies_are_found_against_kept_and_among_new_documents():
    kept = {"k": words("k")}
    new = {"n1": words("k") + " x", "n2": words("z"), "n3": words("z"), "n4": words("q")}
    found = find_copies(kept, new, DedupConfig())
    assert found == {"n1": ("k", "near"), "n3": ("n2", "exact")}
    assert find_copies(kept, new, DedupConfig(), among_new=False) == {"n1": ("k", "near")}
