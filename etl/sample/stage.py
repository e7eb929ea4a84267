"""Deterministic sample web crawl: WARC, WET, JSONL and Parquet shards plus ``truth.jsonl``.

This stage owns the synthetic raw input of the pipeline, so the demo needs no download and
ingest tests and benchmarks have ground truth. ``generate`` streams ``cfg.docs`` documents
into ``warc/``, ``wet/``, ``jsonl/`` and ``parquet/`` under ``out`` (each document in exactly
one format), plants the configured defects (spam, repeated lines, short and foreign pages,
exact and near duplicates, PII, broken HTML, wrong or missing charsets), non-document
responses (redirects, 404s, images, PDFs) and corrupt records (a truncated last gzip member,
a malformed WARC header, a half-written JSON line), and writes one ``truth.jsonl`` line per
planted record with its file and exact offset. Each ``*_rate`` is a share of all documents
(WARC-only defects are concentrated on the WARC documents to reach it). Memory stays
bounded: shards are written as they fill and duplicates are drawn from a ring of the last
``RESERVOIR`` originals. The same seed gives byte-identical files (dates and record ids
come from the seeded RNG, gzip mtime is 0).

The parts, all drawing from one seeded ``random.Random`` in a fixed order:
:mod:`etl.sample.plan` (counts, shards, corrupt records and rates from the config),
:mod:`etl.sample.sites` (sites and URLs), :mod:`etl.sample.documents` (each document and its
defects), :mod:`etl.sample.writer` (shard files, records, skips and corrupt records) and
:mod:`etl.sample.tally` (``truth.jsonl``, counts and the summary). This module wires them.

Example (also ``llmlake sample --out data/raw/sample --docs 3000 --seed 1234``)::

    >>> import tempfile
    >>> from pathlib import Path
    >>> from llmlake.config import SampleConfig
    >>> from etl.sample.stage import generate
    >>> generate(SampleConfig(docs=40), Path(tempfile.mkdtemp()))["docs"]
    40
"""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

from etl.sample.documents import Documents
from etl.sample.plan import FORMATS, make_plan, plan_corrupt, shard_sizes
from etl.sample.sites import Sites
from etl.sample.tally import Tally
from etl.sample.text import english
from etl.sample.writer import Writer
from llmlake.config import Params, SampleConfig
from llmlake.log import progress

__all__ = ["FORMATS", "clean", "generate", "plan_corrupt", "run", "shard_sizes"]



def clean(out: Path) -> None:
    """Remove what an earlier run wrote (only our own subfolders and truth file)."""
    for sub in FORMATS:
        shutil.rmtree(out / sub, ignore_errors=True)
    (out / "truth.jsonl").unlink(missing_ok=True)
    for sub in FORMATS:
        (out / sub).mkdir(parents=True, exist_ok=True)


def generate(cfg: SampleConfig, out: Path) -> dict:
    """Write the sample crawl under ``out`` and return the summary (counts per format/defect)."""
    t0 = time.perf_counter()
    out = Path(out)
    clean(out)
    r, eng, plan = random.Random(cfg.seed), english(cfg.seed), make_plan(cfg)
    sites = Sites(r, eng, serial=10_000 + cfg.docs)  # draws the sites first
    docs = Documents(cfg, plan, r, eng, sites)
    tally = Tally(out)
    writer = Writer(out, plan, cfg.seed, r, eng, sites, tally)
    t1 = time.perf_counter()
    try:
        for i in progress(range(cfg.docs), desc="sample", total=cfg.docs, unit="doc"):
            doc = docs.next(i)
            writer.document(doc, docs.related())
            docs.remember(doc)  # after writing: a page never lists itself as related
            writer.after(doc, docs.related())
    finally:
        writer.close()
        tally.close()
    t2 = time.perf_counter()
    summary = tally.summary(cfg, plan)
    summary["seconds"] = round(t2 - t0, 2)
    # Rate of the document loop alone; start-up (word lists, Faker pools) is a fixed cost.
    summary["docs_per_s"] = round(cfg.docs / (t2 - t1), 1) if t2 > t1 else None
    return summary


def run(params: Params) -> dict:
    from etl.sample.sites import TOPIC_NAMES
    from llmlake.stage import StageError, stage_shell

    cfg = params.sample
    for key in ("topics", "incoming_topics"):
        unknown = [t for t in getattr(cfg, key) if t not in TOPIC_NAMES]
        if unknown:
            raise StageError(f"sample.{key}: unknown {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(TOPIC_NAMES)}")
    with stage_shell("sample", params) as sh:
        with sh.step("generate"):
            summary = generate(cfg, Path(cfg.out))
        sh.log.info("sample: %d docs (%s docs/s) -> %s", summary["docs"],
                    summary["docs_per_s"], cfg.out)
        if any(summary["corrupt_shortfall"].values()):
            sh.log.warning("sample: fewer corrupt records than asked (too few shards): %s",
                           summary["corrupt_shortfall"])
        timings = {k: summary.pop(k) for k in ("seconds", "docs_per_s")}
        if cfg.incoming:
            with sh.step("incoming"):
                later = generate(cfg.incoming_config(), Path(cfg.incoming))
            sh.log.info("sample: incoming batch of %d docs -> %s", later["docs"], cfg.incoming)
            summary["incoming"] = {k: later[k] for k in ("docs", "formats") if k in later}
        if cfg.sft:
            from etl.sample.instructions import write_instructions

            with sh.step("sft"):
                summary["sft"] = write_instructions(cfg, Path(cfg.sft))
            sh.log.info("sample: instruction set of %d examples -> %s", cfg.sft_examples, cfg.sft)
        return sh.finish(summary, **timings)


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("sample")
