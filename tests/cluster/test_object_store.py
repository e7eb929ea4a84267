"""The lake on an S3-compatible store (moto on loopback): the ETL writes it through Spark's
s3a, delta-rs reads the same tables back, DVC pushes to and pulls from it, and the fake
credentials, given only in the environment, appear in no report, lineage file or log."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lake_helpers import ROOT, params_at, sample_sources, stage_argv
from objectstore_helpers import s3_server

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

BUCKET = "llmlake-lake"
STAGES = ("sample", "ingest", "clean", "dedup", "tokenizer", "tokenize", "export_shards")
DVC = str(Path(sys.executable).parent / "dvc")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("moto") / "moto.log") as server:
        server.make_bucket(BUCKET)
        yield server


@pytest.fixture(scope="module")
def s3_lake(store, tmp_path_factory):
    """Every data stage run once, each in its own process, with ``lake.root`` on S3."""
    base = tmp_path_factory.mktemp("s3lake")
    root = f"s3a://{BUCKET}/lake"
    params = params_at(
        base, lake={"root": root},
        sample={"out": str(base / "raw"), "docs": 160, "seed": 3, "docs_per_shard": 60},
        ingest={"sources": sample_sources(base / "raw")},
        tokenizer={"vocab_size": 600}, train={"context": 32})
    logs = base / "logs"
    logs.mkdir()
    for stage in STAGES:
        proc = subprocess.run(stage_argv(params, base, stage), cwd=ROOT, env=store.env(),
                              capture_output=True, text=True, timeout=1200)
        (logs / f"{stage}.log").write_text(proc.stdout + proc.stderr)
        assert proc.returncode == 0, f"{stage}:\n{proc.stderr[-4000:]}"
    return {"base": base, "root": root, "params": params}


@pytest.fixture
def s3_env(store, monkeypatch):
    """This test process sees the store as a user's shell would (delta-rs reads it)."""
    for key, value in store.env().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)


def lineage(base: Path, stage: str) -> dict:
    return json.loads((base / "reports" / "lineage" / f"{stage}.json").read_text())


def test_tables_on_s3_read_back_through_delta_rs(store, s3_lake, s3_env):
    from llmlake.spark import delta_version
    from llmlake.storage import open_table

    base, root = s3_lake["base"], s3_lake["root"]
    keys = store.keys(BUCKET, "lake/")
    for table in ("bronze/documents", "silver/documents", "gold/documents", "gold/sequences"):
        assert any(k.startswith(f"lake/{table}/_delta_log/") for k in keys), table
    assert not (base / "lake").exists()  # nothing went to a local lake
    ids = {}
    for stage in ("ingest", "clean", "dedup", "tokenize"):
        for name, rec in lineage(base, stage)["tables"].items():
            # Spark counted these rows on S3 (s3a); delta-rs reads the same version.
            assert rec["path"] == f"{root}/{name}"
            table = open_table(rec["path"], version=rec["version"])
            assert table.to_pyarrow_dataset().count_rows() == rec["rows"], name
            assert delta_version(None, rec["path"]) == rec["version"], name
            if name.endswith("/documents"):
                column = table.to_pyarrow_dataset().to_table(columns=["doc_id"]).column(0)
                ids[name] = set(column.to_pylist())
                assert len(ids[name]) == rec["rows"] > 0, name  # one row per document
    assert ids["gold/documents"] <= ids["silver/documents"] <= ids["bronze/documents"]
    assert len(ids["gold/documents"]) < len(ids["bronze/documents"])  # dedup removed some


def test_s3_lake_matches_the_local_lake_of_the_same_sample(s3_lake, small_pipeline, s3_env):
    """conftest's small_pipeline wrote the same sample (160 docs, seed 3) and ran the same
    stages with the same params into a local lake."""
    from llmlake.storage import open_table

    local = small_pipeline["base"]
    for stage in ("ingest", "clean", "dedup", "tokenize"):
        on_s3, here = lineage(s3_lake["base"], stage), lineage(local, stage)
        assert {n: r["rows"] for n, r in on_s3["tables"].items()} == \
            {n: r["rows"] for n, r in here["tables"].items()}, stage
    for name in ("bronze/documents", "silver/documents", "gold/documents"):
        ids = [set(open_table(path).to_pyarrow_dataset().to_table(columns=["doc_id"])
                   .column(0).to_pylist())
               for path in (f"{s3_lake['root']}/{name}", str(local / "lake" / name))]
        assert ids[0] == ids[1], name


def test_shards_and_training_read_gold_sequences_from_s3(s3_lake, s3_env):
    from llmlake.shards import open_shard
    from training.train.stage import delta_counts

    base = s3_lake["base"]
    version = lineage(base, "tokenize")["tables"]["gold/sequences"]["version"]
    assert lineage(base, "export_shards")["inputs"]["gold/sequences"]["version"] == version
    # The training stage's own reader, pointed at the table on S3.
    counts = delta_counts(f"{s3_lake['root']}/gold/sequences", version)
    shards = base / "artifacts" / "shards"
    read = {split: open_shard(shards, split) for split in counts}
    assert {split: len(tokens) for split, (tokens, _) in read.items()} == counts
    assert counts["train"] > 0
    for tokens, header in read.values():
        assert header.source == f"{s3_lake['root']}/gold/sequences"
        assert header.delta_version == version and tokens.shape[1] == header.seq_len


def test_credentials_appear_in_no_report_lineage_or_log(store, s3_lake):
    secrets = list(store.credentials.values())
    checked = 0
    for path in s3_lake["base"].rglob("*"):
        if path.is_file() and "raw" not in path.relative_to(s3_lake["base"]).parts:
            text = path.read_bytes()
            assert not any(s.encode() in text for s in secrets), path
            checked += 1
    assert checked > 20  # reports, lineage, timings, params, shards, every stage's log


def run(cwd: Path, env: dict, *args: str) -> str:
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{' '.join(args)}:\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


def test_dvc_push_and_pull_through_the_store(store, tmp_path):
    env = store.env()
    run(tmp_path, env, "git", "init", "-q")
    run(tmp_path, env, DVC, "init", "-q")
    run(tmp_path, env, DVC, "remote", "add", "-d", "store", f"s3://{BUCKET}/dvc")
    # Where the server is stays out of the committed config (.dvc/config.local is ignored).
    run(tmp_path, env, DVC, "remote", "modify", "--local", "store", "endpointurl",
        store.endpoint)
    data = tmp_path / "corpus.bin"
    payload = bytes(range(256)) * 4096 + b"tail"
    data.write_bytes(payload)
    logs = [run(tmp_path, env, DVC, "add", "corpus.bin"), run(tmp_path, env, DVC, "push")]
    assert any(k.startswith("dvc/") for k in store.keys(BUCKET, "dvc/"))
    data.unlink()
    shutil.rmtree(tmp_path / ".dvc" / "cache")
    logs.append(run(tmp_path, env, DVC, "pull"))
    assert data.read_bytes() == payload
    committed = (tmp_path / ".dvc" / "config").read_text()
    assert store.endpoint not in committed
    for text in [*logs, committed, (tmp_path / ".dvc" / "config.local").read_text()]:
        assert not any(s in text for s in store.credentials.values())
