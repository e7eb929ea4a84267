"""``llmlake report`` as a stage: params from params.yaml with the reports folder moved,
the page and the metrics it writes, and the same page opened in a real browser."""

from __future__ import annotations

import json
from pathlib import Path

from browser_helpers import needs_browser, open_page

from llmlake.config import load_params
from monitoring.report.page import SECTIONS
from monitoring.report.stage import run

IDS = [sid for sid, _, _ in SECTIONS]
REPO = Path(__file__).resolve().parents[3]


def params_for(reports: Path, tmp_path: Path):
    return load_params(REPO / "params.yaml", overrides=[
        f"lake.reports={reports}", f"lake.root={tmp_path / 'lake'}",
        f"lake.artifacts={tmp_path / 'artifacts'}"])


def test_run_writes_the_page_and_its_metrics(full_reports, tmp_path):
    metrics = run(params_for(full_reports, tmp_path))
    assert metrics == {"sections": dict.fromkeys(IDS, "present")}
    assert json.loads((full_reports / "report.json").read_text()) == metrics
    html = (full_reports / "index.html").read_text()
    assert all(f'<section id="{sid}"' in html for sid in IDS)
    assert 'href="gx/gold/index.html"' in html and 'href="dedup.html"' in html
    # The page it wrote is never listed among the pages it links to.
    assert 'href="index.html"' not in html


def test_run_without_a_model(etl_reports, tmp_path):
    metrics = run(params_for(etl_reports, tmp_path))
    missing = {sid for sid, status in metrics["sections"].items() if status == "missing"}
    assert missing == {"training", "evaluation", "promotion", "ablation", "drift"}
    assert (etl_reports / "index.html").is_file()


def _check(path: Path, titles: list[str]) -> str:
    view = open_page(path, wait_for="#links")
    assert view.console_errors == [] and view.page_errors == []
    assert view.blocked == []  # nothing fetched from the network
    assert "<script" not in view.html
    for sid, title in zip(IDS, titles, strict=True):
        assert f'<section id="{sid}"' in view.html
        # innerText holds only what is rendered visibly: the heading shows.
        assert f"\n{title}\n" in f"\n{view.text}\n", f"section {sid} is not visible"
    return view.text


@needs_browser
def test_full_page_in_a_browser(full_reports, tmp_path):
    run(params_for(full_reports, tmp_path))
    text = _check(full_reports / "index.html", [t for _, t, _ in SECTIONS])
    assert "Documents left after each stage" in text and "Loss by step (train)" in text
    assert "within_noise" in text and "No model yet" not in text


@needs_browser
def test_page_without_a_model_in_a_browser(etl_reports, tmp_path):
    run(params_for(etl_reports, tmp_path))
    text = _check(etl_reports / "index.html", [t for _, t, _ in SECTIONS])
    assert "No model yet: run llmlake train (or dvc repro)" in text
    assert "No ablation yet: run llmlake ablate" in text
