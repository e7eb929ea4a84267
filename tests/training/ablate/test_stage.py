"""``llmlake ablate`` on the shared small lake: variants from the right rows, equal budgets,
a report row per variant."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pyarrow.dataset as pads
import pytest
from deltalake import DeltaTable
from lake_helpers import params_at

from training.ablate import stage as ablate
from training.ablate.build import build, read_lake

pytestmark = pytest.mark.usefixtures("one_thread")

VARIANTS = ["raw", "filtered", "curated", "no_gopher", "no_c4", "no_fineweb", "no_dedup"]


def ablate_params(small_pipeline, tmp: Path, **ablate_keys):
    base = small_pipeline["params"]
    reports, artifacts = tmp / "reports", tmp / "artifacts"
    shutil.copytree(Path(base.lake.reports) / "lineage", reports / "lineage")
    artifacts.mkdir()
    (artifacts / "tokenizer").symlink_to(Path(base.lake.artifacts) / "tokenizer")
    return params_at(tmp, lake={"root": base.lake.root, "reports": str(reports),
                                "artifacts": str(artifacts)},
                     train={"context": 32}, model={"n_layer": 1, "n_embd": 32, "n_head": 2},
                     ablate={"variants": VARIANTS, "tokens": 1024, "seeds": 2,
                             "batch_size": 4, "task_examples": 20, "bootstrap": 50,
                             **ablate_keys})


def rows(table: dict, columns: list[str]) -> list[dict]:
    dataset = DeltaTable(table["path"], version=table["version"]).to_pyarrow_dataset()
    return dataset.to_table(columns=columns).to_pylist()


@pytest.fixture(scope="module")
def ablated(small_pipeline, tmp_path_factory):
    params = ablate_params(small_pipeline, tmp_path_factory.mktemp("ablate"))
    return {"params": params, "report": ablate.run(params)}


def test_variants_are_built_from_the_right_rows(small_pipeline, tmp_path):
    params = ablate_params(small_pipeline, tmp_path)
    from llmlake.stage import stage_shell

    with stage_shell("ablate", params) as sh:
        tables = ablate.lake_tables(sh)
    v = build(read_lake(tables), VARIANTS, params.clean, params.dedup)
    silver = rows(tables["silver/documents"], ["doc_id", "drop_reason", "text"])
    gold = rows(tables["gold/documents"], ["doc_id", "split", "cluster_id"])
    dups = rows(tables["gold/duplicates"], ["doc_id", "cluster_id"])
    held = {g["doc_id"] for g in gold if g["split"] in ("val", "test")}
    held |= {d["doc_id"] for d in dups if d["cluster_id"] in held}
    dropped = {r["doc_id"] for r in silver if r["drop_reason"] and r["text"]} - held
    train = {g["doc_id"] for g in gold if g["split"] == "train"}
    assert dropped and dropped <= set(v["raw"].docs)              # what silver dropped
    assert set(v["curated"].docs) == train
    removed = {d["doc_id"] for d in dups} - held
    assert removed and removed <= set(v["no_dedup"].docs)          # removed duplicates
    assert set(v["filtered"].docs) == train | removed
    gopher = {r["doc_id"] for r in silver if (r["drop_reason"] or "").startswith("gopher")}
    assert set(v["no_gopher"].docs) - train <= gopher - held
    for name, variant in v.items():
        assert not set(variant.docs) & held, name


def test_every_variant_trains_on_the_same_tokens_and_gets_a_row(ablated):
    report, params = ablated["report"], ablated["params"]
    assert list(report["variants"]) == VARIANTS
    assert report["tokens"] == report["steps"] * 4 * 32 >= 1024
    assert report["seeds"] == [0, 1]
    curated = report["variants"]["curated"]
    assert curated["verdict"] == "reference" and curated["vs_reference"] is None
    assert report["variants"]["no_dedup"]["same_as"] == "filtered"
    for name, row in report["variants"].items():
        assert row["bits_per_byte"] > 0 and len(row["bits_per_byte_runs"]) == 2, name
        assert row["verdict"] in ("reference", "same_data", "worse", "better",
                                  "within_noise", "one_seed")
        if row["vs_reference"]:
            diff = row["vs_reference"]["bits_per_byte"]
            assert abs(diff - (row["bits_per_byte"] - curated["bits_per_byte"])) < 1e-4
    reports = Path(params.lake.reports)
    saved = json.loads((reports / "ablate.json").read_text())
    assert saved["variants"].keys() == report["variants"].keys()
    page = (reports / "ablate.html").read_text()
    assert all(f'id="variant-{name}"' in page for name in VARIANTS) and "<svg" in page
    with open(reports / "plots" / "ablate_bits_per_byte.csv") as fh:
        assert [r["variant"] for r in csv.DictReader(fh)] == VARIANTS


def test_the_held_out_split_is_what_every_variant_is_scored_on(ablated, small_pipeline):
    report = ablated["report"]
    lineage = json.loads((Path(small_pipeline["params"].lake.reports) / "lineage" /
                          "dedup.json").read_text())
    gold = lineage["tables"]["gold/documents"]
    dataset = DeltaTable(gold["path"], version=gold["version"]).to_pyarrow_dataset()
    assert report["held_out"]["documents"] == dataset.count_rows(
        filter=pads.field("split") == "test")


def test_a_stopped_ablation_resumes_with_the_same_result(ablated):
    params, report = ablated["params"], ablated["report"]
    runs = sorted((Path(params.lake.artifacts) / "ablate").glob("*.npz"))
    distinct = sum(1 for r in report["variants"].values() if not r["same_as"])
    assert len(runs) == distinct * 2
    runs[0].unlink()  # as if the run in progress had been killed
    again = ablate.run(params)
    assert len(list((Path(params.lake.artifacts) / "ablate").glob("*.npz"))) == len(runs)
    for name, row in report["variants"].items():
        assert again["variants"][name]["bits_per_byte_runs"] == row["bits_per_byte_runs"], name
        assert again["variants"][name]["verdict"] == row["verdict"], name
