"""Models and params for evaluate- and promote-stage tests: an untrained and a trained tiny
model on the shared small lake, installed at ``artifacts/model`` as the train stage would."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from lake_helpers import params_at

from llmlake.lake import Lake
from llmlake.lineage import data_summary, upstream
from training.checkpoint import save_model
from training.data import shard_split
from training.model import LanguageModel, ModelConfig
from training.train.loop import Loop

SHAPE = {"n_layer": 1, "n_embd": 32, "n_head": 2, "context": 32}


def shard_loop(train_inputs, steps: int) -> Loop:
    """A training loop of the tiny shape on the lake's shards, seeded, not yet run."""
    params = train_inputs["params"]
    torch.manual_seed(0)
    cfg = ModelConfig.from_preset("tiny", vocab_size=600, **SHAPE)
    shards = Path(params.lake.artifacts) / "shards"
    never = max(1000, steps + 1)  # no validation, checkpoint or log row inside the run
    train_cfg = replace(params.train, max_steps=steps, batch_size=8, warmup_steps=5,
                        eval_every=never, checkpoint_every=never, log_every=never)
    return Loop(cfg, train_cfg, shard_split(shards, "train")[0], shard_split(shards, "val")[0],
                pad_id=1)


def tiny_models(train_inputs):
    """An untrained model and the same model after 60 steps on the lake's shards."""
    loop = shard_loop(train_inputs, 60)
    untrained = LanguageModel(loop.model.config)
    untrained.load_state_dict(loop.model.state_dict())
    loop.run(report=lambda state, save: None)
    return {"untrained": untrained, "trained": loop.model.eval()}


def stage_params(train_inputs, tmp: Path, **sections):
    base = train_inputs["params"]
    return params_at(tmp, lake={"root": base.lake.root, "reports": str(tmp / "reports"),
                                "artifacts": str(tmp / "artifacts")},
                     evaluate={"task_examples": 40, "bootstrap": 200, **sections.pop(
                         "evaluate", {})}, **sections)


def install(train_inputs, params, model, run: str) -> Path:
    """Put ``model`` at artifacts/model with the lake's lineage, as the train stage does."""
    base = train_inputs["params"]
    lake = Lake(base.lake)
    lineage = {"run": run, "upstream": upstream(lake, "tokenize"), "data": data_summary(lake),
               "model": model.config.to_dict(), "params": {"train": {"max_steps": 60}}}
    return save_model(Path(params.lake.artifacts) / "model", model,
                      Path(base.lake.artifacts) / "tokenizer", lineage)
