"""The starting model: the champion, a model folder or a train checkpoint, with the
tokenizer that reads its ids; anything else refused naming finetune.model."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from llmlake.stage import StageError
from llmlake.tokenizer import file_hash
from training.finetune.parent import resolve_parent, tokenizer_copy


def test_the_default_is_the_champion_else_artifacts_model(tmp_path, make_model):
    artifacts = tmp_path / "artifacts"
    make_model(artifacts / "model", lineage={"upstream": {"x": 1}})
    parent = resolve_parent(artifacts)
    assert parent.folder == artifacts / "model" and parent.kind == "model"
    assert parent.tokenizer == artifacts / "model" and parent.lineage["upstream"] == {"x": 1}
    make_model(artifacts / "v2", lineage={"run": "train-v2"})
    (artifacts / "champion.json").write_text(json.dumps({"model": str(artifacts / "v2")}))
    champion = resolve_parent(artifacts)
    assert champion.folder == artifacts / "v2"
    identity = champion.identity()
    assert identity["run"] == "train-v2"
    assert identity["weights_sha256"] == file_hash(artifacts / "v2" / "model.safetensors")
    assert resolve_parent(artifacts, str(artifacts / "model")).folder == artifacts / "model"


def test_a_train_checkpoint_reads_ids_with_artifacts_tokenizer_and_its_runs_lineage(
        tmp_path, make_model, tokenizer_dir):
    from training.checkpoint import TrainState, load_model, save_checkpoint

    artifacts = tmp_path / "artifacts"
    make_model(artifacts / "model", lineage={"run": "train-abc", "data": {"d": 1}})
    shutil.copytree(tokenizer_dir, artifacts / "tokenizer")
    model, _ = load_model(artifacts / "model")
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    folder = save_checkpoint(tmp_path / "runs" / "train-abc" / "checkpoint_000002", model,
                             optimizer, scheduler, TrainState(step=2), [])
    parent = resolve_parent(artifacts, str(folder))
    assert parent.kind == "checkpoint" and parent.tokenizer == artifacts / "tokenizer"
    assert parent.lineage["data"] == {"d": 1} and parent.identity()["run"] == "train-abc"
    copied = tokenizer_copy(parent, tmp_path / "tok")
    assert sorted(p.name for p in copied.iterdir()) == sorted(
        p.name for p in tokenizer_dir.iterdir())
    (folder.parent).rename(tmp_path / "runs" / "train-other")  # another run's checkpoint
    other = resolve_parent(artifacts, str(tmp_path / "runs" / "train-other" / folder.name))
    assert other.lineage == {} and other.identity()["run"] == "train-other"
    shutil.rmtree(artifacts / "tokenizer")
    with pytest.raises(StageError, match=r"^finetune.model: .* no tokenizer"):
        resolve_parent(artifacts, str(tmp_path / "runs" / "train-other" / folder.name))


def test_a_folder_without_a_model_names_the_key_and_the_maker(tmp_path):
    with pytest.raises(StageError, match=r"^finetune.model: .* \(no model.safetensors\); "
                                         r"train one with `llmlake train`"):
        resolve_parent(tmp_path)
    (tmp_path / "champion.json").write_text("[1]")
    with pytest.raises(StageError, match=r"^finetune.model: .*not a champion pointer"):
        resolve_parent(tmp_path)


def test_a_tokenizer_of_another_size_or_hash_is_refused(tmp_path, make_model, tokenizer_dir):
    from tokenizers import Tokenizer, models

    from llmlake.tokenizer import save

    folder = make_model(tmp_path / "m")
    save(Tokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[])), folder)
    with pytest.raises(StageError, match=r"^finetune.model: .* 2: not the tokenizer"):
        resolve_parent(tmp_path, str(folder))
    make_model(tmp_path / "m2", lineage={"tables": {"gold/sequences": {"tokenizer": "f00"}}})
    with pytest.raises(StageError, match=r"^finetune.model: .* another tokenizer"):
        resolve_parent(tmp_path, str(tmp_path / "m2"))
