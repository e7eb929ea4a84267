"""The stage table against the folders, the CLI and dvc.yaml; each stage's DVC deps against
the project modules its code can load."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmlake.cli import cli, etl
from llmlake.stages import STAGES, maker_of, stage_spec

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("llmlake", "etl", "training", "serving", "monitoring", "expectations")


def dvc_stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_every_stage_is_a_folder_with_a_run():
    for spec in STAGES:
        assert (ROOT / spec.folder / "stage.py").is_file(), spec.folder
        assert callable(spec.load().run), spec.name


def test_every_stage_folder_is_in_the_table():
    names = {s.name for s in STAGES}
    for package in ("etl", "training", "serving", "monitoring"):
        for stage_py in sorted((ROOT / package).glob("*/stage.py")):
            assert stage_py.parent.name in names, f"{stage_py} is missing from STAGES"


PIPELINE = tuple(s for s in STAGES if s.pipeline)


def test_the_table_and_dvc_yaml_name_the_same_stages():
    assert set(dvc_stages()) == {s.name for s in PIPELINE}
    assert {s.name for s in STAGES if not s.pipeline} == {"export", "retrain", "feedback"}


def test_each_dvc_stage_runs_its_own_command():
    stages = dvc_stages()
    for spec in PIPELINE:
        if spec.items:
            assert set(stages[spec.name]["foreach"]) == set(spec.items)
            assert stages[spec.name]["do"]["cmd"] == spec.command_for("${key}")
        else:
            assert stages[spec.name]["cmd"] == spec.command


def test_the_cli_has_one_command_per_stage():
    top = {s.cli_name for s in STAGES if not s.group}
    grouped = {s.cli_name for s in STAGES if s.group == "etl"}
    assert grouped == set(etl.commands)
    assert top <= set(cli.commands)
    assert set(cli.commands) - top == {"params", "etl", "lake"}


def test_missing_inputs_name_the_stage_that_makes_them():
    assert maker_of("gold/sequences").command == "llmlake etl tokenize"
    assert maker_of("artifacts/tokenizer").command == "llmlake etl tokenizer"
    assert maker_of("ops/feedback") is None
    with pytest.raises(KeyError, match="unknown stage"):
        stage_spec("train_everything")


# --- deps that cannot be wrong -------------------------------------------------------------

def module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(path: Path) -> set[str]:
    """Project modules a file imports anywhere in it (lazy imports inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from etl.sample import files`` imports the module etl.sample.files.
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES and module_file(name):
                found.add(name)
    return found


def closure(files: list[Path]) -> set[Path]:
    """Every project file reachable by imports from ``files``, package __init__s included."""
    seen: set[Path] = set()
    todo = list(files)
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a and a.b first
                found = module_file(".".join(parts[:i]))
                if found and found not in seen:
                    todo.append(found)
    return seen


def docstring_only(path: Path) -> bool:
    """A package ``__init__`` that runs no code (only a docstring): loading it cannot change
    a stage's output, so it need not be a DVC dep (``etl/__init__.py``)."""
    body = ast.parse(path.read_text()).body
    return path.name == "__init__.py" and all(
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def covered(path: Path, deps: list[Path]) -> bool:
    return docstring_only(path) or any(path == d or d in path.parents for d in deps)


def declared_code_deps(stage: dict) -> list[Path]:
    body = stage.get("do", stage)
    deps = [d for d in body["deps"] if "$" not in d]
    return [ROOT / d for d in deps if d.split("/")[0] in PACKAGES]


@pytest.mark.parametrize("spec", PIPELINE, ids=lambda s: s.name)
def test_dvc_deps_cover_every_module_a_stage_can_load(spec):
    deps = declared_code_deps(dvc_stages()[spec.name])
    assert ROOT / spec.folder in deps and ROOT / "llmlake" in deps
    own = sorted((ROOT / spec.folder).rglob("*.py"))
    for path in closure(own):
        assert covered(path, deps), (
            f"{spec.name} loads {path.relative_to(ROOT)}, which dvc.yaml does not list")


def test_data_files_a_stage_reads_are_declared_too():
    # Suites are data, not imports: the validate stage must list them.
    assert ROOT / "expectations" in declared_code_deps(dvc_stages()["validate"])


@pytest.mark.parametrize("spec", PIPELINE, ids=lambda s: s.name)
def test_importing_a_stage_loads_only_declared_deps(spec):
    # The static scan sees imports; this sees what really loads (resources by name too).
    code = (f"import sys, {spec.module}\n"
            f"print('\\n'.join(m for m in sys.modules if m.split('.')[0] in {PACKAGES!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.split()
    deps = declared_code_deps(dvc_stages()[spec.name])
    for name in out:
        path = module_file(name)
        assert path is None or covered(path, deps), f"{spec.name} loads {name}, not declared"


def test_llmlake_imports_no_stage_code_directly():
    for path in sorted((ROOT / "llmlake").rglob("*.py")):
        stage_imports = {m for m in imported_modules(path) if m.split(".")[0] != "llmlake"}
        assert not stage_imports, f"{path.name} imports {stage_imports}"
