"""Token shards: flat binary files of packed sequences that need only numpy to read.

A split's shard is ``<split>.bin``, its sequences back to back (``sequences x seq_len``
ids, little-endian ``uint16`` when the vocabulary fits, else ``uint32``), described by
``<split>.json`` (:class:`ShardHeader`). Training reads them where no Spark, Ray or
deltalake is installed (the GPU machine), so this module imports numpy only.

Example::

    >>> import json, tempfile
    >>> from dataclasses import asdict
    >>> folder = tempfile.mkdtemp()
    >>> header = ShardHeader(split="val", dtype="uint16", vocab_size=8192, seq_len=4,
    ...                      sequences=2, tokens=8, eos_id=0, pad_id=1,
    ...                      tokenizer_sha256="ab", source="lake/gold/sequences",
    ...                      delta_version=3)
    >>> np.arange(8, dtype="<u2").tofile(f"{folder}/val.bin")
    >>> _ = Path(folder, "val.json").write_text(json.dumps(asdict(header)))
    >>> tokens, h = open_shard(folder, "val")
    >>> tokens.shape, int(tokens[1, 0]), h.delta_version
    ((2, 4), 4, 3)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

FORMAT = "llmlake-shard-1"
# Ids below this fit the two-byte dtype.
UINT16_LIMIT = 1 << 16


@dataclass(frozen=True)
class ShardHeader:
    split: str
    dtype: str                 # "uint16" or "uint32", little-endian
    vocab_size: int
    seq_len: int               # tokens per sequence: context + 1
    sequences: int
    tokens: int                # sequences * seq_len, pad tokens included
    eos_id: int
    pad_id: int
    tokenizer_sha256: str
    source: str                # the Delta table the shard was exported from
    delta_version: int
    format: str = FORMAT

    @property
    def data_file(self) -> str:
        return f"{self.split}.bin"

    @property
    def header_file(self) -> str:
        return f"{self.split}.json"


def dtype_for(vocab_size: int) -> str:
    return "uint16" if vocab_size <= UINT16_LIMIT else "uint32"


def read_header(folder: str | Path, split: str) -> ShardHeader:
    path = Path(folder) / f"{split}.json"
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} header (format {data.get('format')!r})")
    known = {f.name for f in fields(ShardHeader)}
    return ShardHeader(**{k: v for k, v in data.items() if k in known})


def open_shard(folder: str | Path, split: str) -> tuple[np.ndarray, ShardHeader]:
    """Memory-map a split's sequences as a ``(sequences, seq_len)`` array, checked against
    its header (a truncated or foreign file is an error, not silently short data)."""
    header = read_header(folder, split)
    path = Path(folder) / header.data_file
    dtype = np.dtype(header.dtype).newbyteorder("<")
    expected = header.sequences * header.seq_len * dtype.itemsize
    if path.stat().st_size != expected:
        raise ValueError(f"{path}: {path.stat().st_size} bytes, header says {expected}")
    if header.sequences == 0:
        return np.zeros((0, header.seq_len), dtype=dtype), header
    tokens = np.memmap(path, dtype=dtype, mode="r", shape=(header.sequences, header.seq_len))
    return tokens, header
