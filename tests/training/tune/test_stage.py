"""The tune stage refuses what it cannot search before Ray starts: shards from another table
version or tokenizer, a model the params cannot build, a grid over the trial budget, a
range that leaves the schema. A small lake of its own (a tokenizer, random shards and the
tokenize lineage) is enough: nothing here gets as far as a trial."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from lake_helpers import params_at

from etl.tokenizer.bpe import train as train_tokenizer
from llmlake.shards import ShardHeader
from llmlake.stage import MissingInput, StageError
from llmlake.tokenizer import TOKENIZER_FILE, file_hash, load
from llmlake.tokenizer import save as save_tokenizer
from training.tune import stage as tune

VERSION, CONTEXT = 3, 16
TEXTS = ["the cat sat on the mat.", "a dog ran over the hill.", "the sky is blue."] * 20


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizer")
    save_tokenizer(train_tokenizer(TEXTS, vocab_size=300), folder)
    return folder


def small_lake(base: Path, tokenizer_dir: Path, version: int = VERSION,
               beyond_vocab: int = 0) -> None:
    """Tokenizer, shards exported at ``version`` and the lineage that pins VERSION; with
    ``beyond_vocab`` the shards hold ids the model has no embedding for."""
    tok_hash = file_hash(tokenizer_dir / TOKENIZER_FILE)
    vocab = load(tokenizer_dir / TOKENIZER_FILE).get_vocab_size()
    (base / "artifacts").mkdir(parents=True)
    (base / "artifacts" / "tokenizer").symlink_to(tokenizer_dir)
    shards = base / "artifacts" / "shards"
    shards.mkdir()
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        tokens = rng.integers(2, vocab + beyond_vocab, (8, CONTEXT + 1)).astype("<u2")
        tokens.tofile(shards / f"{split}.bin")
        header = ShardHeader(split=split, dtype="uint16", vocab_size=vocab, seq_len=CONTEXT + 1,
                             sequences=8, tokens=tokens.size, eos_id=0, pad_id=1,
                             tokenizer_sha256=tok_hash, source="lake/gold/sequences",
                             delta_version=version)
        (shards / f"{split}.json").write_text(json.dumps(asdict(header)))
    lineage = base / "reports" / "lineage"
    lineage.mkdir(parents=True)
    table = {"path": str(base / "lake" / "gold" / "sequences"), "version": VERSION}
    (lineage / "tokenize.json").write_text(json.dumps({"tables": {"gold/sequences": table}}))


def params_for(base, **sections):
    sections.setdefault("model", {"n_layer": 1, "n_embd": 32, "n_head": 2})
    return params_at(base, train={"context": CONTEXT, **sections.pop("train", {})}, **sections)


def refused_before_ray(params, base, match, error=StageError):
    with pytest.raises(error, match=match):
        tune.run(params)
    assert not (base / "artifacts" / "tune").exists()  # no search folder: Ray never ran
    assert not (base / "reports" / "tune.csv").exists()


def test_shards_from_another_table_version_are_refused(tmp_path, tokenizer_dir):
    small_lake(tmp_path, tokenizer_dir, version=VERSION + 1)
    refused_before_ray(params_for(tmp_path), tmp_path,
                       f"shard was exported from gold/sequences version {VERSION + 1}, "
                       f"tokenize wrote version {VERSION}")


def test_shards_of_another_context_name_train_context(tmp_path, tokenizer_dir):
    small_lake(tmp_path, tokenizer_dir)
    refused_before_ray(params_for(tmp_path, train={"context": 32}), tmp_path,
                       r"^train.context: 32, but the sequences hold 17 tokens")


def test_missing_shards_name_the_command_that_makes_them(tmp_path, tokenizer_dir):
    small_lake(tmp_path, tokenizer_dir)
    for split in ("train", "val"):
        (tmp_path / "artifacts" / "shards" / f"{split}.json").unlink()
    refused_before_ray(params_for(tmp_path), tmp_path, "llmlake etl export-shards",
                       MissingInput)


@pytest.mark.parametrize(("sections", "match"), [
    ({"model": {"n_head": 5, "n_embd": 32}}, r"^model.n_head: "),
    ({"tune": {"search": "grid", "trials": 3}}, r"^tune.grid: 6 combinations"),
    ({"tune": {"ranges": {"model.n_layer": [0, 2]}}},
     r"^tune.ranges: model.n_layer: must be at least 1"),
    ({"tune": {"ranges": {"model.n_embd": [13, 15]}}},
     r"^tune.ranges.model.n_embd: no multiple of 4 in \[13, 15\]"),
    ({"tune": {"search": "grid", "grid": {"model.n_embd": [32, 34]}}},
     r"^tune.grid.model.n_embd: 34 is not a multiple of 4"),
])
def test_what_cannot_be_searched_is_refused_naming_the_key(tmp_path, tokenizer_dir,
                                                            sections, match):
    small_lake(tmp_path, tokenizer_dir)
    refused_before_ray(params_for(tmp_path, **sections), tmp_path, match)


@pytest.mark.e2e
def test_a_search_whose_every_trial_fails_says_why(tmp_path, tokenizer_dir):
    small_lake(tmp_path, tokenizer_dir, beyond_vocab=50)
    params = params_for(tmp_path, tune={"trials": 2, "max_steps": 2, "eval_every": 1})
    with pytest.raises(StageError, match=r"^llmlake tune: every trial failed; the first: "
                                         r".*index out of range"):
        tune.run(params)
