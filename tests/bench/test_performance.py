"""The README's performance and scale tables are what bench/results say (bench/performance.py),
and the scale bench's pure parts (growth, steps) compute what they claim."""

from __future__ import annotations

import json

import pytest

from bench import performance
from bench.scale import growth, projection, stage_command


def test_readme_tables_match_the_results():
    readme = performance.README.read_text()
    assert performance.render(readme) == readme, \
        "README.md's tables are stale: run python bench/performance.py"


def test_tables_follow_the_results(tmp_path):
    (tmp_path / "ingest.json").write_text(json.dumps({"docs": 1000, "results": {
        "fastwarc": {"docs_per_cpu_s": 30000.0, "documents": 1000},
        "datatrove": {"docs_per_cpu_s": 3000.0, "documents": 1000, "ratio_vs_fastwarc": 0.1},
        "spark": {"records_per_s_per_core": 7500.0, "documents": 999, "ratio_vs_fastwarc": 0.25,
                  "ratio_vs_datatrove": 2.5, "peak_rss_mb": 2048}}}))
    table = performance.performance_table(tmp_path)
    rows = [line for line in table.splitlines() if line.startswith("| ingest")]
    assert len(rows) == 3
    assert "2.50x datatrove" in rows[2] and "999 documents read" in rows[2]
    assert "7,500 docs/s" in rows[2] and "2,048 MB" in rows[2]
    assert "clean" not in table  # no result file, no row


def test_scale_table_and_growth(tmp_path):
    def run(docs, seconds):
        stages = {s: {"seconds": seconds, "docs_per_s": docs / seconds, "peak_rss_mb": 1024}
                  for s in ("ingest", "clean")}
        return {"docs": docs, "stages": stages, "total_seconds": 2 * seconds,
                "total_docs_per_s": docs / (2 * seconds)}

    runs = [run(1000, 10.0), run(10000, 50.0)]
    rates = growth(runs)
    assert rates[0]["size_x"] == 10 and rates[0]["ingest -> shards"] == 0.5  # 5x time, 10x size
    (tmp_path / "scale.json").write_text(json.dumps({
        "runs": runs, "growth": rates, "machine": {"cpus": 2}, "command": "python bench/scale.py"}))
    table = performance.scale_table(tmp_path)
    assert "| ingest | 10 s, 100/s, 1.0 GB | 50 s, 200/s, 1.0 GB |" in table
    assert "1,000 -> 10,000: 0.50" in table


def test_missing_markers_are_an_error():
    with pytest.raises(SystemExit, match="performance:begin"):
        performance.render("# a README without the tables\n")


def test_scale_runs_each_stage_on_its_own_lake(tmp_path):
    cmd = stage_command("ingest", tmp_path / "w", tmp_path / "crawl", "2g")
    sets = dict(cmd[i + 1].split("=", 1) for i, x in enumerate(cmd) if x == "--set")
    assert cmd[-2:] == ["etl", "ingest"]
    assert sets["lake.root"] == str(tmp_path / "w" / "lake")
    assert json.loads(sets["ingest.sources"]) == []  # no crawl folders there yet


def test_projection_fits_fixed_plus_per_document_time(tmp_path):
    runs = [{"docs": 10_000, "total_seconds": 150.0}, {"docs": 100_000, "total_seconds": 375.0}]
    p = projection(runs)
    assert p == {"docs": 1_000_000, "fixed_s": 125.0, "ms_per_doc": 2.5, "projected_s": 2625.0}
    assert projection(runs[:1]) is None
    assert projection([*runs, {"docs": 1_000_000, "total_seconds": 2000.0}]) is None
    text = performance.projected(p)
    assert "about 44 minutes" in text and "125 s fixed" in text
