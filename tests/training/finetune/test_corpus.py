"""Continued pretraining data: a gold/sequences table found by path or lake root, its
tokenizer checked against the model's, its rows written for the workers; and a model
trained on one domain learning another from them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from llmlake.config_finetune import FinetuneConfig
from llmlake.stage import StageError
from llmlake.tokenizer import file_hash
from training.data import array_split
from training.finetune.corpus import locate
from training.finetune.parent import resolve_parent
from training.finetune.prepare import prepare_continue

pytestmark = pytest.mark.usefixtures("one_thread")

SEQ_LEN = 33


def packed(tok, texts: list[str], seq_len: int = SEQ_LEN) -> np.ndarray:
    from etl.tokenize.packing import pack

    docs = [[*tok.encode(t, add_special_tokens=False).ids, 0] for t in texts]
    return np.array(pack(docs, seq_len)[0])


def sequences_table(lake: Path, splits: dict[str, np.ndarray], tok_hash: str | None) -> str:
    """``<lake>/gold/sequences`` as the tokenize stage lays it out (seq_id a shuffle), and,
    with ``tok_hash``, its record in the reports folder beside the lake."""
    import pyarrow as pa
    from deltalake import write_deltalake

    names = [s for s, rows in splits.items() for _ in rows]
    rows = [r for s in splits for r in splits[s]]
    ids = np.random.default_rng(0).permutation(len(rows)) * 7 + 3
    table = pa.table({"seq_id": pa.array(ids, pa.int64()), "split": names,
                      "position": pa.array(np.arange(len(rows)), pa.int64()),
                      "tokens": pa.array([list(map(int, r)) for r in rows], pa.list_(pa.int32())),
                      "pad": pa.array([0] * len(rows), pa.int32())})
    path = str(lake / "gold" / "sequences")
    write_deltalake(path, table)
    if tok_hash is not None:
        record = lake.parent / "reports" / "lineage" / "tokenize.json"
        record.parent.mkdir(parents=True)
        record.write_text(json.dumps({"tables": {"gold/sequences": {"path": path, "version": 0}},
                                      "tokenizer_sha256": tok_hash}))
    return path


@pytest.fixture
def setup(tmp_path, make_model, tokenizer_dir):
    """A parent model at artifacts/model and the reports folder of this run's lake."""
    make_model(tmp_path / "artifacts" / "model")
    return {"artifacts": str(tmp_path / "artifacts"), "reports": str(tmp_path / "reports"),
            "hash": file_hash(tokenizer_dir / "tokenizer.json")}


def prepared(setup, data: str, **cfg):
    parent = resolve_parent(setup["artifacts"])
    return prepare_continue(FinetuneConfig(mode="continue", data=data, **cfg), parent, SEQ_LEN,
                            setup["artifacts"], setup["reports"])


def test_a_lake_root_or_its_table_is_found_with_the_tokenize_record(tmp_path, tok, material,
                                                                     setup):
    rows = packed(tok, material.counting_text(30, 1))
    table = sequences_table(tmp_path / "domain" / "lake", {"train": rows[:-2], "val": rows[-2:]},
                            setup["hash"])
    by_root, by_table = locate(str(tmp_path / "domain" / "lake"), "reports"), locate(table, "x")
    assert by_root == by_table and by_root.table == table and by_root.version == 0
    assert by_root.tokenizer_sha256 == setup["hash"] and by_root.record.endswith("tokenize.json")
    with pytest.raises(StageError, match=r"^finetune.data: .* neither a gold/sequences"):
        locate(str(tmp_path / "domain"), "reports")


def test_rows_are_written_in_seq_id_order_with_the_tables_splits(tmp_path, tok, material, setup):
    rows = packed(tok, material.counting_text(30, 1))
    table = sequences_table(tmp_path / "lake", {"train": rows[:-3], "val": rows[-3:]},
                            setup["hash"])
    got = prepared(setup, table)
    assert got.counts == {"train": len(rows) - 3, "val": 3}
    assert got.stats["val_from"] == "table" and got.data["version"] == 0
    from deltalake import DeltaTable

    data = DeltaTable(table).to_pyarrow_dataset().to_table().to_pylist()
    want = [r["tokens"] for r in sorted(data, key=lambda r: r["seq_id"]) if r["split"] == "val"]
    assert array_split(got.folder, "val").take(np.arange(3)).tolist() == want
    assert array_split(got.folder, "train").mask is None  # every non-pad target counts


def test_without_val_rows_val_fraction_of_the_train_rows_is_held_out(tmp_path, tok, material,
                                                                      setup):
    rows = packed(tok, material.counting_text(60, 2))
    table = sequences_table(tmp_path / "lake", {"train": rows}, setup["hash"])
    got = prepared(setup, table, val_fraction=0.2)
    assert got.stats["val_from"] == "held_out"
    assert got.counts["val"] == round(0.2 * len(rows))
    assert got.counts["train"] + got.counts["val"] == len(rows)
    train, val = (array_split(got.folder, s).take(np.arange(got.counts[s])).tolist()
                  for s in ("train", "val"))
    assert not {tuple(r) for r in train} & {tuple(r) for r in val}


def test_a_table_tokenized_with_another_tokenizer_is_refused(tmp_path, tok, material, setup):
    rows = packed(tok, material.counting_text(10, 1))
    table = sequences_table(tmp_path / "lake", {"train": rows}, "0" * 64)
    with pytest.raises(StageError, match=r"^finetune.data: .* tokenized with another tokenizer"):
        prepared(setup, table)


def test_without_a_record_ids_beyond_the_vocabulary_are_refused(tmp_path, tok, setup):
    rows = np.full((4, SEQ_LEN), 5)
    rows[2, 7] = 10_000
    table = sequences_table(tmp_path / "lake", {"train": rows}, None)
    with pytest.raises(StageError, match=r"^finetune.data: .* holds token id 10000, but the "
                                         r"model reads \d+ ids"):
        prepared(setup, table)


def test_sequences_shorter_than_the_models_context_are_refused(tmp_path, setup):
    table = sequences_table(tmp_path / "lake", {"train": np.full((4, 17), 5)}, setup["hash"])
    with pytest.raises(StageError, match=r"^finetune.data: the sequences of .* hold 17 tokens; "
                                         r"the model's context 32 needs 33"):
        prepared(setup, table)


def test_continued_pretraining_lowers_the_loss_on_the_new_domain(tmp_path, tok, material, setup,
                                                                 make_model):
    """A model trained on sentences about animals, then trained further on counting runs in
    number words: its val loss on counting falls, from the parent's weights on."""
    from dataclasses import replace

    from llmlake.config_train import TrainConfig
    from training.checkpoint import load_model
    from training.data import Sequences
    from training.model import ModelConfig
    from training.train.loop import Loop

    mcfg = ModelConfig.from_preset("tiny", vocab_size=tok.get_vocab_size(), context=32,
                                   **material.shape)
    cfg = TrainConfig(context=32, batch_size=8, max_steps=60, warmup_steps=5, lr=0.01,
                      eval_every=60, log_every=60, checkpoint_every=60, eval_batches=2)
    animals = Sequences(packed(tok, material.animal_text(80, 3)))
    pretrain = Loop(mcfg, cfg, animals, animals, pad_id=1)
    pretrain.run(report=lambda state, save: None)
    make_model(tmp_path / "artifacts" / "model", pretrain.model)

    rows = packed(tok, material.counting_text(80, 4))
    table = sequences_table(tmp_path / "domain" / "lake", {"train": rows[:-8], "val": rows[-8:]},
                            setup["hash"])
    got = prepared(setup, str(tmp_path / "domain" / "lake"))
    parent, _ = load_model(tmp_path / "artifacts" / "model")
    loop = Loop(mcfg, replace(cfg, max_steps=30, lr=0.003, seed=1),
                array_split(got.folder, "train"), array_split(got.folder, "val"), pad_id=1,
                init=parent.state_dict())
    assert torch.equal(loop.model.wte.weight, parent.wte.weight)  # it starts from the parent
    state = loop.run(report=lambda state, save: None)
    vals = [row["val_loss"] for row in state.log if row["val_loss"] != ""]
    assert got.data["table"] == table
    assert vals[-1] < 0.5 * vals[0], vals
