"""Training batches: one deterministic order over a split, whichever path read the sequences.

A split is a list of packed sequences (``context + 1`` tokens each) addressed by their rank
in ``seq_id`` order, the order the shards are written in, so the memory-mapped shards
(:func:`shard_split`) and the ``gold/sequences`` rows that Ray Data streams to each worker
(:class:`Sequences` with an ``order``) are the same list, and the same :class:`Sampler`
yields the same batches from both.

The sampler walks one seeded permutation per epoch. Its only state is the *position*: how
many sequences all workers together have consumed. Global micro-batch ``k`` covers
positions ``[k * W * B, (k + 1) * W * B)`` and rank ``r`` takes the ``r``-th block of ``B``,
so a checkpoint that stores the position resumes mid-epoch at exactly the next batch, and
a run with the same seed and world size sees the same batches however often it restarts.
The validation slice is fixed: the first ``eval_batches x W x B`` val sequences.

Fine-tuning rows come with a *loss mask* (:func:`array_split`: ``<split>.tokens.npy`` and
``<split>.mask.npy`` in a folder the driver wrote): ``mask[i, j]`` says whether token ``j``
of row ``i`` counts as a target, so :func:`to_batch` turns the targets of prompt tokens
(and padding) into :data:`IGNORE`. Without a mask every non-padding target counts, as in
pretraining.

This module imports numpy and torch only (it runs on the GPU machine too).

Example::

    >>> seqs = Sequences(np.arange(40).reshape(10, 4))
    >>> s0, s1 = (Sampler(len(seqs), batch_size=2, world=2, rank=r, seed=0) for r in (0, 1))
    >>> rows0, rows1 = s0.rows(position=0), s1.rows(position=0)
    >>> sorted(set(rows0) | set(rows1)) == sorted(np.random.default_rng([0, 0]).permutation(10)[:4])
    True
    >>> x, y = to_batch(seqs.take(rows0), context=3, pad_id=1)
    >>> x.shape, bool((y[:, :-1] == x[:, 1:]).all())
    (torch.Size([2, 3]), True)
    >>> masked = Sequences(np.array([[5, 6, 7, 8]]), mask=np.array([[False, False, True, True]]))
    >>> to_batch(masked.take([0]), context=3, pad_id=1, mask=masked.take_mask([0]))[1].tolist()
    [[-1, 7, 8]]
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from llmlake.shards import ShardHeader, open_shard

IGNORE = -1  # target id the loss skips (LanguageModel's ignore_index): padding, prompts
ARRAY_TOKENS = "{split}.tokens.npy"  # the "arrays" path: uint32 (N, seq_len)
ARRAY_MASK = "{split}.mask.npy"      # bool (N, seq_len), True where a token is a target


@dataclass
class Sequences:
    """A split's sequences: ``tokens`` (N, seq_len), in ``seq_id`` order, or in arrival
    order with ``order`` (the argsort of their ``seq_id``) saying which row is rank ``i``;
    ``mask`` (N, seq_len), when given, says which tokens count as targets."""

    tokens: np.ndarray
    order: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def seq_len(self) -> int:
        return self.tokens.shape[1]

    def take(self, ranks: np.ndarray) -> np.ndarray:
        rows = ranks if self.order is None else self.order[ranks]
        return np.asarray(self.tokens[rows])

    def take_mask(self, ranks: np.ndarray) -> np.ndarray | None:
        """The target mask of the rows :meth:`take` gives; None when every target counts."""
        if self.mask is None:
            return None
        rows = ranks if self.order is None else self.order[ranks]
        return np.asarray(self.mask[rows])


def shard_split(folder: str | Path, split: str) -> tuple[Sequences, ShardHeader]:
    """The plain path: a split's shard, memory-mapped (no copy of the file)."""
    tokens, header = open_shard(folder, split)
    return Sequences(tokens), header


def array_split(folder: str | Path, split: str) -> Sequences:
    """The fine-tuning path: a split's rows (and its mask, when the folder has one) as the
    driver wrote them with :func:`write_arrays`, memory-mapped."""
    folder = Path(folder)
    tokens = np.load(folder / ARRAY_TOKENS.format(split=split), mmap_mode="r")
    mask_file = folder / ARRAY_MASK.format(split=split)
    mask = np.load(mask_file, mmap_mode="r") if mask_file.exists() else None
    if mask is not None and mask.shape != tokens.shape:
        raise ValueError(f"{folder}: the {split} mask is {mask.shape}, its rows {tokens.shape}")
    return Sequences(tokens, mask=mask)


def write_arrays(folder: str | Path, split: str, tokens: np.ndarray,
                 mask: np.ndarray | None = None) -> None:
    """Write a split for :func:`array_split` (uint32 ids, a bool mask)."""
    folder = Path(folder)
    np.save(folder / ARRAY_TOKENS.format(split=split), np.asarray(tokens, dtype=np.uint32))
    if mask is not None:
        np.save(folder / ARRAY_MASK.format(split=split), np.asarray(mask, dtype=bool))


def collect_rows(batches: Iterable[Any], split: str, seq_len: int, count: int) -> Sequences:
    """The Delta path: a split's rows (Arrow batches of ``seq_id`` and ``tokens``, in any
    order) streamed into a local memory map, so any size fits on disk rather than in RAM."""
    fd, path = tempfile.mkstemp(prefix=f"llmlake-{split}-", suffix=".u32")
    os.close(fd)
    tokens = np.memmap(path, dtype=np.uint32, mode="w+", shape=(max(count, 1), seq_len))
    os.unlink(path)  # the mapping keeps the file alive; nothing is left behind
    ids, filled = np.empty(count, dtype=np.int64), 0
    for batch in batches:
        n = batch.num_rows
        if filled + n > count:
            raise ValueError(f"{split}: more rows than the {count} counted at its version")
        column = batch.column("tokens")  # a Table's column is chunked, a RecordBatch's not
        if hasattr(column, "combine_chunks"):
            column = column.combine_chunks()
        flat = column.flatten().to_numpy()
        if len(flat) != n * seq_len:
            raise ValueError(f"{split}: a sequence does not hold {seq_len} tokens")
        tokens[filled:filled + n] = flat.reshape(n, seq_len)
        ids[filled:filled + n] = batch.column("seq_id").to_numpy()
        filled += n
    if filled != count:
        raise ValueError(f"{split}: read {filled} rows, expected {count}")
    return Sequences(tokens[:count], order=np.argsort(ids, kind="stable"))


class Sampler:
    """Rank ``rank``'s rows of each global micro-batch, from a seeded order per epoch."""

    def __init__(self, n: int, batch_size: int, world: int, rank: int, seed: int) -> None:
        if n == 0:
            raise ValueError("the split has no sequences to train on")
        self.n, self.batch_size, self.world, self.rank, self.seed = n, batch_size, world, rank, seed
        self._epoch, self._perm = -1, np.empty(0, dtype=np.int64)

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:  # one permutation alive at a time: O(n) memory
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return self._perm

    def rows(self, position: int) -> np.ndarray:
        """This rank's rows of the global micro-batch that starts at ``position``."""
        start = position + self.rank * self.batch_size
        out = np.empty(self.batch_size, dtype=np.int64)
        for i in range(self.batch_size):  # a batch may run over into the next epoch
            epoch, offset = divmod(start + i, self.n)
            out[i] = self._permutation(epoch)[offset]
        return out

    def epoch(self, position: int) -> float:
        return position / self.n


def val_rows(n: int, batch_size: int, batches: int, world: int, rank: int) -> list[np.ndarray]:
    """The fixed validation slice: rank ``rank``'s rows of each of ``batches`` batches,
    wrapped round when the split is smaller than the slice."""
    out = []
    for b in range(batches):
        start = (b * world + rank) * batch_size
        out.append((np.arange(start, start + batch_size) % n).astype(np.int64))
    return out


def to_batch(tokens: np.ndarray, context: int, pad_id: int | None,
             device: torch.device | str = "cpu", mask: np.ndarray | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets of a ``(B, seq_len)`` block: the first ``context`` tokens and the
    next token of each; padding targets, and targets whose ``mask`` is False, become
    :data:`IGNORE`."""
    block = torch.from_numpy(tokens[:, :context + 1].astype(np.int64))
    x, y = block[:, :-1], block[:, 1:].clone()
    if pad_id is not None:
        y[y == pad_id] = IGNORE
    if mask is not None:  # mask[:, j] is about token j, the target of input j - 1
        y[~torch.from_numpy(np.asarray(mask[:, 1:context + 1], dtype=bool))] = IGNORE
    if torch.device(device).type == "cuda":
        return (x.pin_memory().to(device, non_blocking=True),
                y.pin_memory().to(device, non_blocking=True))
    return x.to(device), y.to(device)
