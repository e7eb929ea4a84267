"""The BentoML side of ``llmlake package``: a model folder into a BentoML model store, and
the Bento built around it.

BentoML fixes its home folder (``BENTOML_HOME``: the model store, the Bento store) once
per process, so the stores are worked on in a child process, ``python -m
serving.package.store``, started with the home in its environment: a caller (the stage, a
test) picks any home, and never imports BentoML itself. The child reads one JSON request
on stdin, does what it asks in order, and writes its answer as JSON to the file the
request names:

* ``save``: the folder's files become a model ``<name>:<version>`` with the given labels
  and metadata; when the latest model of that name already has the same ``weights`` and
  ``settings`` labels, it is kept and nothing is written (a rerun changes nothing, and
  ``<name>:latest`` is always the model just packaged);
* ``build``: the Bento of ``bentofile.yaml`` (``bentoml.bentos.build_bentofile``) around
  the model just saved, pinned by its exact tag through ``LLMLAKE_BENTO_MODEL``.

:func:`model_labels` and :func:`model_metadata` describe a champion for the store (pure).

Example::

    >>> pointer = {"run": "train-1", "weights_sha256": "b1e7416914a5" + "0" * 52,
    ...            "decision": "promoted_first",
    ...            "metrics": {"model": {"arch": "gpt"}, "val": {"perplexity": 99.5}}}
    >>> model_labels(pointer, {"params": {"model": {"preset": "tiny"}}}, "3fa2")
    {'run': 'train-1', 'arch': 'gpt', 'preset': 'tiny', 'weights': 'b1e7416914a5', 'decision': 'promoted_first', 'settings': '3fa2'}
    >>> model_metadata(pointer, {"parent": None}, {"max_batch": 16}, "/srv/lake")["metrics"]
    {'val': {'perplexity': 99.5}}
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the build context: the source tree
BENTOFILE = ROOT / "bentofile.yaml"
WEIGHTS_SHORT = 12
METRICS = ("perplexity", "bits_per_byte", "loss", "accuracy")


class StoreError(RuntimeError):
    """The BentoML child process failed; the message is its last error line."""


# -- what the store records of a champion (pure) ----------------------------------------

def plain(value: Any) -> Any:
    """``value`` as BentoML metadata takes it: no None (dropped), lists for tuples."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value if v is not None]
    return value


def model_labels(pointer: dict[str, Any], lineage: dict[str, Any],
                 settings: str) -> dict[str, str]:
    """Labels (strings) to find and tell models apart by; ``settings``: a hash of the
    metadata, so a model re-saved under other serve params is a new model."""
    model = pointer.get("metrics", {}).get("model", {})
    preset = lineage.get("params", {}).get("model", {}).get("preset")
    labels = {"run": pointer.get("run") or lineage.get("run") or "unknown",
              "arch": model.get("arch") or lineage.get("model", {}).get("arch") or "unknown",
              "preset": preset or "custom",
              "weights": pointer["weights_sha256"][:WEIGHTS_SHORT],
              "decision": pointer.get("decision") or "unpromoted", "settings": settings}
    return {k: str(v) for k, v in labels.items()}


def model_metadata(pointer: dict[str, Any], lineage: dict[str, Any], serve: dict[str, Any],
                   lake_root: str) -> dict[str, Any]:
    """The champion's metrics and lineage, and what the service runs with (its ``serve``
    params, the lake of its request logs), so a Bento needs no params.yaml."""
    measured = pointer.get("metrics", {})
    tables = {**{t: v.get("version") for t, v in lineage.get("upstream", {}).items()},
              **{t: v.get("version") for t, v in measured.get("data", {}).items()}}
    return plain({
        "model": {**{k: measured.get("model", {}).get(k) for k in (
                      "arch", "params", "tokenizer_sha256")},
                  "run": pointer.get("run"), "weights_sha256": pointer["weights_sha256"],
                  "promoted_at": pointer.get("promoted_at"), "decision": pointer.get("decision")},
        "metrics": {split: {k: measured[split][k] for k in METRICS if k in measured[split]}
                    for split in ("val", "test") if split in measured},
        "lineage": {"tables": tables, "git": lineage.get("git")},
        "serve": serve, "lake_root": lake_root})


# -- the caller's side ----------------------------------------------------------------

def in_store(home: str | Path, request: dict[str, Any]) -> dict[str, Any]:
    """Run ``request`` (``save`` and/or ``build``) in a child process on the BentoML
    home ``home``; its answer."""
    env = {**os.environ, "BENTOML_HOME": str(Path(home).resolve()),
           "BENTOML_DO_NOT_TRACK": "True"}
    with tempfile.TemporaryDirectory() as tmp:
        answer = Path(tmp) / "answer.json"
        done = subprocess.run([sys.executable, "-m", "serving.package.store"],
                              input=json.dumps({**request, "answer": str(answer)}),
                              capture_output=True, text=True, cwd=ROOT, env=env)
        if done.returncode != 0 or not answer.exists():
            lines = [ln for ln in done.stderr.splitlines() if ln.strip()] or ["no output"]
            raise StoreError(f"bentoml (exit {done.returncode}): {lines[-1].strip()}")
        return json.loads(answer.read_text())


def save_model(home: str | Path, folder: str | Path, name: str, labels: dict[str, str],
               metadata: dict[str, Any]) -> dict[str, Any]:
    """Save a model folder into the store of ``home``: ``{"tag", "created", "size"}``."""
    request = {"save": {"folder": str(Path(folder).resolve()), "name": name, "labels": labels,
                        "metadata": metadata}}
    return in_store(home, request)["model"]


# -- the child's side (BENTOML_HOME set) ----------------------------------------------

def _save(folder: str, name: str, labels: dict[str, str],
          metadata: dict[str, Any]) -> dict[str, Any]:
    import bentoml
    from bentoml.exceptions import NotFound

    try:
        latest = bentoml.models.get(f"{name}:latest")
    except NotFound:
        latest = None
    same = latest is not None and all(
        latest.info.labels.get(k) == labels[k] for k in ("weights", "settings"))
    if not same:
        with bentoml.models.create(name, labels=labels, metadata=metadata) as model:
            for src in sorted(Path(folder).iterdir()):
                if src.is_file():
                    shutil.copy2(src, Path(model.path) / src.name)
        latest = bentoml.models.get(model.tag)
    return {"tag": str(latest.tag), "created": not same, "size": latest.file_size,
            "path": latest.path}


def _build(bentofile: str, name: str, model: str) -> dict[str, Any]:
    import bentoml

    from serving.settings import MODEL_ENV

    os.environ[MODEL_ENV] = model  # the service's model, when the build imports it
    bento = bentoml.bentos.build_bentofile(bentofile, name=name,
                                           build_ctx=str(Path(bentofile).parent))
    path = Path(bento.path)
    requirements = (path / "env" / "python" / "requirements.txt").read_text().splitlines()
    return {"tag": str(bento.tag), "path": str(path), "size": bento.total_size(),
            "files_size": bento.file_size,
            "requirements": [r.strip() for r in requirements
                             if r.strip() and not r.startswith("#")],
            "dockerfile": str(path / "env" / "docker" / "Dockerfile")}


def main() -> None:
    request = json.loads(sys.stdin.read())
    answer: dict[str, Any] = {}
    if "save" in request:
        answer["model"] = _save(**request["save"])
    if "build" in request:
        model = request["build"].get("model") or answer["model"]["tag"]
        answer["bento"] = _build(**{**request["build"], "model": model})
    Path(request["answer"]).write_text(json.dumps(answer))


if __name__ == "__main__":
    main()
