"""Params and a reference for train-stage tests: the shared pipeline's lake and artifacts,
each test's own reports, checkpoint runs and model."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
from lake_helpers import params_at

from training.checkpoint import load_model
from training.data import shard_split
from training.train.loop import Loop

MODEL = {"n_layer": 2, "n_embd": 64, "n_head": 2}
TRAIN = {"context": 32, "batch_size": 4, "max_steps": 8, "warmup_steps": 2,
         "eval_every": 4, "log_every": 2, "checkpoint_every": 4, "eval_batches": 2}


def train_params(base, tmp_path, model, train_keys):
    """The pipeline's lake and artifacts; this test's own reports, runs and model."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    for name in ("tokenizer", "shards"):
        dest = artifacts / name
        if not dest.exists():
            dest.symlink_to(Path(base.lake.artifacts) / name)
    reports = tmp_path / "reports"
    (reports / "lineage").mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(base.lake.reports) / "lineage" / "tokenize.json", reports / "lineage")
    return params_at(tmp_path, lake={"root": base.lake.root, "reports": str(reports),
                                     "artifacts": str(artifacts)},
                     model={**MODEL, **(model or {})},
                     train={**TRAIN, "storage": str(tmp_path / "runs"), **train_keys})


def reference_loop(base, folder: Path) -> Loop:
    """The loop in this process, batch 2 x 4: what 2 workers of batch 4 must end with
    (the data-parallel equivalence ``test_loop.py`` proves)."""
    from training.train.stage import resolve_model

    params = train_params(base, folder, None, {})
    model_cfg = resolve_model(params, vocab_size=600)
    shards = Path(params.lake.artifacts) / "shards"
    seqs, val = shard_split(shards, "train")[0], shard_split(shards, "val")[0]
    cfg = replace(params.train, batch_size=2 * params.train.batch_size)
    loop = Loop(model_cfg, cfg, seqs, val, pad_id=1)
    loop.run(report=lambda state, save: None)
    return loop


def assert_same_model(folder: Path, reference: Loop) -> None:
    model, _ = load_model(folder)
    for name, value in reference.model.state_dict().items():
        np.testing.assert_allclose(model.state_dict()[name].numpy(), value.numpy(),
                                   atol=1e-4, err_msg=name)


