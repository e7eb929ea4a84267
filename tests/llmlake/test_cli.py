"""The console script: help everywhere, --set parsing, and no heavy imports for --help."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from click.testing import CliRunner

from llmlake.cli import cli

COMMANDS = [[], ["params"], ["sample"], ["etl"], ["etl", "ingest"], ["validate"], ["lake"],
            ["lake", "optimize"], ["lake", "vacuum"]]


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


def test_a_params_overlay_merges_over_the_base_key_by_key(tmp_path):
    base, overlay = tmp_path / "params.yaml", tmp_path / "best.yaml"
    base.write_text("train:\n  lr: 0.003\n  seed: 7\nmodel:\n  n_layer: 4\n")
    overlay.write_text("train:\n  lr: 0.001\nmodel:\n  n_layer: 2\n")
    result = CliRunner().invoke(cli, ["--params", str(base), "--params", str(overlay),
                                      "--set", "model.n_head=2", "params"])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.output)
    assert (shown["train"]["lr"], shown["train"]["seed"]) == (0.001, 7)  # seed: the base's
    assert (shown["model"]["n_layer"], shown["model"]["n_head"]) == (2, 2)
    missing = CliRunner().invoke(cli, ["--params", str(base), "--params",
                                       str(tmp_path / "nope.yaml"), "params"])
    assert missing.exit_code == 2 and "params file not found" in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lrr: 1\n")
    wrong = CliRunner().invoke(cli, ["--params", str(base), "--params", str(bad), "params"])
    assert wrong.exit_code == 2 and "train.lrr: unknown key" in wrong.output


def test_bad_override_is_a_usage_error_naming_the_key():
    result = CliRunner().invoke(cli, ["--set", "sample.dcs=3", "params"])
    assert result.exit_code == 2
    assert "sample.dcs: unknown key" in result.output


def test_a_missing_input_is_one_line_and_exit_1(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"lake": {"root": str(tmp_path / "lake"),
                                               "reports": str(tmp_path / "reports")}}))
    for args, maker in ((["etl", "clean"], "llmlake etl ingest"),
                        (["etl", "export-shards"], "llmlake etl tokenize"),
                        (["validate", "gold"], "llmlake etl dedup")):
        out = subprocess.run([sys.executable, "-m", "llmlake.cli", "--params", str(params),
                              *args], capture_output=True, text=True)
        assert out.returncode == 1, out.stderr
        errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and maker in errors[0], out.stderr
        assert "Traceback" not in out.stderr
        assert "does not exist" in errors[0]


def test_a_text_option_stays_text_and_a_switch_is_a_switch(tmp_path, monkeypatch):
    """`--since 2026-11-01` must reach monitor.since as the text it is (YAML would read a
    date); `--force` is a switch that sets retrain.force."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(f"lake:\n  root: {tmp_path / 'lake'}\n"
                                          f"  reports: {tmp_path / 'reports'}\n"
                                          f"  artifacts: {tmp_path / 'artifacts'}\n")
    result = CliRunner().invoke(cli, ["monitor", "--current", "requests",
                                      "--since", "2026-11-01", "--until", "2026-11-08"])
    assert result.exit_code == 1, result.output  # a stage error, not a usage error (2)
    assert "no champion" in result.output
    result = CliRunner().invoke(cli, ["retrain", "--force"])  # forced: on to dvc repro
    assert result.exit_code == 1 and "`dvc repro validate package` failed" in result.output
    assert "The champion and the Bento are as they were" in result.output
    assert "--force" in CliRunner().invoke(cli, ["retrain", "--help"]).output
