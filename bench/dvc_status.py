"""Benchmark: a no-op ``dvc status`` when a stage's out is a lake table vs its lineage file.

Builds a Delta table of ``--docs`` documents (default 1,000,000 of ~``--doc-bytes`` of Zipf
random words) with delta-rs in appends of 100,000 rows, and two scratch git + DVC repos
sharing it (``lake``: a git-ignored symlink), all under ``bench/work/``. In both, ``ingest``
(``cmd: true``) has an out that ``clean`` depends on: the table folder (``cache: false``) in
``table_out``, the old layout; ``reports/lineage/ingest.json`` (table path, Delta version,
rows) in ``lineage_out``. After ``dvc commit -f``, ``dvc status`` (a fresh process each) is
timed ``cold_disk`` (DVC's state cleared: ``.dvc/tmp`` and the repo's site cache dir, where
the file-hash DB is; lake files evicted from the page cache), ``cold`` (state cleared) and
``warm`` (median of 3), with peak RSS and CPU seconds. Then 1,000 rows are appended: both
layouts must report ``ingest`` outs and ``clean`` deps changed. Writes
``bench/results/dvc_status.json``; deletes ``bench/work/dvc_status`` unless ``--keep``.

Example::

    python bench/dvc_status.py --docs 50000 --keep
    python bench/dvc_status.py --reuse      # 1M documents, reusing a kept lake
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Timer, load_average, tree_rss, write_results  # noqa: E402

WORK = ROOT / "bench" / "work" / "dvc_status"
DVC = ROOT / ".venv" / "bin" / "dvc"
TABLE = "lake/bronze/documents"
LINEAGE = "reports/lineage/ingest.json"
CHUNK = 100_000
ENV = {**os.environ, "DVC_NO_ANALYTICS": "1"}


def stages(out: str) -> dict:
    """``ingest`` writes ``out`` (no-op ``cmd``), ``clean`` depends on it; both have a metric."""
    def metric(path: str) -> dict:
        return {path: {"cache": False}}

    return {"ingest": {"cmd": "true", "outs": [metric(out)],
                       "metrics": [metric("reports/ingest.json")]},
            "clean": {"cmd": "true", "deps": [out], "metrics": [metric("reports/clean.json")]}}


STAGES = {"table_out": stages(TABLE), "lineage_out": stages(LINEAGE)}


def documents(rng, start: int, n: int, doc_bytes: int):
    """``n`` bronze rows: varied text of random words from a fixed Zipf vocabulary."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    vocab_rng = np.random.default_rng(0)  # the same vocabulary for every chunk
    lengths = vocab_rng.integers(2, 12, 30_000)
    letters = vocab_rng.integers(97, 123, lengths.sum(), dtype=np.uint8).tobytes().decode()
    ends = np.cumsum(lengths)
    vocab = pa.array([letters[e - k:e] for e, k in zip(ends, lengths, strict=True)])
    p = 1 / np.arange(1, len(lengths) + 1)
    p /= p.sum()
    mean = int(doc_bytes / ((p * lengths).sum() + 1))
    counts = rng.integers(mean // 2, mean * 3 // 2 + 1, n)
    words = vocab.take(pa.array(rng.choice(len(lengths), counts.sum(), p=p).astype(np.int32)))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    raw = pc.binary_join(pa.ListArray.from_arrays(offsets, words), " ")
    ids = rng.integers(0, 2**63, n).tolist()
    return pa.table({"doc_id": [f"{x:016x}" for x in ids],
                     "url": [f"https://site{x % 9973}.example/page/{start + i}"
                             for i, x in enumerate(ids)],
                     "raw": raw})


def build_lake(path: Path, docs: int, doc_bytes: int) -> None:
    import numpy as np
    from deltalake import write_deltalake

    shutil.rmtree(WORK / "lake", ignore_errors=True)
    rng = np.random.default_rng(42)
    for start in range(0, docs, CHUNK):
        n = min(CHUNK, docs - start)
        write_deltalake(path, documents(rng, start, n, doc_bytes), mode="append")
        print(f"  wrote {start + n:,} documents", flush=True)


def lake_facts(path: Path) -> dict:
    from deltalake import DeltaTable

    dt = DeltaTable(path)
    files = [f for f in path.rglob("*") if f.is_file()]
    return {"rows": dt.count(), "delta_version": dt.version(), "files": len(files),
            "parquet_files": sum(f.suffix == ".parquet" for f in files),
            "size_mb": round(sum(f.stat().st_size for f in files) / 2**20, 1)}


def write_lineage(repo: Path, facts: dict) -> None:
    out = repo / LINEAGE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"table": TABLE, "version": facts["delta_version"],
                               "rows": facts["rows"]}, indent=2) + "\n")


def dvc(repo: Path, *args: str) -> dict:
    """Run one dvc command in ``repo``: wall and CPU seconds, peak RSS (sampled), output.

    Not ``wait4``'s ``ru_maxrss``: Linux carries the parent's high-water mark over fork+exec.
    """
    import psutil

    env = {**ENV, "DVC_SITE_CACHE_DIR": str(repo.parent / "site-cache" / repo.name)}
    peak, done = [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            with contextlib.suppress(psutil.Error):  # it has exited
                peak[0] = max(peak[0], tree_rss(proc))

    with Timer() as t:
        proc = psutil.Popen([str(DVC), *args], cwd=repo, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        with proc.stdout:
            out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"dvc {' '.join(args)} failed in {repo.name}:\n{out}")
    return {"seconds": round(t.wall, 3), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(peak[0] / 2**20), "output": out.strip()}


def make_repo(name: str, facts: dict) -> tuple[Path, dict]:
    """A scratch git + DVC repo of one layout, its dvc.lock committed: (repo, commit run)."""
    repo = WORK / name
    shutil.rmtree(repo, ignore_errors=True)
    shutil.rmtree(WORK / "site-cache" / name, ignore_errors=True)
    repo.mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    for option in ("core.analytics", "core.check_update"):
        dvc(repo, "config", option, "false")
    (repo / "lake").symlink_to(Path("..") / "lake")
    (repo / ".gitignore").write_text("/lake/\n")
    for stage in ("ingest", "clean"):
        (repo / "reports" / f"{stage}.json").parent.mkdir(exist_ok=True)
        (repo / "reports" / f"{stage}.json").write_text(f'{{"documents": {facts["rows"]}}}\n')
    write_lineage(repo, facts)
    # JSON is YAML.
    (repo / "dvc.yaml").write_text(json.dumps({"stages": STAGES[name]}, indent=2) + "\n")
    return repo, dvc(repo, "commit", "-f", "-q")


def forget(repo: Path) -> list[str]:
    """Clear DVC's own state of ``repo``; returns what was there (relative paths)."""
    cleared = []
    for d in (repo / ".dvc" / "tmp", repo.parent / "site-cache" / repo.name):
        cleared += [str(f.relative_to(WORK)) for f in sorted(d.rglob("*")) if f.is_file()]
        shutil.rmtree(d, ignore_errors=True)
    return cleared


def evict(path: Path) -> None:
    """Drop ``path``'s files from the page cache (only them: no root, other jobs untouched)."""
    for f in path.rglob("*"):
        if f.is_file():
            fd = os.open(f, os.O_RDONLY)
            try:
                os.fdatasync(fd)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def up_to_date(run: dict) -> dict:
    if "up to date" not in run["output"]:
        raise SystemExit(f"expected a no-op dvc status, got:\n{run['output']}")
    return run


def time_status(repo: Path) -> dict:
    cleared = forget(repo)
    evict(WORK / TABLE)
    cold_disk = up_to_date(dvc(repo, "status"))
    forget(repo)
    cold = up_to_date(dvc(repo, "status"))
    warm = [up_to_date(dvc(repo, "status")) for _ in range(3)]
    return {"cold_disk": cold_disk, "cold": cold,
            "warm_seconds": [w["seconds"] for w in warm],
            "warm": {**warm[len(warm) // 2],
                     "seconds": statistics.median(w["seconds"] for w in warm)},
            "cleared_for_cold": cleared}


def after_append(repos: dict[str, Path], doc_bytes: int) -> tuple[dict, dict]:
    """Append 1,000 rows and rewrite the lineage file: both layouts must see the change."""
    import numpy as np
    from deltalake import DeltaTable, write_deltalake

    rows = DeltaTable(WORK / TABLE).count()
    write_deltalake(WORK / TABLE, documents(np.random.default_rng(7), rows, 1000, doc_bytes),
                    mode="append")
    facts = lake_facts(WORK / TABLE)
    write_lineage(repos["lineage_out"], facts)
    runs = {}
    for name, repo in repos.items():
        runs[name] = run = dvc(repo, "status")
        if "changed outs" not in run["output"] or "changed deps" not in run["output"]:
            raise SystemExit(f"{name}: the append was not seen:\n{run['output']}")
    return facts, runs


def print_table(results: dict) -> None:
    rows = [("cold_disk", "cold, lake evicted (s)"), ("cold", "cold (s)"),
            ("warm", "warm, median of 3 (s)"), ("after_append", "after append (s)")]
    lay = results["layouts"]
    print(f"\n{'':26}{'table out':>11}{'lineage out':>13}{'ratio':>8}")
    for key, label in rows:
        t, m = lay["table_out"][key]["seconds"], lay["lineage_out"][key]["seconds"]
        print(f"{label:26}{t:>11.2f}{m:>13.2f}{t / m:>8.1f}")
    for run, key, label in (("cold", "cpu_seconds", "CPU, cold (s)"),
                            ("cold", "peak_rss_mb", "peak RSS, cold (MB)"),
                            ("commit", "seconds", "dvc commit -f (s)")):
        t, m = lay["table_out"][run][key], lay["lineage_out"][run][key]
        print(f"{label:26}{t:>11}{m:>13}{t / m:>8.1f}")
    lake = results["lake"]
    print(f"lake: {lake['rows']:,} rows, {lake['size_mb']} MB in {lake['files']} files "
          f"({lake['parquet_files']} Parquet); benchmark wall {results['wall_seconds']} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--doc-bytes", type=int, default=2_000)
    ap.add_argument("--reuse", action="store_true", help="use the scratch lake of a --keep run")
    ap.add_argument("--keep", action="store_true", help="keep the scratch lake afterwards")
    args = ap.parse_args()
    table = WORK / TABLE
    with Timer() as total:
        # A kept lake has 1,000 more rows per run that used it.
        reuse = args.reuse and table.exists() and 0 <= lake_facts(table)["rows"] - args.docs < CHUNK
        if not reuse:
            print(f"building a {args.docs:,}-document Delta table ...", flush=True)
            build_lake(table, args.docs, args.doc_bytes)
        facts = lake_facts(table)
        layouts, repos = {}, {}
        for name in STAGES:
            repos[name], commit = make_repo(name, facts)
            layouts[name] = {"commit": commit, **time_status(repos[name])}
        appended, runs = after_append(repos, args.doc_bytes)
        for name, run in runs.items():
            layouts[name]["after_append"] = run
    results = {"machine": {"cores": os.cpu_count(), "load_average": load_average(),
                           "dvc": version("dvc")},
               "docs": args.docs, "doc_bytes": args.doc_bytes, "lake": facts,
               "lake_after_append": appended, "layouts": layouts,
               "ratio_table_over_lineage": {
                   k: round(layouts["table_out"][k]["seconds"]
                            / layouts["lineage_out"][k]["seconds"], 1)
                   for k in ("cold_disk", "cold", "warm", "after_append")},
               "wall_seconds": round(total.wall, 1), "reused_lake": reuse}
    print(f"wrote {write_results('dvc_status', results)}")
    print_table(results)
    if not args.keep:
        shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
