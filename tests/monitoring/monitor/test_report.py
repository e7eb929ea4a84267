"""The Evidently side (monitoring.monitor.report) on small real reports: Evidently's own
per-descriptor verdicts read back in order, the embedding score, and every saved run landing
in one workspace project."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from llmlake.config_monitor import MonitorConfig
from monitoring.monitor.report import (
    PROJECT,
    columns_of,
    embedding_score,
    evidently_report,
    frame_of,
    save_run,
)

CFG = MonitorConfig()
NUMERIC, CATEGORICAL = ["chars", "words"], ["language"]
NAMES = ["chars", "language", "words"]  # the order the verdicts are asked for


def rows(n: int, rng: np.random.Generator, shift: float = 0.0,
         languages: tuple[str, ...] = ("en", "de")) -> list[dict]:
    """Descriptor rows: chars (moved by ``shift``), words, and a language label."""
    return [{"chars": float(rng.normal(1000 + shift, 100)), "words": float(rng.normal(200, 20)),
             "language": languages[i % len(languages)]} for i in range(n)]


@pytest.fixture(scope="module")
def snapshot():
    """Longer texts in the current batch, the same words and languages, and embeddings
    that moved in one direction."""
    rng = np.random.default_rng(0)
    ref_emb = rng.normal(0, 1, (80, 4))
    cur_emb = rng.normal(0, 1, (90, 4)) + np.array([3.0, 0.0, 0.0, 0.0])
    return evidently_report(frame_of(rows(80, rng), ref_emb),
                            frame_of(rows(90, rng, shift=600), cur_emb),
                            NUMERIC, CATEGORICAL, CFG)


def test_columns_of_reads_evidentlys_verdicts_in_the_order_asked(snapshot):
    found = columns_of(snapshot.dict(), NAMES, CFG.p_value)
    assert [c.name for c in found] == NAMES
    by = {c.name: c for c in found}
    assert by["chars"].drifted and by["chars"].score < CFG.p_value
    assert not by["words"].drifted and by["words"].score > CFG.p_value
    assert not by["language"].drifted
    assert (by["chars"].method, by["language"].method) == ("ks", "chisquare")
    assert {c.threshold for c in found} == {CFG.p_value}
    assert [c.name for c in columns_of(snapshot.dict(), ["words"], CFG.p_value)] == ["words"]


def test_embedding_score_is_the_classifiers_auc(snapshot):
    score = embedding_score(snapshot.dict())
    assert score is not None and CFG.embedding_threshold < score <= 1.0


def test_without_embeddings_there_is_no_embedding_score():
    rng = np.random.default_rng(1)
    report = evidently_report(frame_of(rows(40, rng), None), frame_of(rows(40, rng), None),
                              NUMERIC, CATEGORICAL, CFG)
    assert embedding_score(report.dict()) is None
    assert [c.name for c in columns_of(report.dict(), NAMES, CFG.p_value)] == NAMES


@pytest.mark.parametrize("n_current", [61, 123])
def test_one_language_on_both_sides_is_no_drift(n_current):
    """Cleaning keeps the allowed languages only, so reference and batch are often all
    English: a language that has not moved must not read as drift, and an undefined test
    reads as no score (None), not NaN, which is not JSON."""
    rng = np.random.default_rng(2)
    report = evidently_report(frame_of(rows(60, rng, languages=("en",)), None),
                              frame_of(rows(n_current, rng, languages=("en",)), None),
                              NUMERIC, CATEGORICAL, CFG)
    language = {c.name: c for c in columns_of(report.dict(), NAMES, CFG.p_value)}["language"]
    assert not language.drifted, language
    assert language.score is None or math.isfinite(language.score), language


def test_every_saved_run_lands_in_one_project(snapshot, tmp_path):
    from evidently.ui.workspace import Workspace

    workspace = tmp_path / "evidently"
    first = save_run(snapshot, tmp_path / "one", workspace, "run-1")
    second = save_run(snapshot, tmp_path / "two", workspace, "run-2")
    for saved, folder in ((first, tmp_path / "one"), (second, tmp_path / "two")):
        assert saved["html"] == str(folder / "report.html")
        assert "<html" in (folder / "report.html").read_text().lower()
        assert json.loads((folder / "report.json").read_text())["metrics"]
    projects = Workspace(str(workspace)).search_project(PROJECT)
    assert len(projects) == 1 and first["project"] == second["project"] == str(projects[0].id)
    runs = [str(r) for r in Workspace(str(workspace)).list_runs(projects[0].id)]
    assert sorted(runs) == sorted([first["snapshot"], second["snapshot"]])
