"""Params loading: strict keys and types, YAML-typed --set overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmlake.config import ConfigError, Params, load_params, params_from_dict, parse_override


def test_repo_params_yaml_loads_and_matches_every_section():
    params = load_params(Path(__file__).parents[1] / "params.yaml")
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
