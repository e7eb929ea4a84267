"""Benchmark: the ingest path against FastWARC alone and datatrove's ``WarcReader``, on the
same WARC.gz files.

Generates a WARC-only sample crawl (``--docs``, default 50,000), then measures, each in its
own process so peak memory is per contender:

- ``fastwarc``: FastWARC iterating every file, parsing HTTP headers and reading each 200
  text response body (the floor for any WARC ingest);
- ``datatrove``: datatrove's ``WarcReader`` alone (warcio, charset detection), its
  ``run()`` generator drained over the same folder: the reader a user would otherwise pick;
- ``readers``: llmlake's record reader (:mod:`etl.ingest.readers`) without Spark: HTTP
  decoding, charsets, ids, skip counting, quarantine checks. Its ``cost`` breaks the gap to
  FastWARC down by timing cumulative passes over the same files: every record visited
  (FastWARC's type filter off, as every record must be counted), then charset decoding,
  then the document rows (ids, UTF-8 checks), then the reader itself (damage checks, books);
- ``spark``: the whole ``llmlake etl ingest`` (session start, ``mapInArrow`` parse,
  staging, account, Delta MERGE into bronze, quarantine, reports) on ``local[*]`` into an
  empty lake, with wall and CPU seconds per step.

Rates are per CPU second (the process and its children: the JVM, Python workers), so other
work on a shared machine stretches the wall time but not the figure; Spark's wall time per
core is reported beside it. Every ratio compares the CPU seconds two contenders spent on
the same files. Writes ``bench/results/ingest.json``.

Example::

    python bench/ingest.py --docs 5000 --work /tmp/ingest-bench
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    CpuMeter,
    Timer,
    emit,
    load_average,
    measure,
    sample_crawl,
    write_results,
)

CONTENDERS = ("fastwarc", "datatrove", "readers", "spark")


def run_fastwarc(files: list[str]) -> dict:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    records = kept = 0
    with Timer() as t:
        for path in files:
            for record in ArchiveIterator(path, record_types=WarcRecordType.response,
                                          parse_http=True):
                records += 1
                if record.http_headers.status_code == 200:
                    mime = (record.http_content_type or "").split(";")[0]
                    if mime.startswith("text/"):
                        record.reader.read()
                        kept += 1
    return {"records": records, "documents": kept, "seconds": t.wall, "cpu_seconds": t.cpu}


def run_datatrove(files: list[str]) -> dict:
    from datatrove.pipeline.readers import WarcReader
    from loguru import logger

    logger.remove()  # one INFO line per file on stderr is not part of reading
    folder = str(Path(files[0]).parent)
    names = {Path(f).name for f in files}
    assert {p.name for p in Path(folder).glob("*.warc.gz")} == names, "one folder, same files"
    docs = 0
    with Timer() as t:
        for _ in WarcReader(folder, glob_pattern="*.warc.gz").run():
            docs += 1
    return {"documents": docs, "seconds": t.wall, "cpu_seconds": t.cpu}


def run_readers(files: list[str]) -> dict:
    from etl.ingest.readers import ReaderOptions, read_file

    docs = other = 0
    with Timer() as t:
        for path in files:
            for row in read_file(path, "warc", ReaderOptions()):
                if row["kind"] == "doc":
                    docs += 1
                elif row["kind"] in ("skip", "quarantine"):  # not the file and repair tallies
                    other += row.get("count") or 1
    return {"documents": docs, "other_rows": other, "seconds": t.wall, "cpu_seconds": t.cpu,
            "cost": reader_costs(files)}


def _pass(files: list[str], decode: bool, rows: bool) -> tuple[int, float]:
    """Every record visited, 200 text responses read; optionally decoded and made rows."""
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    from etl.ingest.records import HTML_TYPES, TEXT_TYPES, doc_row
    from etl.ingest.warc import decode_body

    kept = 0
    with Timer() as t:
        for path in files:
            for record in ArchiveIterator(path, parse_http=False):
                if record.record_type != WarcRecordType.response:
                    continue
                record.parse_http()
                mime = (record.http_content_type or "").split(";")[0].strip().lower()
                if record.http_headers.status_code != 200 or (
                        mime not in HTML_TYPES and mime not in TEXT_TYPES):
                    continue
                body = record.reader.read()
                kept += 1
                if decode:
                    text = decode_body(body, record.http_charset)
                    if rows:
                        url = record.headers.get("WARC-Target-URI")
                        doc_row("warc", url, record.record_date, mime, text, path, url)
    return kept, t.cpu


def reader_costs(files: list[str]) -> dict:
    """CPU seconds of cumulative passes, and what each step adds (the reader's own total
    is measured by :func:`run_readers`)."""
    out = {}
    for name, decode, rows in (("visit_all_records", False, False),
                               ("decode_charsets", True, False),
                               ("document_rows", True, True)):
        _, out[name] = _pass(files, decode, rows)
    return out


class StepMeter:
    """Wall and CPU seconds (this process tree) of each ``sh.step`` of the stage."""

    def __init__(self) -> None:
        self.steps: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def installed(self):
        from llmlake.log import Steps

        original = Steps.__call__
        meter = self

        @contextlib.contextmanager
        def timed(steps, name):
            with CpuMeter() as cpu, original(steps, name):
                yield
            meter.steps[name] = {"seconds": round(cpu.wall, 2), "cpu_seconds": round(cpu.cpu, 2)}

        Steps.__call__ = timed
        try:
            yield self
        finally:
            Steps.__call__ = original


def run_spark(files: list[str], lake: Path) -> dict:
    from etl.ingest import stage as ingest
    from llmlake.config import params_from_dict

    shutil.rmtree(lake, ignore_errors=True)
    cores = os.cpu_count() or 2
    params = params_from_dict({
        "lake": {"root": str(lake / "lake"), "reports": str(lake / "reports")},
        "spark": {"master": "local[*]", "shuffle_partitions": cores, "log_level": "ERROR",
                  "driver_memory": "3g"},
        "ingest": {"sources": files},
    })
    with StepMeter().installed() as steps, CpuMeter() as total:
        report = ingest.run(params)
    shutil.rmtree(lake, ignore_errors=True)
    return {"documents": report["records"]["documents"], "written": report["records"]["written"],
            "seconds": total.wall, "cpu_seconds": total.cpu, "steps": steps.steps,
            "bronze": report.get("bronze")}


def child(kind: str, files: list[str], lake: str) -> None:
    runner = {"fastwarc": run_fastwarc, "datatrove": run_datatrove, "readers": run_readers}
    emit(runner[kind](files) if kind in runner else run_spark(files, Path(lake)))


def contender(kind: str, files: list[str], lake: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--lake", str(lake), *files]
    lake.parent.mkdir(parents=True, exist_ok=True)
    log = lake.parent / f"{kind}.log"
    result = measure(cmd, kind, log=log)
    result["load_average"] = load_average()
    return result


def rates(results: dict, cores: int) -> None:
    """Per-core rates and ratios, in place: CPU seconds on the same files against CPU
    seconds; ``records``: the response records FastWARC counted, read by every contender."""
    base, peer = results["fastwarc"]["cpu_seconds"], results.get("datatrove", {}).get("cpu_seconds")
    records = results["fastwarc"]["records"]
    for r in results.values():
        cpu = r["cpu_seconds"]
        r.update(docs_per_cpu_s=round(r["documents"] / cpu),
                 records_per_s_per_core=round(records / cpu),
                 ratio_vs_fastwarc=round(base / cpu, 3),
                 ratio_vs_datatrove=round(peer / cpu, 3) if peer else None)
    spark = results.get("spark")
    if spark:
        wall = records / spark["seconds"] / cores
        spark.update(wall_records_per_s_per_core=round(wall),
                     wall_ratio_vs_fastwarc=round(wall * base / records, 3))
    cost = results.get("readers", {}).get("cost")
    if cost:
        steps = [("visit_all_records", base), ("decode_charsets", cost["visit_all_records"]),
                 ("document_rows", cost["decode_charsets"]),
                 ("reader_checks", cost["document_rows"])]
        total = {**cost, "reader_checks": results["readers"]["cpu_seconds"]}
        results["readers"]["cost_added_cpu_seconds"] = {
            name: round(total[name] - before, 3) for name, before in steps}


def show(results: dict, files: int, size_mb: float, docs: int, cores: int) -> None:
    print(f"\n{files} WARC.gz files, {size_mb:.0f} MB, {docs} documents, {cores} cores")
    print(f"{'contender':<10} {'docs':>8} {'CPU s':>8} {'docs/CPU s':>11} {'vs fastwarc':>12} "
          f"{'vs datatrove':>13} {'peak MB':>8}")
    for name, r in results.items():
        vs_dt = f"{r['ratio_vs_datatrove']:.3f}" if r["ratio_vs_datatrove"] else "-"
        print(f"{name:<10} {r['documents']:>8} {r['cpu_seconds']:>8.1f} {r['docs_per_cpu_s']:>11}"
              f" {r['ratio_vs_fastwarc']:>12.3f} {vs_dt:>13} {r['peak_rss_mb']:>8}")
    if "cost_added_cpu_seconds" in results.get("readers", {}):
        print("reader cost over fastwarc (CPU s):", results["readers"]["cost_added_cpu_seconds"])
    if "spark" in results:
        s = results["spark"]
        print(f"spark wall {s['seconds']:.1f}s, {s['wall_ratio_vs_fastwarc']:.3f} of fastwarc "
              "per core by wall time; steps:")
        for name, step in s["steps"].items():
            print(f"  {name:<11} {step['seconds']:>7.1f}s wall {step['cpu_seconds']:>7.1f}s CPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--corpus", default="",
                        help="a folder of *.warc.gz files made earlier by the sample crawl "
                             "(e.g. the first shards of a larger one), instead of generating")
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--only", default=",".join(CONTENDERS),
                        help="contenders to run, comma-separated (fastwarc always runs)")
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
    if args.corpus:
        folder = Path(args.corpus)
    else:
        folder = sample_crawl(work / f"warc-{args.docs}", args.docs, args.seed, wet_share=0.0,
                              jsonl_share=0.0, parquet_share=0.0, docs_per_shard=5000) / "warc"
    files = sorted(str(p) for p in folder.glob("*.warc.gz"))
    size_mb = sum(Path(f).stat().st_size for f in files) / 2**20
    cores = os.cpu_count() or 1
    wanted = ["fastwarc", *(k for k in args.only.split(",") if k in CONTENDERS[1:])]
    started = time.time()
    results = {k: contender(k, files, work / "lake") for k in wanted}
    rates(results, cores)
    docs = results["fastwarc"]["documents"]
    show(results, len(files), size_mb, docs, cores)
    out = write_results("ingest", {
        "docs": docs, "files": len(files), "input_mb": round(size_mb, 1), "cores": cores,
        "machine": platform.machine(), "python": platform.python_version(),
        "per_core_basis": "cpu_seconds", "bench_seconds": round(time.time() - started),
        "results": results,
    })
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
