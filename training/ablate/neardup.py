"""Deduplicate a few new documents against documents already kept, in one process (pure).

The ablation needs dedup twice without rerunning the Spark stage: documents that a
turned-off filter lets through must be deduplicated as the dedup stage would have (against
gold and against each other), and documents dedup never saw (silver's dropped rows in
``raw``) must not be copies of a held-out document. Both are the dedup stage's rules, with
its settings (``dedup`` params) and its signatures (:mod:`etl.dedup.minhash`): the same
normalized-text hash for exact copies, LSH bands for candidates, the exact Jaccard of
shingle sets against ``dedup.threshold`` when ``dedup.verify`` is on.

New documents are taken in ``doc_id`` order and the first of a group of copies is kept
(the stage keeps the earliest ``fetched_at`` first; for a training sample either copy
serves). ``dedup.url_dedup`` is not applied: these are texts, not pages.

Example::

    >>> from llmlake.config import DedupConfig
    >>> text = " ".join(f"word{i}" for i in range(60))
    >>> found = find_copies({"g1": text}, {"n1": text + " more", "n2": "fresh words " * 9,
    ...                                    "n3": "fresh words " * 9}, DedupConfig())
    >>> sorted(found.items())
    [('n1', ('g1', 'near')), ('n3', ('n2', 'exact'))]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from etl.dedup.minhash import MinHasher, batch, exact_jaccard
from llmlake.config import DedupConfig


class _Index:
    """Kept documents by exact-dedup key and by LSH band bucket."""

    def __init__(self, cfg: DedupConfig) -> None:
        self.cfg = cfg
        self.hasher = MinHasher(cfg.bands, cfg.rows, cfg.seed)
        self.by_hash: dict[str, str] = {}
        self.buckets: dict[tuple[int, int], list[str]] = {}
        self.shingles: dict[str, np.ndarray] = {}

    def signatures(self, texts: Mapping[str, str]) -> tuple[list[str], dict]:
        ids = sorted(texts)
        return ids, batch([texts[i] for i in ids], self.hasher, self.cfg.ngram)

    def add(self, doc_id: str, text_hash: str, bands: np.ndarray, sh: np.ndarray) -> None:
        self.by_hash.setdefault(text_hash, doc_id)
        if sh.size:  # documents without shingles share every band: never band them
            for b, h in enumerate(bands.tolist()):
                self.buckets.setdefault((b, h), []).append(doc_id)
            self.shingles[doc_id] = sh

    def match(self, text_hash: str, bands: np.ndarray, sh: np.ndarray) -> tuple[str, str] | None:
        if (same := self.by_hash.get(text_hash)) is not None:
            return same, "exact"
        if not sh.size:
            return None
        candidates = sorted({d for b, h in enumerate(bands.tolist())
                             for d in self.buckets.get((b, h), ())})
        for other in candidates:
            if not self.cfg.verify or exact_jaccard(sh, self.shingles[other]) >= self.cfg.threshold:
                return other, "near"
        return None


def find_copies(kept: Mapping[str, str], new: Mapping[str, str], cfg: DedupConfig,
                among_new: bool = True) -> dict[str, tuple[str, str]]:
    """``{new doc_id: (the document it copies, "exact" | "near")}`` for every new document
    that copies a kept one or (``among_new``) an earlier new one; new documents missing
    here are kept."""
    index = _Index(cfg)
    ids, sig = index.signatures(kept)
    for i, doc_id in enumerate(ids):
        index.add(doc_id, sig["text_hashes"][i], sig["band_hashes"][i], sig["shingles"][i])
    found: dict[str, tuple[str, str]] = {}
    ids, sig = index.signatures(new)
    for i, doc_id in enumerate(ids):
        args = (sig["text_hashes"][i], sig["band_hashes"][i], sig["shingles"][i])
        if (hit := index.match(*args)) is not None:
            found[doc_id] = hit
        elif among_new:
            index.add(doc_id, *args)
    return found
