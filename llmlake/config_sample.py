"""Typed schema of the ``sample`` section: the synthetic crawl the demo and the tests read.

``llmlake sample`` writes ``docs`` documents across WARC, WET, JSONL and Parquet with the
planted defects each ``*_rate`` asks for; ``incoming*`` a later batch of the same crawl
with another topic mix (what ``llmlake monitor`` judges); ``sft*`` a small instruction set
(what ``llmlake augment`` and ``llmlake finetune`` read).

Example::

    >>> SampleConfig(wet_share=0.6, jsonl_share=0.5)
    Traceback (most recent call last):
    ...
    ValueError: wet_share + jsonl_share + parquet_share must be at most 1, got 1.2
    >>> SampleConfig(incoming="later", incoming_docs=20).incoming_config().docs
    20
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from llmlake.bounds import Bounded, bounded, fraction, seed_field


@dataclass(frozen=True)
class SampleConfig(Bounded):
    out: str = "data/raw/sample"
    docs: int = bounded(3000, min=1)
    seed: int = seed_field(1234)
    # Share of documents written to each format; the rest of the shards are WARC.gz.
    wet_share: float = fraction(0.15)
    jsonl_share: float = fraction(0.15)
    parquet_share: float = fraction(0.10)
    docs_per_shard: int = bounded(1000, min=1)
    # Planted defects, as the share of documents that carry each one.
    exact_dup_rate: float = fraction(0.05)
    near_dup_rate: float = fraction(0.05)
    spam_rate: float = fraction(0.03)
    repeated_rate: float = fraction(0.03)
    short_rate: float = fraction(0.03)
    foreign_rate: float = fraction(0.06)
    pii_rate: float = fraction(0.10)
    broken_html_rate: float = fraction(0.03)
    bad_charset_rate: float = fraction(0.03)
    # Corrupt records planted per kind (truncated gzip, bad WARC header, bad JSONL line).
    corrupt_per_kind: int = bounded(2, min=0)
    # Another batch of the same crawl: its topic mix ([] = all 16 topics, evenly) and its
    # length profile (paragraphs per article scaled by this).
    topics: list[str] = field(default_factory=list)
    length: float = bounded(1.0, above=0, max=20)
    # A later batch of the crawl, written beside the sample for `llmlake monitor` to compare
    # (its own seed, size, topics and length; every defect rate as above). "" = none.
    incoming: str = ""
    incoming_docs: int = bounded(400, min=1)
    incoming_seed: int = seed_field(4321)
    incoming_topics: list[str] = field(default_factory=list)
    incoming_length: float = bounded(1.0, above=0, max=20)
    # A small instruction set for `llmlake augment` and `llmlake finetune` (JSONL of
    # prompt/response pairs and chat messages, with sft_bad malformed lines). "" = none.
    sft: str = ""
    sft_examples: int = bounded(400, min=1)
    sft_bad: int = bounded(3, min=0)

    def incoming_config(self) -> SampleConfig:
        """The incoming batch's own settings, as a sample of its own."""
        return dataclasses.replace(self, out=self.incoming, docs=self.incoming_docs,
                                   seed=self.incoming_seed, topics=self.incoming_topics,
                                   length=self.incoming_length, incoming="", sft="")

    def __post_init__(self) -> None:
        super().__post_init__()
        shares = self.wet_share + self.jsonl_share + self.parquet_share
        if shares > 1.0 + 1e-9:  # the WARC share is what is left: it cannot be negative
            raise ValueError(f"wet_share + jsonl_share + parquet_share must be at most 1, "
                             f"got {shares:g}")
