"""`llmlake retrain`'s decisions and edits, with a real DVC repo whose `validate` and
`package` stages are trivial (the end-to-end test runs the real pipeline): what it does
without drift, on drift, on a report already acted on, forced, and on a batch that is gone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lake_helpers import params_at

from llmlake.stage import StageError
from monitoring.retrain.history import HISTORY, read_history
from monitoring.retrain.stage import run

DVC = str(Path(sys.executable).parent / "dvc")
STAGES = {"stages": {name: {"cmd": f"echo {name} ran"} for name in ("validate", "package")}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A git + DVC project in tmp_path (the cwd), a champion, an incoming raw batch."""
    monkeypatch.chdir(tmp_path)
    for args in (("git", "init", "-q"), (DVC, "init", "-q")):
        subprocess.run(args, check=True)
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(STAGES))
    (tmp_path / "params.yaml").write_text("ingest:\n  sources:   # raw corpora\n"
                                          "    - data/raw/sample\ntrain:\n  warm_start: ''\n")
    model = tmp_path / "artifacts" / "models" / "m-1"
    model.mkdir(parents=True)
    (tmp_path / "artifacts" / "champion.json").write_text(json.dumps({
        "model": str(model), "run": "m-1", "metrics": {"val": {"perplexity": 100.0}}}))
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "a.jsonl").write_text('{"id": "1", "text": "hello"}\n')
    params = params_at(tmp_path, lake={"root": str(tmp_path / "lake"),
                                       "reports": str(tmp_path / "reports"),
                                       "artifacts": str(tmp_path / "artifacts")},
                       monitor={"feedback_out": str(tmp_path / "feedback")})
    return tmp_path, params


def drift_report(root: Path, run: str, detected: bool, source: str = "incoming") -> None:
    (root / "reports").mkdir(exist_ok=True)
    (root / "reports" / "drift.json").write_text(json.dumps({
        "run": run, "drift_detected": detected, "kinds": ["data"] if detected else [],
        "reasons": ["2 of 8 descriptors drifted"] if detected else [],
        "current": {"kind": "files", "source": source, "read": 1}}))


def params_yaml(root: Path) -> dict:
    return yaml.safe_load((root / "params.yaml").read_text())


def test_without_drift_nothing_changes(project):
    root, params = project
    before = (root / "params.yaml").read_text()
    assert run(params) == {"decision": "no_drift"}
    drift_report(root, "r0", detected=False)
    assert run(params) == {"decision": "no_drift"}
    assert (root / "params.yaml").read_text() == before
    assert not (root / "reports" / HISTORY).exists()


def test_drift_adds_the_batch_once_and_a_forced_retrain_adds_nothing(project):
    root, params = project
    drift_report(root, "r1", detected=True)
    event = run(params)
    assert event["status"] == "done" and event["trigger"] == "drift"
    batch = Path(event["batch"]["path"])
    assert (root / f"{batch}.dvc").exists() and (batch / "a.jsonl").exists()
    edited = params_yaml(root)
    assert edited["ingest"]["sources"] == ["data/raw/sample", str(batch)]
    assert edited["train"]["warm_start"] == edited["tokenizer"]["reuse"] == str(
        root / "artifacts" / "models" / "m-1")
    assert event["old"] == {"champion": "m-1", "model": edited["train"]["warm_start"],
                            "val_perplexity": 100.0, "val_bits_per_byte": None}
    assert run(params) == {"decision": "already_handled"}
    forced = run(params_at(root, **{**_sections(params), "retrain": {"force": True}}))
    assert forced["trigger"] == "forced" and forced["batch"] is None
    assert params_yaml(root) == edited  # no empty source, no second copy
    assert [e["trigger"] for e in read_history(root / "reports" / HISTORY)] == [
        "drift", "forced"]


def test_a_batch_that_is_gone_is_a_clear_failure_on_record(project):
    root, params = project
    drift_report(root, "r2", detected=True, source=str(root / "rotated-away"))
    with pytest.raises(StageError, match=r"^retrain: the drifted batch cannot be read back"):
        run(params)
    (event,) = read_history(root / "reports" / HISTORY)
    assert event["status"] == "failed" and "rotated-away" in event["error"]
    assert params_yaml(root)["ingest"]["sources"] == ["data/raw/sample"]


def _sections(params) -> dict:
    return {"lake": {"root": params.lake.root, "reports": params.lake.reports,
                     "artifacts": params.lake.artifacts},
            "monitor": {"feedback_out": params.monitor.feedback_out}}
