"""Tokenize and pack: ``gold/documents`` to ``gold/sequences`` of ``train.context + 1`` tokens.

1. Encode: documents go to the tokenizer in Arrow batches of ``tokenize.batch_docs``
   (``encode_batch_fast``; the tokenizer is loaded once per Python worker) and get EOS
   appended.
   Spark already runs one task per core, so the tokenizer's own threads are turned off.
   The result is persisted (memory, then local disk) for the two passes that follow.
2. Order: within each split, documents are shuffled by a seeded hash of ``doc_id`` and
   each gets its offset in the split's token stream (a running sum over token counts only).
3. Pack: each document is cut at sequence boundaries (:mod:`etl.tokenize.packing`); fragments are
   grouped by sequence and put in stream order, which is exactly "concatenate, then cut".
   The last short sequence of a split is dropped or padded (``tokenize.remainder``);
   either way its tokens are counted in the report.
4. Write: ``gold/sequences`` (``seq_id``, ``split``, ``position``, ``tokens``, ``pad``) is
   overwritten; ``seq_id`` is a seeded hash of (split, position), so ordering by it is a
   deterministic shuffle of the sequences. A rerun on the same gold version, tokenizer and
   params commits nothing.

Run it as ``llmlake etl tokenize`` or ``spark-submit etl/tokenize/stage.py``. (As a package,
``etl.tokenize`` does not shadow the standard library module of that name.)

Example::

    >>> report = run(load_params("params.yaml"))          # doctest: +SKIP
    >>> report["splits"]["train"]["sequences"]             # doctest: +SKIP
    5012
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict
from functools import cache
from itertools import chain
from typing import TYPE_CHECKING, Any

from etl.tokenize.packing import Remainder
from llmlake.config import Params, fingerprint
from llmlake.stage import Shell, stage_shell
from llmlake.tables import get_property, set_property

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    from pyspark.sql import DataFrame
    from tokenizers import Tokenizer


ENCODED_DDL = ("doc_id string, split string, order_key bigint, n_bytes bigint, "
               "n_tokens int, tokens array<int>")
FRAGMENT_DDL = "split string, position bigint, start bigint, tokens array<int>"
SEQUENCE_COLUMNS = ["seq_id", "split", "position", "tokens", "pad"]
STATE_PROPERTY = "llmlake.tokenize.state"
# The tokenizer's batch call: encode_batch_fast computes no character offsets, gives the
# same ids (tests/etl/tokenize/test_encode.py) and is the faster on one thread
# (bench/tokenization.py measures both and compares the stage to the faster).
ENCODE_CALL = "encode_batch_fast"
# Up to this many documents the offsets table (about 60 bytes a document) is broadcast to
# the tasks holding the tokens, instead of both being shuffled by doc_id.
BROADCAST_DOCS = 1_000_000


@cache
def cached_tokenizer(text: str) -> Tokenizer:
    """One tokenizer per Python worker and tokenizer file (workers are reused by tasks)."""
    from tokenizers import Tokenizer

    from llmlake.tokenizer import for_documents

    return for_documents(Tokenizer.from_str(text))


def encode_texts(tok: Tokenizer, texts: list[str], eos: int, call: str = ENCODE_CALL
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of the texts, each followed by EOS: one flat int32 array and the lengths."""
    import numpy as np

    ids = [e.ids for e in getattr(tok, call)(texts, add_special_tokens=False)]
    lengths = np.fromiter(map(len, ids), dtype=np.int32, count=len(ids)) + 1
    flat = np.fromiter(chain.from_iterable(chain(row, (eos,)) for row in ids), dtype=np.int32,
                       count=int(lengths.sum()))
    return flat, lengths


def _encoder(tok_json: str, eos: int, batch_docs: int, schema: pa.Schema):
    def encode(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from etl.tokenize.stage import cached_tokenizer, encode_texts

        # One task per core already: the tokenizer's thread pool would only oversubscribe.
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        tok = cached_tokenizer(tok_json)
        for big in batches:
            for start in range(0, big.num_rows, batch_docs):
                rb = big.slice(start, batch_docs)
                texts = [t or "" for t in rb.column("text").to_pylist()]
                flat, lengths = encode_texts(tok, texts, eos)
                bounds = np.zeros(len(lengths) + 1, dtype=np.int32)
                np.cumsum(lengths, out=bounds[1:])
                yield pa.RecordBatch.from_arrays([
                    rb.column("doc_id"), rb.column("split"), rb.column("order_key"),
                    pc.binary_length(rb.column("text")).cast(pa.int64()),
                    pa.array(lengths), pa.ListArray.from_arrays(pa.array(bounds), pa.array(flat)),
                ], schema=schema)

    return encode


def _fragmenter(seq_len: int, schema: pa.Schema):
    def cut(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from etl.tokenize.packing import fragment_batch

        for rb in batches:
            yield fragment_batch(rb, seq_len).cast(schema)

    return cut


def encode(gold: DataFrame, tok_json: str, eos: int, batch_docs: int, seed: int) -> DataFrame:
    """Gold documents to ``ENCODED_DDL`` rows: ids with EOS, counts and a shuffle key."""
    from pyspark.sql import functions as F

    from llmlake.spark import arrow_schema

    struct, schema = arrow_schema(ENCODED_DDL)
    docs = gold.select("doc_id", "split", "text",
                       F.xxhash64(F.lit(seed), "doc_id").alias("order_key"))
    return docs.mapInArrow(_encoder(tok_json, eos, batch_docs, schema), struct)


def stream_order():
    """Each split's documents in shuffled (``order_key``) order, up to the current one: a
    running sum of token counts over it places every document in its split's stream."""
    from pyspark.sql import Window

    return (Window.partitionBy("split").orderBy("order_key", "doc_id")
            .rowsBetween(Window.unboundedPreceding, Window.currentRow))


def stream_offsets(encoded: DataFrame) -> DataFrame:
    """``doc_id, split, n_tokens, offset``: each document's offset in its split's stream,
    in shuffled (``order_key``) order. The running sum works on four narrow columns, one
    window partition per split; the plots and the packing both read it, so it is computed
    once (the caller persists it)."""
    from pyspark.sql import functions as F

    return (encoded.select("doc_id", "split", "order_key", "n_tokens")
            .withColumn("offset", F.sum("n_tokens").over(stream_order()) - F.col("n_tokens"))
            .select("doc_id", "split", "n_tokens", "offset"))


def with_offsets(encoded: DataFrame, offsets: DataFrame, broadcast: bool = False
                 ) -> DataFrame:
    """The token arrays with their stream offsets, joined broadcast (no shuffle of the
    tokens) when ``broadcast`` says the offsets table is small enough."""
    from pyspark.sql import functions as F

    offsets = offsets.select("doc_id", "offset")
    if broadcast:
        offsets = F.broadcast(offsets)
    return encoded.join(offsets, "doc_id").select("split", "offset", "tokens")


def pack_sequences(docs: DataFrame, seq_len: int, remainder: str, pad_id: int, seed: int
                   ) -> DataFrame:
    """``split, offset, tokens`` documents to ``SEQUENCE_COLUMNS`` sequences."""
    from pyspark.sql import functions as F

    from llmlake.spark import arrow_schema

    struct, schema = arrow_schema(FRAGMENT_DDL)
    pieces = docs.mapInArrow(_fragmenter(seq_len, schema), struct)
    seqs = (pieces.groupBy("split", "position")
            # Structs sort by their first field, so the pieces come back in stream order.
            .agg(F.array_sort(F.collect_list(F.struct("start", "tokens"))).alias("pieces"))
            .select("split", "position",
                    F.flatten(F.transform("pieces", lambda p: p["tokens"])).alias("tokens")))
    short = seq_len - F.size("tokens")
    if remainder == "drop":
        seqs = seqs.where(short == 0).withColumn("pad", F.lit(0))
    else:
        seqs = (seqs.withColumn("pad", short)
                .withColumn("tokens", F.concat("tokens", F.array_repeat(F.lit(pad_id), short))))
    seq_id = F.xxhash64(F.lit(seed), "split", "position")
    return seqs.withColumn("seq_id", seq_id).select(*SEQUENCE_COLUMNS)


def split_stats(encoded: DataFrame, seq_len: int, remainder: str) -> dict[str, dict[str, int]]:
    """Documents, bytes, tokens (with EOS), sequences and remainder per split."""
    from pyspark.sql import functions as F

    rows = encoded.groupBy("split").agg(F.count("*").alias("documents"),
                                        F.sum("n_bytes").alias("bytes"),
                                        F.sum("n_tokens").alias("tokens")).collect()
    stats = {}
    for r in sorted(rows, key=lambda r: r["split"]):
        cut = Remainder.of(int(r["tokens"]), seq_len)
        padded = remainder == "pad" and cut.tokens > 0
        stats[r["split"]] = {
            "documents": int(r["documents"]), "bytes": int(r["bytes"]),
            "tokens": int(r["tokens"]), "sequences": cut.full + int(padded),
            "remainder_tokens": cut.tokens, "remainder": remainder if cut.tokens else "none",
            "pad_tokens": seq_len - cut.tokens if padded else 0,
        }
    return stats


def doc_length_histogram(encoded: DataFrame) -> list[dict[str, int]]:
    """Documents per length bucket (tokens with EOS, powers of two), for a DVC plot."""
    from pyspark.sql import functions as F

    bucket = F.pow(F.lit(2), F.floor(F.log2(F.greatest(F.col("n_tokens"), F.lit(1)))))
    rows = encoded.groupBy(bucket.cast("long").alias("tokens_from")).count().collect()
    return [{"tokens_from": r["tokens_from"], "documents": r["count"]}
            for r in sorted(rows, key=lambda r: r["tokens_from"])]


def docs_per_sequence(offsets: DataFrame, seq_len: int, sequences: dict[str, int]
                      ) -> list[dict[str, int]]:
    """Sequences by the number of document ends (EOS) they hold: how tightly documents pack
    into ``train.context`` tokens. A document ends in the sequence its last token falls in,
    so the counts come from the stream offsets (:func:`stream_offsets`), without reading
    the tokens again; ``sequences`` (per split) leaves out a dropped remainder."""
    from pyspark.sql import functions as F

    end = F.col("offset") + F.col("n_tokens") - 1
    ends = offsets.withColumn("position", F.floor(end / seq_len))
    kept = F.lit(False)
    for split, n in sequences.items():
        kept = kept | ((F.col("split") == split) & (F.col("position") < n))
    per_sequence = ends.where(kept).groupBy("split", "position").count()
    found = {r["document_ends"]: r["count"] for r in per_sequence.groupBy(
        F.col("count").alias("document_ends")).count().collect()}
    found[0] = sum(sequences.values()) - sum(found.values())  # sequences inside one document
    return [{"document_ends": k, "sequences": v} for k, v in sorted(found.items()) if v]


def state_key(gold_version: int, tok_hash: str, params: Params) -> str:
    """What the sequences were built from; the same key means a rerun has nothing to do."""
    state = {"gold": gold_version, "tokenizer": tok_hash, "tokenize": asdict(params.tokenize),
             "context": params.train.context}
    return fingerprint(state)


def run(params: Params) -> dict[str, Any]:
    from llmlake.tokenizer import TOKENIZER_FILE, file_hash, load

    seq_len = params.train.context + 1
    with stage_shell("tokenize", params) as sh:
        gold_version = sh.require("gold/documents")
        tok_path = sh.require_artifact("tokenizer", TOKENIZER_FILE) / TOKENIZER_FILE
        tok, tok_hash = load(tok_path), file_hash(tok_path)
        spark, out = sh.spark, sh.table("gold/sequences")
        key = state_key(gold_version, tok_hash, params)
        if sh.version("gold/sequences") is not None and \
                get_property(spark, out, STATE_PROPERTY) == key:
            previous = _previous(sh, key)
            if previous is not None:
                sh.log.info("tokenize: %s is up to date (gold version %d)", out, gold_version)
                # Same metrics and lineage again (a lineage file deleted with `dvc repro -f`
                # in mind comes back unchanged), nothing rebuilt.
                return sh.finish(previous, tables=("gold/sequences",),
                                 lineage={"tokenizer_sha256": tok_hash}, unchanged=True)
        gold = (spark.read.format("delta").option("versionAsOf", gold_version)
                .load(sh.table("gold/documents")))
        stats, plots = build(gold, tok, params, out, sh)
        with sh.step("record state"):
            set_property(spark, out, STATE_PROPERTY, key)
        for name, rows in plots.items():
            sh.plot(name, rows)
        metrics = {
            "state": key, "seq_len": seq_len, "vocab_size": tok.get_vocab_size(),
            "tokenizer_sha256": tok_hash, "gold_version": gold_version, "splits": stats,
            "config": asdict(params.tokenize),
        }
        return sh.finish(metrics, tables=("gold/sequences",),
                         lineage={"tokenizer_sha256": tok_hash})


def build(gold: DataFrame, tok: Tokenizer, params: Params, out: str, sh: Shell
          ) -> tuple[dict[str, dict[str, int]], dict[str, list[dict[str, Any]]]]:
    """Encode ``gold`` once, then pack it and overwrite the sequences table at ``out``.

    The encoded documents are read twice (counts and offsets, then the tokens), so they are
    persisted: in memory, spilling to local disk, and recomputed from gold if an executor
    is lost (encoding is deterministic). This is faster than a Parquet round trip.
    """
    from pyspark import StorageLevel

    from llmlake.tokenizer import EOS, PAD

    cfg, seq_len = params.tokenize, params.train.context + 1
    with sh.step("encode"):
        encoded = encode(gold, tok.to_str(), tok.token_to_id(EOS), cfg.batch_docs, cfg.seed)
        encoded = encoded.persist(StorageLevel.MEMORY_AND_DISK)
        stats = split_stats(encoded, seq_len, cfg.remainder)
    sh.log.info("tokenize: encoded %s", {s: v["tokens"] for s, v in stats.items()})
    docs = sum(v["documents"] for v in stats.values())
    with sh.step("offsets and plots"):
        offsets = stream_offsets(encoded).persist(StorageLevel.MEMORY_AND_DISK)
        plots = {"doc_lengths": doc_length_histogram(offsets),
                 "docs_per_sequence": docs_per_sequence(
                     offsets, seq_len, {s: v["sequences"] for s, v in stats.items()})}
    with sh.step("pack and write"):
        located = with_offsets(encoded, offsets, broadcast=docs <= BROADCAST_DOCS)
        seqs = pack_sequences(located, seq_len, cfg.remainder, tok.token_to_id(PAD), cfg.seed)
        seqs.write.format("delta").mode("overwrite").save(out)
    sh.kill_point("sequences written")
    offsets.unpersist()
    encoded.unpersist()
    return stats, plots


def _previous(sh: Shell, key: str) -> dict[str, Any] | None:
    """The metrics of the run that built the current table under ``key``; None if they are
    gone or belong to another build (a run that stopped between committing the table and
    writing its metrics), so the caller rebuilds."""
    path = sh.lake.report("tokenize.json")
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics.pop("tables", None)  # finish() measures them again
    return metrics if metrics.get("state") == key else None


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("tokenize")
