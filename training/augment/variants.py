"""Variants of rows: made, tagged, deduplicated against their parent, capped.

Every row gets ``copies`` variants per method in ``augment.methods``; each variant's
randomness is seeded from ``(seed, row id, method, copy)`` alone (:func:`row_seed`), so a
rerun gives the same bytes and adding a row leaves the other rows' variants as they were.
A variant is ``{id: "<parent>:<method>:<copy>", ..., parent_id, method}``; the originals
are written too, as ``method: "original"`` under their own id, each followed by its variants.

A variant identical to its parent teaches nothing and is dropped (counted by method). Then
the cap: augmented rows may be at most ``max_share`` of all rows written, i.e. at most
``floor(max_share * originals / (1 - max_share))``. Over it, the variants kept are taken
from each method in turn, each method's in a seeded order, so the subset stays balanced
across methods; :func:`cap_signals` measures, :func:`cap_reason` names the decision.

Example::

    >>> from llmlake.config_finetune import AugmentConfig
    >>> from training.augment.rows import parse_lines
    >>> rows = parse_lines(['{"id": "r1", "text": "one two three four five six"}']).rows
    >>> cfg = AugmentConfig(methods=["swap", "delete"], max_share=0.5, alpha=0.2)
    >>> result = augment(rows, cfg, table={})
    >>> [(r["id"], r["method"]) for r in result.rows]
    [('r1', 'original'), ('r1:swap:0', 'swap')]
    >>> result.signals["reason"], result.signals["removed_by_cap"]
    ('over_cap', 1)
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmlake.config_finetune import AugmentConfig
from training.augment.eda import edit
from training.augment.rows import Row, out_row, segments, with_segments

ORIGINAL = "original"
EXAMPLES = 3         # example pairs in the report
EXAMPLE_CHARS = 300  # each text cut to this in the report

# (text, seed) pairs -> their paraphrases, in order (training.augment.paraphrase, bound to
# a model); None when paraphrase is not asked for.
Paraphraser = Callable[[list[tuple[str, int]]], list[str]]


@dataclass(frozen=True)
class Variant:
    parent: Row
    method: str
    copy: int
    texts: tuple[str, ...]  # the parent's editable texts, edited

    @property
    def id(self) -> str:
        return f"{self.parent.id}:{self.method}:{self.copy}"


@dataclass
class Result:
    rows: list[dict[str, Any]]           # what is written: originals, each with its variants
    signals: dict[str, Any]              # the counts of the report (see augment)
    examples: list[dict[str, str]] = field(default_factory=list)


def row_seed(seed: int, row_id: str, method: str, copy: int) -> int:
    """A 63-bit seed of one variant, from its own coordinates only."""
    digest = hashlib.sha256(f"{seed}\x1f{row_id}\x1f{method}\x1f{copy}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def make_variants(rows: list[Row], cfg: AugmentConfig, table: dict[str, list[str]],
                  paraphrase: Paraphraser | None = None) -> list[Variant]:
    """Every row's variants by every method and copy, before any is dropped."""
    out: list[Variant] = []
    jobs: list[tuple[str, int]] = []   # paraphrase: every text of every variant, in order
    pending: list[tuple[Row, int, int]] = []  # (row, copy, texts) of each paraphrase variant
    for row in rows:
        texts = segments(row)
        for method in cfg.methods:
            for copy in range(cfg.copies):
                seed = row_seed(cfg.seed, row.id, method, copy)
                if method == "paraphrase":
                    jobs += [(t, seed + i) for i, t in enumerate(texts)]
                    pending.append((row, copy, len(texts)))
                    continue
                rng = random.Random(seed)
                out.append(Variant(row, method, copy,
                                   tuple(edit(t, method, cfg.alpha, table, rng) for t in texts)))
    if pending:
        if paraphrase is None:
            raise ValueError("augment.methods: paraphrase needs a model to sample from")
        written = iter(paraphrase(jobs))
        out += [Variant(row, "paraphrase", copy, tuple(next(written) for _ in range(n)))
                for row, copy, n in pending]
    return out


def allowed_variants(originals: int, max_share: float) -> int:
    """The most augmented rows with ``augmented / (originals + augmented) <= max_share``."""
    return math.floor(max_share * originals / (1 - max_share) + 1e-9)


def cap_signals(originals: int, by_method: dict[str, int], max_share: float) -> dict[str, Any]:
    augmented = sum(by_method.values())
    return {"originals": originals, "variants": augmented, "max_share": max_share,
            "allowed": allowed_variants(originals, max_share),
            "share_before_cap": round(augmented / (originals + augmented), 4)
            if originals + augmented else 0.0}


def cap_reason(signals: dict[str, Any]) -> str:
    return "over_cap" if signals["variants"] > signals["allowed"] else "within_cap"


def capped(variants: list[Variant], allowed: int, methods: list[str],
           seed: int) -> list[Variant]:
    """At most ``allowed`` of ``variants``, taken from each method in turn (each method's in
    a seeded order), returned in their original order."""
    if len(variants) <= allowed:
        return variants
    queues = {m: sorted((v for v in variants if v.method == m),
                        key=lambda v: hashlib.sha256(f"{seed}\x1fcap\x1f{v.id}".encode())
                        .digest(), reverse=True) for m in methods}
    chosen: set[str] = set()
    while len(chosen) < allowed:
        for m in methods:
            if queues[m] and len(chosen) < allowed:
                chosen.add(queues[m].pop().id)
    return [v for v in variants if v.id in chosen]


def augment(rows: list[Row], cfg: AugmentConfig, table: dict[str, list[str]],
            paraphrase: Paraphraser | None = None) -> Result:
    """Variants of ``rows`` made, deduplicated and capped, with the rows to write."""
    made = make_variants(rows, cfg, table, paraphrase)
    fresh = [v for v in made if v.texts != tuple(segments(v.parent))]
    identical = Counter(v.method for v in made) - Counter(v.method for v in fresh)
    signals = cap_signals(len(rows), dict(Counter(v.method for v in fresh)), cfg.max_share)
    reason = cap_reason(signals)
    kept = capped(fresh, signals["allowed"], cfg.methods, cfg.seed)
    by_parent: dict[str, list[Variant]] = {}
    for v in kept:
        by_parent.setdefault(v.parent.id, []).append(v)
    written = []
    for row in rows:
        written.append(out_row(row, dict(row.fields), row.id, ORIGINAL))
        written += [out_row(row, with_segments(row, list(v.texts)), v.id, v.method)
                    for v in by_parent.get(row.id, [])]
    signals.update({
        "made": dict(Counter(v.method for v in made)),
        "identical_dropped": {m: identical.get(m, 0) for m in cfg.methods},
        "removed_by_cap": len(fresh) - len(kept), "reason": reason,
        "augmented": {m: sum(v.method == m for v in kept) for m in cfg.methods},
        "rows_written": len(written),
        "share": round(len(kept) / len(written), 4) if written else 0.0})
    return Result(written, signals, examples(kept))


def examples(kept: list[Variant]) -> list[dict[str, str]]:
    """Up to :data:`EXAMPLES` (parent, variant, method) pairs, of different methods first."""
    picked, methods = [], set()
    for v in kept:
        if v.method not in methods:
            methods.add(v.method)
            picked.append(v)
    picked += [v for v in kept if v not in picked][:max(0, EXAMPLES - len(picked))]
    return [{"method": v.method, "parent": _cut("\n".join(segments(v.parent))),
             "variant": _cut("\n".join(v.texts))} for v in picked[:EXAMPLES]]


def _cut(text: str) -> str:
    return text if len(text) <= EXAMPLE_CHARS else text[:EXAMPLE_CHARS - 1] + "\u2026"
