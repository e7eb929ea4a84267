"""Export ``gold/sequences`` as flat token shards (``artifacts/shards/<split>.bin`` + ``.json``).

Reads the Delta table with delta-rs (no JVM) and writes each split's sequences in
``seq_id`` order, the deterministic shuffle the tokenize stage chose. The files are filled
through memory maps, batch by batch, at each sequence's rank, so memory stays at one
Arrow batch (plus the sorted ``seq_id`` keys) however large the split. The header
(:class:`llmlake.shards.ShardHeader`) records dtype, vocabulary size, tokenizer hash,
token count and the Delta version read; a training job then needs only numpy
(:func:`llmlake.shards.open_shard`).

Run it as ``llmlake etl export-shards`` or ``spark-submit etl/export_shards/stage.py``.

Example::

    >>> report = run(load_params("params.yaml"))          # doctest: +SKIP
    >>> report["splits"]["val"]["sequences"]               # doctest: +SKIP
    261
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmlake.config import Params
from llmlake.lake import SPLITS, write_json
from llmlake.log import get_logger
from llmlake.shards import ShardHeader, dtype_for
from llmlake.stage import stage_shell

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    from tokenizers import Tokenizer

log = get_logger(__name__)


class ShardError(ValueError):
    """The sequences table does not fit the shard format (wrong lengths, ids, keys)."""


def export_splits(dataset: ds.Dataset, splits: tuple[str, ...], seq_len: int,
                  vocab_size: int, folder: Path) -> dict[str, int]:
    """Write each split's sequences to ``<split>.bin`` in ``seq_id`` order; returns how many.

    Splits are interleaved in the table's files, so all of them are filled in one scan of
    the tokens rather than one scan per split. No ``.bin`` is replaced unless all are good.
    """
    import pyarrow.compute as pc

    keys = dataset.to_table(columns=["split", "seq_id"])
    ids = {}
    for split in splits:
        ids[split] = np.sort(keys.filter(pc.equal(keys.column("split"), split))
                             .column("seq_id").to_numpy())
        if len(ids[split]) and (np.diff(ids[split]) == 0).any():
            raise ShardError(f"{split}: seq_id is not unique")
    del keys
    dtype = np.dtype(dtype_for(vocab_size)).newbyteorder("<")
    tmps = {split: folder / f".{split}.bin.tmp" for split in splits}
    outs = {}
    try:
        for split in splits:
            if len(ids[split]) == 0:
                tmps[split].write_bytes(b"")
            else:
                outs[split] = np.memmap(tmps[split], dtype=dtype, mode="w+",
                                        shape=(len(ids[split]), seq_len))
        for batch in dataset.to_batches(columns=["split", "seq_id", "tokens"]):
            for split, out in outs.items():
                mine = batch.filter(pc.equal(batch.column("split"), split))
                rows = np.searchsorted(ids[split], mine.column("seq_id").to_numpy())
                out[rows] = _checked(mine.column("tokens"), split, seq_len, vocab_size)
        for out in outs.values():
            out.flush()
    except BaseException:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
        raise
    finally:
        outs.clear()
    for split, tmp in tmps.items():
        os.replace(tmp, folder / f"{split}.bin")
    return {split: len(ids[split]) for split in splits}


def _checked(tokens: Any, split: str, seq_len: int, vocab_size: int) -> np.ndarray:
    lengths = np.diff(tokens.offsets.to_numpy())
    if (lengths != seq_len).any():
        raise ShardError(f"{split}: a sequence has {lengths[lengths != seq_len][0]} tokens, "
                         f"not {seq_len}")
    flat = tokens.flatten().to_numpy()
    if len(flat) and (flat.min() < 0 or flat.max() >= vocab_size):
        raise ShardError(f"{split}: token id outside [0, {vocab_size})")
    return flat.reshape(-1, seq_len)


def run(params: Params) -> dict[str, Any]:
    from llmlake.storage import open_table
    from llmlake.tokenizer import TOKENIZER_FILE, file_hash, load

    with stage_shell("export_shards", params) as sh:
        version = sh.require("gold/sequences")
        source = sh.table("gold/sequences")
        tok_path = sh.require_artifact("tokenizer", TOKENIZER_FILE) / TOKENIZER_FILE
        tok, tok_hash = load(tok_path), file_hash(tok_path)
        table = open_table(source, version=version)
        folder = sh.lake.artifact("shards")
        folder.mkdir(parents=True, exist_ok=True)
        seq_len, vocab = params.train.context + 1, tok.get_vocab_size()
        with sh.step("export"):
            counts = export_splits(table.to_pyarrow_dataset(), SPLITS, seq_len, vocab, folder)
        splits = {split: write_header(folder, split, n, tok, tok_hash, seq_len, source, version)
                  for split, n in counts.items()}
        metrics = {"delta_version": version, "seq_len": seq_len, "dtype": dtype_for(vocab),
                   "splits": splits}
        return sh.finish(metrics, lineage={"artifact": "artifacts/shards"})


def write_header(folder: Path, split: str, n: int, tok: Tokenizer, tok_hash: str,
                 seq_len: int, source: str, version: int) -> dict[str, Any]:
    """The JSON header beside a split's ``.bin``, written after it: a header always
    describes a complete file."""
    from llmlake.tokenizer import EOS, PAD

    vocab = tok.get_vocab_size()
    header = ShardHeader(
        split=split, dtype=dtype_for(vocab), vocab_size=vocab, seq_len=seq_len,
        sequences=n, tokens=n * seq_len, eos_id=tok.token_to_id(EOS),
        pad_id=tok.token_to_id(PAD), tokenizer_sha256=tok_hash, source=source,
        delta_version=version)
    write_json(folder / header.header_file, asdict(header))
    log.info("export-shards: %s: %d sequences (%s)", split, n, header.dtype)
    return {"sequences": n, "tokens": n * seq_len, "file": header.data_file}


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("export_shards")
