"""The generator's parts on their own: the plan, the re-exported names, the shard rotation."""

from __future__ import annotations

import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from etl.sample import plan, stage
from etl.sample.writer import Shards
from llmlake.config import SampleConfig


def test_stage_reexports_the_plan_names() -> None:
    assert stage.FORMATS is plan.FORMATS
    assert stage.shard_sizes is plan.shard_sizes and stage.plan_corrupt is plan.plan_corrupt


def test_plan_rejects_shares_over_one() -> None:
    # A duck-typed config: SampleConfig may refuse these shares before the plan sees them.
    cfg = SimpleNamespace(docs=10, wet_share=0.5, jsonl_share=0.5, parquet_share=0.1)
    with pytest.raises(ValueError, match="must be <= 1"):
        plan.plan_counts(cfg)


def test_plan_counts_sum_to_docs_and_rates_stay_probabilities() -> None:
    p = plan.make_plan(SampleConfig(docs=997, pii_rate=0.9, bad_charset_rate=0.5))
    assert sum(p.counts.values()) == 997
    assert [sum(s) for s in p.sizes.values()] == list(p.counts.values())
    rates = p.rates
    assert all(0 <= x <= 1 for x in (rates.p_pii, rates.p_broken, rates.p_charset))
    assert rates.p_exact <= rates.p_dup


def test_shards_rotate_names_and_sizes(tmp_path: Path) -> None:
    for sub in ("jsonl", "warc"):
        (tmp_path / sub).mkdir()
    shards = Shards(tmp_path, {"jsonl": [1, 1, 1], "warc": [1, 1]}, random.Random(0))
    names = []
    for fmt, n in (("jsonl", 3), ("warc", 2)):
        for _ in range(n):
            names.append(shards.open(fmt, 1_700_000_000).rel)
            assert shards.tick(fmt)[2]  # one document fills each shard
            shards.close(fmt)
    assert names == ["jsonl/part-00000.jsonl.gz", "jsonl/part-00001.jsonl.zst",
                     "jsonl/part-00002.jsonl", "warc/crawl-00000.warc.gz",
                     "warc/crawl-00001.warc.gz"]
