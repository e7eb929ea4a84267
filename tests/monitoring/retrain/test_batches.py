"""A drifted batch as a data source: content-named copies, `dvc add`, params edits; all
idempotent, so a killed retrain run again ends in the same state."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmlake.stage import StageError
from monitoring.retrain.batches import (
    batch_id,
    copy_batch,
    dvc,
    files_batch,
    requests_batch,
    update_params,
)

ROOT = Path(__file__).resolve().parents[3]
DVC = str(Path(sys.executable).parent / "dvc")


def raw_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    (folder / "jsonl").mkdir(parents=True)
    (folder / "jsonl" / "a.jsonl").write_text('{"id": "1", "text": "one"}\n')
    (folder / "b.jsonl").write_text('{"id": "2", "text": "two"}\n')
    (folder / "truth.jsonl").write_text('{"kind": "document", "text": "answer key"}\n')
    (folder / "notes.txt").write_text("not a crawl file")
    return folder


def test_a_batch_is_named_by_its_files_and_copied_once(tmp_path):
    folder = raw_folder(tmp_path)
    dest, copied = files_batch(str(folder), tmp_path / "batches")
    assert copied and dest.name.startswith("b-") and len(dest.name) == 14
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "b.jsonl", "jsonl/a.jsonl"]  # no answer key, no file ingest cannot read
    assert files_batch(str(folder), tmp_path / "batches") == (dest, False)
    (folder / "b.jsonl").write_text('{"id": "2", "text": "changed"}\n')
    other, copied = files_batch(str(folder), tmp_path / "batches")
    assert copied and other != dest


def test_a_killed_copy_is_redone_not_kept(tmp_path):
    src = tmp_path / "x.jsonl"
    src.write_text("{}\n")
    files = [(Path("x.jsonl"), src)]
    partial = tmp_path / "batches" / f".{batch_id(files)}.partial"
    partial.mkdir(parents=True)
    (partial / "junk").write_text("left by a killed copy")
    dest, copied = copy_batch(files, tmp_path / "batches")
    assert copied and not partial.exists() and sorted(p.name for p in dest.iterdir()) == [
        "x.jsonl"]


def test_logged_prompts_become_one_jsonl_file(tmp_path):
    rows = [{"request_id": "r1", "prompt": "hello <EMAIL>", "ts": None}]
    dest, _ = requests_batch(rows, tmp_path / "batches")
    line = yaml.safe_load((dest / "requests.jsonl").read_text())
    assert line == {"fetched_at": None, "id": "r1", "text": "hello <EMAIL>",
                    "url": "llmlake://requests/r1"}
    assert [p.name for p in (tmp_path / "batches").iterdir()] == [dest.name]


def test_params_keep_their_comments_and_change_once(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    before = path.read_text()
    assert update_params(path, "data/batches/b-1", "artifacts/models/m-1")
    after = path.read_text()
    loaded = yaml.safe_load(after)
    assert loaded["ingest"]["sources"][-1] == "data/batches/b-1"
    assert loaded["train"]["warm_start"] == loaded["tokenizer"]["reuse"] == "artifacts/models/m-1"
    diff = [d for d in difflib.ndiff(before.splitlines(), after.splitlines())
            if d[:2] in ("- ", "+ ")]
    removed = sorted(d[2:].split(":")[0].strip() for d in diff if d.startswith("- "))
    added = [d[2:] for d in diff if d.startswith("+ ")]
    assert removed == ["reuse", "warm_start"]  # every other line stays byte for byte
    assert "    - data/batches/b-1" in added and len(added) == 3
    assert "# a model folder to start from" in after  # comments survive
    assert not update_params(path, "data/batches/b-1", "artifacts/models/m-1")
    assert path.read_text() == after


def test_dvc_add_tracks_the_batch_and_failures_say_why(tmp_path):
    for args in (("git", "init", "-q"), (DVC, "init", "-q")):
        subprocess.run(args, cwd=tmp_path, check=True)
    dest, _ = files_batch(str(raw_folder(tmp_path)), tmp_path / "data" / "batches")
    dvc("add", str(dest.relative_to(tmp_path)), cwd=tmp_path)
    dvc("add", str(dest.relative_to(tmp_path)), cwd=tmp_path)  # again: nothing changes
    assert (dest.parent / f"{dest.name}.dvc").exists()
    assert f"/{dest.name}" in (dest.parent / ".gitignore").read_text()
    with pytest.raises(StageError, match=r"^`dvc add no/such/folder` failed \(exit \d+\)"):
        dvc("add", "no/such/folder", cwd=tmp_path)
