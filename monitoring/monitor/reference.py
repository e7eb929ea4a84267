"""The reference side of a drift check: the champion, and the data it was trained on.

The champion (``artifacts/champion.json``) names its model folder; the folder's lineage
names the ``gold/documents`` version it was trained from. The reference is a seeded sample
of that version's held-out splits (or its train split: ``monitor.reference``), read with
delta-rs (only the chosen rows' text is read), and the reference vocabulary is learned from
train documents not in the reference, so the share of unknown words is measured on
reference and current alike. The lake's yield (documents kept, and
dropped per clean reason) comes from the same lineage.

Example::

    >>> lake_yield({"data": {"clean": {"documents": {"total": 10, "kept": 7},
    ...                                "dropped_by_reason": {"lang_not_allowed": 3}}}})
    ({'kept': 7, 'lang_not_allowed': 3}, 10)
    >>> pick(["d1", "d2", "d3", "d4", "d5"], first=2, second=2, seed=0)
    (['d3', 'd5'], ['d1', 'd4'])
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlake.stage import MissingInput, StageError


@dataclass(frozen=True)
class Champion:
    folder: Path
    run: str
    weights_sha256: str
    lineage: dict[str, Any]

    @property
    def gold(self) -> dict[str, Any]:
        """``{"path", "version"}`` of the gold/documents it was trained from."""
        info = self.lineage.get("upstream", {}).get("gold/documents")
        if not info:
            raise StageError(f"{self.folder}/lineage.json names no gold/documents version: "
                             "a drift check needs the champion's training data")
        return info


def champion(artifacts: str | Path) -> Champion:
    """The promoted model; :class:`MissingInput` before the first promotion."""
    from training.checkpoint import LINEAGE, read_champion

    pointer = read_champion(artifacts)
    if pointer is None:
        raise MissingInput(f"no champion in {artifacts}: drift is measured against the "
                           "promoted model's data; make one with `llmlake promote`")
    folder = Path(pointer["model"])
    if not (folder / LINEAGE).exists():
        raise StageError(f"champion {folder}: no {LINEAGE} (was the folder removed?)")
    lineage = json.loads((folder / LINEAGE).read_text())
    return Champion(folder, pointer.get("run", ""), pointer.get("weights_sha256", ""), lineage)


def pick(ids: list[str], first: int, second: int, seed: int) -> tuple[list[str], list[str]]:
    """Two disjoint seeded samples of ``ids`` (each sorted), of up to ``first`` and
    ``second`` ids; the same ids give the same samples on every run."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(ids))
    chosen = [ids[i] for i in order]
    return sorted(chosen[:first]), sorted(chosen[first:first + second])


def reference_texts(gold: dict[str, Any], reference: str, docs: int, vocab_docs: int,
                    seed: int) -> tuple[list[str], list[str], list[str]]:
    """(reference ids, reference texts, vocabulary texts): the reference from gold's
    held-out splits (val, test) or its train split, the vocabulary from train."""
    import pyarrow.dataset as pads

    from llmlake.storage import open_table

    dataset = open_table(gold["path"], version=gold["version"]).to_pyarrow_dataset()

    def ids_of(splits: list[str]) -> list[str]:
        table = dataset.to_table(columns=["doc_id"], filter=pads.field("split").isin(splits))
        return sorted(table.column("doc_id").to_pylist())

    train = ids_of(["train"])
    held = ids_of(["val", "test"]) if reference == "heldout" else train
    if not held or not train:
        raise StageError(f"{gold['path']}@{gold['version']}: no "
                         f"{'held-out' if not held else 'train'} documents to compare with")
    if reference == "heldout":
        (ref_ids, _), (_, vocab_ids) = pick(held, docs, 0, seed), pick(train, 0, vocab_docs, seed)
    else:
        ref_ids, vocab_ids = pick(train, docs, vocab_docs, seed)

    def texts(wanted: list[str]) -> list[str]:
        rows = dataset.to_table(columns=["doc_id", "text"],
                                filter=pads.field("doc_id").isin(wanted)).to_pylist()
        by_id = {r["doc_id"]: r["text"] or "" for r in rows}
        return [by_id[i] for i in wanted]

    return ref_ids, texts(ref_ids), texts(vocab_ids)


def lake_yield(lineage: dict[str, Any]) -> tuple[dict[str, int], int]:
    """Counts of documents the clean stage kept and dropped per reason, and their total,
    as of the champion's data; ({}, 0) when its lineage does not say."""
    clean = lineage.get("data", {}).get("clean", {})
    total = int(clean.get("documents", {}).get("total") or 0)
    if not total:
        return {}, 0
    counts = {"kept": int(clean["documents"].get("kept") or 0)}
    return counts | {r: int(n) for r, n in sorted(clean.get("dropped_by_reason", {}).items())}, total
