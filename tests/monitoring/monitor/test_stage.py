"""``llmlake monitor`` end to end on the shared small lake: a batch of the same distribution
passes, batches of another topic mix, language mix or length profile drift with the right
signals named, what a check writes (drift.json, the pages, the Evidently workspace), and a
batch that cannot be judged stops with its reason instead of a verdict."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import needs_browser, open_page

from llmlake.config_monitor import REQUESTS
from llmlake.stage import StageError
from monitoring.monitor.batch import read_folder
from monitoring.monitor.report import PROJECT
from monitoring.monitor.stage import DRIFT_DIR, run
from serving.requestlog import RequestLog, RequestRecord

pytestmark = [pytest.mark.usefixtures("one_thread"), pytest.mark.spark, pytest.mark.slow]

# Another batch of the lake's crawl, drawn with another seed: the same distribution.
SEED = 11
BATCHES: dict[str, dict[str, Any]] = {
    "same": {},
    "topics": {"topics": ["cars", "finance"]},
    "foreign": {"foreign_rate": 0.5},
    "length": {"length": 3.0, "docs": 80},  # fewer, as each is three times as long
}


def strict_json(path: Path) -> dict:
    """The file as JSON that any parser reads: NaN and Infinity are not JSON."""
    def reject(constant: str) -> None:
        raise ValueError(f"{path}: {constant} is not JSON")

    return json.loads(path.read_text(), parse_constant=reject)


@pytest.fixture(scope="module")
def shared_workspace(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("evidently")


@pytest.fixture(scope="module")
def check(make_batch, monitor_params, shared_workspace, tmp_path_factory):
    """``check(name)``: the metrics of one monitor run on batch ``name`` (run once per
    module), and its params. Every check adds to the one workspace."""
    done: dict[str, tuple[dict, Any]] = {}

    def get(name: str) -> tuple[dict, Any]:
        if name not in done:
            batch = make_batch(name, seed=SEED, **BATCHES[name])
            params = monitor_params(tmp_path_factory.mktemp(name), current=str(batch),
                                    workspace=str(shared_workspace))
            done[name] = run(params), params
        return done[name]

    return get


def test_a_batch_of_the_same_distribution_shows_no_drift(check):
    metrics, params = check("same")
    cfg = params.monitor
    assert not metrics["drift_detected"], metrics["reasons"]
    assert metrics["kinds"] == [] and metrics["reasons"] == []
    assert metrics["drift_share"] < cfg.drift_share
    assert metrics["perplexity"]["ratio"] <= cfg.perplexity_ratio
    assert metrics["embedding"]["score"] <= cfg.embedding_threshold
    assert metrics["yield"] and metrics["yield_drifted"] == []


def test_a_single_language_batch_does_not_drift_in_language(check):
    """Cleaning keeps English only, so reference and batch are both all English: the
    language cannot have moved."""
    metrics, _ = check("same")
    language = next(d for d in metrics["descriptors"] if d["name"] == "language")
    assert not language["drifted"], language
    assert "language" not in metrics["drifted"]


def test_another_topic_mix_drifts_in_vocabulary_not_length(check):
    metrics, _ = check("topics")
    assert metrics["drift_detected"] and "data" in metrics["kinds"], metrics["reasons"]
    assert "oov_share" in metrics["drifted"]
    assert not {"chars", "words", "sentences"} & set(metrics["drifted"])
    assert "oov_share" in metrics["reasons"][metrics["kinds"].index("data")]


def test_another_language_mix_drifts_in_yield(check):
    """Cleaning drops the foreign pages, so what reaches the descriptors is English as
    before; the drop reason's share is what moved."""
    metrics, _ = check("foreign")
    assert metrics["drift_detected"] and "yield" in metrics["kinds"], metrics["reasons"]
    assert "lang_not_allowed" in metrics["yield_drifted"]
    row = next(r for r in metrics["yield"] if r["outcome"] == "lang_not_allowed")
    assert row["current"] > 0.3 > 0.1 > row["lake"]
    assert any("'lang_not_allowed'" in reason for reason in metrics["reasons"])


def test_another_length_profile_drifts_in_length(check):
    metrics, _ = check("length")
    assert metrics["drift_detected"] and "data" in metrics["kinds"], metrics["reasons"]
    assert {"chars", "words", "sentences"} <= set(metrics["drifted"])
    assert "oov_share" not in metrics["drifted"]
    assert metrics["yield_drifted"] == []


def test_drift_json_holds_the_verdict_and_its_figures(check):
    metrics, params = check("length")
    on_disk = strict_json(Path(params.lake.reports) / "drift.json")
    assert on_disk == json.loads(json.dumps(metrics, default=str))
    for key in ("drift_detected", "kinds", "reasons", "drifted", "drift_share", "perplexity",
                "embedding", "yield", "yield_drifted", "descriptors", "current", "reference",
                "thresholds", "files", "run"):
        assert key in on_disk, key
    names = [d["name"] for d in on_disk["descriptors"]]
    assert names == ["chars", "words", "sentences", "non_letter_share", "oov_share",
                     "tokens_per_word", "language", "perplexity"]
    assert on_disk["drift_share"] == pytest.approx(len(on_disk["drifted"]) / len(names))
    assert on_disk["perplexity"]["ratio"] == pytest.approx(
        on_disk["perplexity"]["current_median"] / on_disk["perplexity"]["reference_median"])
    assert 0.0 <= on_disk["embedding"]["score"] <= 1.0
    current = on_disk["current"]
    crawl = Path(current["source"])
    truth = [json.loads(line) for line in (crawl / "truth.jsonl").read_text().splitlines()]
    shards = [p for p in crawl.rglob("*") if p.is_file() and p.name != "truth.jsonl"]
    assert current["kind"] == "files" and current["files"] == len(shards)
    assert current["read"] == sum(1 for t in truth if t["kind"] == "document")
    assert sum(current["quarantined"].values()) == sum(1 for t in truth if t["kind"] == "corrupt")
    assert 20 <= current["documents"] == current["read"] - sum(current["dropped"].values())
    reference = on_disk["reference"]
    lineage = json.loads((Path(params.lake.artifacts) / "model" / "lineage.json").read_text())
    gold = lineage["upstream"]["gold/documents"]
    assert (reference["table"], reference["version"]) == (gold["path"], gold["version"])
    assert reference["documents"] == params.monitor.reference_docs
    assert reference["champion"] == "trained"
    assert on_disk["thresholds"]["drift_share"] == params.monitor.drift_share


def test_a_check_writes_its_pages_and_lineage(check):
    metrics, params = check("length")
    folder = Path(params.lake.reports) / DRIFT_DIR / metrics["run"]
    files = metrics["files"]
    assert Path(files["page"]) == folder / "index.html"
    assert Path(files["html"]) == folder / "report.html"
    assert Path(files["json"]) == folder / "report.json"
    for name in ("index.html", "report.html", "report.json"):
        assert (folder / name).stat().st_size > 0, name
    body = json.loads((folder / "report.json").read_text())
    assert body["metrics"], "Evidently's report JSON holds no metrics"
    record = json.loads((Path(params.lake.reports) / "lineage" / "drift.json").read_text())
    assert record["inputs"]["gold/documents"]["version"] == metrics["reference"]["version"]
    assert record["run"] == metrics["run"]
    assert Path(record["champion"]) == Path(params.lake.artifacts) / "model"


def test_every_check_adds_one_snapshot_to_the_workspace(check, shared_workspace):
    from evidently.ui.workspace import Workspace

    first, _ = check("same")
    second, _ = check("length")
    workspace = Workspace(str(shared_workspace))
    projects = workspace.search_project(PROJECT)
    assert len(projects) == 1, "each check made a project of its own"
    runs = {str(r) for r in workspace.list_runs(projects[0].id)}
    assert {first["files"]["snapshot"], second["files"]["snapshot"]} <= runs
    assert first["files"]["snapshot"] != second["files"]["snapshot"]
    assert first["files"]["project"] == second["files"]["project"] == str(projects[0].id)


# ---- batches that cannot be judged -------------------------------------------------------

@pytest.mark.parametrize("content, reason", [
    ({}, "no WARC, WET, JSONL or Parquet file"),
    ({"notes.txt": b"not a crawl\n", "photo.jpg": b"\xff\xd8\xff\xe0"},
     "no WARC, WET, JSONL or Parquet file"),
    ({"part-0.jsonl": b'{"url": "https://a.example/1", "text": \n{broken\n'},
     "none of its 0 documents survived cleaning"),
])
def test_an_unusable_folder_is_an_error_not_a_verdict(monitor_params, tmp_path, content,
                                                      reason):
    batch = tmp_path / "batch"
    batch.mkdir()
    for name, data in content.items():
        (batch / name).write_bytes(data)
    params = monitor_params(tmp_path, current=str(batch))
    with pytest.raises(StageError, match=f"monitor.current: .*{reason}"):
        run(params)
    assert not (Path(params.lake.reports) / "drift.json").exists()


def test_a_missing_folder_is_an_error(monitor_params, tmp_path):
    params = monitor_params(tmp_path, current=str(tmp_path / "nowhere"))
    with pytest.raises(StageError, match="nowhere: no such folder"):
        run(params)


def test_a_batch_under_min_docs_is_an_error(make_batch, monitor_params, tmp_path):
    small = make_batch("small", docs=20, seed=SEED)
    params = monitor_params(tmp_path, current=str(small), min_docs=30)
    with pytest.raises(StageError, match=r"usable documents, fewer than monitor.min_docs=30"):
        run(params)
    assert not (Path(params.lake.reports) / "drift.json").exists()


def test_requests_without_a_request_log_is_an_error(monitor_params, tmp_path):
    params = monitor_params(tmp_path, current=REQUESTS)
    with pytest.raises(StageError, match="no request log table yet"):
        run(params)
    assert not (Path(params.lake.reports) / "drift.json").exists()


# ---- the served prompts as the batch -----------------------------------------------------

def test_served_prompts_in_a_window_are_judged(make_batch, monitor_params, tmp_path,
                                               monkeypatch):
    monkeypatch.delenv("LLMLAKE_API_KEY", raising=False)
    params = monitor_params(tmp_path, current=REQUESTS, since="2025-07-01T00:00:00",
                            until="2025-07-01T01:00:00")
    prompts = read_folder(make_batch("same", seed=SEED), params).texts
    t0 = datetime(2025, 6, 30, 23, 30, tzinfo=UTC)
    root = params.lake.root
    with RequestLog(f"{root}/ops/requests", f"{root}/ops/feedback") as log:
        for i, prompt in enumerate(prompts):  # one a minute: the window holds 30..89
            log.record_request(RequestRecord(f"req-{i:03d}", "generate", "trained@0", 9, 9,
                                             1.0, finish_reason="stop", prompt=prompt,
                                             ts=t0 + timedelta(minutes=i)))
    assert len(prompts) > 90
    metrics = run(params)
    current = metrics["current"]
    assert current["kind"] == "requests" and current["documents"] == 60
    assert current["table_version"] is not None and current["files"] == 0
    assert current["window"] == {"since": "2025-07-01T00:00:00",
                                 "until": "2025-07-01T01:00:00"}
    assert metrics["yield"] == [] and metrics["yield_drifted"] == []
    assert not metrics["drift_detected"], metrics["reasons"]
    record = json.loads((Path(params.lake.reports) / "lineage" / "drift.json").read_text())
    assert record["inputs"]["ops/requests"] == {"path": f"{root}/ops/requests",
                                                "version": current["table_version"]}


# ---- what a reader sees -------------------------------------------------------------------

def assert_clean(view) -> None:
    assert view.console_errors == [] and view.page_errors == [], (
        view.console_errors, view.page_errors)
    assert view.blocked == [], f"the page reaches for the network: {view.blocked}"


@needs_browser
@pytest.mark.parametrize("name, verdict", [("length", "Drift detected: data"),
                                           ("same", "No drift detected")])
def test_the_page_shows_the_verdict_and_the_drifted_descriptors(check, name, verdict):
    metrics, _ = check(name)
    view = open_page(Path(metrics["files"]["page"]), wait_for="#verdict")
    assert_clean(view)
    shown = view.text
    assert verdict in shown
    drifted = shown.split("Drifted:", 1)[1].split("\n", 1)[0]
    for descriptor in metrics["drifted"] or ["none"]:
        assert descriptor in drifted
    for reason in metrics["reasons"]:
        assert reason in shown
    if metrics["perplexity"]["ratio"] is not None:
        assert f"{metrics['perplexity']['ratio']:.3f}" in shown


@needs_browser
def test_evidently_report_renders_every_descriptor(check):
    metrics, _ = check("length")
    view = open_page(Path(metrics["files"]["html"]), wait_for='td[value="chars"]')
    assert_clean(view)
    tested = [d["name"] for d in metrics["descriptors"] if d["score"] is not None]
    assert "language" not in tested  # all English on both sides: no test, not in the report
    for name in tested:
        assert name in view.text
    assert "Dataset Drift is detected" in view.text
