"""End to end on the sample corpus, as a user runs it: `dvc repro` builds a champion and
judges the incoming batch, `llmlake retrain` acts on the drift, a second retrain does nothing,
and a retrain killed midway leaves the champion and the Bento untouched, then continues.

Minutes long (two pipeline runs in a scratch copy of this repo): `make test-e2e` runs it
(CI does), `make test` skips it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Small enough for minutes on 2 cores, large enough for the stages' own checks.
SMALL = {
    # The incoming batch: other topics and pages 2.5x as long, drift a small sample shows.
    "sample": {"docs": 600, "incoming_docs": 250, "docs_per_shard": 300,
               "incoming_length": 2.5},
    "tokenizer": {"vocab_size": 1024},
    "train": {"max_steps": 30, "eval_every": 15, "checkpoint_every": 15, "warmup_steps": 5,
              "context": 64, "num_workers": 1},
    "evaluate": {"max_docs": 40, "task_examples": 30, "bootstrap": 100, "bias_examples": 2},
    "monitor": {"reference_docs": 150, "vocab_docs": 300, "max_docs": 150},
    "augment": {"methods": ["synonym", "swap", "paraphrase"]},
    "finetune": {"max_steps": 10, "eval_every": 5, "warmup_steps": 2},
    "tune": {"trials": 3, "max_steps": 10, "eval_every": 5, "grace_period": 5,
             "grid": {"train.lr": [0.003, 0.01]}, "ranges": {"train.lr": [0.001, 0.01]}},
    "validate": {"bronze_min_rows": 10, "silver_min_rows": 10, "gold_min_rows": 10},
    "ablate": {"tokens": 4096, "seeds": 2, "task_examples": 20, "bootstrap": 100},
}


def run(repo: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=repo, capture_output=True, text=True, env=env)
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def sh(repo: Path, *args: str, env: dict | None = None) -> str:
    done = run(repo, *args, env=env)
    return done.stdout + done.stderr


def scratch_repo(dest: Path) -> Path:
    """The repo's committed and new (not ignored) files, in a fresh git + DVC repo."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)
    params = yaml.safe_load((dest / "params.yaml").read_text())
    for section, values in SMALL.items():
        params[section].update(values)
    (dest / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for args in (("git", "init", "-q"), ("git", "config", "user.email", "ci@llmlake.invalid"),
                 ("git", "config", "user.name", "ci"), ("git", "add", "-A"),
                 ("git", "commit", "-qm", "scratch")):
        sh(dest, *args)
    (dest / ".dvc" / "config.local").write_text(
        f"['remote \"store\"']\n    url = {dest.parent / 'store'}\n")
    return dest


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> tuple[Path, dict]:
    dest = scratch_repo(tmp_path_factory.mktemp("e2e") / "repo")
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DO_NOT_TRACK": "1"}
    sh(dest, "dvc", "repro", env=env)
    return dest, env


def read(repo: Path, name: str) -> dict:
    return json.loads((repo / name).read_text())


def history(repo: Path) -> list[dict]:
    path = repo / "reports" / "retrain_history.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_pipeline_ends_with_the_ablation_and_the_overview_page(repo):
    repo, _ = repo
    ablation = read(repo, "reports/ablate.json")
    assert ablation["order"] == yaml.safe_load((repo / "params.yaml").read_text())[
        "ablate"]["variants"]
    assert all(len(v["bits_per_byte_runs"]) == 2 for v in ablation["variants"].values())
    sections = read(repo, "reports/report.json")["sections"]
    assert all(status == "present" for status in sections.values()), sections
    page = (repo / "reports" / "index.html").read_text()
    assert 'href="ablate.html"' in page and 'href="dedup.html"' in page


def test_finetune_and_tune_run_as_dvc_experiments(repo):
    """What the README shows: `dvc exp run -S` on a stage, then `dvc exp show` and
    `dvc metrics diff`."""
    repo, env = repo
    before = read(repo, "reports/finetune.json")
    run_before = read(repo, "artifacts/finetuned/lineage.json")["run"]
    sh(repo, "dvc", "exp", "run", "-n", "ft-slow", "-S", "finetune.lr=0.0002", "finetune",
       env=env)
    lineage = read(repo, "artifacts/finetuned/lineage.json")
    assert lineage["finetune"]["params"]["lr"] == 0.0002 and lineage["run"] != run_before
    assert read(repo, "reports/finetune.json")["val_loss"] != before["val_loss"]
    sh(repo, "dvc", "exp", "run", "-n", "tune-grid", "-S", "tune.search=grid", "tune", env=env)
    best = read(repo, "reports/tune_best.json")
    assert best["search"] == "grid" and best["signals"]["trials"] == 2  # 0.003: the default
    shown = sh(repo, "dvc", "exp", "show", "--csv", env=env)
    assert "ft-slow" in shown and "tune-grid" in shown and "0.0002" in shown
    # stdout only: DVC warns on stderr about metrics files HEAD does not hold.
    diff = json.loads(run(repo, "dvc", "metrics", "diff", "--json", env=env).stdout or "{}")
    assert "reports/tune_best.json" in diff and "reports/finetune.json" in diff


def test_drift_then_retrain_then_nothing_to_do(repo):
    repo, env = repo
    drift = read(repo, "reports/drift.json")
    assert drift["drift_detected"], drift["reasons"]  # the incoming batch has other topics
    old = read(repo, "artifacts/champion.json")

    out = sh(repo, "llmlake", "retrain", env=env)
    (event,) = history(repo)
    assert event["status"] == "done" and event["trigger"] == "drift"
    assert event["drift_run"] == drift["run"] and event["reasons"]
    assert event["decision"] in ("promoted", "refused_worse", "refused_bias"), out[-2000:]
    assert event["old"]["champion"] == old["run"] and event["new"]["val_perplexity"] > 0
    assert event["versions_after"]["bronze/documents"] > event["versions_before"]["bronze/documents"]
    batch = event["batch"]
    assert (repo / f"{batch['path']}.dvc").exists()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert batch["path"] in params["ingest"]["sources"]
    assert params["train"]["warm_start"] == old["model"] == params["tokenizer"]["reuse"]
    lineage = read(repo, "artifacts/model/lineage.json")
    assert lineage["parent"]["weights_sha256"] == old["weights_sha256"]
    champion = read(repo, "artifacts/champion.json")
    assert (champion["run"] != old["run"]) == (event["decision"] == "promoted")
    if event["decision"] == "promoted":
        assert event["bento"] == read(repo, "reports/bento.json")["bento"]

    again = sh(repo, "llmlake", "retrain", env=env)
    assert "already acted on" in again and len(history(repo)) == 1


def test_a_killed_retrain_leaves_the_champion_and_continues(repo):
    repo, env = repo
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["train"]["seed"] += 1  # something for the forced retrain to train
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    champion = (repo / "artifacts" / "champion.json").read_bytes()
    bento = (repo / "reports" / "bento.json").read_bytes()
    before = len(history(repo))

    proc = subprocess.Popen(["llmlake", "retrain", "--force"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    for line in proc.stdout:
        if "Running stage 'evaluate'" in line:  # train done and locked; the gate not yet run
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert (repo / "artifacts" / "champion.json").read_bytes() == champion
    assert (repo / "reports" / "bento.json").read_bytes() == bento
    assert len(history(repo)) == before

    out = sh(repo, "llmlake", "retrain", "--force", env=env)
    assert "Running stage 'train'" not in out and "Running stage 'evaluate'" in out
    event = history(repo)[-1]
    assert event["status"] == "done" and event["trigger"] == "forced" and event["decision"]
    assert event["batch"] is None  # the drifted batch was added by the first retrain
