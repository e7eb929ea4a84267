"""Shared by the drift monitor tests: a champion on the shared small lake, batches drawn
from the sample generator, and params that point ``llmlake monitor`` at them.

The champion is the 60-step tiny model of :func:`eval_helpers.tiny_models`, installed as the
train stage installs a model (its lineage names the small lake's gold/documents version)
and pointed at by ``champion.json`` as ``llmlake promote`` points at it. The small lake was
generated from ``sample.docs=160, seed=3``: a batch of the same generator settings and
another seed is "the same distribution".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eval_helpers import install, stage_params, tiny_models
from lake_helpers import params_at

from etl.sample.stage import generate
from llmlake.config import Params, SampleConfig
from llmlake.tokenizer import file_hash
from training.checkpoint import CHAMPION

# Small numbers: the lake's train split holds about 110 documents, and a run on the
# 2-core test machine should take seconds.
# The shared lake's val and test splits hold about 16 documents, too few to test against:
# these runs compare with its train split (monitor.reference's other choice). The champion
# here trained 60 steps, too few to memorise its train documents.
MONITOR = {"reference": "train", "reference_docs": 60, "vocab_docs": 50, "max_docs": 120,
           "min_docs": 20, "device": "cpu"}
LAKE_SAMPLE = {"docs": 160, "seed": 3, "docs_per_shard": 60}  # as tests/conftest.py


@pytest.fixture(scope="session")
def champion_home(train_inputs, tmp_path_factory) -> Path:
    """A folder whose ``artifacts/`` holds the champion model and ``champion.json``."""
    home = tmp_path_factory.mktemp("monitor-champion")
    params = stage_params(train_inputs, home)
    trained = tiny_models(train_inputs)["trained"]
    folder = install(train_inputs, params, trained, "trained")
    pointer = {"model": str(folder), "run": "trained",
               "weights_sha256": file_hash(folder / "model.safetensors")}
    (Path(params.lake.artifacts) / CHAMPION).write_text(json.dumps(pointer))
    return home


@pytest.fixture(scope="session")
def monitor_params(champion_home):
    """``build(folder, **monitor)``: params for one monitor run whose lake, reports and
    Evidently workspace live under ``folder``, judged against the shared champion."""

    def build(folder: Path, **monitor) -> Params:
        return params_at(folder, lake={"root": str(folder / "lake"),
                                       "reports": str(folder / "reports"),
                                       "artifacts": str(champion_home / "artifacts")},
                         monitor={**MONITOR, "workspace": str(folder / "evidently"),
                                  **monitor})

    return build


@pytest.fixture(scope="session")
def make_batch(tmp_path_factory):
    """``make(name, **sample)``: a sample crawl written once per name, with the lake's
    generator settings overridden by ``sample``."""
    root = tmp_path_factory.mktemp("monitor-batches")

    def make(name: str, **sample) -> Path:
        out = root / name
        if not out.exists():
            generate(SampleConfig(**{**LAKE_SAMPLE, "docs": 120, **sample}), out)
        return out

    return make
