"""The console script: help everywhere, --set parsing, and no heavy imports for --help."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from llmlake.cli import cli

COMMANDS = [[], ["params"], ["sample"], ["etl"], ["etl", "ingest"], ["validate"]]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "root")
def test_every_command_has_help(args):
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from llmlake.cli import cli\n"
        "r = CliRunner().invoke(cli, ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = {'pyspark', 'torch', 'ray', 'great_expectations', 'bentoml', 'evidently'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_set_overrides_reach_the_params(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("sample:\n  docs: 10\n")
    result = CliRunner().invoke(cli, [
        "--params", str(path), "--set", "sample.docs=42",
        "--set", "ingest.sources=['x/*.warc.gz']", "params",
    ])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert shown["sample"]["docs"] == 42
    assert shown["ingest"]["sources"] == ["x/*.warc.gz"]


def test_bad_override_is_a_usage_error_naming_the_key():
    result = CliRunner().invoke(cli, ["--set", "sample.dcs=3", "params"])
    assert result.exit_code == 2
    assert "sample.dcs: unknown key" in result.output


def test_every_etl_command_runs_its_stage_module():
    import importlib

    from llmlake.cli import ETL_STAGES, etl

    assert sorted(etl.commands) == sorted(name for name, _, _ in ETL_STAGES)
    for name, module, _ in ETL_STAGES:
        assert callable(importlib.import_module(f"etl.{module}").run), name
