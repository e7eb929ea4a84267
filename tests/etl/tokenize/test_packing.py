"""Packing: concatenate-then-cut, the fragment cut that the Spark stage distributes, and
the shard export of the packed sequences."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.tokenize.packing import Remainder, fragment_batch, fragments, offsets_of, pack

EOS = 0
docs_strategy = st.lists(
    st.lists(st.integers(2, 50_000), max_size=40).map(lambda d: [*d, EOS]), max_size=30)


def test_pack_cuts_exact_lengths_and_declares_the_remainder():
    docs = [[5, 6, 0], [7, 0], [8, 9, 10, 0], [11, 0]]
    seqs, rest = pack(docs, seq_len=3)
    assert seqs == [[5, 6, 0], [7, 0, 8], [9, 10, 0]]
    assert rest == [11, 0]
    assert Remainder.of(11, 3) == Remainder(full=3, tokens=2)


def test_pack_of_an_exact_multiple_has_no_remainder():
    seqs, rest = pack([[1, 2, 0], [3, 4, 0]], seq_len=2)
    assert seqs == [[1, 2], [0, 3], [4, 0]] and rest == []


def test_offsets_are_running_sums():
    assert offsets_of(np.array([3, 2, 4])).tolist() == [0, 3, 5]
    assert offsets_of(np.array([], dtype=np.int64)).tolist() == []


def test_a_long_document_spans_several_sequences():
    doc, position, start, size = fragments(np.array([2]), np.array([9]), seq_len=4)
    assert doc.tolist() == [0, 0, 0]
    assert position.tolist() == [0, 1, 2]
    assert start.tolist() == [2, 4, 8]
    assert size.tolist() == [2, 4, 3]


def reassemble(batch: pa.RecordBatch) -> dict[int, list[int]]:
    """What the Spark stage's group-by does: pieces per sequence, in stream order."""
    pieces = defaultdict(list)
    data = batch.to_pydict()
    for pos, start, toks in zip(data["position"], data["start"], data["tokens"], strict=True):
        pieces[pos].append((start, toks))
    return {p: [t for _, toks in sorted(v) for t in toks] for p, v in pieces.items()}


@settings(deadline=None)
@given(docs_strategy, st.integers(1, 64), st.integers(0, 5))
def test_fragments_rebuild_exactly_what_pack_builds(docs, seq_len, skip):
    lengths = np.array([len(d) for d in docs], dtype=np.int64)
    batch = pa.RecordBatch.from_pydict({
        "split": ["train"] * len(docs), "offset": offsets_of(lengths),
        "tokens": pa.array(docs, pa.list_(pa.int32())),
    })
    # Any slice of documents, in any batches, gives the same pieces as one batch.
    cut = min(skip, len(docs))
    parts = [fragment_batch(batch.slice(0, cut), seq_len), fragment_batch(batch.slice(cut),
                                                                          seq_len)]
    rebuilt = {}
    for part in parts:
        for pos, toks in reassemble(part).items():
            rebuilt.setdefault(pos, []).extend(toks)
    seqs, rest = pack(docs, seq_len)
    full = {p: t for p, t in rebuilt.items() if len(t) == seq_len}
    assert [full[p] for p in sorted(full)] == seqs
    short = [t for t in rebuilt.values() if len(t) < seq_len]
    assert short == ([rest] if rest else [])
    total = sum(len(d) for d in docs)
    assert len(seqs) * seq_len + len(rest) == total
    assert sum(p.num_rows for p in parts) >= len(docs)


def sequences_dataset(seq_len: int):
    """A tiny ``gold/sequences``: splits interleaved, ``seq_id`` unrelated to row order."""
    import pyarrow.dataset as ds

    rng = np.random.default_rng(7)
    splits = ["train", "val", "train", "test", "train", "val", "train"]
    seq_ids = rng.permutation(1000)[:len(splits)].astype(np.int64) - 500
    tokens = [rng.integers(0, 300, seq_len).tolist() for _ in splits]
    table = pa.table({"seq_id": seq_ids, "split": splits,
                      "tokens": pa.array(tokens, pa.list_(pa.int32()))})
    # Two batches, so each split's rows arrive from more than one.
    return ds.dataset([table.slice(0, 3).to_batches()[0], table.slice(3).to_batches()[0]]
                      ), table


def test_shard_export_writes_every_split_in_seq_id_order(tmp_path):
    from etl.export_shards.stage import export_splits

    dataset, table = sequences_dataset(seq_len=5)
    counts = export_splits(dataset, ("train", "val", "test"), 5, 300, tmp_path)
    assert counts == {"train": 4, "val": 2, "test": 1}
    rows = table.to_pylist()
    for split, n in counts.items():
        mine = sorted((r for r in rows if r["split"] == split), key=lambda r: r["seq_id"])
        expected = np.array([r["tokens"] for r in mine], dtype="<u2")
        assert (tmp_path / f"{split}.bin").read_bytes() == expected.tobytes()
        assert len(mine) == n
    assert not list(tmp_path.glob(".*.tmp"))


def test_shard_export_of_a_wrong_length_replaces_no_file(tmp_path):
    from etl.export_shards.stage import ShardError, export_splits

    dataset, _ = sequences_dataset(seq_len=5)
    (tmp_path / "test.bin").write_bytes(b"old")
    with pytest.raises(ShardError, match="tokens, not 6"):
        export_splits(dataset, ("train", "val", "test"), 6, 300, tmp_path)
    assert (tmp_path / "test.bin").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test.bin"]
