"""The shape of one sample crawl, decided up front from the config alone (no randomness).

This module owns every number that follows from :class:`~llmlake.config.SampleConfig` before
a single document is drawn: how many documents each format gets (``plan_counts``), how those
are split into shards (``shard_sizes``), where the corrupt records go (``plan_corrupt``) and
the per-document probabilities that make each ``*_rate`` hold over all documents
(``plan_rates``). :func:`make_plan` bundles them into a :class:`Plan`.
:mod:`etl.sample.documents` draws documents with the rates; :mod:`etl.sample.writer` fills
the shards and plants the corrupt records where the plan says.

Example::

    >>> from llmlake.config import SampleConfig
    >>> from etl.sample.plan import make_plan
    >>> plan = make_plan(SampleConfig(docs=100))
    >>> plan.counts
    {'warc': 60, 'wet': 15, 'jsonl': 15, 'parquet': 10}
    >>> plan.sizes["jsonl"], plan.truncate
    ([5, 5, 5], {0, 1})
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from llmlake.config import SampleConfig

FORMATS = ("warc", "wet", "jsonl", "parquet")
CONTENT_DEFECTS = ("spam", "repeated", "short", "foreign")

# {(format, shard): [(after_n_docs_in_shard, corrupt_kind)]}
Plants = dict[tuple[str, int], list[tuple[int, str]]]


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-document probabilities; each applies only to the documents eligible for it."""

    p_exact: float  # u < p_exact: an exact duplicate
    p_dup: float  # p_exact <= u < p_dup: a near duplicate
    p_content: list[tuple[str, float]]  # one content defect (CONTENT_DEFECTS order)
    p_pii: float
    p_broken: float  # WARC only
    p_charset: float  # WARC only


@dataclass(frozen=True, slots=True)
class Plan:
    counts: dict[str, int]  # documents per format
    sizes: dict[str, list[int]]  # documents per shard, per format
    plants: Plants  # corrupt records inside shards
    truncate: set[int]  # WARC shards whose last member is cut short
    shortfall: dict[str, int]  # corrupt records per kind that did not fit
    rates: Rates


def cond_rate(rate: float, eligible: float) -> float:
    """Probability to apply to eligible documents so that ``rate`` holds over all documents.

    >>> cond_rate(0.03, 0.5), cond_rate(0.9, 0.5), cond_rate(0.1, 0)
    (0.06, 1.0, 0.0)
    """
    return min(1.0, rate / eligible) if eligible > 0 else 0.0


def shard_sizes(n: int, per_shard: int, want: int) -> list[int]:
    """Split ``n`` documents evenly over enough shards (at least ``want`` when possible).

    >>> shard_sizes(10, 4, 1), shard_sizes(5, 100, 3), shard_sizes(0, 10, 2)
    ([4, 3, 3], [2, 2, 1], [])
    """
    if n <= 0:
        return []
    k = max(math.ceil(n / max(1, per_shard)), min(want, n))
    return [n // k + (1 if j < n % k else 0) for j in range(k)]


def plan_corrupt(per_kind: int, sizes: dict[str, list[int]]):
    """Where corrupt records go: ``{(format, shard): [(after_n_docs, kind)]}``, the WARC
    shards whose last member is truncated, and how many of each kind did not fit."""
    plants: Plants = {}
    shortfall = {"truncated_gzip": 0, "bad_warc_header": 0, "bad_json_line": 0}
    for kind, fmt in (("bad_warc_header", "warc"), ("bad_json_line", "jsonl")):
        n = len(sizes[fmt])
        if not n:
            shortfall[kind] = per_kind
            continue
        per = Counter(j * n // per_kind if per_kind <= n else j % n for j in range(per_kind))
        if fmt == "warc":
            # Count bad headers from the last shard so some shards hold only a truncated tail.
            per = Counter({n - 1 - shard: c for shard, c in per.items()})
        for shard, c in sorted(per.items()):
            size = sizes[fmt][shard]
            plants.setdefault((fmt, shard), []).extend(
                (max(1, size * (m + 1) // (c + 1)), kind) for m in range(c))
    n = len(sizes["warc"])
    fit = min(per_kind, n)
    shortfall["truncated_gzip"] = per_kind - fit
    return plants, {j * n // fit for j in range(fit)}, shortfall


def plan_counts(cfg: SampleConfig) -> dict[str, int]:
    """Documents per format: the shares of WET, JSONL and Parquet, the rest WARC."""
    counts = {f: round(cfg.docs * getattr(cfg, f"{f}_share")) for f in FORMATS[1:]}
    counts["warc"] = cfg.docs - sum(counts.values())
    if counts["warc"] < 0:
        raise ValueError("sample: wet_share + jsonl_share + parquet_share must be <= 1")
    return {f: counts[f] for f in FORMATS}


def plan_rates(cfg: SampleConfig, counts: dict[str, int]) -> Rates:
    """Turn each ``*_rate`` (a share of all documents) into a probability for the eligible ones.

    Content defects skip duplicates; PII goes on clean English originals; broken HTML and
    charset defects exist only in WARC, so they are concentrated on the WARC documents.
    """
    c = cfg
    dup = c.exact_dup_rate + c.near_dup_rate
    junk = c.spam_rate + c.repeated_rate + c.short_rate
    warc = counts["warc"] / max(1, c.docs)
    return Rates(
        p_exact=c.exact_dup_rate, p_dup=dup,
        p_content=[(k, cond_rate(getattr(c, f"{k}_rate"), 1 - dup)) for k in CONTENT_DEFECTS],
        p_pii=cond_rate(c.pii_rate, (1 - dup) * (1 - junk - c.foreign_rate)),
        p_broken=cond_rate(c.broken_html_rate, warc),
        p_charset=cond_rate(c.bad_charset_rate, warc * (1 - dup) * (1 - junk)))


def make_plan(cfg: SampleConfig) -> Plan:
    """The whole plan; WARC gets a shard per corrupt record kind, JSONL three (gz, zst, plain)."""
    counts = plan_counts(cfg)
    want = {"warc": max(1, cfg.corrupt_per_kind), "jsonl": 3}
    sizes = {f: shard_sizes(counts[f], cfg.docs_per_shard, want.get(f, 1)) for f in FORMATS}
    plants, truncate, shortfall = plan_corrupt(cfg.corrupt_per_kind, sizes)
    return Plan(counts, sizes, plants, truncate, shortfall, plan_rates(cfg, counts))
