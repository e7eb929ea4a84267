"""Tokenizer training: a byte-level BPE learned from the gold train split.

This module owns ``artifacts/tokenizer/`` and ``reports/tokenizer.json``:

* :func:`new_tokenizer`, :func:`train` and :func:`measure` are the pure core: a GPT-2 style
  byte-level BPE (lossless: any text decodes back to itself) with the special tokens
  ``<|endoftext|>`` (id 0, the end of every document) and ``<|pad|>`` (id 1), trained from
  any iterator of texts, and its bytes per token and tokens per word on other texts.
* :func:`save` writes ``tokenizer.json`` (``tokenizers.Tokenizer.from_file``) next to the
  ``tokenizer_config.json`` and ``special_tokens_map.json`` that
  ``transformers.AutoTokenizer.from_pretrained(folder)`` reads.
* ``run(params)`` streams a seeded sample of ``tokenizer.sample_docs`` train documents from
  ``gold/documents`` into training (never collected whole on the driver), measures the
  result on up to ``tokenizer.eval_docs`` val documents and writes the report and lineage.

Run it as ``llmlake etl tokenizer`` or ``spark-submit etl/tokenizer.py``.

Example::

    >>> tok = train(["the cat sat on the mat"] * 50, vocab_size=300)
    >>> tok.decode(tok.encode("the cat sat").ids)
    'the cat sat'
    >>> tok.token_to_id(EOS), tok.token_to_id(PAD)
    (0, 1)
    >>> EOS in tok.decode(tok.encode("quoting <|endoftext|>").ids)   # text stays text
    True
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from itertools import islice
from typing import TYPE_CHECKING, Any

from llmlake.config import Params, TokenizerConfig
from llmlake.lake import Lake
from llmlake.log import get_logger

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = get_logger(__name__)

EOS = "<|endoftext|>"
PAD = "<|pad|>"
# Listed first, so their ids are 0 and 1 in every vocabulary this module trains.
SPECIAL_TOKENS = (EOS, PAD)
TOKENIZER_FILE = "tokenizer.json"
# Texts handed to the Rust side per call when measuring.
MEASURE_BATCH = 256


def split_texts(spark: SparkSession, gold: str, split: str, limit: int, seed: int
                ) -> tuple[Iterator[str], int]:
    """Stream up to ``limit`` texts of one split, a seeded sample when the split is larger.

    Returns the iterator and the number of texts it will yield. The sample keeps documents
    whose seeded hash falls under a threshold, so it is the same for the same table.
    """
    from pyspark.sql import functions as F

    docs = spark.read.format("delta").load(gold).where(F.col("split") == split)
    total = docs.count()
    if total > limit:
        # A little over the needed share, then cut: a hash sample's size varies slightly.
        share = min(1.0, 1.05 * limit / total)
        bucket = F.pmod(F.xxhash64(F.lit(seed), F.col("doc_id")), F.lit(1_000_000))
        docs = docs.where(bucket < int(share * 1_000_000))
    n = min(total, limit)
    rows = docs.select("text").toLocalIterator(prefetchPartitions=True)
    return islice((r["text"] for r in rows), n), n


def run(params: Params) -> dict[str, Any]:
    from llmlake.spark import delta_version, get_spark

    cfg: TokenizerConfig = params.tokenizer
    lake = Lake(params.lake)
    gold = lake.table("gold/documents")
    spark = get_spark(params.spark)
    version = delta_version(spark, gold)
    if version is None:
        raise FileNotFoundError(f"no Delta table at {gold}: run `llmlake etl dedup` first")
    texts, expected = split_texts(spark, gold, "train", cfg.sample_docs, cfg.seed)
    if expected == 0:
        raise ValueError(f"{gold} has no train documents to learn a tokenizer from")
    log.info("tokenizer: training a %d-id byte-level BPE on about %d train documents",
             cfg.vocab_size, expected)
    seen = [0]

    def counted(it: Iterator[str]) -> Iterator[str]:
        for text in it:
            seen[0] += 1
            yield text

    train_started = time.time()
    tok = train(counted(texts), cfg.vocab_size, cfg.min_frequency, length=expected,
                progress=sys.stderr.isatty())
    n_train = seen[0]
    train_seconds = time.time() - train_started
    path = save(tok, lake.artifact("tokenizer"))
    val, n_val = split_texts(spark, gold, "val", cfg.eval_docs, cfg.seed)
    report = {
        "config": asdict(cfg),
        "vocab_size": tok.get_vocab_size(),
        "special_tokens": {t: tok.token_to_id(t) for t in SPECIAL_TOKENS},
        "train_documents": n_train,
        "train_seconds": round(train_seconds, 2),
        "val": measure(tok, val) if n_val else None,
        "tokenizer": str(path),
        "tokenizer_sha256": file_hash(path),
        "gold_version": version,
    }
    lake.write_report("tokenizer.json", report)
    lake.write_lineage("tokenizer", {gold: {"version": version}}, artifact=str(path),
                       sha256=report["tokenizer_sha256"])
    val_stats = report["val"] or {}
    log.info("tokenizer: %d ids; val %s bytes/token, %s tokens/word; %s",
             report["vocab_size"], val_stats.get("bytes_per_token"),
             val_stats.get("tokens_per_word"), path)
    return report


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("tokenizer")
