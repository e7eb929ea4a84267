"""The driver's data step for sft: arrays and masks written where the workers read them,
named by everything that decides the rows, and the figures the report shows."""

from __future__ import annotations

import numpy as np
import pytest

from llmlake.config_finetune import FinetuneConfig
from llmlake.stage import StageError
from training.data import array_split
from training.finetune.parent import resolve_parent
from training.finetune.prepare import prepare_sft


@pytest.fixture
def parent(tmp_path, make_model):
    make_model(tmp_path / "artifacts" / "model")
    return resolve_parent(tmp_path / "artifacts")


def pairs_file(tmp_path, jsonl, material, bad: int = 0):
    rows = [{"prompt": p, "response": r} for p, r in material.qa_pairs()]
    rows[3:3] = ["{broken"] * bad
    return jsonl(tmp_path / "sft.jsonl", rows)


def test_sft_rows_and_masks_are_written_for_the_workers(tmp_path, jsonl, material, parent):
    path = pairs_file(tmp_path, jsonl, material, bad=1)
    got = prepare_sft(FinetuneConfig(data=str(path), val_fraction=0.2, pack=False), parent, 33,
                      tmp_path / "artifacts")
    assert got.folder.parent == tmp_path / "artifacts" / "finetune-data"
    train, val = array_split(got.folder, "train"), array_split(got.folder, "val")
    assert (len(train), len(val)) == (16, 4) == (got.counts["train"], got.counts["val"])
    # Padded rows end at the longest example: no row needs the rest of the context.
    longest = max(int((np.asarray(split.tokens) != 1).sum(1).max()) for split in (train, val))
    assert train.mask is not None and train.seq_len == val.seq_len == longest < 33
    packed = prepare_sft(FinetuneConfig(data=str(path), val_fraction=0.2, pack=True), parent,
                         33, tmp_path / "artifacts")
    assert array_split(packed.folder, "train").seq_len == 33  # packing fills the context
    assert got.stats["examples"] == {"train": 16, "val": 4} and len(got.val_examples) == 4
    assert got.stats["bad_lines"] == {"count": 1, "lines": 21, "first": [
        {"line": 4, "reason": "not JSON (Expecting property name enclosed in double "
                              "quotes at column 2)"}]}
    share = got.stats["target_share"]
    tokens = np.asarray(train.tokens)
    assert share == pytest.approx(train.mask.sum() / (tokens != 1).sum(), abs=1e-4)
    assert 0 < share < 0.6
    assert got.data["sha256"] and got.data["template"] == "plain"


def test_the_folder_is_named_by_what_decides_the_rows(tmp_path, jsonl, material, parent):
    path = pairs_file(tmp_path, jsonl, material)
    again = [prepare_sft(FinetuneConfig(data=str(path)), parent, 33, tmp_path / "a")
             for _ in range(2)]
    assert again[0].folder == again[1].folder
    packed = prepare_sft(FinetuneConfig(data=str(path), pack=True), parent, 33, tmp_path / "a")
    assert packed.folder != again[0].folder
    # Only the latest data is kept: the arrays of the earlier layout are gone.
    assert packed.folder.exists() and not again[0].folder.exists()
    path.write_text(path.read_text() + '{"prompt": "one more", "response": "ok"}\n')
    assert prepare_sft(FinetuneConfig(data=str(path)), parent, 33,
                       tmp_path / "a").folder != again[0].folder


def test_no_val_fraction_validates_on_the_train_rows(tmp_path, jsonl, material, parent):
    got = prepare_sft(FinetuneConfig(data=str(pairs_file(tmp_path, jsonl, material)),
                                     val_fraction=0.0), parent, 33, tmp_path / "a")
    assert got.stats["val_from"] == "train" and got.counts["val"] == got.counts["train"]
    assert got.val_examples == []


def test_examples_whose_prompt_fills_the_context_leave_nothing_to_train(tmp_path, jsonl, parent):
    path = jsonl(tmp_path / "long.jsonl", [{"prompt": "word " * 200, "response": "ok"}] * 3)
    with pytest.raises(StageError, match=r"^finetune.data: no example .* keeps a response"):
        prepare_sft(FinetuneConfig(data=str(path)), parent, 33, tmp_path / "a")


def test_a_bad_template_names_its_key(tmp_path, jsonl, material, parent):
    path = pairs_file(tmp_path, jsonl, material)
    with pytest.raises(StageError, match=r"^finetune.template: 'chatml' is not a template"):
        prepare_sft(FinetuneConfig(data=str(path), template="chatml"), parent, 33, tmp_path)
