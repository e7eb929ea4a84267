"""Export ``gold/sequences`` as flat token shards (``artifacts/shards/<split>.bin`` + ``.json``).

Reads the Delta table with delta-rs (no JVM) and writes each split's sequences in
``seq_id`` order, the deterministic shuffle the tokenize stage chose. The file is filled
through a memory map, batch by batch, at each sequence's rank, so memory stays at one
Arrow batch however large the split. The header (:class:`llmlake.shards.ShardHeader`)
records dtype, vocabulary size, tokenizer hash, token count and the Delta version read;
a training job then needs only numpy (:func:`llmlake.shards.open_shard`).

Run it as ``llmlake etl export-shards``.

Example::

    >>> report = run(load_params("params.yaml"))          # doctest: +SKIP
    >>> report["splits"]["val"]["sequences"]               # doctest: +SKIP
    261
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from etl.suites import SPLITS
from llmlake.config import Params
from llmlake.lake import Lake, write_json
from llmlake.log import get_logger
from llmlake.shards import ShardHeader, dtype_for

if TYPE_CHECKING:
    import pyarrow.dataset as ds

log = get_logger(__name__)


class ShardError(ValueError):
    """The sequences table does not fit the shard format (wrong lengths, ids, keys)."""


def export_split(dataset: ds.Dataset, split: str, seq_len: int, vocab_size: int,
                 path: Path) -> int:
    """Write one split's sequences to ``path`` in ``seq_id`` order; returns how many."""
    import pyarrow.compute as pc

    where = pc.field("split") == split
    ids = np.sort(dataset.to_table(columns=["seq_id"], filter=where)
                  .column("seq_id").to_numpy())
    if len(ids) and (np.diff(ids) == 0).any():
        raise ShardError(f"{split}: seq_id is not unique")
    dtype = np.dtype(dtype_for(vocab_size)).newbyteorder("<")
    tmp = path.with_name(f".{path.name}.tmp")
    if len(ids) == 0:
        tmp.write_bytes(b"")
    else:
        out = np.memmap(tmp, dtype=dtype, mode="w+", shape=(len(ids), seq_len))
        try:
            for batch in dataset.to_batches(columns=["seq_id", "tokens"], filter=where):
                rows = np.searchsorted(ids, batch.column("seq_id").to_numpy())
                out[rows] = _checked(batch.column("tokens"), split, seq_len, vocab_size)
            out.flush()
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            del out
    os.replace(tmp, path)
    return len(ids)


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
    from deltalake import DeltaTable

    from etl.tokenizer import EOS, PAD, file_hash, load

    started = time.time()
    lake = Lake(params.lake)
    source = lake.table("gold/sequences")
    tok_path = lake.artifact("tokenizer") / "tokenizer.json"
    tok = load(tok_path)
    table = DeltaTable(source)
    version = table.version()
    dataset = table.to_pyarrow_dataset()
    folder = lake.artifact("shards")
    folder.mkdir(parents=True, exist_ok=True)
    seq_len, vocab = params.train.context + 1, tok.get_vocab_size()
    splits = {}
    for split in SPLITS:
        n = export_split(dataset, split, seq_len, vocab, folder / f"{split}.bin")
        header = ShardHeader(
            split=split, dtype=dtype_for(vocab), vocab_size=vocab, seq_len=seq_len,
            sequences=n, tokens=n * seq_len, eos_id=tok.token_to_id(EOS),
            pad_id=tok.token_to_id(PAD), tokenizer_sha256=file_hash(tok_path), source=source,
            delta_version=version)
        # After the .bin is in place: a header always describes a complete file.
        write_json(folder / header.header_file, asdict(header))
        splits[split] = {"sequences": n, "tokens": n * seq_len, "file": str(folder / f"{split}.bin")}
        log.info("export-shards: %s: %d sequences (%s)", split, n, header.dtype)
    report = {"source": source, "delta_version": version, "seq_len": seq_len,
              "dtype": dtype_for(vocab), "splits": splits,
              "seconds": round(time.time() - started, 2)}
    lake.write_report("shards.json", report)
    lake.write_lineage("export_shards", {source: {"version": version}}, folder=str(folder))
    return report
