"""Tokenizer and tokenize stages on a crafted gold table: every token once, shards, suite."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from lake_helpers import params_at

from etl.export_shards import stage as shards
from etl.sample.text import TOPICS, english
from etl.tokenize import stage as sequences
from etl.tokenizer import stage as tokenizer
from etl.validate.stage import run as validate_run
from etl.validate.stage import validate_dataframe
from etl.validate.suites import table_suite
from llmlake.lake import Lake
from llmlake.shards import open_shard
from llmlake.spark import delta_version
from llmlake.tokenizer import load as load_tokenizer

pytestmark = pytest.mark.spark
CONTEXT = 63
SPLIT_SIZES = {"train": 120, "val": 15, "test": 15}


def gold_texts() -> list[tuple[str, str, str]]:
    grammar, rng = english(5), random.Random(5)
    topics = sorted(TOPICS)
    rows = []
    for split, n in SPLIT_SIZES.items():
        for i in range(n):
            title, paragraphs = grammar.article(rng, topics[i % len(topics)])
            text = "\n\n".join([title, *paragraphs])
            if i == 0:
                text = "A page quoting <|endoftext|> and <|pad|> 🎉 naïve\n\n" + text
            if i == 1:
                text = " ".join([text] * 6)  # spans several sequences
            doc_id = hashlib.sha256(f"{split}{i}".encode()).hexdigest()[:32]
            rows.append((doc_id, text, split))
    return rows


def make_params(base: Path, **tokenize):
    return params_at(
        base, tokenizer={"vocab_size": 1000, "sample_docs": 100, "eval_docs": 10},
        tokenize={"batch_docs": 16, **tokenize}, train={"context": CONTEXT},
        validate={"sequences_min_rows": 5})


@pytest.fixture(scope="module")
def built(tmp_path_factory, spark):
    base = tmp_path_factory.mktemp("tokenize")
    params = make_params(base)
    rows = gold_texts()
    (spark.createDataFrame(rows, "doc_id string, text string, split string")
     .write.format("delta").save(Lake(params.lake).table("gold/documents")))
    tok_report = tokenizer.run(params)
    report = sequences.run(params)
    return {"params": params, "rows": rows, "tok_report": tok_report, "report": report}


def expected_docs(params, rows, split) -> Counter:
    tok = load_tokenizer(Lake(params.lake).artifact("tokenizer"))
    return Counter(tuple([*tok.encode(text).ids, 0]) for _, text, s in rows if s == split)


def streams(spark, params) -> dict[str, list[int]]:
    """Each split's sequences in packing order, concatenated back into one stream."""
    seqs = spark.read.format("delta").load(Lake(params.lake).table("gold/sequences")).collect()
    out = {}
    for split in SPLIT_SIZES:
        mine = sorted((r for r in seqs if r["split"] == split), key=lambda r: r["position"])
        assert [r["position"] for r in mine] == list(range(len(mine)))
        out[split] = [t for r in mine for t in r["tokens"][:len(r["tokens"]) - r["pad"]]]
    return out


def documents_in(stream: list[int]) -> tuple[Counter, list[int]]:
    """Cut a stream after each EOS: the complete documents, and the unterminated tail."""
    docs, current = Counter(), []
    for t in stream:
        current.append(t)
        if t == 0:
            docs[tuple(current)] += 1
            current = []
    return docs, current


def test_tokenizer_stage_writes_a_loadable_tokenizer_and_its_report(built):
    params, report = built["params"], built["tok_report"]
    folder = Lake(params.lake).artifact("tokenizer")
    assert {p.name for p in folder.iterdir()} >= {"tokenizer.json", "tokenizer_config.json"}
    # A seeded hash sample of about sample_docs of the 120 train documents.
    assert 80 <= report["train_documents"] <= 100
    assert report["vocab_size"] == 1000
    assert report["special_tokens"] == {"<|endoftext|>": 0, "<|pad|>": 1}
    assert report["val"]["documents"] == 10
    assert 1.5 < report["val"]["bytes_per_token"] < 8


def test_tokenizer_reuse_keeps_a_parents_tokenizer_byte_for_byte(built, tmp_path):
    """A warm-started retrain keeps its parent's token ids: tokenizer.reuse copies the
    parent's files instead of learning new merges, and refuses another size."""
    import dataclasses

    from llmlake.stage import StageError
    from llmlake.tokenizer import file_hash

    params = built["params"]
    parent = Lake(params.lake).artifact("tokenizer")
    kept = tmp_path / "parent"
    kept.mkdir()
    for f in parent.iterdir():
        (kept / f.name).write_bytes(f.read_bytes())
    other = dataclasses.replace(params, lake=dataclasses.replace(
        params.lake, root=str(tmp_path / "lake"), reports=str(tmp_path / "reports"),
        artifacts=str(tmp_path / "artifacts")))
    (tmp_path / "lake").symlink_to(Path(params.lake.root).resolve())
    reuse = dataclasses.replace(other, tokenizer=dataclasses.replace(
        other.tokenizer, reuse=str(kept)))
    report = tokenizer.run(reuse)
    assert report["reused_from"] == str(kept)
    assert report["tokenizer_sha256"] == file_hash(kept / "tokenizer.json")
    assert report["val"]["documents"] == 10  # still measured on val
    wrong = dataclasses.replace(reuse, tokenizer=dataclasses.replace(
        reuse.tokenizer, vocab_size=2000))
    with pytest.raises(StageError, match=r"^tokenizer\.reuse: .* has 1000 ids, but "
                                         r"tokenizer\.vocab_size is 2000"):
        tokenizer.run(wrong)


def test_every_document_token_is_packed_once(built, spark):
    params, rows, report = built["params"], built["rows"], built["report"]
    seq_len = CONTEXT + 1
    for split, stream in streams(spark, params).items():
        expected = expected_docs(params, rows, split)
        stats = report["splits"][split]
        total = sum(len(d) * n for d, n in expected.items())
        # Tokens per split = documents' tokens plus one EOS each, minus the remainder.
        assert stats["tokens"] == total
        assert len(stream) == total - stats["remainder_tokens"]
        assert stats["remainder_tokens"] == total % seq_len
        assert stats["sequences"] == total // seq_len
        complete, _ = documents_in(stream)
        # No document is invented, split or repeated; only those reaching into the
        # dropped remainder may be missing.
        assert not complete - expected
        assert (expected - complete).total() <= max(1, stats["remainder_tokens"])
        assert sum(complete.values()) >= SPLIT_SIZES[split] - 2


def test_sequences_have_exact_length_and_unique_shuffled_ids(built, spark):
    params = built["params"]
    seqs = spark.read.format("delta").load(Lake(params.lake).table("gold/sequences"))
    rows = seqs.select("seq_id", "split", "position", "tokens", "pad").collect()
    assert {len(r["tokens"]) for r in rows} == {CONTEXT + 1}
    assert len({r["seq_id"] for r in rows}) == len(rows) == built["report"]["tables"]["gold/sequences"]["rows"]
    train = sorted((r for r in rows if r["split"] == "train"), key=lambda r: r["seq_id"])
    # Ordering by seq_id shuffles: it does not follow the packing order.
    assert [r["position"] for r in train] != sorted(r["position"] for r in train)


def test_rerun_on_the_same_input_commits_nothing(built, spark):
    params = built["params"]
    path = Lake(params.lake).table("gold/sequences")
    before = delta_version(spark, path)
    lake = Lake(params.lake)
    metrics, lineage = (lake.report("tokenize.json").read_text(),
                        lake.lineage("tokenize").read_text())
    lake.lineage("tokenize").unlink()  # as after deleting reports/lineage/
    again = sequences.run(params)
    assert again["unchanged"] is True
    assert delta_version(spark, path) == before
    assert again["splits"] == built["report"]["splits"]
    assert lake.report("tokenize.json").read_text() == metrics
    assert lake.lineage("tokenize").read_text() == lineage


def test_shards_read_back_equal_the_delta_table(built, spark):
    params = built["params"]
    report = shards.run(params)
    folder = Lake(params.lake).artifact("shards")
    table = spark.read.format("delta").load(Lake(params.lake).table("gold/sequences"))
    for split in SPLIT_SIZES:
        tokens, header = open_shard(folder, split)
        rows = table.where(f"split = '{split}'").orderBy("seq_id").collect()
        assert tokens.dtype == np.dtype("<u2") and header.vocab_size == 1000
        assert tokens.shape == (len(rows), CONTEXT + 1) == (header.sequences, header.seq_len)
        assert np.array_equal(tokens, np.array([r["tokens"] for r in rows]).reshape(
            tokens.shape))
        assert header.tokenizer_sha256 == built["tok_report"]["tokenizer_sha256"]
        assert header.delta_version == report["delta_version"]


def test_shard_export_refuses_sequences_of_another_length(built, tmp_path):
    params = built["params"]
    wrong = params_at(Path(params.lake.root).parent, train={"context": CONTEXT + 1})
    with pytest.raises(shards.ShardError, match="tokens, not"):
        shards.run(wrong)


def test_suite_passes_and_catches_an_out_of_range_id(built, spark):
    from pyspark.sql import functions as F

    params = built["params"]
    assert validate_run(params, "sequences")
    spec = table_suite("sequences")
    table = spark.read.format("delta").load(Lake(params.lake).table("gold/sequences"))
    victim = (F.col("split") == "train") & (F.col("position") == 0)
    bad = table.withColumn("tokens", F.when(victim, F.concat(
        F.slice("tokens", 1, CONTEXT), F.array(F.lit(1000)))).otherwise(F.col("tokens")))
    summary = validate_dataframe(spec.view(bad, params), spec.suite_path,
                                 spec.parameters(params))
    assert summary.failed_expectations() == {("expect_column_values_to_be_between",
                                              "max_token")}


def eos_per_sequence(spark, params) -> list[dict[str, int]]:
    """Document ends counted in the written tokens themselves (EOS is id 0)."""
    from pyspark.sql import functions as F

    ends = F.size(F.filter("tokens", lambda t: t == 0)).alias("document_ends")
    rows = (spark.read.format("delta").load(Lake(params.lake).table("gold/sequences"))
            .groupBy(ends).count().collect())
    return sorted(({"document_ends": r["document_ends"], "sequences": r["count"]} for r in rows),
                  key=lambda r: r["document_ends"])


def plotted(params) -> list[dict[str, int]]:
    import csv

    with Lake(params.lake).report("plots/tokenize_docs_per_sequence.csv").open() as fh:
        return sorted(({k: int(v) for k, v in row.items()} for row in csv.DictReader(fh)),
                      key=lambda r: r["document_ends"])


def test_documents_per_sequence_plot_matches_the_tokens(built, spark):
    assert plotted(built["params"]) == eos_per_sequence(
        spark, built["params"])


def test_pad_remainder_keeps_every_document(built, spark):
    # Runs last: it rewrites the module's sequences table with padded remainders.
    params = make_params(Path(built["params"].lake.root).parent, remainder="pad")
    report = sequences.run(params)
    for split, stream in streams(spark, params).items():
        stats = report["splits"][split]
        complete, tail = documents_in(stream)
        assert complete == expected_docs(params, built["rows"], split) and tail == []
        assert stats["pad_tokens"] == (CONTEXT + 1 - stats["remainder_tokens"]) % (CONTEXT + 1)
    padded = (spark.read.format("delta").load(Lake(params.lake).table("gold/sequences"))
              .where("pad > 0").collect())
    assert all(r["tokens"][-r["pad"]:] == [1] * r["pad"] for r in padded)
    assert len(padded) == sum(s["remainder_tokens"] > 0 for s in report["splits"].values())
    assert plotted(params) == eos_per_sequence(spark, params)
