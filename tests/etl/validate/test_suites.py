"""Every registered suite file: valid GX, readable, and fed by its registry entry."""

from __future__ import annotations

import pytest
from gx_helpers import placeholders, suite_json

from etl.validate import stage as validate
from etl.validate.suites import SUITES
from llmlake.config import Params


@pytest.mark.parametrize("table", sorted(SUITES))
def test_suite_file_loads_as_a_gx_suite(table):
    from great_expectations.core.expectation_suite import ExpectationSuite

    suite = validate.load_suite(SUITES[table].suite_path)
    assert isinstance(suite, ExpectationSuite)
    assert suite.name == SUITES[table].suite_file.removesuffix(".json")
    assert len(suite.expectations) == len(suite_json(table)["expectations"])
    descriptions = [e["description"] for e in suite_json(table)["expectations"]]
    assert len(set(descriptions)) == len(descriptions)  # tests and readers tell them apart


@pytest.mark.parametrize("table", sorted(SUITES))
def test_every_suite_parameter_is_supplied_by_the_registry(table):
    suite = validate.load_suite(SUITES[table].suite_path)
    assert placeholders(suite_json(table)) == set(suite.suite_parameter_options)
    assert set(SUITES[table].parameters(Params())) == set(suite.suite_parameter_options)


@pytest.mark.parametrize("table", sorted(SUITES))
def test_suite_names_its_table(table):
    assert suite_json(table)["meta"]["table"] == SUITES[table].table


def test_sequences_parameters_follow_context_vocabulary_and_splits():
    from llmlake.config import params_from_dict

    params = params_from_dict({"train": {"context": 128}, "tokenizer": {"vocab_size": 1000},
                               "dedup": {"train": 0.9, "val": 0.1, "test": 0.0}})
    assert SUITES["sequences"].parameters(params) == {
        "sequences_min_rows": 10, "seq_len": 129, "max_token_id": 999,
        "train_min_rows": 1, "val_min_rows": 1, "test_min_rows": 0,
    }


@pytest.mark.spark
@pytest.mark.parametrize("table", sorted(SUITES))
def test_cli_validates_every_registered_table(table, spark, make_params, tmp_path):
    # No lake yet: the command runs the stage, which fails clearly without validating.
    import yaml
    from click.testing import CliRunner

    from llmlake.cli import cli
    from llmlake.config import as_dict

    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(as_dict(make_params())))
    result = CliRunner().invoke(cli, ["--params", str(params_file), "validate", table])
    assert result.exit_code == 1, result.output
    assert f"error: llmlake validate {table}: input table " in result.output
    assert "does not exist; make it with `llmlake etl " in result.output
