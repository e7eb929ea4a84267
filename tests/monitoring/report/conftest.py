"""Reports folders to build the page from: the committed reports of a full pipeline run
(plus the pages and files git does not keep, written here), and an ETL-only folder with no
model yet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
COMMITTED = REPO / "reports"
ETL_ONLY = ("sample", "ingest", "clean", "dedup", "tokenizer", "tokenize", "export_shards",
            "validate_bronze", "validate_silver", "validate_gold", "validate_sequences")
DRIFT_RUN = "20261130T020435672Z-files-incoming"

ABLATE = {
    "reference": "curated", "headline": "bits_per_byte", "tokens": 98304, "seeds": [0, 1],
    "steps": 48, "model": {"preset": "tiny", "arch": "gpt", "params": 1901696, "context": 256},
    "held_out": {"split": "test", "documents": 108, "bytes": 400000},
    "task": "next_sentence",
    "variants": {
        "raw": {"documents": 2800, "tokens_available": 1200000, "epochs": 0.08,
                "same_as": None, "bits_per_byte": 2.31, "bits_per_byte_std": 0.01,
                "perplexity": 300.1, "task_accuracy": 0.41, "task_ci": [0.35, 0.47],
                "vs_reference": {"bits_per_byte": 0.05, "ci": [0.03, 0.07]},
                "verdict": "worse"},
        "curated": {"documents": 2244, "bits_per_byte": 2.26, "bits_per_byte_std": 0.02,
                    "verdict": "reference"},
        "no_dedup": {"documents": 2529, "same_as": "filtered", "bits_per_byte": 2.27,
                     "vs_reference": {"bits_per_byte": 0.01, "ci": [-0.01, 0.03]},
                     "verdict": "within_noise"},
    },
}


def _page(path: Path, title: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<!doctype html><title>{title}</title><p>{title}</p>")


@pytest.fixture
def full_reports(tmp_path: Path) -> Path:
    """The committed reports with everything a full run adds: the ablation, data docs,
    drift pages, the stage pages and a retrain history line."""
    folder = tmp_path / "reports"
    folder.mkdir()
    for path in COMMITTED.glob("*.json"):
        shutil.copy(path, folder / path.name)
    for name in ("train", "finetune"):
        (folder / name).mkdir()
        shutil.copy(COMMITTED / name / "log.csv", folder / name / "log.csv")
    (folder / "ablate.json").write_text(json.dumps(ABLATE))
    for table in ("bronze", "silver", "gold", "sequences"):
        _page(folder / "gx" / table / "index.html", f"data docs {table}")
    _page(folder / "drift" / DRIFT_RUN / "index.html", "drift verdict")
    _page(folder / "drift" / DRIFT_RUN / "report.html", "evidently")
    for name in ("dedup", "bias", "ablate"):
        _page(folder / f"{name}.html", name)
    (folder / "retrain_history.jsonl").write_text(json.dumps({
        "started_at": "2026-11-30T02:10:00Z", "trigger": "drift", "drift_run": DRIFT_RUN,
        "status": "done", "decision": "promoted", "champion_after": "train-new"}) + "\n")
    return folder


@pytest.fixture
def etl_reports(tmp_path: Path) -> Path:
    """What the data stages alone report: no model, no evaluation, no drift check."""
    folder = tmp_path / "etl_reports"
    folder.mkdir()
    for stem in ETL_ONLY:
        shutil.copy(COMMITTED / f"{stem}.json", folder / f"{stem}.json")
    _page(folder / "dedup.html", "dedup")
    return folder


@pytest.fixture
def committed():
    """``committed(stem)``: the committed ``reports/<stem>.json``, what a page must show."""
    return lambda stem: json.loads((COMMITTED / f"{stem}.json").read_text())
