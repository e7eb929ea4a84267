"""Benchmark: the dedup stage against datatrove's MinHash pipeline, in speed and pair accuracy.

Generates the project's sample crawl (``--docs`` documents, default 100,000, seed 7, no
corrupt records; cached under ``bench/work/``) and takes the plain text of every document
from its ``truth.jsonl``, so dedup is measured alone (no ingest, no clean) and every
contender sees exactly the same texts. The generator's duplicate ``cluster`` of each
document is the ground truth: every pair of documents in the same cluster is a duplicate
pair (exact and near copies alike, whatever else the generator planted in them). Each
contender runs in its own process, so peak memory (of the whole process tree) is its own:

- ``ours``: :func:`etl.dedup.run` on Spark ``local[*]`` over a fresh lake whose
  ``silver/documents`` holds the texts; only ``dedup.run`` is timed (not the Spark session
  start-up nor writing silver). Its clusters come from ``gold/documents`` and
  ``gold/duplicates`` (``cluster_id`` is the survivor's ``doc_id``).
- ``ours-noverify``: the same with ``dedup.verify`` off: LSH candidates are accepted
  without the exact-Jaccard check, as datatrove does (like for like).
- ``datatrove``: ``MinhashDedupSignature`` -> ``MinhashDedupBuckets`` (one call per
  bucket) -> ``MinhashDedupCluster(save_cluster_id=True)`` -> ``MinhashDedupFilter``
  (``load_cluster_ids=True``) in one process, with the same shingles (word 5-grams) and
  bands (14 buckets x 8 hashes); its spaCy English word tokenizer is part of its cost.
  ``--datatrove-docs`` runs it on a prefix of the corpus when all of it would take too long.

Precision, recall and F1 are over duplicate pairs, counted per cluster (never enumerated).
A one-process contender's rate per core is documents over its CPU seconds; Spark's is its
docs/s over the cores Spark used. Docs per CPU second (of the whole process tree: for ours
the JVM and its Python workers, see :class:`CpuMeter`) is shown for all, since other work
on a shared machine stretches wall time but not CPU time. Then ours runs alone at each of ``--scales`` (default
10,000 and 100,000; add 1,000,000 to see it at a million) so growth with size is visible.
It prints a table and writes ``bench/results/dedup.json``. No child may use the network.

The generator gives every boilerplate page ("Under construction, back soon.") its own
cluster, so the strict truth counts pairs of byte-identical texts as false positives;
columns marked ``*`` score against the truth with identical texts merged (see
:func:`scores`). ``--reuse`` keeps the runs of the last results file that had the same
inputs, so a 1M scale can be added without redoing the rest.

Example::

    python bench/dedup.py --docs 2000 --scales 2000
    python bench/dedup.py --datatrove-docs 50000 --scales 10000,100000,1000000
    python bench/dedup.py --datatrove-docs 50000 --reuse --rerun ours,ours-noverify,100000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import sys
import time
from collections import Counter
from collections.abc import Hashable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    RESULTS,
    CpuMeter,
    Timer,
    emit,
    forbid_network,
    load_average,
    measure,
    per_core,
    read_docs,
    text_corpus,
    write_results,
)

NGRAM, BANDS, ROWS = 5, 14, 8
CONTENDERS = ("ours", "ours-noverify", "datatrove")


# -- accuracy -----------------------------------------------------------------------------
def pairs(sizes: Iterable[int]) -> int:
    return sum(n * (n - 1) // 2 for n in sizes)


def pair_scores(labels: Iterable[tuple[Hashable, Hashable]]) -> dict:
    """Precision, recall and F1 of predicted duplicate pairs against the true ones.

    ``labels``: one ``(true cluster, predicted cluster)`` per document. Two documents form a
    true pair when they share a true cluster, a predicted pair when they share a predicted
    one; true positives are the pairs that share both, so counting documents per cluster
    and per (true, predicted) combination gives every count without listing a pair.
    """
    truth, pred, both = Counter(), Counter(), Counter()
    for t, p in labels:
        truth[t] += 1
        pred[p] += 1
        both[t, p] += 1
    true_pairs, pred_pairs, tp = pairs(truth.values()), pairs(pred.values()), pairs(both.values())
    precision = tp / pred_pairs if pred_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"true_pairs": true_pairs, "predicted_pairs": pred_pairs, "true_positives": tp,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def text_key(text: str | None) -> str:
    return hashlib.sha1((text or "").encode()).hexdigest()


def scores(rows: list[tuple[int, str, Hashable]]) -> dict:
    """Pair scores of ``(true cluster, text key, predicted cluster)`` rows, two ways.

    Top level: against the generator's clusters alone. ``same_text_merged``: against them
    with byte-identical texts merged into one cluster, because the generator gives each
    boilerplate page ("This page has been removed.") its own cluster although every copy
    of it is the same text: finding those pairs is right, the strict truth calls it wrong.
    """
    parent: dict[Hashable, Hashable] = {}

    def find(x: Hashable) -> Hashable:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]  # path halving keeps the chains short
            x = parent[x]
        return x

    for cluster, key, _ in rows:
        parent[find(("text", key))] = find(("cluster", cluster))
    merged = pair_scores((find(("cluster", c)), p) for c, _, p in rows)
    return {**pair_scores((c, p) for c, _, p in rows), "same_text_merged": merged}


# -- ours ---------------------------------------------------------------------------------
def write_silver(spark, table: str, path: str) -> int:
    """The texts as a silver-like Delta table: every document kept, English, no fetch time."""
    from pyspark.sql import functions as F

    docs = spark.read.parquet(table).select(
        F.sha1("url").alias("doc_id"), "text", F.lit("en").alias("lang"), "url",
        F.lit(None).cast("timestamp").alias("fetched_at"),
        F.lit(None).cast("string").alias("drop_reason"))
    docs.write.format("delta").mode("overwrite").save(path)
    return spark.read.format("delta").load(path).count()


def ours_labels(spark, lake, table: str) -> list[tuple[int, str, str]]:
    """``(true cluster, text key, predicted cluster)`` per document, in corpus order.

    A document in neither gold table (there should be none) stands alone.
    """
    gold = spark.read.format("delta").load(lake.table("gold/documents"))
    dups = spark.read.format("delta").load(lake.table("gold/duplicates"))
    pred = (gold.select("doc_id", "cluster_id").unionByName(dups.select("doc_id", "cluster_id"))
            .toPandas())
    cluster_of = dict(zip(pred["doc_id"], pred["cluster_id"], strict=True))
    rows = []
    for url, text, cluster in read_docs(table):
        doc_id = hashlib.sha1(url.encode()).hexdigest()  # as Spark's sha1 in write_silver
        rows.append((cluster, text_key(text), cluster_of.get(doc_id, doc_id)))
    return rows


def run_ours(table: str, work: Path, verify: bool, prefix: int) -> dict:
    """``dedup.run`` timed; scores over all documents and, if ``prefix``, over the first ones."""
    from etl.dedup import stage as dedup
    from llmlake.config import params_from_dict
    from llmlake.lake import Lake
    from llmlake.spark import get_spark

    shutil.rmtree(work, ignore_errors=True)
    params = params_from_dict({
        "lake": {"root": str(work / "lake"), "reports": str(work / "reports")},
        "spark": {"master": "local[*]", "shuffle_partitions": 8, "log_level": "ERROR"},
        "dedup": {"ngram": NGRAM, "bands": BANDS, "rows": ROWS, "verify": verify},
    })
    spark = get_spark(params.spark)  # session start-up is not part of dedup
    lake = Lake(params.lake)
    docs = write_silver(spark, table, lake.table("silver/documents"))
    with CpuMeter() as meter:
        report = dedup.run(params)
    rows = ours_labels(spark, lake, table)
    return {"documents": docs, "seconds": meter.wall, "cpu_seconds": meter.cpu,
            "cores": spark.sparkContext.defaultParallelism,
            "removed": report["this_run"]["removed"], **scores(rows),
            # Pairs among the documents datatrove saw, when it saw only the first ones.
            **({"prefix": {"docs": prefix, **scores(rows[:prefix])}} if prefix else {})}


# -- datatrove ----------------------------------------------------------------------------
def datatrove_docs(table: str, limit: int) -> Iterator:
    from datatrove.data import Document

    for i, (_, text, _) in enumerate(read_docs(table, limit)):
        yield Document(text=text, id=str(i))


def datatrove_steps(work: Path) -> tuple:
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.utils.typeshelper import Languages

    cfg = MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)
    sigs, dups, clusters = (str(work / d) for d in ("signatures", "buckets", "clusters"))
    return (MinhashDedupSignature(output_folder=sigs, config=cfg, language=Languages.english),
            MinhashDedupBuckets(input_folder=sigs, output_folder=dups, config=cfg),
            MinhashDedupCluster(input_folder=dups, output_folder=clusters, config=cfg,
                                save_cluster_id=True),
            MinhashDedupFilter(input_folder=clusters, load_cluster_ids=True))


def run_datatrove(table: str, work: Path, limit: int) -> dict:
    """The four MinHash steps in this process, as one local task would run them."""
    forbid_network()
    shutil.rmtree(work, ignore_errors=True)
    with Timer() as setup:
        signature, buckets, cluster, dedup_filter = datatrove_steps(work)
        signature.word_tokenizer.word_tokenize("warm up")  # spaCy loads on first use
    steps = {}
    with Timer() as total:
        step = time.perf_counter()
        signature.run(datatrove_docs(table, limit), rank=0, world_size=1)
        steps["signature"], step = time.perf_counter() - step, time.perf_counter()
        # world_size must be a multiple of the buckets: one task per bucket, one after another
        for rank in range(BANDS):
            buckets.run(None, rank=rank, world_size=BANDS)
        steps["buckets"], step = time.perf_counter() - step, time.perf_counter()
        cluster.run(None, world_size=1)
        steps["cluster"], step = time.perf_counter() - step, time.perf_counter()
        # The filter tags each document (kept or removed) with its cluster in place, -1 for
        # none; keeping each document's metadata dict (not the document) reads the tags after.
        tags: list[dict] = []
        for _ in dedup_filter.run(metadata_of(datatrove_docs(table, limit), tags), rank=0):
            pass
        found = [m.get("minhash_cluster_id", -1) for m in tags]
        steps["filter"] = time.perf_counter() - step
    truth = [(c, text_key(text)) for _, text, c in read_docs(table, limit)]
    rows = [(c, key, ("alone", i) if p == -1 else p) for i, ((c, key), p) in
            enumerate(zip(truth, found, strict=True))]
    return {"documents": len(rows), "seconds": total.wall, "cpu_seconds": total.cpu,
            "setup_seconds": setup.wall, "step_seconds": steps, **scores(rows)}


def metadata_of(docs: Iterable, tags: list[dict]) -> Iterator:
    """Pass documents through, keeping each one's metadata dict in ``tags``."""
    for doc in docs:
        tags.append(doc.metadata)
        yield doc


def child(args: argparse.Namespace) -> None:
    work = Path(args.work)
    if args.child == "datatrove":
        result = run_datatrove(args.table, work, args.prefix)
    else:
        result = run_ours(args.table, work, args.child == "ours", args.prefix)
    emit(result)


# -- parent -------------------------------------------------------------------------------
def run_child(kind: str, table: Path, run_dir: Path, prefix: int = 0) -> dict:
    """One contender in its own process; ``prefix``: datatrove's subset (see ``--prefix``)."""
    cmd = [sys.executable, __file__, "--child", kind.split("@")[0], "--table", str(table),
           "--work", str(run_dir / kind), "--prefix", str(prefix)]
    print(f"running {kind} ...", flush=True)
    load = load_average()[0]
    # Spark's and datatrove's chatter goes to a log next to their scratch folders.
    result = measure(cmd, kind, {"HF_HUB_OFFLINE": "1"}, run_dir / f"{kind}.log")
    result["load_1min"] = {"start": load, "end": load_average()[0]}
    shutil.rmtree(run_dir / kind, ignore_errors=True)  # scratch lakes grow to gigabytes
    return result


def rates(r: dict) -> dict:
    """docs/s and docs/s per core: Spark's over its cores, one process's over its CPU time."""
    rate = r["documents"] / r["seconds"]
    core_rate = per_core(r["documents"], r["seconds"], r["cpu_seconds"], r.get("cores", 1))
    # Per CPU second too: on a shared machine, others' load stretches Spark's wall time.
    return {"docs_per_s": round(rate, 1), "docs_per_s_per_core": round(core_rate, 1),
            "docs_per_cpu_s": round(r["documents"] / r["cpu_seconds"], 1)}


def growth(scale_runs: dict[int, dict]) -> list[dict]:
    """Ours per scale, with the exponent k of seconds ~ docs**k from the scale before.

    Also the marginal rate, the extra documents over the extra seconds from the scale
    before: a fixed cost (job scheduling, Delta commits) hides in k, not in the margin.
    """
    out, prev = [], None
    for n in sorted(scale_runs):
        r = scale_runs[n]
        row = {"docs": r["documents"], "seconds": round(r["seconds"], 1), **rates(r),
               "peak_rss_mb": r["peak_rss_mb"], "f1": r["f1"],
               "f1_same_text": r["same_text_merged"]["f1"]}
        if prev:
            row["exponent"] = round(math.log(r["seconds"] / prev["seconds"])
                                    / math.log(r["documents"] / prev["documents"]), 2)
            extra = r["seconds"] - prev["seconds"]
            row["marginal_docs_per_s"] = (round((r["documents"] - prev["documents"]) / extra, 1)
                                          if extra > 0 else None)
        out.append(row)
        prev = r
    return out


def contender_rows(results: dict) -> list[dict]:
    rows = []
    for name, r in results.items():
        rows.append({"contender": name, "docs": r["documents"], "seconds": round(r["seconds"], 1),
                     "cpu_seconds": round(r["cpu_seconds"], 1), **rates(r),
                     "peak_rss_mb": r["peak_rss_mb"],
                     **{k: r[k] for k in ("precision", "recall", "f1")},
                     "precision_same_text": r["same_text_merged"]["precision"],
                     "f1_same_text": r["same_text_merged"]["f1"]})
    base = next((x for x in rows if x["contender"] == "datatrove"), None)
    if base:
        for row in rows:
            row["per_core_vs_datatrove"] = round(row["docs_per_s_per_core"]
                                                 / base["docs_per_s_per_core"], 2)
    return rows


def prefix_rows(results: dict) -> list[dict]:
    """Accuracy of every contender over the documents datatrove saw (when only a prefix)."""
    out = []
    for name, r in results.items():
        sc = r.get("prefix") or (r if name == "datatrove" else None)
        if sc:
            merged = sc["same_text_merged"]
            out.append({"contender": name, "docs": sc.get("docs", r["documents"]),
                        **{k: sc[k] for k in ("precision", "recall", "f1")},
                        "precision_same_text": merged["precision"],
                        "f1_same_text": merged["f1"]})
    return out


def print_prefix(rows: list[dict]) -> None:
    print(f"\non datatrove's subset {'docs':>5} {'prec':>6} {'recall':>6} {'F1':>6} "
          f"{'prec*':>6} {'F1*':>6}")
    for r in rows:
        print(f"{r['contender']:<16} {r['docs']:>9} {r['precision']:>6.3f} {r['recall']:>6.3f} "
              f"{r['f1']:>6.3f} {r['precision_same_text']:>6.3f} {r['f1_same_text']:>6.3f}")


def print_tables(rows: list[dict], scales: list[dict], notes: list[str]) -> None:
    print(f"\n{'contender':<14} {'docs':>8} {'wall s':>8} {'cpu s':>8} {'docs/s':>8} "
          f"{'/core':>7} {'/cpu-s':>7} {'vs dt':>6} {'peak MB':>8} {'prec':>6} {'recall':>6} "
          f"{'F1':>6} {'prec*':>6} {'F1*':>6}")
    for r in rows:
        print(f"{r['contender']:<14} {r['docs']:>8} {r['seconds']:>8.1f} {r['cpu_seconds']:>8.1f} "
              f"{r['docs_per_s']:>8.0f} {r['docs_per_s_per_core']:>7.0f} "
              f"{r['docs_per_cpu_s']:>7.0f} "
              f"{r.get('per_core_vs_datatrove', float('nan')):>6.2f} {r['peak_rss_mb']:>8} "
              f"{r['precision']:>6.3f} {r['recall']:>6.3f} {r['f1']:>6.3f} "
              f"{r['precision_same_text']:>6.3f} {r['f1_same_text']:>6.3f}")
    print(f"\n{'ours at scale':<14} {'docs':>8} {'wall s':>8} {'docs/s':>8} {'/core':>7} "
          f"{'/cpu-s':>7} {'peak MB':>8} {'F1':>6} {'F1*':>6} {'k':>5} {'margin':>7}"
          "   (seconds ~ docs**k; margin: extra docs/extra s)")
    for r in scales:
        k = f"{r['exponent']:.2f}" if "exponent" in r else "-"
        margin = r.get("marginal_docs_per_s")
        margin = f"{margin:.0f}" if margin else "-"
        print(f"{'':<14} {r['docs']:>8} {r['seconds']:>8.1f} {r['docs_per_s']:>8.0f} "
              f"{r['docs_per_s_per_core']:>7.0f} {r['docs_per_cpu_s']:>7.0f} "
              f"{r['peak_rss_mb']:>8} {r['f1']:>6.3f} {r['f1_same_text']:>6.3f} {k:>5} "
              f"{margin:>7}")
    print("* with byte-identical texts counted as duplicates (see scores())")
    for note in notes:
        print(f"note: {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scales", default="10000,100000",
                        help="comma-separated corpus sizes to time ours at ('' for none)")
    parser.add_argument("--datatrove-docs", type=int, default=0,
                        help="run datatrove on the first N documents only (0: all)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--reuse", action="store_true",
                        help="take runs already in bench/results/dedup.json (same --docs, "
                             "--seed and --datatrove-docs) instead of running them again")
    parser.add_argument("--rerun", default="",
                        help="with --reuse: contenders and scales to run again anyway, "
                             "comma-separated (e.g. ours,ours-noverify,10000,100000)")
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--child", default=None)
    parser.add_argument("--table", default="")
    parser.add_argument("--prefix", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    work, load = Path(args.work), load_average()
    results, scale_runs = previous_runs(args) if args.reuse else ({}, {})
    for name in filter(None, args.rerun.split(",")):
        results.pop(name, None)
        if name.isdigit():
            scale_runs.pop(int(name), None)
    # datatrove runs on the first --datatrove-docs; ours runs on all, and also scores those.
    prefix = args.datatrove_docs if 0 < args.datatrove_docs < args.docs else 0
    for kind in filter(None, args.contenders.split(",")):
        if kind not in results:
            table = text_corpus(work / f"dedup-{args.docs}-{args.seed}", args.docs, args.seed)
            results[kind] = run_child(kind, table, table.parent, prefix)
    for n in sorted({int(x) for x in args.scales.split(",") if x}):
        if n == args.docs and "ours" in results:
            scale_runs[n] = results["ours"]  # the same run: no need to time it twice
        elif n not in scale_runs:
            t = text_corpus(work / f"dedup-{n}-{args.seed}", n, args.seed)
            scale_runs[n] = run_child(f"ours@{n}", t, t.parent)
    report(args, results, scale_runs, load)


def previous_runs(args: argparse.Namespace) -> tuple[dict, dict[int, dict]]:
    """Contender and scale runs of the last results file, where made with the same inputs.

    A million documents take a long time: adding that scale should not redo the rest.
    """
    path = RESULTS / "dedup.json"
    if not path.exists():
        return {}, {}
    old = json.loads(path.read_text())
    scale_runs = {int(n): r for n, r in old.get("scale_results", {}).items()
                  if old.get("seed") == args.seed}
    same = (old.get("docs"), old.get("seed"), old.get("datatrove_docs", 0)) == (
        args.docs, args.seed, args.datatrove_docs)
    return (old.get("results", {}) if same else {}), scale_runs


def report(args: argparse.Namespace, results: dict, scale_runs: dict, load: list) -> None:
    rows, scales = contender_rows(results), growth(scale_runs)
    notes = []
    dt = results.get("datatrove")
    if dt and dt["documents"] < args.docs:
        notes.append(f"datatrove ran on the first {dt['documents']} of {args.docs} documents; "
                     "its precision/recall are over that prefix's pairs")
    print_tables(rows, scales, notes)
    subset = prefix_rows(results) if notes else []
    if subset:
        print_prefix(subset)
    out = write_results("dedup", {
        "docs": args.docs, "seed": args.seed, "datatrove_docs": args.datatrove_docs,
        "ngram": NGRAM, "bands": BANDS, "rows": ROWS,
        "cpus": os.cpu_count(), "machine": platform.machine(),
        "python": platform.python_version(),
        "load_average": {"start": load, "end": load_average()},
        "table": rows, "datatrove_subset_table": subset, "scales": scales,
        "results": results,
        "scale_results": {str(n): r for n, r in scale_runs.items()}, "notes": notes,
    })
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
