"""Batches: the sampler's order, the fixed val slice, targets, and both data paths agreeing."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import torch

from training.data import (
    IGNORE,
    Sampler,
    Sequences,
    array_split,
    collect_rows,
    shard_split,
    to_batch,
    val_rows,
    write_arrays,
)


def test_the_ranks_share_each_global_batch_and_an_epoch_covers_every_sequence():
    n, batch, world = 23, 3, 2
    samplers = [Sampler(n, batch, world, rank, seed=5) for rank in range(world)]
    seen = []
    for position in range(0, n - n % (batch * world), batch * world):
        rows = [s.rows(position) for s in samplers]
        assert not set(rows[0]) & set(rows[1])  # no sequence twice in one batch
        seen.extend(np.concatenate(rows))
    assert len(set(seen)) == len(seen)  # within an epoch, every sequence at most once
    first_epoch = np.random.default_rng([5, 0]).permutation(n)
    assert list(seen) == list(first_epoch[:len(seen)])


def test_a_batch_runs_over_into_the_next_epoch_with_a_new_order():
    s = Sampler(5, batch_size=4, world=1, rank=0, seed=1)
    rows = s.rows(position=3)
    assert list(rows[:2]) == list(np.random.default_rng([1, 0]).permutation(5)[3:])
    assert list(rows[2:]) == list(np.random.default_rng([1, 1]).permutation(5)[:2])


def test_the_same_position_gives_the_same_rows_whatever_came_before():
    fresh = Sampler(50, 4, 2, 1, seed=9)
    walked = Sampler(50, 4, 2, 1, seed=9)
    for position in range(0, 200, 8):
        walked.rows(position)
    assert list(fresh.rows(96)) == list(walked.rows(96))
    assert list(Sampler(50, 4, 2, 1, seed=10).rows(96)) != list(fresh.rows(96))


def test_the_val_slice_is_fixed_and_split_between_ranks():
    r0 = val_rows(100, batch_size=4, batches=2, world=2, rank=0)
    r1 = val_rows(100, batch_size=4, batches=2, world=2, rank=1)
    assert sorted(np.concatenate(r0 + r1)) == list(range(16))
    assert [list(r) for r in val_rows(6, 4, 1, 1, 0)] == [[0, 1, 2, 3]]
    assert [list(r) for r in val_rows(3, 4, 1, 1, 0)] == [[0, 1, 2, 0]]  # wraps round


def test_targets_are_the_next_tokens_and_padding_is_ignored():
    tokens = np.array([[5, 6, 7, 0, 1, 1]])
    x, y = to_batch(tokens, context=5, pad_id=1)
    assert x.tolist() == [[5, 6, 7, 0, 1]]
    assert y.tolist() == [[6, 7, 0, IGNORE, IGNORE]]
    x, y = to_batch(tokens, context=3, pad_id=1)  # a model context shorter than the rows
    assert x.tolist() == [[5, 6, 7]] and y.tolist() == [[6, 7, 0]]


def arrow_batches(ids: np.ndarray, tokens: np.ndarray, size: int) -> list[pa.RecordBatch]:
    seqs = pa.array(list(tokens), type=pa.list_(pa.int32()))
    table = pa.table({"seq_id": pa.array(ids, pa.int64()), "tokens": seqs})
    return table.to_batches(max_chunksize=size)


def test_rows_in_any_order_are_addressed_in_seq_id_order():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 600, (30, 5))
    shuffle = rng.permutation(30)
    ids = np.arange(100, 130)
    got = collect_rows(arrow_batches(ids[shuffle], tokens[shuffle], size=7), "train", 5, 30)
    assert np.array_equal(got.take(np.arange(30)), tokens)
    assert np.array_equal(got.take(np.array([29, 0, 3])), tokens[[29, 0, 3]])


@pytest.mark.parametrize(("count", "message"), [(29, "more rows"), (31, "read 30 rows")])
def test_a_row_count_that_differs_from_the_pinned_one_is_an_error(count, message):
    tokens = np.zeros((30, 5), dtype=np.int64)
    with pytest.raises(ValueError, match=message):
        collect_rows(arrow_batches(np.arange(30), tokens, 8), "train", 5, count)


@pytest.mark.spark
@pytest.mark.slow
def test_the_delta_path_through_ray_data_gives_the_shards_batches(train_inputs):
    """Ray Data reads gold/sequences at the pinned version; the sampler's first batches are
    the ones the memory-mapped shard gives."""
    import ray

    from training.train.fit import delta_datasets

    params, version = train_inputs["params"], train_inputs["version"]
    shard, header = shard_split(params.lake.artifacts + "/shards", "train")
    assert header.delta_version == version
    ray.init(num_cpus=2, _node_ip_address="127.0.0.2", include_dashboard=False)
    try:
        ds = delta_datasets(f"{params.lake.root}/gold/sequences", version)["train"]
        rows = collect_rows(ds.iter_batches(batch_size=100, batch_format="pyarrow"),
                            "train", header.seq_len, header.sequences)
    finally:
        ray.shutdown()
    for rank in (0, 1):
        sampler = Sampler(header.sequences, 8, world=2, rank=rank, seed=0)
        for position in (0, 16, 10_000):
            picked = sampler.rows(position)
            assert np.array_equal(rows.take(picked), shard.take(picked))
    assert np.array_equal(rows.take(np.arange(len(rows))), np.asarray(shard.tokens))


def test_an_empty_split_cannot_be_sampled():
    with pytest.raises(ValueError, match="no sequences"):
        Sampler(0, 2, 1, 0, seed=0)
    assert len(Sequences(np.zeros((3, 4)))) == 3


def test_a_loss_mask_ignores_the_targets_it_leaves_out_and_padding_still():
    tokens = np.array([[5, 6, 7, 8, 0, 1], [9, 8, 7, 6, 5, 4]])
    mask = np.array([[False, False, True, True, True, False],
                     [True, False, False, False, True, True]])
    x, y = to_batch(tokens, context=5, pad_id=1, mask=mask)
    assert x.tolist() == tokens[:, :5].tolist()
    assert y.tolist() == [[IGNORE, 7, 8, 0, IGNORE], [IGNORE, IGNORE, IGNORE, 5, 4]]
    _, y = to_batch(tokens, context=3, pad_id=1, mask=mask)  # the mask is cut with the rows
    assert y.tolist() == [[IGNORE, 7, 8], [IGNORE, IGNORE, IGNORE]]


def test_an_all_true_mask_changes_nothing():
    tokens = np.random.default_rng(0).integers(0, 50, (4, 9))
    plain = to_batch(tokens, context=8, pad_id=1)
    masked = to_batch(tokens, context=8, pad_id=1, mask=np.ones_like(tokens, dtype=bool))
    assert all(torch.equal(a, b) for a, b in zip(plain, masked, strict=True))


def test_the_mask_follows_the_rows_in_seq_id_order():
    tokens = np.arange(12).reshape(4, 3)
    mask = tokens % 2 == 0
    seqs = Sequences(tokens, order=np.array([2, 0, 3, 1]), mask=mask)
    ranks = np.array([0, 3])
    assert seqs.take(ranks).tolist() == tokens[[2, 1]].tolist()
    assert seqs.take_mask(ranks).tolist() == mask[[2, 1]].tolist()
    assert Sequences(tokens).take_mask(ranks) is None


def test_arrays_written_by_the_driver_are_memory_mapped_with_their_mask(tmp_path):
    tokens = np.random.default_rng(1).integers(0, 600, (5, 7))
    mask = tokens > 300
    write_arrays(tmp_path, "train", tokens, mask)
    write_arrays(tmp_path, "val", tokens[:2])
    train, val = array_split(tmp_path, "train"), array_split(tmp_path, "val")
    assert isinstance(train.tokens, np.memmap) and train.tokens.dtype == np.uint32
    assert np.array_equal(train.take(np.arange(5)), tokens)
    assert np.array_equal(train.take_mask(np.array([4, 0])), mask[[4, 0]])
    assert val.mask is None and len(val) == 2
    write_arrays(tmp_path, "bad", tokens, mask[:, :3])
    with pytest.raises(ValueError, match="the bad mask is"):
        array_split(tmp_path, "bad")
