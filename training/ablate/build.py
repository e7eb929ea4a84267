"""Build each ablation variant's documents from the lake at the recorded versions.

:func:`read_lake` reads what every variant is made of through delta-rs (no JVM): silver's
rows with their verdicts, gold with its splits, gold's removed duplicates, and, only for
the rows a turned-off filter must clean again, their bronze payloads. :func:`build` turns
that into one :class:`Variant` per name, following :mod:`training.ablate.variants`; the
clean stage's pure core (:func:`etl.clean.document.clean_document`) reruns with the step
off, and :mod:`training.ablate.neardup` deduplicates what it lets through.

Example::

    >>> lake = LakeRows(silver={"a": ("text a", None), "b": ("spam", "gopher_short_doc")},
    ...                 gold={"a": GoldDoc("a", "train", "text a")}, duplicates=[])
    >>> v = build(lake, ["raw", "curated"], CleanConfig(), DedupConfig())
    >>> sorted(v["raw"].docs), sorted(v["curated"].docs)
    (['a', 'b'], ['a'])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import xxhash

from llmlake.config import DedupConfig
from llmlake.config_clean import CleanConfig
from training.ablate.neardup import find_copies
from training.ablate.variants import (
    HELD_OUT,
    Duplicate,
    GoldDoc,
    held_out_ids,
    kind_of,
    needs_reclean,
    step_off,
)

# (raw, content_type, url) of a bronze document
Payload = tuple[str | None, str | None, str | None]


@dataclass
class LakeRows:
    silver: dict[str, tuple[str | None, str | None]]   # doc_id -> (text, drop_reason)
    gold: dict[str, GoldDoc]
    duplicates: list[Duplicate]
    # Bronze payloads by doc_id, read on demand (only rows a filter variant cleans again).
    payloads: Callable[[set[str]], dict[str, Payload]] = lambda ids: {}


@dataclass
class Variant:
    name: str
    docs: dict[str, str]                    # doc_id -> the text trained on
    # Documents left out as copies of held-out ones that dedup's clusters did not name.
    held_out_copies: int = 0
    notes: list[str] = field(default_factory=list)

    def fingerprint(self) -> str:
        """Equal for two variants with the same documents and texts."""
        h = xxhash.xxh3_128()
        for doc_id in sorted(self.docs):
            h.update(doc_id.encode())
            h.update(xxhash.xxh3_64_digest(self.docs[doc_id].encode("utf-8", "replace")))
        return h.hexdigest()


def read_lake(tables: Mapping[str, Mapping[str, Any]]) -> LakeRows:
    """The rows at the versions in ``tables`` (``{"silver/documents": {path, version}}``)."""
    silver = _rows(tables["silver/documents"], ["doc_id", "text", "drop_reason"])
    gold = _rows(tables["gold/documents"], ["doc_id", "split", "text"])
    dups = _rows(tables["gold/duplicates"], ["doc_id", "cluster_id", "match"])
    bronze = tables["bronze/documents"]

    def payloads(ids: set[str]) -> dict[str, Payload]:
        rows = _rows(bronze, ["doc_id", "raw", "content_type", "url"], ids=ids)
        return {r["doc_id"]: (r["raw"], r["content_type"], r["url"]) for r in rows}

    return LakeRows(
        silver={r["doc_id"]: (r["text"], r["drop_reason"]) for r in silver},
        gold={r["doc_id"]: GoldDoc(r["doc_id"], r["split"], r["text"]) for r in gold},
        duplicates=[Duplicate(r["doc_id"], r["cluster_id"], r["match"]) for r in dups],
        payloads=payloads)


def _rows(table: Mapping[str, Any], columns: list[str], ids: set[str] | None = None
          ) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.dataset as pads

    from llmlake.storage import open_table

    if ids is not None and not ids:
        return []
    dataset = open_table(table["path"], version=table["version"]).to_pyarrow_dataset()
    where = None if ids is None else pads.field("doc_id").isin(pa.array(sorted(ids), pa.string()))
    return dataset.to_table(columns=columns, filter=where).to_pylist()


def build(lake: LakeRows, names: Sequence[str], clean: CleanConfig, dedup: DedupConfig
          ) -> dict[str, Variant]:
    """One :class:`Variant` per name, none holding a held-out document or a copy of one."""
    held = held_out_ids(lake.gold.values(), lake.duplicates)
    out = {name: _variant(name, lake, held, clean, dedup) for name in names}
    _drop_held_out_copies(out.values(), lake, held, dedup)
    return out


def _drop_held_out_copies(variants: Iterable[Variant], lake: LakeRows, held: set[str],
                          dedup: DedupConfig) -> None:
    """Dedup's clusters say which documents copy a held-out one, but only among the rows it
    saw, in the form it saw them: a dropped row, a text a turned-off step left unchanged, or
    a copy of a held-out document's removed duplicate is checked here, against held-out
    documents and their removed copies (dedup's rules). Gold's train split needs no check:
    dedup keeps no two copies in gold."""
    index = {d.doc_id: d.text for d in lake.gold.values() if d.doc_id in held}
    index.update({i: t for i, (t, _) in lake.silver.items() if i in held and t and i not in index})
    train = {d.doc_id: d.text for d in lake.gold.values() if d.doc_id not in held}
    for v in variants:
        others = {i: t for i, t in v.docs.items() if train.get(i) != t}
        copies = find_copies(index, others, dedup, among_new=False)
        for doc_id in copies:
            del v.docs[doc_id]
        v.held_out_copies = len(copies)


def _variant(name: str, lake: LakeRows, held: set[str], clean: CleanConfig,
             dedup: DedupConfig) -> Variant:
    kind, step = kind_of(name)
    silver_kept = {i: t for i, (t, reason) in lake.silver.items()
                   if reason is None and t and i not in held}
    if kind == "curated":
        return Variant(name, _train_split(lake))
    if kind == "filtered" or step == "dedup":
        return Variant(name, silver_kept)
    if step == "near_dedup":
        near = {d.doc_id for d in lake.duplicates if d.match == "near"}
        return Variant(name, {**_train_split(lake),
                              **{i: t for i, t in silver_kept.items() if i in near}})
    if kind == "raw":  # every row with text; copies of held-out ones go in build()
        return Variant(name, {i: t for i, (t, _) in lake.silver.items() if t and i not in held})
    return _filter_off(name, step or "", lake, held, clean, dedup)


def _train_split(lake: LakeRows) -> dict[str, str]:
    return {d.doc_id: d.text for d in lake.gold.values() if d.split not in HELD_OUT}


def _filter_off(name: str, step: str, lake: LakeRows, held: set[str], clean: CleanConfig,
                dedup: DedupConfig) -> Variant:
    """Clean again with ``step`` off the rows it can change; keep gold's dedup decisions for
    documents gold already judged, and deduplicate the newly kept ones against gold."""
    from etl.clean.document import clean_document

    again = {i for i, (_, reason) in lake.silver.items()
             if i not in held and needs_reclean(reason, step)}
    cfg = step_off(clean, step)
    cleaned = {i: clean_document(*payload, cfg) for i, payload in lake.payloads(again).items()}
    missing = again - cleaned.keys()
    judged = set(lake.gold) | {d.doc_id for d in lake.duplicates}
    docs = {}
    for doc_id, text in _train_split(lake).items():
        res = cleaned.get(doc_id)
        if res is None or res.kept:
            docs[doc_id] = text if res is None else res.text
    fresh = {i: r.text for i, r in cleaned.items() if r.kept and i not in judged}
    copies = find_copies({d.doc_id: d.text for d in lake.gold.values()}, fresh, dedup)
    docs.update({i: t for i, t in fresh.items() if i not in copies})
    notes = [f"{len(again):,} rows cleaned again with {step} off; {len(fresh):,} newly kept, "
             f"{len(copies):,} of them copies"]
    if missing:
        notes.append(f"{len(missing):,} rows not found in bronze at its version: not cleaned "
                     "again (gold's text kept for its own, new ones left out)")
    return Variant(name, docs, notes=notes)
