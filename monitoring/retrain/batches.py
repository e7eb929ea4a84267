"""A drifted batch becomes a data source: copied under ``retrain.batches``, tracked by DVC,
listed in ``ingest.sources``; the next training starts from the champion.

Everything here is idempotent, so a retrain killed at any point and run again ends in the
same state: a batch's folder is named by the hash of its files (the same files give the
same id, and a copy is only renamed into place once complete), ``dvc add`` of a tracked
folder changes nothing, and :func:`update_params` only appends a source that is missing.
``params.yaml`` is edited with ruamel's round trip, so its comments and layout stay.

Example::

    >>> import tempfile, pathlib
    >>> tmp = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (tmp / "params.yaml").write_text(
    ...     "ingest:\\n  sources:        # raw corpora\\n    - data/raw/sample\\n"
    ...     "tokenizer:\\n  reuse: ''\\ntrain:\\n  warm_start: ''\\n")
    >>> update_params(tmp / "params.yaml", "data/raw/batches/b-1", "artifacts/models/m")
    True
    >>> update_params(tmp / "params.yaml", "data/raw/batches/b-1", "artifacts/models/m")
    False
    >>> print((tmp / "params.yaml").read_text())
    ingest:
      sources:        # raw corpora
        - data/raw/sample
        - data/raw/batches/b-1
    tokenizer:
      reuse: 'artifacts/models/m'
    train:
      warm_start: 'artifacts/models/m'
    <BLANKLINE>
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmlake.stage import StageError


def batch_id(files: list[tuple[Path, Path]]) -> str:
    """``b-<12 hex>``: the hash of the files' relative paths and bytes."""
    digest = hashlib.sha256()
    for rel, path in sorted(files):
        digest.update(str(rel).encode() + b"\0")
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return f"b-{digest.hexdigest()[:12]}"


def copy_batch(files: list[tuple[Path, Path]], batches: Path) -> tuple[Path, bool]:
    """Copy ``(relative path, file)`` pairs to ``batches/<id>``; (folder, copied now)."""
    dest = batches / batch_id(files)
    if dest.exists():
        return dest, False
    partial = batches / f".{dest.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)  # what a killed copy left
    for rel, path in files:
        (partial / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, partial / rel)
    partial.rename(dest)
    return dest, True


def files_batch(folder: str, batches: Path) -> tuple[Path, bool]:
    """A folder of raw files (as the monitor read it) copied in as a batch."""
    from monitoring.monitor.batch import raw_files

    root = Path(folder)
    files = [(p.relative_to(root) if root.is_dir() else Path(p.name), p)
             for p, _ in raw_files(root)]
    return copy_batch(files, batches)


def requests_batch(rows: list[dict[str, Any]], batches: Path) -> tuple[Path, bool]:
    """Logged prompts written as one JSONL file (ingest's ``id``/``text``/``url`` fields)."""
    lines = "".join(json.dumps({"id": r["request_id"], "text": r["prompt"],
                                "url": f"llmlake://requests/{r['request_id']}",
                                "fetched_at": r["ts"]}, sort_keys=True) + "\n" for r in rows)
    staging = batches / ".requests"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "requests.jsonl").write_text(lines)
    try:
        return copy_batch([(Path("requests.jsonl"), staging / "requests.jsonl")], batches)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def dvc(*args: str, cwd: Path | None = None, stream: bool = False) -> None:
    """Run the DVC of this environment; a failure is a StageError with its output."""
    exe = Path(sys.executable).parent / "dvc"
    cmd = [str(exe) if exe.exists() else shutil.which("dvc") or "", *args]
    if not cmd[0]:
        raise StageError("dvc not found: install the project's environment (make setup)")
    if stream:  # dvc repro: its stage logs are the progress a user watches
        code = subprocess.run(cmd, cwd=cwd).returncode
        out = ""
    else:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
        code, out = done.returncode, (done.stdout + done.stderr).strip()
    if code:
        raise StageError(f"`dvc {' '.join(args)}` failed (exit {code}){': ' + out if out else ''}")


def update_params(path: Path, source: str | None, champion: str | None) -> bool:
    """Add ``source`` (if any) to ``ingest.sources`` and start training (and the
    tokenizer) from the champion (if any); True when the file changed. Sections or keys
    the file leaves to their defaults are written out."""
    from ruamel.yaml import YAML

    from llmlake.config import IngestConfig

    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)  # params.yaml's own layout
    yaml.width = 4096  # never re-wrap a long line
    yaml.representer.add_representer(  # keep `null` written out, as the file has it
        type(None), lambda rep, _: rep.represent_scalar("tag:yaml.org,2002:null", "null"))
    data = yaml.load(path.read_text()) or {}
    changed = False
    if source:
        sources = data.setdefault("ingest", {}).setdefault("sources",
                                                           list(IngestConfig().sources))
        if source not in sources:
            sources.append(source)
            changed = True
    for section, key in (("tokenizer", "reuse"), ("train", "warm_start")):
        if champion and data.setdefault(section, {}).get(key) != champion:
            data[section][key] = champion
            changed = True
    if changed:
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "w") as fh:
            yaml.dump(data, fh)
        tmp.replace(path)
    return changed
