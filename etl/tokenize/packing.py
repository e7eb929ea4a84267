"""Packing documents into fixed-length training sequences: the pure core of the tokenize stage.

A split is packed as one stream: its documents' tokens (each ending in EOS) are concatenated
in a fixed order and cut into sequences of ``seq_len`` tokens; sequence ``k`` holds stream
positions ``[k * seq_len, (k + 1) * seq_len)``. The last ``total % seq_len`` tokens of a split
are its remainder, dropped or padded as the config says and always reported.

So that no single machine holds the stream, the Spark stage gives every document its
``offset`` in the stream (a running sum of token counts) and :func:`fragment_batch` cuts each
document into the pieces that fall into each sequence; grouping the pieces by sequence and
ordering them by ``start`` rebuilds exactly what :func:`pack` builds in one process.

Example::

    >>> pack([[5, 6, 0], [7, 0], [8, 9, 10, 0]], seq_len=4)
    ([[5, 6, 0, 7], [0, 8, 9, 10]], [0])
    >>> Remainder.of(total=9, seq_len=4)
    Remainder(full=2, tokens=1)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Remainder:
    """How a split of ``total`` tokens cuts: ``full`` sequences and ``tokens`` left over."""

    full: int
    tokens: int

    @classmethod
    def of(cls, total: int, seq_len: int) -> Remainder:
        return cls(total // seq_len, total % seq_len)


def pack(docs: list[list[int]], seq_len: int) -> tuple[list[list[int]], list[int]]:
    """Concatenate, then cut: the full sequences and the remainder (the reference packer)."""
    stream = list(chain.from_iterable(docs))
    cut = Remainder.of(len(stream), seq_len).full * seq_len
    return [stream[i:i + seq_len] for i in range(0, cut, seq_len)], stream[cut:]


def offsets_of(lengths: np.ndarray) -> np.ndarray:
    """Each document's start in the stream: the running sum of the lengths before it."""
    out = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=out[1:])
    return out


def fragments(offsets: np.ndarray, lengths: np.ndarray, seq_len: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut documents (stream ``offsets``, token ``lengths``) at sequence boundaries.

    Returns, per fragment in document order: the index of its document, its sequence
    ``position``, its ``start`` in the stream and its size. A document's fragments are
    consecutive pieces of its tokens, so all fragments together are the documents' tokens
    in the same order.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    ends = offsets + np.asarray(lengths, dtype=np.int64)
    first, last = offsets // seq_len, (ends - 1) // seq_len
    count = last - first + 1
    doc = np.repeat(np.arange(len(offsets)), count)
    # Index of each fragment within its document: 0, 1, ... count-1.
    within = np.arange(len(doc)) - np.repeat(np.cumsum(count) - count, count)
    position = first[doc] + within
    start = np.maximum(position * seq_len, offsets[doc])
    stop = np.minimum((position + 1) * seq_len, ends[doc])
    return doc, position, start, stop - start


def fragment_batch(batch: pa.RecordBatch, seq_len: int) -> pa.RecordBatch:
    """``split, offset, tokens`` rows to ``split, position, start, tokens`` fragments."""
    import pyarrow as pa

    tokens = batch.column("tokens")
    # Offsets relative to the first list, so that a sliced batch works too.
    bounds = tokens.offsets.to_numpy()
    doc, position, start, size = fragments(
        batch.column("offset").to_numpy(), np.diff(bounds), seq_len)
    # The fragments cover the documents' tokens in order, so their values are the same
    # flat array: only the list boundaries change.
    cut = np.zeros(len(size) + 1, dtype=np.int32)
    np.cumsum(size, out=cut[1:])
    return pa.RecordBatch.from_arrays(
        [batch.column("split").take(pa.array(doc)), pa.array(position, pa.int64()),
         pa.array(start, pa.int64()),
         pa.ListArray.from_arrays(pa.array(cut), tokens.flatten())],
        names=["split", "position", "start", "tokens"])
