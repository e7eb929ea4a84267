"""The held-out text every ablation run is scored on, prepared once.

Gold's ``test`` split (at the version the dedup stage recorded; ``ablate.eval_docs`` > 0
keeps a seeded sample) is cut into scoring windows the way ``llmlake evaluate`` cuts it
(:func:`training.evaluate.corpus.document_items`, half-context stride), and the built-in
next-sentence task is drawn from it with ``evaluate``'s settings. Gold's ``val`` split,
packed into sequences, is the loop's validation slice. No variant trains on either split
nor on a copy of one of their documents (:func:`training.ablate.variants.held_out_ids`).

Example::

    >>> pack([[1, 2, 3], [4]], eos_id=0, seq_len=3).tolist()
    [[1, 2, 3], [0, 4, 0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from llmlake.config import Params
from training.ablate.build import LakeRows
from training.ablate.runs import HeldOut


def pack(encoded: Sequence[Sequence[int]], eos_id: int, seq_len: int) -> np.ndarray:
    """Documents joined by end-of-text, cut into whole rows of ``seq_len`` tokens (at least
    one row, padded with end-of-text when the text is shorter)."""
    stream = [t for ids in encoded for t in (*ids, eos_id)]
    rows = max(1, len(stream) // seq_len)
    stream = stream + [eos_id] * max(0, rows * seq_len - len(stream))
    return np.asarray(stream[:rows * seq_len], dtype=np.int64).reshape(rows, seq_len)


def held_out(lake: LakeRows, tok: Any, context: int, params: Params) -> HeldOut:
    from llmlake.tokenizer import EOS
    from training.evaluate.corpus import document_items
    from training.evaluate.tasks import next_sentence_task

    cfg, ev = params.ablate, params.evaluate
    test = sorted((d.doc_id, d.text) for d in lake.gold.values() if d.split == "test")
    if not test:
        raise ValueError("gold/documents has no test split to score the variants on")
    if cfg.eval_docs and len(test) > cfg.eval_docs:
        pick = np.random.default_rng(cfg.seed).choice(len(test), cfg.eval_docs, replace=False)
        test = [test[i] for i in sorted(pick)]
    eos = tok.token_to_id(EOS)
    encoded = [e.ids for e in tok.encode_batch_fast([t for _, t in test],
                                                    add_special_tokens=False)]
    items, owners = document_items(encoded, eos, context, max(1, context // 2))
    val = sorted(d.text for d in lake.gold.values() if d.split == "val") or [t for _, t in test]
    val_ids = [e.ids for e in tok.encode_batch_fast(val, add_special_tokens=False)]
    return HeldOut(
        items=items, owners=np.asarray(owners, dtype=np.int64),
        nbytes=np.array([len(t.encode("utf-8")) for _, t in test], dtype=np.float64),
        examples=next_sentence_task(test, cfg.task_examples, ev.task_choices, ev.seed),
        val=pack(val_ids, eos, context + 1))
