"""DVC as its users run it on this repo's dvc.yaml: plots render, metrics diff between
commits, the tokenizer and shards are cached outs, no lake table is hashed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).parent / "dvc")

pytestmark = pytest.mark.slow


def sh(cwd: Path, *args: str) -> str:
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def pipeline() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch git + DVC repo holding this pipeline's dvc.yaml and params.yaml."""
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    sh(tmp_path, "git", "init", "-q")
    sh(tmp_path, "git", "config", "user.email", "ci@llmlake.invalid")
    sh(tmp_path, "git", "config", "user.name", "ci")
    sh(tmp_path, DVC, "init", "-q")
    sh(tmp_path, DVC, "config", "core.analytics", "false")
    return tmp_path


def plot_definitions() -> dict[str, dict]:
    return {path: spec for item in pipeline()["plots"] for path, spec in item.items()}


def test_every_plot_table_is_some_stage_out():
    outs = {o if isinstance(o, str) else next(iter(o)) for s in pipeline()["stages"].values()
            for o in s.get("outs", [])}
    outs = {o.replace("${lake.reports}", "reports") for o in outs}
    assert set(plot_definitions()) <= outs


def test_plots_show_renders_every_plot(repo):
    for path, spec in plot_definitions().items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        ys = spec["y"] if isinstance(spec["y"], list) else [spec["y"]]
        values = ",".join("4.5" for _ in ys) if len(ys) > 1 else "a"  # curves, or bars
        target.write_text(f"{spec['x']},{','.join(ys)}\n3,{values}\n5,{values}\n")
    shown = json.loads(sh(repo, DVC, "plots", "show", "--json"))
    assert not shown.get("errors")
    for path in plot_definitions():
        (rendered,) = shown["data"][path]
        assert rendered["type"] == "vega" and rendered["content"], path
    sh(repo, DVC, "plots", "show", "-o", "plots_html")
    page = (repo / "plots_html" / "index.html").read_text()
    for spec in plot_definitions().values():
        assert spec["title"] in page


def test_metrics_diff_between_commits(repo):
    reports = repo / "reports"
    reports.mkdir()
    (reports / "clean.json").write_text(json.dumps({"documents": {"kept": 10}}))
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "first")
    (reports / "clean.json").write_text(json.dumps({"documents": {"kept": 12}}))
    diff = json.loads(sh(repo, DVC, "metrics", "diff", "HEAD", "--json"))
    change = diff["reports/clean.json"]["documents.kept"]
    assert (change["old"], change["new"], change["diff"]) == (10, 12, 2)


def test_no_lake_table_is_a_dvc_out_or_dep():
    lake = yaml.safe_load((ROOT / "params.yaml").read_text())["lake"]["root"]
    for name, stage in pipeline()["stages"].items():
        body = stage.get("do", stage)
        paths = [p if isinstance(p, str) else next(iter(p))
                 for key in ("deps", "outs") for p in body.get(key, [])]
        assert not [p for p in paths if p.startswith(("${lake.root}", lake))], name


def test_training_input_is_cached_for_push_and_pull():
    stages = pipeline()["stages"]
    for stage, out in (("tokenizer", "${lake.artifacts}/tokenizer"),
                       ("export_shards", "${lake.artifacts}/shards")):
        assert out in stages[stage]["outs"], f"{out} must be a cached out of {stage}"
    config = (ROOT / ".dvc" / "config").read_text()
    assert "remote = " in config and "url = " in config
