"""``run(params)`` end to end: a small JSONL, a tiny model installed, reports and outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from lake_helpers import params_at

from llmlake.stage import MissingInput, StageError
from training.augment.rows import read_output
from training.augment.stage import run

pytestmark = pytest.mark.usefixtures("one_thread")

METHODS = ["synonym", "insert", "swap", "delete", "paraphrase"]


def params_for(tmp: Path, input_file: Path, **augment):
    return params_at(tmp, augment={"input": str(input_file), "out": str(tmp / "out.jsonl"),
                                   "methods": METHODS, "min_similarity": 0.0, **augment})


def install(model_dir: Path, tmp: Path) -> Path:
    return Path(shutil.copytree(model_dir, tmp / "artifacts" / "model"))


def test_run_end_to_end(tmp_path, input_file, rows, model_dir):
    install(model_dir, tmp_path)
    params = params_for(tmp_path, input_file, max_share=0.8)
    report = run(params)
    out = Path(params.augment.out)
    first = out.read_bytes()
    written = read_output(str(out))
    ids = {r["id"] for r in rows}
    assert report["rows_in"] == len(rows) and report["rows_written"] == len(written)
    assert report["malformed"]["count"] == 5
    assert [m["line"] for m in report["malformed"]["first"]] == [13, 14, 15, 16, 17]
    variants = [r for r in written if r["method"] != "original"]
    assert all(r["parent_id"] in ids and r["method"] in METHODS for r in variants)
    assert set(report["augmented"]) == set(METHODS) and all(report["augmented"].values())
    assert len(variants) == sum(report["augmented"].values())
    assert report["share"] == round(len(variants) / len(written), 4) <= 0.8
    assert report["removed_by_cap"] == report["variants"] - len(variants) > 0
    assert report["synonyms"]["source"] == "embedding" and report["synonyms"]["words"] > 0
    assert report["model"] == str(tmp_path / "artifacts" / "model")
    assert len(report["examples"]) == 3
    saved = json.loads((tmp_path / "reports" / "augment.json").read_text())
    assert saved["augmented"] == report["augmented"]
    lineage = json.loads((tmp_path / "reports" / "lineage" / "augment.json").read_text())
    assert lineage["out"]["rows"] == len(written)
    # A rerun writes the same bytes; another seed other ones.
    run(params)
    assert out.read_bytes() == first
    run(params_for(tmp_path, input_file, max_share=0.8, seed=1))
    assert out.read_bytes() != first


def test_cooccurrence_needs_no_model(tmp_path, input_file):
    params = params_for(tmp_path, input_file, synonyms="cooccurrence",
                        methods=["synonym", "insert", "swap", "delete"])
    report = run(params)
    assert report["model"] is None and report["synonyms"]["source"] == "cooccurrence"
    assert report["synonyms"]["words"] > 0 and report["augmented"]["synonym"] > 0


@pytest.mark.parametrize("augment", [{}, {"methods": ["swap", "paraphrase"],
                                          "synonyms": "cooccurrence"}])
def test_a_missing_model_names_the_command_that_makes_it(tmp_path, input_file, augment):
    with pytest.raises(MissingInput, match=r"llmlake augment: model folder .*artifacts/model "
                                           r"does not exist .*make it with `llmlake train`"):
        run(params_for(tmp_path, input_file, **augment))


def test_a_chosen_folder_that_is_no_model(tmp_path, input_file):
    with pytest.raises(StageError, match=r"augment.model: .* is not a model folder"):
        run(params_for(tmp_path, input_file, model=str(tmp_path)))


def test_a_bad_synonyms_file_stops_the_stage(tmp_path, input_file):
    bad = tmp_path / "syn.tsv"
    bad.write_text("cat kitten\n")
    params = params_for(tmp_path, input_file, synonyms="file", synonyms_file=str(bad),
                        methods=["synonym", "swap"])
    with pytest.raises(StageError, match=r"augment.synonyms_file: .*syn.tsv: line 1"):
        run(params)


def test_delta_output_has_the_jsonl_rows(tmp_path, input_file):
    good = tmp_path / "syn.json"
    good.write_text(json.dumps({"cat": ["kitten"], "dog": ["hound"], "garden": ["yard"]}))
    common = {"synonyms": "file", "synonyms_file": str(good),
              "methods": ["synonym", "insert", "swap", "delete"]}
    run(params_for(tmp_path, input_file, **common))
    report = run(params_for(tmp_path, input_file, out="", **common))
    table = str(tmp_path / "lake" / "gold" / "augmented")
    assert report["out"] == table and report["synonyms"] == {
        "source": "file", "words": 3, "pairs": 3}
    assert read_output(table) == read_output(str(tmp_path / "out.jsonl"))


def test_the_output_may_not_replace_the_input(tmp_path, input_file):
    with pytest.raises(StageError, match=r"augment.out: .* is augment.input"):
        run(params_for(tmp_path, input_file, out=str(input_file), methods=["swap"]))
    assert input_file.read_text().count("\n") == 17  # untouched
