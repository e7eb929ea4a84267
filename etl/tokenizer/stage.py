"""The ``tokenizer`` stage: a byte-level BPE learned from the gold train split.

It owns ``artifacts/tokenizer/`` (the format is :mod:`llmlake.tokenizer`'s) and
``reports/tokenizer.json``. ``run(params)`` streams a seeded sample of
``tokenizer.sample_docs`` train documents from ``gold/documents`` into training
(:mod:`etl.tokenizer.bpe`; never collected whole on the driver), measures the result on up
to ``tokenizer.eval_docs`` val documents and writes the report and lineage.

Run it as ``llmlake etl tokenizer`` or ``spark-submit etl/tokenizer/stage.py``.

Example::

    >>> from llmlake.config import load_params
    >>> report = run(load_params("params.yaml"))           # doctest: +SKIP
    >>> report["special_tokens"]                           # doctest: +SKIP
    {'<|endoftext|>': 0, '<|pad|>': 1}
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import asdict
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.tokenizer.bpe import measure, train
from llmlake.config import Params, TokenizerConfig
from llmlake.stage import StageError, stage_shell
from llmlake.tokenizer import SPECIAL_TOKENS, TOKENIZER_FILE, file_hash, load, save

TOKENIZER_FILES = (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json")

if TYPE_CHECKING:
    from pyspark.sql import SparkSession




def reuse(folder: str, vocab_size: int, dest: Path) -> Path:
    """Copy a model's (or tokenizer folder's) tokenizer files byte for byte, so its hash,
    and every token id, stay its parent's; checked to have the configured size."""
    src = Path(folder)
    if not (src / TOKENIZER_FILE).exists():
        raise StageError(f"tokenizer.reuse: {folder} holds no {TOKENIZER_FILE}")
    size = load(src / TOKENIZER_FILE).get_vocab_size()
    if size != vocab_size:
        raise StageError(f"tokenizer.reuse: {folder} has {size} ids, but "
                         f"tokenizer.vocab_size is {vocab_size}")
    if src.resolve() == dest.resolve():
        return dest / TOKENIZER_FILE
    shutil.rmtree(dest, ignore_errors=True)  # nothing of an earlier tokenizer stays
    dest.mkdir(parents=True)
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copyfile(src / name, dest / name)
    return dest / TOKENIZER_FILE


def learn(sh: Any, gold: str, cfg: TokenizerConfig, seen: list[int]) -> Any:
    """A new BPE from a seeded sample of the train split; ``seen[0]`` counts its texts."""
    texts, expected = split_texts(sh.spark, gold, "train", cfg.sample_docs, cfg.seed)
    if expected == 0:
        raise StageError(f"{gold} has no train documents to learn a tokenizer from")
    sh.log.info("tokenizer: training a %d-id byte-level BPE on about %d train documents",
                cfg.vocab_size, expected)

    def counted(it: Iterator[str]) -> Iterator[str]:
        for text in it:
            seen[0] += 1
            yield text

    return train(counted(texts), cfg.vocab_size, cfg.min_frequency, length=expected,
                 progress=sys.stderr.isatty())


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
    cfg: TokenizerConfig = params.tokenizer
    with stage_shell("tokenizer", params) as sh:
        version = sh.require("gold/documents")
        gold = sh.table("gold/documents")
        seen = [0]
        with sh.step("train"):
            if cfg.reuse:  # no training: the parent's token ids, byte for byte
                path = reuse(cfg.reuse, cfg.vocab_size, sh.lake.artifact("tokenizer"))
                tok = load(path)
                sh.log.info("tokenizer: keeping %s's tokenizer (tokenizer.reuse)", cfg.reuse)
            else:
                tok = learn(sh, gold, cfg, seen)
                path = save(tok, sh.lake.artifact("tokenizer"))
        with sh.step("measure"):
            val, n_val = split_texts(sh.spark, gold, "val", cfg.eval_docs, cfg.seed)
            measured = measure(tok, val) if n_val else None
        metrics = {
            "config": asdict(cfg), "vocab_size": tok.get_vocab_size(),
            "special_tokens": {t: tok.token_to_id(t) for t in SPECIAL_TOKENS},
            "train_documents": seen[0], "val": measured,
            "tokenizer_sha256": file_hash(path), "gold_version": version,
            "reused_from": cfg.reuse or None,
        }
        sh.log.info("tokenizer: %d ids; val %s; %s", metrics["vocab_size"], measured, path)
        return sh.finish(metrics, lineage={"artifact": "artifacts/tokenizer",
                                           "sha256": metrics["tokenizer_sha256"]})


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("tokenizer")
