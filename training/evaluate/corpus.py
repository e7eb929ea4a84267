"""Held-out documents: perplexity, bits per byte and next-token accuracy, and their breakdowns.

The documents are gold's val and test splits at the version the model's lineage names,
each with its language and the source format it was ingested from (``warc``, ``wet``,
``jsonl``, ``parquet``: bronze at its lineage version). A document is scored as the
model saw documents in training: after the ``<|endoftext|>`` that separates documents,
every one of its tokens predicted from those before it (:func:`score.windows` when it is
longer than the context). Then, for a split and for each language and source in it:

* ``perplexity`` = exp(total NLL / tokens): per token, so it depends on the tokenizer;
* ``bits_per_byte`` = total NLL / (ln 2 x UTF-8 bytes of the text): the same quantity
  per byte of text, comparable across tokenizers (the end-of-document token is not
  predicted, so the bytes are exactly the text's);
* ``accuracy``: the share of tokens that were the model's top prediction.

:func:`read_documents` is the only I/O (delta-rs, no JVM); :func:`document_items` and
:func:`corpus_signals` are pure.

Example::

    >>> import numpy as np
    >>> from training.evaluate.score import Scores
    >>> docs = [Doc("a", "val", "en", "warc", "hi"), Doc("b", "val", "de", "jsonl", "hallo")]
    >>> scores = Scores(nll=np.array([1.0, 2.0]), tokens=np.array([2, 3]),
    ...                 correct=np.array([1, 1]))
    >>> report = corpus_signals(docs, scores, owners=[0, 1])
    >>> report["val"]["tokens"], round(report["val"]["perplexity"], 4)
    (5, 1.8221)
    >>> sorted(report["val"]["by_source"])
    ['jsonl', 'warc']
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.evaluate.score import Item, Scores, score, windows


@dataclass(frozen=True)
class Doc:
    doc_id: str
    split: str
    lang: str
    source: str
    text: str


def read_documents(gold: str, gold_version: int, bronze: str | None,
                   bronze_version: int | None, splits: Sequence[str], max_docs: int,
                   seed: int) -> list[Doc]:
    """Gold documents of ``splits`` at that version, with their bronze source format
    (``unknown`` when bronze is not given or no longer holds the document). ``max_docs``
    > 0 keeps a seeded sample of each split, the same on every run."""
    import pyarrow.dataset as pads

    from llmlake.storage import open_table

    dataset = open_table(gold, version=gold_version).to_pyarrow_dataset()
    table = dataset.to_table(columns=["doc_id", "split", "lang", "text"],
                             filter=pads.field("split").isin(list(splits)))
    rows = sorted(table.to_pylist(), key=lambda r: (r["split"], r["doc_id"]))
    if max_docs:
        rows = _sample(rows, max_docs, seed)
    sources = _sources(bronze, bronze_version, [r["doc_id"] for r in rows])
    return [Doc(r["doc_id"], r["split"], r["lang"] or "unknown",
                sources.get(r["doc_id"], "unknown"), r["text"] or "") for r in rows]


def _sample(rows: list[dict[str, Any]], per_split: int, seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    out = []
    for split in sorted({r["split"] for r in rows}):
        mine = [r for r in rows if r["split"] == split]
        keep = sorted(rng.permutation(len(mine))[:per_split])
        out.extend(mine[i] for i in keep)
    return out


def _sources(bronze: str | None, version: int | None, doc_ids: list[str]) -> dict[str, str]:
    if not bronze or version is None or not doc_ids:
        return {}
    import pyarrow.dataset as pads

    from llmlake.storage import open_table

    dataset = open_table(bronze, version=version).to_pyarrow_dataset()
    table = dataset.to_table(columns=["doc_id", "source"],
                             filter=pads.field("doc_id").isin(doc_ids))
    return dict(zip(table.column("doc_id").to_pylist(), table.column("source").to_pylist(),
                    strict=True))


def document_items(encoded: Sequence[Sequence[int]], eos_id: int, context: int,
                   stride: int) -> tuple[list[Item], list[int]]:
    """Windows scoring each document's tokens after an ``eos_id``, and the document index
    each window belongs to. An empty document has no window (and so no tokens)."""
    items: list[Item] = []
    owners: list[int] = []
    for i, ids in enumerate(encoded):
        if not ids:
            continue
        mine = windows([eos_id, *ids], context, stride)
        items.extend(mine)
        owners.extend([i] * len(mine))
    return items, owners


def evaluate_documents(model: Any, tok: Any, docs: Sequence[Doc], eos_id: int,
                       batch_size: int, stride: int, device: Any,
                       desc: str = "evaluate documents") -> dict[str, Any]:
    """Encode, window, score (with a progress bar over windows) and sum up:
    :func:`corpus_signals` of ``docs`` under ``model`` (``stride`` 0 = half the context)."""
    from llmlake.log import progress_bar

    encoded = [e.ids for e in tok.encode_batch([d.text for d in docs],
                                               add_special_tokens=False)]
    context = model.config.context
    items, owners = document_items(encoded, eos_id, context, stride or max(1, context // 2))
    with progress_bar(len(items), desc, unit="window") as bar:
        scores = score(model, items, batch_size, device, on_batch=bar.update)
    return corpus_signals(docs, scores, owners)


def corpus_signals(docs: Sequence[Doc], scores: Scores, owners: Sequence[int]
                   ) -> dict[str, Any]:
    """Per split: the totals and the metrics, then the same by language and by source."""
    per_doc = np.zeros((len(docs), 3))  # nll, tokens, correct
    np.add.at(per_doc, np.asarray(owners, dtype=np.int64),
              np.stack([scores.nll, scores.tokens, scores.correct], axis=1))
    nbytes = np.array([len(d.text.encode("utf-8")) for d in docs], dtype=np.float64)
    report: dict[str, Any] = {}
    for split in sorted({d.split for d in docs}):
        rows = [i for i, d in enumerate(docs) if d.split == split]
        report[split] = {
            **_metrics(per_doc[rows], nbytes[rows]),
            "by_lang": _grouped(docs, rows, per_doc, nbytes, lambda d: d.lang),
            "by_source": _grouped(docs, rows, per_doc, nbytes, lambda d: d.source),
        }
    return report


def _grouped(docs: Sequence[Doc], rows: list[int], per_doc: np.ndarray, nbytes: np.ndarray,
             key: Any) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[int]] = {}
    for i in rows:
        groups.setdefault(key(docs[i]), []).append(i)
    return {name: _metrics(per_doc[idx], nbytes[idx]) for name, idx in sorted(groups.items())}


def _metrics(per_doc: np.ndarray, nbytes: np.ndarray) -> dict[str, Any]:
    nll, tokens, correct = (float(x) for x in per_doc.sum(axis=0))
    total_bytes = float(nbytes[per_doc[:, 1] > 0].sum())  # documents that were scored
    return {
        "documents": int((per_doc[:, 1] > 0).sum()),
        "tokens": int(tokens),
        "bytes": int(total_bytes),
        "nll": round(nll, 4),
        "loss": nll / tokens if tokens else None,
        "perplexity": math.exp(nll / tokens) if tokens else None,
        "bits_per_byte": nll / (math.log(2) * total_bytes) if total_bytes else None,
        "accuracy": correct / tokens if tokens else None,
    }
