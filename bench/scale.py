"""Benchmark: the ETL chain at growing sizes, as a new user runs it (one command a stage).

For each of ``--sizes`` (default 10,000, 100,000 and 1,000,000 documents) it generates the
project's sample crawl with the sample generator (every format and every planted defect of
``params.yaml``'s ``sample`` section, seed 7; cached under ``bench/work/scale/``), then runs
``llmlake etl ingest`` -> ``clean`` -> ``dedup`` -> ``tokenizer`` -> ``tokenize`` ->
``export-shards`` into a fresh lake, each stage in its own process exactly as ``dvc repro``
runs it (Spark starts once per stage), with the params of the repo and only the paths set.

It prints wall seconds, documents per second and the peak resident memory of each stage's
process tree (the JVM and its Python workers included) at each size, the stages' own step
times (``reports/timings``), the growth factor from one size to the next, and writes
``bench/results/scale.json`` and the picture ``reports/bench/scale.png`` (time against size,
log-log, one line per stage and the whole chain, with linear growth for reference).

Example::

    python bench/scale.py --sizes 2000
    python bench/scale.py --sizes 10000,100000,1000000 --driver-memory 8g
    python bench/scale.py --reuse --sizes 1000000     # add a size, keep the others
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    load_average,
    sample_crawl,
    tree_rss,
    write_results,
)

STAGES = ("ingest", "clean", "dedup", "tokenizer", "tokenize", "export-shards")
CHAIN = "ingest -> shards"
FORMATS = ("warc", "wet", "jsonl", "parquet")
PICTURE = ROOT / "reports" / "bench" / "scale.png"


def stage_command(stage: str, work: Path, crawl: Path, driver_memory: str) -> list[str]:
    """The CLI call of one stage on the scratch lake under ``work`` (paths set, nothing else)."""
    sources = [str(crawl / f) for f in FORMATS if (crawl / f).exists()]
    sets = {
        "lake.root": work / "lake", "lake.reports": work / "reports",
        "lake.artifacts": work / "artifacts", "ingest.sources": json.dumps(sources),
        "spark.driver_memory": driver_memory,
        "spark.log_level": "ERROR",
    }
    cmd = [str(Path(sys.executable).parent / "llmlake")]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={value}"]
    return [*cmd, "etl", stage]


def run_stage(cmd: list[str], log: Path) -> dict:
    """Wall seconds and peak tree RSS of one stage process; its stderr goes to ``log``."""
    import psutil

    started = time.perf_counter()
    with open(log, "a") as err:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=err, stderr=err,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        ps, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            peak = max(peak, tree_rss(ps))
            time.sleep(0.25)
    if proc.returncode:
        raise SystemExit(f"{cmd[-1]} failed with exit code {proc.returncode}: see {log}")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_mb": peak >> 20}


def run_size(docs: int, args: argparse.Namespace) -> dict:
    base = ROOT / "bench" / "work" / "scale"
    crawl = sample_crawl(base / f"crawl-{docs}", docs, args.seed)
    work = base / f"run-{docs}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    stages = {}
    for stage in STAGES:
        print(f"[{docs:>9,}] {stage} ...", flush=True)
        result = run_stage(stage_command(stage, work, crawl, args.driver_memory),
                           work / "stages.log")
        result["docs_per_s"] = round(docs / result["seconds"], 1)
        result["steps"] = stage_steps(work / "reports", stage)
        stages[stage] = result
        print(f"[{docs:>9,}] {stage}: {result['seconds']:.1f} s, "
              f"{result['docs_per_s']:,.0f} docs/s, peak {result['peak_rss_mb']:,} MB", flush=True)
    total = round(sum(s["seconds"] for s in stages.values()), 1)
    return {"docs": docs, "input_mb": round(folder_mb(crawl), 1),
            "lake_mb": round(folder_mb(work / "lake"), 1),
            "staging_mb": round(folder_mb(work / "lake" / "_staging"), 1),
            "rows": table_rows(work / "reports"), "stages": stages,
            "total_seconds": total, "total_docs_per_s": round(docs / total, 1)}


def stage_steps(reports: Path, stage: str) -> dict:
    """The stage's own step times from ``reports/timings/<report>.json`` (when it has one)."""
    name = stage.replace("-", "_")
    for candidate in (reports / "timings" / f"{name}.json",
                      reports / "timings" / f"{stage}.json"):
        if candidate.exists():
            return json.loads(candidate.read_text()).get("steps", {})
    return {}


def table_rows(reports: Path) -> dict:
    """Row counts of the tables the chain wrote, from its lineage files."""
    rows = {}
    for lineage in sorted((reports / "lineage").glob("*.json")):
        for table, state in json.loads(lineage.read_text()).get("tables", {}).items():
            if isinstance(state, dict) and "rows" in state:
                rows[table] = state["rows"]
    return rows


def folder_mb(path: Path) -> float:
    if not path.exists():
        return 0.0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def growth(runs: list[dict]) -> list[dict]:
    """Time ratio against size ratio between consecutive sizes: 1.0 is linear growth."""
    out = []
    for small, big in itertools.pairwise(runs):
        size = big["docs"] / small["docs"]
        row = {"from": small["docs"], "to": big["docs"], "size_x": round(size, 2)}
        for stage in (*small["stages"], CHAIN):
            a, b = seconds_of(small, stage), seconds_of(big, stage)
            row[stage] = round(b / a / size, 2) if a else None
        out.append(row)
    return out


def projection(runs: list[dict], target: int = 1_000_000) -> dict | None:
    """The whole chain's seconds at ``target`` documents from a least-squares line (fixed
    seconds + seconds per document) through the sizes run; None with fewer than two sizes
    or when ``target`` itself was run.

    >>> projection([{"docs": 10, "total_seconds": 20.0}, {"docs": 20, "total_seconds": 30.0}],
    ...            target=100)
    {'docs': 100, 'fixed_s': 10.0, 'ms_per_doc': 1000.0, 'projected_s': 110.0}
    """
    if len(runs) < 2 or any(r["docs"] == target for r in runs):
        return None
    xs, ys = [r["docs"] for r in runs], [r["total_seconds"] for r in runs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs)
    fixed = my - slope * mx
    return {"docs": target, "fixed_s": round(fixed, 1), "ms_per_doc": round(slope * 1e3, 4),
            "projected_s": round(fixed + slope * target, 1)}


def seconds_of(run: dict, stage: str) -> float:
    return run["total_seconds"] if stage == CHAIN else run["stages"][stage]["seconds"]


def draw(runs: list[dict], out: Path) -> Path:
    """Time against size, log-log, a line per stage and the chain; dashed: linear growth."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    sizes = [r["docs"] for r in runs]
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    for stage in (*STAGES, CHAIN):
        times = [seconds_of(r, stage) for r in runs]
        ax.plot(sizes, times, marker="o", linewidth=2.5 if stage == CHAIN else 1.2,
                label=f"{stage} ({times[-1]:,.0f} s at {sizes[-1]:,})")
    if len(runs) > 1:  # linear growth through the chain's first point, for reference
        first = seconds_of(runs[0], CHAIN)
        ax.plot(sizes, [first * s / sizes[0] for s in sizes], "k--", linewidth=0.8,
                label="linear growth")
    ax.set(xscale="log", yscale="log", xlabel="documents", ylabel="wall seconds",
           title=f"llmlake ETL, one process per stage, {os.cpu_count()} cores")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


def print_table(runs: list[dict]) -> None:
    print(f"\n{'stage':<14}" + "".join(f"{r['docs']:>22,}" for r in runs))
    for stage in (*STAGES, CHAIN):
        cells = []
        for r in runs:
            s = seconds_of(r, stage)
            mem = "" if stage == CHAIN else f" {r['stages'][stage]['peak_rss_mb'] / 1024:4.1f}G"
            cells.append(f"{s:8.1f}s {r['docs'] / s:7,.0f}/s{mem}")
        print(f"{stage:<14}" + "".join(f"{c:>22}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--driver-memory", default="6g",
                        help="spark.driver_memory of every stage (local[*]: the whole Spark)")
    parser.add_argument("--reuse", action="store_true",
                        help="keep the runs of sizes not asked for from the last results file")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    previous = ROOT / "bench" / "results" / "scale.json"
    kept = []
    if args.reuse and previous.exists():
        kept = [r for r in json.loads(previous.read_text())["runs"] if r["docs"] not in sizes]
    load_before = load_average()
    runs = sorted([*kept, *(run_size(n, args) for n in sizes)], key=lambda r: r["docs"])
    print_table(runs)
    payload = {"sizes": [r["docs"] for r in runs], "seed": args.seed,
               "driver_memory": args.driver_memory,
               "machine": {"cpus": os.cpu_count(), "arch": platform.machine(),
                           "python": platform.python_version(),
                           "load_before": load_before, "load_after": load_average()},
               "command": "python bench/scale.py --sizes " + ",".join(map(str, sizes)),
               "runs": runs, "growth": growth(runs), "projection": projection(runs)}
    print("growth (time ratio / size ratio; 1.0 = linear):", json.dumps(payload["growth"]))
    print("wrote", write_results("scale", payload).relative_to(ROOT),
          "and", draw(runs, PICTURE).relative_to(ROOT))


if __name__ == "__main__":
    main()
