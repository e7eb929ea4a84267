"""``llmlake package``: the champion into a BentoML store and a Bento that holds it, its
Dockerfile and only what serving imports; a rerun keeps the model."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from lake_helpers import params_at
from serve_helpers import ROOT, tiny_model

from llmlake.config import as_dict
from llmlake.stage import MissingInput
from llmlake.tokenizer import file_hash
from serving.package.stage import run
from serving.package.store import model_labels, model_metadata

pytestmark = pytest.mark.timeout(300)

NEEDED = {"torch", "tokenizers", "safetensors", "numpy", "deltalake", "pyarrow", "bentoml"}
UNWANTED = {"pyspark", "great-expectations", "great_expectations", "ray", "dvc",
            "transformers", "evidently"}


def package_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement, maxsplit=1)[0].lower()


@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    base = tmp_path_factory.mktemp("package")
    folder = tiny_model(base / "artifacts" / "models" / "test-run-1")
    weights = file_hash(folder / "model.safetensors")
    pointer = {"model": str(folder), "run": "test-run", "weights_sha256": weights,
               "decision": "promoted_first", "promoted_at": "2026-01-01T00:00:00Z",
               "metrics": {"model": {"arch": "gpt", "params": 1234},
                           "data": {"gold/documents": {"path": "lake/gold", "version": 3}},
                           "val": {"perplexity": 42.5, "bits_per_byte": 1.25, "by_lang": {}}}}
    (base / "artifacts" / "champion.json").write_text(json.dumps(pointer))
    params = params_at(base)
    first = run(params)
    second = run(params)
    home = base / "artifacts" / "bentoml"
    bento = home / "bentos" / first["bento"].replace(":", "/")
    return SimpleNamespace(base=base, params=params, first=first, second=second, home=home,
                           bento=bento, weights=weights, folder=folder)


def bentoml_env(home: Path) -> dict[str, str]:
    return {**os.environ, "BENTOML_HOME": str(home), "BENTOML_DO_NOT_TRACK": "True"}


def test_the_report_names_the_bento_and_its_model(packaged):
    report = json.loads((packaged.base / "reports" / "bento.json").read_text())
    assert report["bento"] == packaged.second["bento"]
    assert report["bento"].startswith("llmlake:")
    assert report["model"].startswith("llmlake-lm:") and report["model_created"] is False
    assert report["weights_sha256"] == packaged.weights
    weights_bytes = (packaged.folder / "model.safetensors").stat().st_size
    assert report["bento_bytes"] > report["model_bytes"] > weights_bytes
    assert Path(report["dockerfile"]).read_text().count("FROM python:3.11") == 1


def test_the_bento_holds_the_model_and_a_dockerfile(packaged, tmp_path):
    info = yaml.safe_load((packaged.bento / "bento.yaml").read_text())
    assert [m["tag"] for m in info["services"][0]["models"]] == [packaged.first["model"]]
    assert (packaged.bento / "env" / "docker" / "Dockerfile").is_file()
    archive = tmp_path / "llmlake.bento"
    subprocess.run([sys.executable, "-m", "bentoml", "export", packaged.first["bento"],
                    str(archive)], check=True, capture_output=True,
                   env=bentoml_env(packaged.home), cwd=tmp_path)
    with tarfile.open(archive) as tar:
        members = {m.name.removeprefix("./"): m for m in tar.getmembers()}
        model = "models/" + packaged.first["model"].replace(":", "/")
        assert f"{model}/model.safetensors" in members and "env/docker/Dockerfile" in members
        stored = yaml.safe_load(tar.extractfile(members[f"{model}/model.yaml"]).read())
    assert stored["labels"]["weights"] == packaged.weights[:12]
    assert stored["metadata"]["serve"] == as_dict(packaged.params.serve)
    assert stored["metadata"]["metrics"] == {"val": {"perplexity": 42.5, "bits_per_byte": 1.25}}
    assert stored["metadata"]["lineage"]["tables"] == {"gold/documents": 3}
    assert Path(stored["metadata"]["lake_root"]).is_absolute()


def test_the_bento_requires_only_what_serving_imports(packaged):
    lines = (packaged.bento / "env" / "python" / "requirements.txt").read_text().splitlines()
    names = {package_name(line) for line in lines if line.strip() and line[0] not in "#-"}
    assert names >= NEEDED and not names & UNWANTED, names
    assert packaged.first["python_packages"] == [line for line in lines if line.strip()]


def test_the_bento_source_is_enough_to_import_the_service(packaged):
    # Imported from the Bento's src alone: every project module must come from there, and
    # nothing of the pipeline's heavy half may load.
    src = packaged.bento / "src"
    code = ("import json, sys, serving.service\n"
            "print(json.dumps({n: getattr(m, '__file__', None) for n, m in sys.modules.items()"
            " if n.split('.')[0] in ('llmlake', 'etl', 'training', 'serving') or"
            f" n.split('.')[0] in {sorted(UNWANTED - {'great-expectations'})!r}}}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=src, capture_output=True,
                         text=True, check=True, env=bentoml_env(packaged.home)).stdout
    loaded = json.loads(out.splitlines()[-1])
    assert "serving.service" in loaded
    heavy = {n for n in loaded if n.split(".")[0] in UNWANTED}
    assert not heavy, heavy
    outside = {n: f for n, f in loaded.items() if f and not Path(f).is_relative_to(src)}
    assert not outside, outside


def test_a_rerun_keeps_the_model(packaged):
    assert packaged.first["model_created"] is True
    assert packaged.second["model"] == packaged.first["model"]
    versions = [p for p in (packaged.home / "models" / "llmlake-lm").iterdir() if p.is_dir()]
    assert len(versions) == 1


def test_no_champion_names_the_command_that_makes_one(tmp_path):
    params = params_at(tmp_path)
    with pytest.raises(MissingInput, match="llmlake promote"):
        run(params)
    (tmp_path / "artifacts").mkdir()
    (tmp_path / "artifacts" / "champion.json").write_text('{"model": null}')
    with pytest.raises(MissingInput, match="no champion"):
        run(params)


def test_labels_are_strings_and_metadata_has_no_nulls():
    pointer = {"run": None, "weights_sha256": "ab" * 32, "decision": None,
               "metrics": {"model": {"arch": "hybrid", "tokenizer_sha256": None}}}
    labels = model_labels(pointer, {"run": "r-2", "parent": None}, "s1")
    assert labels["run"] == "r-2" and labels["weights"] == "ab" * 6
    assert all(isinstance(v, str) for v in labels.values())
    meta = model_metadata(pointer, {"git": {"revision": None}}, {"max_batch": 4}, "/lake")
    assert "null" not in json.dumps(meta)
    assert meta["serve"] == {"max_batch": 4} and meta["lake_root"] == "/lake"


def test_the_bentofile_pins_the_locked_versions():
    packages = yaml.safe_load((ROOT / "bentofile.yaml").read_text())["python"]["packages"]
    locked = {p["name"]: p["version"]
              for p in tomllib.loads((ROOT / "uv.lock").read_text())["package"]}
    pins = dict(p.split("==") for p in packages)
    assert set(pins) == NEEDED - {"bentoml"} | {"pyyaml"}
    assert pins == {name: locked[name] for name in pins}
