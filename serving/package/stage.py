"""The ``package`` stage: the champion into the BentoML model store, then the Bento.

1. **The model**: the champion (``artifacts/champion.json``, written by ``llmlake
   promote``), or the model folder ``serve.model`` names. Its weights are hashed and must
   be the ones the pointer describes.
2. **The store**: the folder becomes the BentoML model ``package.model_name``, labelled
   with its run, architecture, preset, weights hash, promotion decision and a hash of its
   settings, and carrying as metadata its metrics, the table versions it was trained on,
   the ``serve`` params and the absolute lake root (so the Bento and its container need no
   params.yaml). Packaging the same weights under the same settings again keeps the model
   already there: a rerun gives the same model tag.
3. **The Bento** ``package.service``, built from ``bentofile.yaml``: only the modules
   serving imports and the packages they need (no Spark, Great Expectations, Ray or DVC),
   around that exact model. Its ``env/docker/Dockerfile`` is the container recipe.

Both stores live in the BentoML home ``package.home`` (default ``<artifacts>/bentoml``, a
DVC out). ``reports/bento.json`` gives the Bento and model tags, their sizes, the Bento's
Python requirements and its Dockerfile. Then, for example::

    BENTOML_HOME=artifacts/bentoml bentoml serve llmlake:latest
    BENTOML_HOME=artifacts/bentoml bentoml containerize llmlake:latest

Example::

    >>> report = run(load_params("params.yaml"))       # doctest: +SKIP
    >>> report["bento"].startswith("llmlake:")        # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmlake.config import Params, as_dict, fingerprint
from llmlake.stage import MissingInput, Shell, StageError, stage_shell
from llmlake.stages import maker_of
from llmlake.tokenizer import file_hash
from serving.package.store import (
    BENTOFILE,
    StoreError,
    in_store,
    model_labels,
    model_metadata,
)
from training.checkpoint import CHAMPION, LINEAGE, WEIGHTS, read_champion

SERVICE = "serving.service:LLMService"


def bentoml_home(params: Params) -> Path:
    """The BentoML home of the stores: ``package.home``, else ``<artifacts>/bentoml``."""
    return Path(params.package.home or Path(params.lake.artifacts) / "bentoml").resolve()


def _model(sh: Shell) -> tuple[Path, dict[str, Any]]:
    """The folder to package and what is known of it (the champion pointer, if it is the
    champion), its weights hash checked."""
    chosen = sh.params.serve.model
    if chosen:
        folder, pointer = Path(chosen), {}
    else:
        artifacts = sh.params.lake.artifacts
        try:
            pointer = read_champion(artifacts)
        except ValueError as exc:
            raise StageError(f"llmlake package: {exc}") from exc
        if pointer is None:
            maker = maker_of(f"artifacts/{CHAMPION}")
            raise MissingInput(f"llmlake package: no champion in {Path(artifacts) / CHAMPION}; "
                               f"promote a model with `{maker.command if maker else 'promote'}`")
        folder = Path(pointer["model"])
    if not (folder / WEIGHTS).exists():
        raise MissingInput(f"llmlake package: {folder / WEIGHTS} does not exist")
    weights = file_hash(folder / WEIGHTS)
    if pointer.get("weights_sha256") not in (None, weights):
        raise StageError(f"llmlake package: the champion pointer describes other weights "
                         f"than {folder / WEIGHTS}")
    return folder, {**pointer, "weights_sha256": weights}


def _shown(path: str | Path) -> str:
    """A path as reports show it: relative to the working directory when inside it."""
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd())) if path.is_relative_to(Path.cwd()) else str(path)


def _lake_root(root: str) -> str:
    return root if "://" in root else str(Path(root).resolve())


def run(params: Params) -> dict[str, Any]:
    cfg = params.package
    with stage_shell("package", params) as sh:
        folder, pointer = _model(sh)
        lineage_file = folder / LINEAGE
        lineage = json.loads(lineage_file.read_text()) if lineage_file.exists() else {}
        metadata = model_metadata(pointer, lineage, as_dict(params.serve),
                                  _lake_root(params.lake.root))
        labels = model_labels(pointer, lineage, fingerprint(metadata)[:12])
        home = bentoml_home(params)
        with sh.step("store and build"):
            try:
                answer = in_store(home, {
                    "save": {"folder": str(folder.resolve()), "name": cfg.model_name,
                             "labels": labels, "metadata": metadata},
                    "build": {"bentofile": str(BENTOFILE), "name": cfg.service}})
            except StoreError as exc:
                raise StageError(f"llmlake package: {exc}") from exc
        model, bento = answer["model"], answer["bento"]
        sh.log.info("package: model %s (%s), Bento %s", model["tag"],
                    "saved" if model["created"] else "already in the store", bento["tag"])
        return sh.finish({
            "bento": bento["tag"], "model": model["tag"], "model_created": model["created"],
            "weights_sha256": pointer["weights_sha256"], "labels": labels,
            "bento_bytes": bento["size"], "bento_files_bytes": bento["files_size"],
            "model_bytes": model["size"], "python_packages": bento["requirements"],
            "dockerfile": _shown(bento["dockerfile"]), "bentoml_home": _shown(home),
            "service": SERVICE})
