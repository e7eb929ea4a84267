"""Benchmark: the Spark tokenize stage against the fastest bare ``tokenizers`` batch call.

Generates the project's sample crawl (``--docs`` documents, default 75,000, about 200 MB
of text; seed 7; cached under ``bench/work/``), takes the plain text of every document
from its ``truth.jsonl``, trains one byte-level BPE (``--vocab`` ids, on the first 20,000
texts, untimed) and gives every contender exactly the same texts and tokenizer, each in
its own process (so peak memory, of the whole process tree, is its own):

- ``library``: ``Tokenizer.encode_batch`` over the texts in batches of
  ``tokenize.batch_docs`` in one process, one thread (``TOKENIZERS_PARALLELISM=false``),
  reading each encoding's ids; the texts are in memory before the clock starts.
- ``library-fast``: the same with ``encode_batch_fast`` (no character offsets). After the
  clock stops it encodes every text with both calls and records whether the ids are equal
  (``same_ids``): only then may it be the reference.
- ``library-threads``: the same with the library's own thread pool on (all cores).
- ``spark-encode``: the stage's encode pass alone (:func:`etl.tokenize.stage.encode`: Delta
  read, Arrow batches to the Python workers, the stage's batch call, EOS, token arrays back to
  the JVM) into Spark's ``noop`` sink, ``local[*]``.
- ``spark-stage``: the whole stage, :func:`etl.tokenize.stage.run` (encode, staging, offsets,
  distributed packing, Delta write of ``gold/sequences``, report).

The Spark session start and the writing of the gold table are not timed. Throughput is
MB of UTF-8 text per second; per core, a one-thread contender's rate is MB over its CPU
seconds and Spark's is its MB/s over the cores it used; MB per CPU second of the whole
process tree (JVM and Python workers included) is shown for all. The reference
(``per_core_vs_library``, and ``reference`` in the results) is the faster per core of the
one-thread bare calls that give the stage's ids. The goal: the whole stage's per-core rate
at least 0.9 of it. ``per_cpu_s_vs_library`` compares MB per CPU second instead: on a
machine shared with other work, wall-clock rates of a multi-core contender mean little. ``spark-stage`` also carries the stage's own step times (``steps``).
Prints a table and writes ``bench/results/tokenize.json``. No child may use the network.

(Not ``bench/tokenize.py``: run as a script, a file of that name in this folder would
shadow the standard library's ``tokenize`` module for every benchmark here.)

Example::

    python bench/tokenization.py --docs 5000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
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

CONTENDERS = ("library", "library-fast", "library-threads", "spark-encode", "spark-stage")
# The bare call of each library contender; ``library-threads`` is ``library`` on all cores.
CALLS = {"library": "encode_batch", "library-fast": "encode_batch_fast",
         "library-threads": "encode_batch"}
ONE_THREAD = ("library", "library-fast")
TRAIN_TEXTS = 20_000
BATCH_DOCS = 256  # tokenize.batch_docs default
CONTEXT = 1024


def texts_of(table: Path, limit: int = 0) -> list[str]:
    return [text or "" for _, text, _ in read_docs(table, limit)]


def train_tokenizer(table: Path, out: Path, vocab: int) -> Path:
    """One tokenizer for every contender (cached beside the corpus)."""
    from etl.tokenizer.bpe import train
    from llmlake.tokenizer import save

    # The stage finds it as <artifacts>/tokenizer/tokenizer.json.
    path = out / f"vocab-{vocab}" / "tokenizer" / "tokenizer.json"
    if not path.exists():
        print(f"training a {vocab}-id tokenizer ...", flush=True)
        texts = texts_of(table, TRAIN_TEXTS)
        save(train(texts, vocab), path.parent)
    return path


def run_library(table: Path, tokenizer: Path, call: str, check: bool) -> dict:
    from itertools import islice

    from llmlake.tokenizer import load

    forbid_network()
    texts = texts_of(table)
    tok = load(tokenizer)
    encode = getattr(tok, call)
    mb = sum(len(t.encode()) for t in texts) / 1e6
    tokens, it = 0, iter(texts)
    with Timer() as t:
        while chunk := list(islice(it, BATCH_DOCS)):
            for enc in encode(chunk, add_special_tokens=False):
                tokens += len(enc.ids) + 1  # the stage's EOS
    result = {"call": call, "documents": len(texts), "mb": mb, "tokens": tokens,
              "seconds": t.wall, "cpu_seconds": t.cpu,
              "cores": 1 if os.environ["TOKENIZERS_PARALLELISM"] == "false" else os.cpu_count()}
    if check:  # untimed: the ids of every text under both calls
        result["same_ids"] = all(
            [e.ids for e in tok.encode_batch(texts[i:i + BATCH_DOCS], add_special_tokens=False)]
            == [e.ids for e in encode(texts[i:i + BATCH_DOCS], add_special_tokens=False)]
            for i in range(0, len(texts), BATCH_DOCS))
    return result


def write_gold(spark, table: Path, path: str) -> tuple[int, float]:
    """The texts as a gold-like Delta table (doc_id, split, text); not timed. Eight files,
    as the dedup stage writes gold with ``spark.shuffle_partitions`` (8) tasks.

    Returns its documents and MB of UTF-8 text, counted by Spark: texts collected here
    would count toward this contender's peak memory.
    """
    from pyspark.sql import functions as F

    docs = spark.read.parquet(str(table)).select(
        F.sha2("url", 256).substr(1, 32).alias("doc_id"), F.lit("train").alias("split"),
        F.coalesce("text", F.lit("")).alias("text")).repartition(8)
    docs.write.format("delta").mode("overwrite").save(path)
    count, size = spark.read.format("delta").load(path).agg(
        F.count("*"), F.sum(F.octet_length("text"))).first()
    return count, (size or 0) / 1e6


def run_spark(table: Path, tokenizer: Path, work: Path, whole_stage: bool) -> dict:
    import shutil

    from etl.tokenize import stage as sequences
    from llmlake.config import params_from_dict
    from llmlake.lake import Lake
    from llmlake.spark import get_spark

    forbid_network()
    shutil.rmtree(work, ignore_errors=True)
    params = params_from_dict({
        "lake": {"root": str(work / "lake"), "reports": str(work / "reports"),
                 "artifacts": str(tokenizer.parent.parent)},
        "spark": {"master": "local[*]", "shuffle_partitions": 8, "log_level": "ERROR",
                  "driver_memory": "3g"},
        "tokenize": {"batch_docs": BATCH_DOCS}, "train": {"context": CONTEXT},
    })
    spark = get_spark(params.spark)
    gold = Lake(params.lake).table("gold/documents")
    docs, mb = write_gold(spark, table, gold)
    steps = None
    with CpuMeter() as meter:
        if whole_stage:
            report = sequences.run(params)
            tokens = report["splits"]["train"]["tokens"]
            timings = Lake(params.lake).report("timings/tokenize.json")
            steps = json.loads(timings.read_text())["steps"]
        else:
            from llmlake.tokenizer import EOS, load

            tok = load(tokenizer)
            encoded = sequences.encode(spark.read.format("delta").load(gold), tok.to_str(),
                                       tok.token_to_id(EOS), BATCH_DOCS, 0)
            encoded.write.format("noop").mode("overwrite").save()
            tokens = None
    return {"documents": docs, "mb": mb, "tokens": tokens, "seconds": meter.wall,
            "cpu_seconds": meter.cpu, "cores": spark.sparkContext.defaultParallelism,
            **({"steps": steps} if steps else {})}


def child(args: argparse.Namespace) -> None:
    table, tokenizer = Path(args.table), Path(args.tokenizer)
    if args.child.startswith("library"):
        emit(run_library(table, tokenizer, CALLS[args.child], args.child == "library-fast"))
    else:
        emit(run_spark(table, tokenizer, Path(args.work) / args.child,
                       args.child == "spark-stage"))


def run_child(kind: str, args: argparse.Namespace, table: Path, tokenizer: Path) -> dict:
    print(f"running {kind} ...", flush=True)
    threads = "true" if kind == "library-threads" else "false"
    log = Path(args.work) / f"tokenize-{kind}.log"
    return measure([sys.executable, __file__, "--child", kind, "--table", str(table),
                    "--tokenizer", str(tokenizer), "--work", args.work], kind,
                   env={"TOKENIZERS_PARALLELISM": threads}, log=log)


def rates(r: dict) -> dict:
    return {"mb_s": r["mb"] / r["seconds"],
            "mb_s_per_core": per_core(r["mb"], r["seconds"], r["cpu_seconds"], r["cores"]),
            "mb_per_cpu_s": r["mb"] / r["cpu_seconds"]}


def reference(results: dict) -> str | None:
    """The faster per core of the one-thread bare calls that give the stage's ids."""
    valid = [k for k in ONE_THREAD if k in results and results[k].get("same_ids", True)]
    return max(valid, key=lambda k: rates(results[k])["mb_s_per_core"], default=None)


def report(args: argparse.Namespace, results: dict, load: list) -> None:
    ref = reference(results)
    base = rates(results[ref]) if ref else None
    print(f"\n{'contender':<16} {'MB':>7} {'s':>7} {'MB/s':>7} {'cores':>5} "
          f"{'MB/s/core':>9} {'vs lib':>6} {'MB/CPU-s':>8} {'vs lib':>6} {'RSS MB':>7}")
    for kind, r in results.items():
        x = rates(r)
        # Per wall second over the cores (the goal's measure), and per CPU second of the
        # whole process tree: the one other work on a shared machine does not stretch.
        core = x["mb_s_per_core"] / base["mb_s_per_core"] if base else None
        cpu = x["mb_per_cpu_s"] / base["mb_per_cpu_s"] if base else None
        print(f"{kind:<16} {r['mb']:>7.1f} {r['seconds']:>7.1f} {x['mb_s']:>7.2f} "
              f"{r['cores']:>5} {x['mb_s_per_core']:>9.2f} {core or 0:>6.3f} "
              f"{x['mb_per_cpu_s']:>8.2f} {cpu or 0:>6.3f} {r['peak_rss_mb']:>7}")
        r.update({k: round(v, 4) for k, v in x.items()},
                 per_core_vs_library=round(core, 4) if base else None,
                 per_cpu_s_vs_library=round(cpu, 4) if base else None)
    out = write_results("tokenize", {
        "docs": args.docs, "seed": args.seed, "vocab": args.vocab, "batch_docs": BATCH_DOCS,
        "context": CONTEXT, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                        "load_before": load, "load_after": load_average()},
        "reference": {"contender": ref, "call": results[ref]["call"]} if ref else None,
        "results": results})
    if ref:
        print(f"\nreference: {ref} ({results[ref]['call']})")
    if "steps" in results.get("spark-stage", {}):
        print("spark-stage steps (s):", results["spark-stage"]["steps"])
    print(f"written to {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=75_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--work", default=str(ROOT / "bench" / "work"))
    parser.add_argument("--child", default=None)
    parser.add_argument("--table", default="")
    parser.add_argument("--tokenizer", default="")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    load = load_average()
    table = text_corpus(Path(args.work) / f"dedup-{args.docs}-{args.seed}", args.docs,
                        args.seed)
    tokenizer = train_tokenizer(table, table.parent, args.vocab)
    results = {kind: run_child(kind, args, table, tokenizer)
               for kind in filter(None, args.contenders.split(","))}
    report(args, results, load)


if __name__ == "__main__":
    main()
