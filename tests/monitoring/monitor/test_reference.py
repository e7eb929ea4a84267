"""The reference side: held-out documents by default, the vocabulary from other documents,
the same samples on every run, and the lake's yield from the champion's lineage."""

from __future__ import annotations

import pytest
from deltalake import DeltaTable

from llmlake.lake import Lake
from llmlake.lineage import upstream
from monitoring.monitor.reference import lake_yield, pick, reference_texts

pytestmark = [pytest.mark.spark, pytest.mark.slow]


def splits_of(gold: dict) -> dict[str, str]:
    table = DeltaTable(gold["path"], version=gold["version"]).to_pyarrow_dataset().to_table(
        columns=["doc_id", "split", "text"])
    return {t: s for t, s in zip(table.column("text").to_pylist(),
                                 table.column("split").to_pylist(), strict=True)}


def test_the_reference_is_held_out_and_the_vocabulary_is_not(train_inputs):
    gold = upstream(Lake(train_inputs["params"].lake), "tokenize")["gold/documents"]
    split = splits_of(gold)
    ids, texts, vocab = reference_texts(gold, "heldout", 1000, 40, seed=0)
    assert texts and {split[t] for t in texts} <= {"val", "test"}
    assert len(ids) == sum(s in ("val", "test") for s in split.values())  # all of them
    assert len(vocab) == 40 and {split[t] for t in vocab} == {"train"}
    assert reference_texts(gold, "heldout", 1000, 40, seed=0) == (ids, texts, vocab)
    ids, texts, vocab = reference_texts(gold, "train", 30, 40, seed=0)
    assert {split[t] for t in texts} == {"train"} and len(texts) == 30
    assert not set(texts) & set(vocab)  # measured on documents the vocabulary never saw


def test_samples_are_disjoint_and_seeded():
    ids = [f"d{i}" for i in range(50)]
    first, second = pick(ids, 10, 20, seed=3)
    assert len(first) == 10 and len(second) == 20 and not set(first) & set(second)
    assert pick(ids, 10, 20, seed=3) == (first, second) != pick(ids, 10, 20, seed=4)
    assert pick(ids, 100, 5, seed=0) == (sorted(ids), [])


def test_the_lakes_yield_comes_from_the_champions_lineage():
    assert lake_yield({}) == ({}, 0)
    counts, total = lake_yield({"data": {"clean": {
        "documents": {"total": 100, "kept": 80},
        "dropped_by_reason": {"lang_not_allowed": 15, "gopher_short_doc": 5}}}})
    assert total == 100 and counts == {"kept": 80, "gopher_short_doc": 5, "lang_not_allowed": 15}
    assert next(iter(counts)) == "kept"
