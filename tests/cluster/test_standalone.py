"""The ETL, unchanged, on a Spark standalone cluster on loopback: the same tables as local.

One sample corpus is ingested, cleaned, deduplicated, its tokenizer trained and tokenized
twice: by ``spark-submit`` of each ``etl/<stage>/stage.py`` to a master and a worker
started for the test (lake A), and in this process on ``local[2]`` (lake B). Every table
must hold the same rows; the master must list each stage as a finished application whose
executor on the worker ran tasks (no silent local fallback), and when the cluster is
stopped no process of it may be left and its ports must be free.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml
from cluster_helpers import (
    finished_apps,
    port_open,
    processes_in,
    run_submit,
    standalone_cluster,
    submit_argv,
)
from lake_helpers import params_at, sample_sources, table_content

from llmlake.config import Params, as_dict

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

STAGES = ("ingest", "clean", "dedup", "tokenizer", "tokenize")
# Every table the five stages write, and the tokenizer they share through the artifacts.
TABLES = ("bronze/documents", "quarantine/records", "silver/documents", "gold/documents",
          "gold/duplicates", "gold/minhash", "gold/sequences")
APP = "llmlake-cluster-{}"


def _params(base: Path, raw: Path) -> Params:
    return params_at(base, ingest={"sources": sample_sources(raw)},
                     tokenizer={"vocab_size": 600}, train={"context": 32})


def _doc_ids(path: Path) -> list[str] | None:
    from deltalake import DeltaTable

    dataset = DeltaTable(str(path)).to_pyarrow_dataset()
    if "doc_id" not in dataset.schema.names:
        return None
    return sorted(map(str, dataset.to_table(columns=["doc_id"]).column("doc_id").to_pylist()))


def _run_on_cluster(cluster, params: Params, folder: Path) -> None:
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(as_dict(params)))
    for stage in STAGES:
        log = folder / f"submit-{stage}.log"
        argv = submit_argv(cluster.url, stage, path, [f"spark.app_name={APP.format(stage)}"])
        status = run_submit(argv, cluster.env, log)
        assert status == 0, f"{stage} on the cluster exited {status}:\n{log.read_text()[-4000:]}"


def _run_locally(params: Params) -> None:
    from etl.clean import stage as clean
    from etl.dedup import stage as dedup
    from etl.ingest import stage as ingest
    from etl.tokenize import stage as tokenize
    from etl.tokenizer import stage as tokenizer

    for stage in (ingest, clean, dedup, tokenizer, tokenize):
        stage.run(params)


def test_etl_on_standalone_cluster_matches_local(tmp_path, spark):
    from etl.sample import stage as sample

    started = time.monotonic()
    raw = tmp_path / "raw"
    sample.run(params_at(tmp_path / "sample", sample={
        "out": str(raw), "docs": 600, "seed": 5, "docs_per_shard": 200}))
    cluster_params, local_params = _params(tmp_path / "a", raw), _params(tmp_path / "b", raw)

    _run_locally(local_params)
    local_s = time.monotonic() - started
    with standalone_cluster(tmp_path / "cluster") as cluster:
        _run_on_cluster(cluster, cluster_params, tmp_path)
        apps = finished_apps(cluster.state())
        ran = {stage: cluster.executor_tasks(apps[APP.format(stage)])
               for stage in STAGES if APP.format(stage) in apps}
    assert set(ran) == set(STAGES), f"finished applications: {sorted(apps)}"
    assert all(ran.values()), f"stages whose executor ran no task: {ran}"
    assert not processes_in(cluster.base), "a process of the cluster outlived it"
    assert not [p for p in cluster.ports if port_open(p)], "the cluster's ports are still open"

    root_a, root_b = Path(cluster_params.lake.root), Path(local_params.lake.root)
    facts = {}
    for name in TABLES:
        content_a, content_b = table_content(root_a / name), table_content(root_b / name)
        facts[name] = len(content_a)
        assert len(content_a) == len(content_b), name
        assert _doc_ids(root_a / name) == _doc_ids(root_b / name), name
        assert content_a == content_b, f"{name}: same rows, other content"
    assert facts["gold/sequences"] > 0 and facts["gold/duplicates"] > 0, facts
    tokenizer = "tokenizer/tokenizer.json"
    assert (Path(cluster_params.lake.artifacts) / tokenizer).read_bytes() == \
        (Path(local_params.lake.artifacts) / tokenizer).read_bytes()
    print(json.dumps({"rows": facts, "tasks": ran, "local_s": round(local_s),
                      "total_s": round(time.monotonic() - started)}))
