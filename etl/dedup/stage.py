"""Dedup: kept silver documents to ``gold/documents`` (exact and MinHash near-duplicates).

1. Every kept silver document not yet in gold (nor already removed as a duplicate) gets,
   in Arrow batches, the hash of its normalized text and its MinHash LSH band hashes
   (:mod:`etl.dedup.minhash`; ``dedup.bands`` x ``dedup.rows`` permutations over word
   ``dedup.ngram``-shingles).
2. Candidate edges: documents sharing a band bucket (each linked to the bucket's smallest
   id, so a bucket of n documents gives n-1 edges, not n^2), verified by exact Jaccard
   against ``dedup.threshold``; plus edges between equal normalized texts (and, if
   ``dedup.url_dedup``, equal normalized URLs). Band hashes of gold documents are kept in
   ``gold/minhash``, so a new batch is matched against everything in gold without
   recomputing old signatures.
3. Clusters are connected components computed inside Spark (:mod:`etl.dedup.components`). One
   survivor per cluster: a document already in gold, else the earliest ``fetched_at``,
   then the smallest ``doc_id``. The others go to ``gold/duplicates`` with their
   ``cluster_id`` (the survivor's ``doc_id``) and how they matched.
4. Survivors get ``split`` from a hash of their ``doc_id`` (after dedup, so near-copies
   cannot leak across splits) and are appended to ``gold/documents``.

Run it as ``llmlake etl dedup`` or ``spark-submit etl/dedup/stage.py --params params.yaml``.

Example::

    >>> report = run(load_params("params.yaml"))        # doctest: +SKIP
    >>> report["removed"]                               # doctest: +SKIP
    {'exact': 140, 'near': 161}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from etl.dedup.components import checkpoint
from llmlake.config import DedupConfig, Params, fingerprint
from llmlake.lake import Lake
from llmlake.stage import Shell, stage_shell
from llmlake.tables import get_property, merge_insert, set_properties

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession


GOLD_COLUMNS = ["doc_id", "text", "lang", "url", "fetched_at", "cluster_id", "split", "text_hash",
                "batch"]
SIG_DDL = "doc_id string, text_hash string, num_shingles int, bands array<bigint>"
PAIR_DDL = "src string, dst string, jaccard double"


def _signature_udf(cfg: DedupConfig):
    def sign(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import numpy as np
        import pyarrow as pa

        from etl.dedup.minhash import MinHasher, batch

        hasher = MinHasher(cfg.bands, cfg.rows, cfg.seed)
        for rb in batches:
            texts = rb.column("text").to_pylist()
            out = batch(texts, hasher, cfg.ngram, with_shingles=False)
            bands = out["band_hashes"].view("int64")  # Spark has no unsigned 64-bit type
            bounds = np.arange(0, bands.size + 1, cfg.bands, dtype=np.int32)
            yield pa.RecordBatch.from_pydict({
                "doc_id": rb.column("doc_id"), "text_hash": out["text_hashes"],
                "num_shingles": pa.array(out["num_shingles"], pa.int32()),
                "bands": pa.ListArray.from_arrays(pa.array(bounds), pa.array(bands.ravel())),
            })

    return sign


def _verify_udf(cfg: DedupConfig):
    def verify(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        from etl.dedup.minhash import exact_jaccard, shingles

        for rb in batches:
            # Star edges share their centre, so one document sits in many pairs of a batch:
            # shingle each document once per batch, not once per pair.
            src, dst = rb.column("src").to_pylist(), rb.column("dst").to_pylist()
            texts = dict(zip(src, rb.column("text_a").to_pylist(), strict=True))
            texts.update(zip(dst, rb.column("text_b").to_pylist(), strict=True))
            sets = {doc: shingles(text or "", cfg.ngram) for doc, text in texts.items()}
            sims = [exact_jaccard(sets[a], sets[b]) for a, b in zip(src, dst, strict=True)]
            yield pa.RecordBatch.from_pydict({"src": rb.column("src"), "dst": rb.column("dst"),
                                              "jaccard": pa.array(sims, pa.float64())})

    return verify


def signatures(docs: DataFrame, cfg: DedupConfig) -> DataFrame:
    """``doc_id, text_hash, num_shingles, bands`` for every document."""
    parts = max(2, docs.sparkSession.sparkContext.defaultParallelism * 2)
    return docs.select("doc_id", "text").repartition(parts).mapInArrow(_signature_udf(cfg),
                                                                        SIG_DDL)


def star_edges(rows: DataFrame, group: list[str], kind: str) -> DataFrame:
    """Link every row of a group to the group's smallest ``doc_id`` (n-1 edges per group)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    root = F.min("doc_id").over(Window.partitionBy(*group))
    return (rows.select(*group, "doc_id").withColumn("root", root)
            .where(F.col("doc_id") != F.col("root"))
            .select(F.col("root").alias("src"), F.col("doc_id").alias("dst"),
                    F.lit(kind).alias("kind")).distinct())


def lsh_edges(sigs: DataFrame) -> DataFrame:
    """Candidate pairs from shared band buckets (documents without shingles are left out)."""
    from pyspark.sql import functions as F

    buckets = (sigs.where("num_shingles > 0")
               .select("doc_id", F.posexplode("bands").alias("band", "bucket")))
    return star_edges(buckets, ["band", "bucket"], "near")


def verified(edges: DataFrame, texts: DataFrame, cfg: DedupConfig) -> DataFrame:
    """Keep candidate pairs (each pair once) whose exact shingle Jaccard reaches
    ``dedup.threshold``."""
    from pyspark.sql import functions as F

    a = texts.select(F.col("doc_id").alias("src"), F.col("text").alias("text_a"))
    b = texts.select(F.col("doc_id").alias("dst"), F.col("text").alias("text_b"))
    pairs = edges.select("src", "dst").join(a, "src").join(b, "dst")
    scored = pairs.select("src", "dst", "text_a", "text_b").mapInArrow(_verify_udf(cfg),
                                                                       PAIR_DDL)
    return (scored.where(F.col("jaccard") >= cfg.threshold)
            .select("src", "dst", F.lit("near").alias("kind")))


def normalized_url(col: Any) -> Any:
    """Scheme, ``www.``, fragment and trailing slash folded; host and path lower-cased."""
    from pyspark.sql import functions as F

    url = F.lower(F.regexp_replace(col, r"#.*$", ""))
    url = F.regexp_replace(url, r"^[a-z][a-z0-9+.-]*://(www\.)?", "")
    return F.regexp_replace(url, r"/+$", "")


def touching(edges: DataFrame, ids: DataFrame) -> DataFrame:
    """Edges with at least one end in ``ids`` (old-old pairs were settled by earlier runs)."""
    from pyspark.sql import functions as F

    flag = ids.select("doc_id").distinct()
    s = flag.select(F.col("doc_id").alias("src"), F.lit(True).alias("s_new"))
    d = flag.select(F.col("doc_id").alias("dst"), F.lit(True).alias("d_new"))
    return (edges.join(s, "src", "left").join(d, "dst", "left")
            .where(F.coalesce("s_new", F.lit(False)) | F.coalesce("d_new", F.lit(False)))
            .select("src", "dst", "kind"))


def all_edges(new: DataFrame, sigs: DataFrame, texts: DataFrame, old: bool, cfg: DedupConfig
              ) -> DataFrame:
    """Exact, verified near and (optionally) URL edges that touch a new document."""
    exact = star_edges(sigs, ["text_hash"], "exact")
    near = lsh_edges(sigs)
    if old:
        exact, near = touching(exact, new), touching(near, new)
    near = near.join(exact.select("src", "dst"), ["src", "dst"], "left_anti")
    if cfg.verify:
        near = verified(near, texts, cfg)
    edges = exact.unionByName(near)
    if cfg.url_dedup:
        from pyspark.sql import functions as F

        urls = texts.where("url IS NOT NULL").select("doc_id", normalized_url(F.col("url"))
                                                     .alias("nurl"))
        url_edges = star_edges(urls, ["nurl"], "url")
        edges = edges.unionByName(touching(url_edges, new) if old else url_edges)
    return edges


def assign(members: DataFrame, labels: DataFrame) -> DataFrame:
    """Per new document: its cluster's survivor (``cluster_id``) and whether it survives.

    ``members``: ``doc_id, fetched_at, in_gold``; ``labels``: ``node, component``.
    A document already in gold wins, then the earliest ``fetched_at``, then the smallest id.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    m = members.join(labels.withColumnRenamed("node", "doc_id"), "doc_id", "left")
    m = m.withColumn("component", F.coalesce("component", "doc_id"))
    order = Window.partitionBy("component").orderBy(
        F.col("in_gold").desc(), F.col("fetched_at").asc_nulls_last(), "doc_id")
    m = m.withColumn("cluster_id", F.first("doc_id").over(order.rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing)))
    return m.where("NOT in_gold").select("doc_id", "cluster_id",
                                         (F.col("cluster_id") == F.col("doc_id")).alias("keep"))


def split_of(cfg: DedupConfig) -> Any:
    from pyspark.sql import functions as F

    u = (F.abs(F.xxhash64("doc_id")) % 1_000_000) / 1_000_000.0
    return (F.when(u < cfg.train, "train").when(u < cfg.train + cfg.val, "val")
            .otherwise("test"))


def pending_docs(spark: SparkSession, lake: Lake) -> tuple[DataFrame, bool]:
    """Kept silver documents that are neither in gold nor already removed as duplicates."""
    from delta.tables import DeltaTable

    silver = (spark.read.format("delta").load(lake.table("silver/documents"))
              .where("drop_reason IS NULL")
              .select("doc_id", "text", "lang", "url", "fetched_at"))
    gold_path, dup_path = lake.table("gold/documents"), lake.table("gold/duplicates")
    old = DeltaTable.isDeltaTable(spark, gold_path)
    if old:
        silver = silver.join(spark.read.format("delta").load(gold_path).select("doc_id"),
                             "doc_id", "left_anti")
    if DeltaTable.isDeltaTable(spark, dup_path):
        silver = silver.join(spark.read.format("delta").load(dup_path).select("doc_id"),
                             "doc_id", "left_anti")
    return silver, old


STATE_PROPERTY = "llmlake.dedup_state"
# The last batch whose writes all landed: its id is its commit point.
BATCH_PROPERTY = "llmlake.dedup_batch"
DEDUP_TABLES = ("gold/documents", "gold/minhash", "gold/duplicates")


def state_key(params: Params) -> str:
    """Gold is only extended incrementally while the dedup and clean params (and the MinHash
    algorithm, whose band hashes gold/minhash stores) stay the same."""
    from etl.dedup.minhash import VERSION

    return fingerprint({"dedup": asdict(params.dedup), "clean": fingerprint(params.clean),
                        "minhash": VERSION})


def reset_if_stale(sh: Shell, key: str) -> None:
    """Empty the gold tables when they were made under other params, or when gold was never
    committed (a first run killed half way)."""
    if sh.version("gold/documents") is None:
        return
    stored = get_property(sh.spark, sh.table("gold/documents"), STATE_PROPERTY)
    if stored == key:
        return
    sh.log.info("dedup or clean params changed (%s -> %s): rebuilding gold", stored, key)
    delete_rows(sh, None, "a rebuild")


def delete_rows(sh: Shell, condition: Any, why: str) -> None:
    """Delete the rows meeting ``condition`` (all rows if None) from every dedup table that
    holds some, so a table with nothing to delete gets no new version."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    for name in DEDUP_TABLES:
        path = sh.table(name)
        if sh.version(name) is None:  # checked without Spark: a first run may not have it yet
            continue
        spark = sh.spark
        where = F.lit(True) if condition is None else condition
        if spark.read.format("delta").load(path).where(where).limit(1).count():
            sh.log.warning("dedup: deleting rows from %s for %s", path, why)
            DeltaTable.forPath(spark, path).delete(where)


def roll_back_uncommitted(sh: Shell) -> None:
    """Delete the rows of a batch that was killed before its commit point.

    A batch writes gold/minhash, then gold/duplicates, then gold/documents, and commits by
    recording its id in gold's ``llmlake.dedup_batch`` property. Rows of a later batch are
    the remains of a killed run: without this, a removed copy left in gold/duplicates
    would hide its survivor's cluster from the rerun and change which documents survive.
    """
    from pyspark.sql import functions as F

    committed = None
    if sh.version("gold/documents") is not None:
        committed = get_property(sh.spark, sh.table("gold/documents"), BATCH_PROPERTY)
        if committed is None:  # gold made before batches had commit points: all of it stands
            return
    stale = None if committed is None else F.col("batch") > committed
    delete_rows(sh, stale, "an uncommitted batch")


def run(params: Params) -> dict[str, Any]:
    from etl.dedup.report import write_reports

    cfg = params.dedup
    with stage_shell("dedup", params) as sh:
        sh.require("silver/documents")
        key = state_key(params)
        with sh.step("pending documents"):
            reset_if_stale(sh, key)
            roll_back_uncommitted(sh)
            new, old = pending_docs(sh.spark, sh.lake)
            new = checkpoint(new, sh.staging(), "new")
            n_new = new.count()
        sh.log.info("dedup: %d new kept documents (gold exists: %s)", n_new, old)
        fate = dedup_batch(sh, cfg, new, old, key) if n_new else None
        with sh.step("reports"):
            return write_reports(sh, cfg, fate)


def pinned(sh: Shell, table: str) -> DataFrame:
    """A table as of its version now: writes later in this run stay out of what it reads."""
    version = sh.version(table)
    reader = sh.spark.read.format("delta")
    return reader.option("versionAsOf", version).load(sh.table(table))


def dedup_batch(sh: Shell, cfg: DedupConfig, new: DataFrame, old: bool, key: str
                ) -> DataFrame:
    """Cluster the new documents with gold and write the three tables; returns the fate
    (``doc_id, cluster_id, keep``) of every new document."""
    from pyspark.sql import functions as F

    from etl.dedup.components import connected_components

    spark, scratch = sh.spark, sh.staging()
    with sh.step("signatures"):
        sigs = checkpoint(signatures(new, cfg), scratch, "sigs")
    all_sigs, texts, members = sigs, new.select("doc_id", "text", "url"), new.select(
        "doc_id", "fetched_at", F.lit(False).alias("in_gold"))
    if old:
        # Pinned to the versions before this batch: the reads are lazy, and some run after
        # this batch's own writes (match_kind), which must not see its rows as gold's.
        gold = pinned(sh, "gold/documents")
        all_sigs = all_sigs.unionByName(pinned(sh, "gold/minhash").select(*sigs.columns))
        texts = texts.unionByName(gold.select("doc_id", "text", "url"))
        members = members.unionByName(gold.select("doc_id", "fetched_at",
                                                  F.lit(True).alias("in_gold")))
    with sh.step("edges"):
        edges = checkpoint(all_edges(new, all_sigs, texts, old, cfg), scratch, "edges")
    with sh.step("clusters"):
        labels = connected_components(edges.select("src", "dst"),
                                      checkpoint_dir=f"{scratch}/components")
        fate = checkpoint(assign(members, labels), scratch, "fate")
    with sh.step("write tables"):
        write_tables(sh, cfg, new, sigs, all_sigs, edges, fate)
        set_properties(spark, sh.table("gold/documents"),
                       {STATE_PROPERTY: key, BATCH_PROPERTY: sh.batch})
    return fate


def match_kind(fate: DataFrame, sigs: DataFrame, edges: DataFrame) -> DataFrame:
    """How a removed document matched: ``exact`` if its text equals the survivor's.

    ``sigs`` must hold the survivors' hashes too, gold's included: a new exact copy of a
    document already in gold is an exact match, not a near one.
    """
    from pyspark.sql import functions as F

    h = sigs.select("doc_id", "text_hash")
    removed = fate.where("NOT keep").join(h, "doc_id", "left")
    surv = h.select(F.col("doc_id").alias("cluster_id"), F.col("text_hash").alias("surv_hash"))
    url_only = edges.where("kind = 'url'").select(F.col("dst").alias("doc_id")).distinct()
    return (removed.join(surv, "cluster_id", "left")
            .join(url_only.withColumn("via_url", F.lit(True)), "doc_id", "left")
            .withColumn("match", F.when(F.col("text_hash") == F.col("surv_hash"), "exact")
                        .when(F.col("via_url"), "url").otherwise("near"))
            .select("doc_id", "cluster_id", "match"))


def write_tables(sh: Shell, cfg: DedupConfig, new: DataFrame, sigs: DataFrame,
                 all_sigs: DataFrame, edges: DataFrame, fate: DataFrame) -> None:
    """Band hashes of the survivors, then the removed copies, then the survivors into gold:
    gold/documents last, so gold never holds a survivor without its band hashes; the batch
    commits when :func:`dedup_batch` records it (see :func:`roll_back_uncommitted`). Each is
    an insert-only MERGE on ``doc_id``, so overlapping runs cannot both insert a document."""
    from pyspark.sql import functions as F

    spark = sh.spark
    keep = fate.where("keep").select("doc_id", "cluster_id")
    merge_insert(spark, sh.table("gold/minhash"), sigs.join(keep.select("doc_id"), "doc_id",
                 "left_semi").withColumn("batch", F.lit(sh.batch)), ["doc_id"])
    sh.kill_point("minhash written")
    dups = match_kind(fate, all_sigs, edges).withColumn("batch", F.lit(sh.batch))
    merge_insert(spark, sh.table("gold/duplicates"), dups, ["doc_id"])
    sh.kill_point("duplicates written")
    gold_rows = (new.join(keep, "doc_id").join(sigs.select("doc_id", "text_hash"), "doc_id")
                 .withColumn("split", split_of(cfg)).withColumn("batch", F.lit(sh.batch))
                 .select(*GOLD_COLUMNS))
    merge_insert(spark, sh.table("gold/documents"), gold_rows, ["doc_id"])
    sh.kill_point("gold written")


if __name__ == "__main__":
    from llmlake.submit import submit_main

    submit_main("dedup")
