"""Benchmark: the ingest path against FastWARC alone, on the same WARC.gz files.

Generates a WARC-only sample crawl (``--docs``, default 50,000), then measures, each in its
own process so peak memory is per contender:

- ``fastwarc``: FastWARC iterating every file in one process, parsing HTTP headers and
  reading each 200 text response body (the floor for any WARC ingest);
- ``readers``: llmlake's record reader (:mod:`etl.ingest.readers`) in one process, without Spark:
  decoding, ids, skip counting, quarantine checks;
- ``spark``: the full ``llmlake etl ingest`` (Spark ``mapInArrow`` parse, staging, Delta
  MERGE into bronze, reports) on ``local[*]``, into an empty lake; before it, the parse
  stage alone (``mapInArrow`` into Spark's ``noop`` sink) is timed twice, cold and warm.

It prints records/s, records/s per core, the ratio to FastWARC and the peak resident memory
of each process tree, and writes ``bench/results/ingest.json``.

Example::

    python bench/ingest.py --docs 5000
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import emit, measure, sample_crawl, write_results  # noqa: E402


def run_fastwarc(files: list[str]) -> dict:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    records = kept = 0
    started = time.perf_counter()
    for path in files:
        for record in ArchiveIterator(path, record_types=WarcRecordType.response,
                                      parse_http=True):
            records += 1
            if record.http_headers.status_code == 200:
                mime = (record.http_content_type or "").split(";")[0]
                if mime.startswith("text/"):
                    record.reader.read()
                    kept += 1
    return {"records": records, "documents": kept, "seconds": time.perf_counter() - started}


def run_readers(files: list[str]) -> dict:
    from etl.ingest.readers import ReaderOptions, read_file

    docs = other = 0
    started = time.perf_counter()
    for path in files:
        for row in read_file(path, "warc", ReaderOptions()):
            if row["kind"] == "doc":
                docs += 1
            elif row["kind"] in ("skip", "quarantine"):  # not the file and repair tallies
                other += row.get("count") or 1
    return {"documents": docs, "other_rows": other, "seconds": time.perf_counter() - started}


def run_spark(files: list[str], lake: Path) -> dict:
    from etl.ingest import stage as ingest
    from llmlake.config import params_from_dict

    shutil.rmtree(lake, ignore_errors=True)
    params = params_from_dict({
        "lake": {"root": str(lake / "lake"), "reports": str(lake / "reports")},
        "spark": {"master": "local[*]", "shuffle_partitions": os.cpu_count() or 2,
                  "log_level": "ERROR"},
        "ingest": {"sources": files},
    })
    from llmlake.spark import get_spark

    spark = get_spark(params.spark)  # session start-up is not part of the ingest path
    files_uri, _ = ingest.list_sources(spark, files)
    parse_seconds = []
    for _ in range(2):  # the first pass also starts and warms the Python workers
        started = time.perf_counter()
        ingest.parse_sources(spark, files_uri, params.ingest).write.format("noop") \
            .mode("overwrite").save()
        parse_seconds.append(time.perf_counter() - started)
    started = time.perf_counter()
    report = ingest.run(params)
    return {"documents": report["records"]["documents"], "written": report["records"]["written"],
            "seconds": time.perf_counter() - started, "parse_seconds": parse_seconds}


def child(kind: str, files: list[str], lake: str) -> None:
    if kind == "fastwarc":
        emit(run_fastwarc(files))
    elif kind == "readers":
        emit(run_readers(files))
    else:
        emit(run_spark(files, Path(lake)))


def contender(kind: str, files: list[str], lake: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--lake", str(lake), *files]
    return measure(cmd, kind)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--child", default=None)
    parser.add_argument("--lake", default="")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.files, args.lake)
        return
    work = Path(args.work)
    # WARC only, as FastWARC reads nothing else; sample_crawl plants no damaged record, at
    # which FastWARC alone would stop.
    corpus = sample_crawl(work / f"warc-{args.docs}", args.docs, args.seed, wet_share=0.0,
                          jsonl_share=0.0, parquet_share=0.0, docs_per_shard=5000)
    files = sorted(str(p) for p in (corpus / "warc").glob("*.warc.gz"))
    size_mb = sum(Path(f).stat().st_size for f in files) / 2**20
    cores = os.cpu_count() or 1
    results = {k: contender(k, files, work / "lake") for k in ("fastwarc", "readers", "spark")}
    base = results["fastwarc"]["records"] / results["fastwarc"]["seconds"]
    print(f"\n{len(files)} WARC.gz files, {size_mb:.0f} MB, {args.docs} documents, {cores} cores")
    print(f"{'contender':<10} {'records/s':>10} {'per core':>10} {'vs fastwarc':>12} {'peak MB':>8}")
    for name, r in results.items():
        # Every contender reads the same response records; the FastWARC run counts them.
        rate = results["fastwarc"]["records"] / r["seconds"]
        per_core = rate / (1 if name != "spark" else cores)
        r.update(records_per_s=round(rate), records_per_s_per_core=round(per_core),
                 ratio_vs_fastwarc=round(rate / base, 3))
        print(f"{name:<10} {rate:>10.0f} {per_core:>10.0f} {rate / base:>12.3f} "
              f"{r['peak_rss_mb']:>8}")
    parse = results["spark"]["parse_seconds"][-1]
    print(f"{'spark parse only (mapInArrow, warm)':<36} {results['fastwarc']['records'] / parse:>8.0f}"
          f" records/s, {results['fastwarc']['records'] / parse / base / cores:.3f} of fastwarc per core")
    out = write_results("ingest", {
        "docs": args.docs, "files": len(files), "input_mb": round(size_mb, 1), "cores": cores,
        "machine": platform.machine(), "python": platform.python_version(), "results": results,
    })
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
