"""Continued pretraining data: a ``gold/sequences`` table to the rows a run trains on.

``finetune.data`` names the table, or a lake root holding ``gold/sequences`` (a domain
corpus run through the same ETL, with ``tokenizer.reuse`` set to the model so its ids are
the model's). :func:`locate` finds it and the tokenize stage's record of it
(``reports/lineage/tokenize.json``: the table's path, its version and the tokenizer's
sha256), looked for in this lake's reports, in ``<root>/reports`` and in a ``reports``
folder beside the root; the record pins the version, and a table tokenized with another
tokenizer than the model's is refused. Without a record the latest version is read and
only ids beyond the model's vocabulary are caught (:func:`write_corpus`).

:func:`write_corpus` copies the table's ``train`` and ``val`` rows, in ``seq_id`` order and
cut to the model's ``context + 1`` tokens, into the arrays the workers memory-map
(:func:`training.data.array_split`; no mask: every non-padding target counts). A table
with no ``val`` rows gives up its last ``finetune.val_fraction`` of train rows (a contiguous
tail: packed rows run on across documents, so a random pick would split documents).

Example::

    >>> import tempfile
    >>> locate(tempfile.mkdtemp(), "reports")
    Traceback (most recent call last):
    ...
    llmlake.stage.StageError: finetune.data: ... is neither a gold/sequences Delta table nor a lake root holding one
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmlake.log import get_logger
from llmlake.stage import StageError

log = get_logger(__name__)

TABLE = "gold/sequences"
CHUNK = 4096  # rows copied at a time


@dataclass(frozen=True)
class Corpus:
    table: str
    version: int
    record: str | None            # the tokenize record naming its tokenizer, if found
    tokenizer_sha256: str | None

    def data_id(self) -> dict[str, Any]:
        return {"table": self.table, "version": self.version,
                "tokenizer": self.tokenizer_sha256, "record": self.record}


def _is_table(path: str) -> bool:
    from llmlake.storage import table_exists

    return table_exists(path)


def _same_table(recorded: str, table: str, base: Path) -> bool:
    """Whether a record's (maybe relative) table path is ``table``: relative to the working
    directory the stage ran in, or to the folder holding the lake and its reports."""
    if "://" in table or "://" in recorded:
        return recorded.rstrip("/") == table.rstrip("/")
    target = Path(table).resolve()
    return any((root / recorded).resolve() == target for root in (Path.cwd(), base))


def _record(table: str, reports: str) -> tuple[str, dict[str, Any]] | None:
    root = table.rstrip("/").removesuffix(TABLE).rstrip("/") or "."
    candidates = [Path(reports), Path(root) / "reports", Path(root).parent / "reports"]
    for folder in candidates if "://" not in root else [Path(reports)]:
        path = folder / "lineage" / "tokenize.json"
        if not path.exists():
            continue
        record = json.loads(path.read_text())
        recorded = record.get("tables", {}).get(TABLE, {})
        if recorded.get("path") and _same_table(recorded["path"], table, folder.parent):
            return str(path), record
    return None


def locate(data: str, reports: str) -> Corpus:
    """The table ``finetune.data`` names, its version and recorded tokenizer."""
    from llmlake.storage import open_table

    table = data if _is_table(data) else f"{data.rstrip('/')}/{TABLE}"
    if not _is_table(table):
        raise StageError(f"finetune.data: {data} is neither a {TABLE} Delta table nor a "
                         "lake root holding one")
    found = _record(table, reports)
    if found is None:
        log.warning("finetune: no tokenize record names %s; reading its latest version and "
                    "checking only that its ids fit the model's vocabulary", table)
        return Corpus(table, open_table(table).version(), None, None)
    path, record = found
    return Corpus(table, record["tables"][TABLE]["version"], path,
                  record.get("tokenizer_sha256"))


def check_tokenizer(corpus: Corpus, tok_hash: str, tokenizer: Path) -> None:
    if corpus.tokenizer_sha256 and corpus.tokenizer_sha256 != tok_hash:
        raise StageError(
            f"finetune.data: {corpus.table} was tokenized with another tokenizer "
            f"(sha256 {corpus.tokenizer_sha256[:12]}, {corpus.record}) than the model's "
            f"({tok_hash[:12]}, {tokenizer}); tokenize it with tokenizer.reuse set to the model")


def _dataset(corpus: Corpus) -> Any:
    from llmlake.storage import open_table

    try:
        dataset = open_table(corpus.table, version=corpus.version).to_pyarrow_dataset()
    except Exception as exc:  # delta-rs: a vacuumed or missing version
        raise StageError(f"finetune.data: cannot read {corpus.table} version "
                         f"{corpus.version}: {exc}") from exc
    missing = [c for c in ("seq_id", "split", "tokens") if c not in dataset.schema.names]
    if missing:
        raise StageError(f"finetune.data: {corpus.table} has no column {', '.join(missing)}: "
                         "not a sequences table")
    return dataset


def _split(dataset: Any, split: str) -> Any:
    """A split's rows in ``seq_id`` order (:class:`training.data.Sequences`), or None."""
    import pyarrow.dataset as pads

    from training.data import collect_rows

    where = pads.field("split") == split
    count = dataset.count_rows(filter=where)
    if count == 0:
        return None
    first = dataset.head(1, columns=["tokens"], filter=where).column("tokens")[0]
    batches = dataset.to_batches(columns=["seq_id", "tokens"], filter=where)
    try:
        return collect_rows(batches, split, len(first), count)
    except ValueError as exc:
        raise StageError(f"finetune.data: {exc}") from exc


def _copy(seqs: Any, ranks: np.ndarray, path: Path, seq_len: int, pad_id: int) -> dict[str, int]:
    """Rows ``ranks`` of ``seqs``, cut to ``seq_len``, into a ``.npy`` file; their counts."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint32,
                                    shape=(len(ranks), seq_len))
    top = real = 0
    for start in range(0, len(ranks), CHUNK):
        block = seqs.take(ranks[start:start + CHUNK])[:, :seq_len]
        out[start:start + len(block)] = block
        top = max(top, int(block.max()))
        real += int((block != pad_id).sum())
    out.flush()
    return {"rows": len(ranks), "max_id": top, "tokens": real, "pad": len(ranks) * seq_len - real}


def write_corpus(corpus: Corpus, folder: Path, seq_len: int, vocab: int, pad_id: int,
                 val_fraction: float, seed: int) -> dict[str, Any]:
    """The train and val arrays in ``folder`` (see the module doc); their counts."""
    from training.data import ARRAY_TOKENS
    from training.finetune.sft import split_indices

    dataset = _dataset(corpus)
    train, val = _split(dataset, "train"), _split(dataset, "val")
    if train is None:
        raise StageError(f"finetune.data: {corpus.table} version {corpus.version} has no "
                         "train rows")
    if train.seq_len < seq_len or (val is not None and val.seq_len < seq_len):
        short = min(train.seq_len, val.seq_len if val is not None else train.seq_len)
        raise StageError(f"finetune.data: the sequences of {corpus.table} hold {short} tokens; "
                         f"the model's context {seq_len - 1} needs {seq_len}")
    everything = np.arange(len(train))
    if val is not None:
        parts, val_from = {"train": (train, everything), "val": (val, np.arange(len(val)))}, "table"
    else:
        # The last sequences in seq_id order: packed rows run on from one document into the
        # next, so a random pick would put pieces of one document on both sides.
        held_n = len(split_indices(len(train), val_fraction, seed)[1])
        kept, held = everything[:len(train) - held_n], everything[len(train) - held_n:]
        val_from = "held_out" if held_n else "train"
        parts = {"train": (train, kept), "val": (train, held if held_n else everything)}
    stats = {name: _copy(seqs, ranks, folder / ARRAY_TOKENS.format(split=name), seq_len, pad_id)
             for name, (seqs, ranks) in parts.items()}
    top = max(s["max_id"] for s in stats.values())
    if top >= vocab:
        raise StageError(f"finetune.data: {corpus.table} holds token id {top}, but the model "
                         f"reads {vocab} ids: it was tokenized with another tokenizer")
    return {"splits": stats, "val_from": val_from, "table_seq_len": train.seq_len}
