"""The wheel ships and loads its data files: GX suites, word lists, report templates.

Builds the wheel, installs it (no dependencies) into a scratch virtualenv and runs it from
a scratch folder, so neither the source tree nor the editable install can stand in for it:
the project's ``.venv`` site-packages provide the dependencies through ``PYTHONPATH``, and
``.pth`` files (the editable install is one) are not processed for ``PYTHONPATH`` entries.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
# Data files the code reads through importlib.resources: each must be in the wheel.
DATA_GLOBS = [
    "expectations/*.json",
    "etl/clean/filters/data/*.txt",
    "etl/**/*.j2",
    "etl/**/*.html",
    "llmlake/**/*.j2",
    "llmlake/**/*.html",
    "training/**/*.j2",
    "training/**/*.yaml",
]

# Runs inside the scratch venv: prints what it found, the test asserts on it.
PROBE = """
import json, sys
from importlib.resources import files
from pathlib import Path

import etl.clean.filters.c4 as c4
from etl.clean.filters.lists import BAD_WORDS_FILE, URL_BLOCKLIST_FILE, load_list
from etl.validate.suites import SUITES, table_suite

data_files = json.loads(sys.argv[1])
print(json.dumps({
    "prefix": sys.prefix,
    "c4_file": c4.__file__,
    "bad_words": sorted(load_list("", BAD_WORDS_FILE)),
    "blocklist": sorted(load_list("", URL_BLOCKLIST_FILE)),
    "bronze_path": str(table_suite("bronze").suite_path),
    "bronze_is_file": table_suite("bronze").suite_path.is_file(),
    "suites": {t: json.loads(s.suite_path.read_text())["name"] for t, s in SUITES.items()},
    # Each data file as the installed package reads it: top-level package, then the rest.
    "texts": {
        name: files(name.split("/")[0]).joinpath(*name.split("/")[1:]).read_text("utf-8")
        for name in data_files
    },
}))
"""


def _uv() -> str:
    uv = ROOT / ".tools" / "bin" / "uv"
    found = str(uv) if uv.exists() else shutil.which("uv")
    if found is None:
        pytest.skip("uv not found: `make setup` installs it under .tools/")
    return found


def _data_files() -> list[str]:
    names = {p.relative_to(ROOT).as_posix() for g in DATA_GLOBS for p in ROOT.glob(g)}
    return sorted(n for n in names if "__pycache__" not in n)


def _dependency_path() -> str:
    # The running interpreter's site-packages: the project's .venv under `make test`.
    paths = sysconfig.get_paths()
    return os.pathsep.join(dict.fromkeys([paths["purelib"], paths["platlib"]]))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([_uv(), "build", "--wheel", "--out-dir", str(dist), str(ROOT)], env=_env(),
                   cwd=dist, check=True, capture_output=True, timeout=120)
    (built,) = dist.glob("llmlake-*.whl")
    return built


def _probe(python: Path | str, pythonpath: str, cwd: Path) -> dict:
    result = subprocess.run(
        [str(python), "-c", PROBE, json.dumps(_data_files())],
        env={**_env(), "PYTHONPATH": pythonpath, "PYTHONNOUSERSITE": "1"},
        cwd=cwd, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _check_contents(found: dict) -> None:
    assert "xxx" in found["bad_words"]
    assert "porn" in found["blocklist"]
    assert found["bronze_is_file"]
    assert found["suites"]["bronze"] == "bronze_documents"
    assert set(found["suites"]) == {"bronze", "silver", "gold", "sequences"}
    for name in _data_files():
        assert found["texts"][name] == (ROOT / name).read_text("utf-8"), name


def test_wheel_lists_the_data_files(wheel: Path) -> None:
    data_files = _data_files()
    assert "expectations/bronze_documents.json" in data_files
    assert "etl/clean/filters/data/bad_words_en.txt" in data_files
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
    missing = [n for n in [*data_files, "expectations/__init__.py"] if n not in names]
    assert not missing, f"not in the wheel: {missing}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_installed_wheel_runs_and_loads_its_data_files(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # --without-pip: uv installs the wheel, and skipping ensurepip saves seconds.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env=_env(),
                   check=True, timeout=60)
    python = venv / "bin" / "python"
    subprocess.run([_uv(), "pip", "install", "--python", str(python), "--no-deps",
                    "--offline", str(wheel)],
                   env=_env(), cwd=tmp_path, check=True, capture_output=True, timeout=60)

    cli = subprocess.run([str(venv / "bin" / "llmlake"), "validate", "--help"],
                         env={**_env(), "PYTHONPATH": _dependency_path()},
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    assert "Usage:" in cli.stdout

    found = _probe(python, _dependency_path(), tmp_path)
    prefix = Path(found["prefix"]).resolve()
    assert prefix == venv.resolve()
    # The wheel's copy, not the source tree's or the editable install's.
    assert Path(found["c4_file"]).resolve().is_relative_to(prefix)
    assert Path(found["bronze_path"]).resolve().is_relative_to(prefix)
    _check_contents(found)


def test_wheel_as_zip_on_sys_path_loads_its_data_files(wheel: Path, tmp_path: Path) -> None:
    # What `spark-submit --py-files` does with an archive: zipimport, no files on disk.
    found = _probe(sys.executable, os.pathsep.join([str(wheel), _dependency_path()]),
                   tmp_path)
    assert found["c4_file"].startswith(str(wheel) + os.sep)
    _check_contents(found)
