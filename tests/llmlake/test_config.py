"""Params loading: strict keys, types and bounds, no duplicate keys, YAML-typed --set."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmlake.bounds import Bounds, bounds_of
from llmlake.cli import cli
from llmlake.config import (
    ConfigError,
    DedupConfig,
    Params,
    TokenizerConfig,
    load_params,
    params_from_dict,
    parse_override,
)

REPO_PARAMS = Path(__file__).parents[2] / "params.yaml"


def test_repo_params_yaml_loads_and_matches_every_section():
    params = load_params(REPO_PARAMS)
    assert isinstance(params, Params)
    assert params.ingest.sources
    assert params.sample.docs > 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"sample": {"dcos": 5}}, "sample.dcos: unknown key"),
        ({"nosuch": {}}, "nosuch: unknown key"),
        ({"sample": {"docs": "many"}}, "sample.docs: expected int"),
        ({"sample": {"docs": True}}, "sample.docs: expected int"),
        ({"sample": {"spam_rate": "high"}}, "sample.spam_rate: expected float"),
        ({"ingest": {"sources": "a.warc.gz"}}, "ingest.sources: expected a list of str"),
        ({"ingest": {"sources": [1, {"a": 2}]}}, "ingest.sources[1]: expected str"),
        ({"spark": {"ui": "yes"}}, "spark.ui: expected bool"),
        ({"spark": "local"}, "spark: expected a mapping"),
    ],
)
def test_bad_params_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        params_from_dict(raw)


def test_ints_are_accepted_for_floats_and_defaults_fill_the_rest():
    params = params_from_dict({"sample": {"spam_rate": 0}})
    assert params.sample.spam_rate == 0.0
    assert isinstance(params.sample.spam_rate, float)
    assert params.sample.docs == Params().sample.docs


def test_override_values_are_yaml_typed(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("sample:\n  docs: 10\n")
    params = load_params(path, [
        "sample.docs=25",
        "sample.near_dup_rate=0.5",
        "ingest.sources=['a/*.warc.gz', 'b/*.jsonl']",
        "spark.ui=true",
    ])
    assert params.sample.docs == 25
    assert params.sample.near_dup_rate == 0.5
    assert params.ingest.sources == ["a/*.warc.gz", "b/*.jsonl"]
    assert params.spark.ui is True


@pytest.mark.parametrize("text", ["docs=5", "sample.docs", "=5"])
def test_malformed_override_is_rejected(text):
    with pytest.raises(ConfigError):
        parse_override(text)


def test_override_of_unknown_key_is_rejected():
    with pytest.raises(ConfigError, match=r"ingest\.sourcez: unknown key"):
        load_params("params.yaml", ["ingest.sourcez=[]"])


def test_missing_explicit_params_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "nope.yaml")


def test_params_are_frozen():
    params = Params()
    with pytest.raises(AttributeError):
        params.sample.docs = 3  # type: ignore[misc]


# -- bounds ---------------------------------------------------------------------------------
def numeric_fields(cls: type = Params, prefix: str = ""):
    """(full key, field, type) of every int or float field under ``cls``, nested included."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        tp, key = hints[f.name], f"{prefix}{f.name}"
        if dataclasses.is_dataclass(tp):
            yield from numeric_fields(tp, f"{key}.")
        elif tp in (int, float):
            yield key, f, tp
        elif {int, float} & set(typing.get_args(tp)):  # optional: None takes a default
            yield key, f, next(t for t in typing.get_args(tp) if t in (int, float))


NUMERIC = list(numeric_fields())


def nested(key: str, value) -> dict:
    """``{"a": {"b": value}}`` for key ``a.b``."""
    raw: dict = {}
    node = raw
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return raw


def just_outside(bounds: Bounds, tp: type) -> list:
    """The values one step beyond each declared bound."""
    step = 1 if tp is int else 1e-6
    values = []
    if bounds.min is not None:
        values.append(bounds.min - step)
    if bounds.above is not None:
        values.append(bounds.above)
    if bounds.max is not None:
        values.append(bounds.max + step)
    return values


def test_the_walk_finds_every_section_and_the_nested_clean_filters():
    keys = {key for key, _, _ in NUMERIC}
    sections = {key.split(".")[0] for key in keys}
    assert sections == {"spark", "sample", "ingest", "clean", "dedup", "tokenizer", "tokenize",
                        "model", "train", "ray", "evaluate", "promote", "serve", "monitor",
                        "finetune", "augment", "tune", "validate", "ablate", "lake"}
    assert {"dedup.bands", "clean.gopher_quality.min_words", "clean.c4.max_word_length",
            "clean.gopher_repetition.max_dup_10gram_char_frac"} <= keys
    assert "spark.ui" not in keys  # bools are not numbers here


@pytest.mark.parametrize(("key", "f", "tp"), NUMERIC, ids=[k for k, _, _ in NUMERIC])
def test_every_numeric_field_declares_bounds_that_hold_its_default(key, f, tp):
    bounds = bounds_of(f)
    assert bounds is not None, f"{key}: declare its range with bounded(...)"
    assert just_outside(bounds, tp), f"{key}: bounded() without a bound"
    assert bounds.error(f.default) is None, f"{key}: default {f.default} is out of range"
    assert params_from_dict(nested(key, f.default)) == Params()


@pytest.mark.parametrize(("key", "f", "tp"), NUMERIC, ids=[k for k, _, _ in NUMERIC])
def test_a_value_just_outside_the_bounds_is_rejected_naming_the_key(key, f, tp):
    for value in just_outside(bounds_of(f), tp):
        message = rf"^{re.escape(key)}: must be (at least|at most|greater than) .*, got "
        with pytest.raises(ConfigError, match=message):
            params_from_dict(nested(key, value))


def test_bounds_messages():
    assert Bounds(min=1).error(0) == "must be at least 1, got 0"
    assert Bounds(max=1).error(1.5) == "must be at most 1, got 1.5"
    assert Bounds(above=0, max=1).error(0.0) == "must be greater than 0, got 0.0"
    assert Bounds(min=0, max=1).error(float("nan")) == "must be a number, got nan"
    assert Bounds(min=0, max=1).error(0) is None and Bounds(min=0, max=1).error(1) is None


OUT_OF_RANGE = ["dedup.bands=0", "dedup.rows=0", "ingest.batch_rows=0",
                "ingest.max_record_bytes=-1", "spark.shuffle_partitions=0", "sample.docs=-5"]


@pytest.mark.parametrize("override", OUT_OF_RANGE)
def test_llmlake_params_rejects_out_of_range_values_with_exit_2(override):
    result = CliRunner().invoke(cli, ["--params", str(REPO_PARAMS), "--set", override, "params"])
    key, _, value = override.partition("=")
    assert result.exit_code == 2, result.output
    assert f"{key}: must be at least " in result.output
    assert f"got {value}" in result.output


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("sample.spam_rate=.nan", "sample.spam_rate: must be a number"),
        ("sample.wet_share=0.9", "wet_share + jsonl_share + parquet_share must be at most 1"),
        ("dedup.threshold=0", "dedup.threshold: must be greater than 0"),
        ("clean.c4_min_sentences=-1", "clean.c4_min_sentences: must be at least 0"),
        ("clean.gopher_quality.min_words=200000",
         "clean.gopher_quality.min_words: must be at most max_words"),
        ("tokenizer.vocab_size=511", "tokenizer.vocab_size: must be at least 512"),
    ],
)
def test_other_range_checks_name_the_key(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_params(REPO_PARAMS, [override])


def test_configs_built_directly_are_checked_too():
    with pytest.raises(ValueError, match="bands: must be at least 1, got 0"):
        DedupConfig(bands=0)
    with pytest.raises(ValueError, match="vocab_size: must be at least 512"):
        TokenizerConfig(vocab_size=100)
    assert DedupConfig(threshold=1.0).threshold == 1.0  # the closed end of (0, 1]


# -- duplicate keys -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dedup:\n  bands: 3\nsample:\n  docs: 5\ndedup:\n  rows: 2\n",
         "duplicate key 'dedup' at line 5 (first at line 1)"),
        ("dedup:\n  bands: 3\n  rows: 2\n  bands: 4\n",
         "duplicate key 'bands' at line 4 (first at line 2)"),
        ("spark:\n  conf: {a: 1, a: 2}\n", "duplicate key 'a' at line 2"),
    ],
)
def test_a_key_written_twice_is_rejected_with_its_line(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: {message}")):
        load_params(path)
    result = CliRunner().invoke(cli, ["--params", str(path), "params"])
    assert result.exit_code == 2 and message in result.output


def test_a_duplicate_key_in_an_override_is_rejected():
    with pytest.raises(ConfigError, match=r"--set spark\.conf: duplicate key 'a'"):
        parse_override("spark.conf={a: 1, a: 2}")


def test_yaml_merge_keys_still_override_on_purpose(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("validate:\n  <<: {gold_min_rows: 1}\n  gold_min_rows: 2\n")
    assert load_params(path).validate.gold_min_rows == 2
