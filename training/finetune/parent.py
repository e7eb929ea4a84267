"""The model a fine-tuning run starts from, and the tokenizer it keeps.

``finetune.model`` names a model folder (``model.safetensors``, ``config.json``, the
tokenizer files, ``lineage.json``) or a checkpoint folder of a train run
(``<storage>/<run>/checkpoint_*``: weights, config and optimizer state, no tokenizer);
empty, it is the champion, else ``artifacts/model``
(:func:`training.checkpoint.model_or_champion`). A checkpoint reads token ids with
``artifacts/tokenizer``, and takes its lineage from ``artifacts/model`` when that model is
the checkpoint's run. Everything is checked before any work: a problem is a
:class:`~llmlake.stage.StageError` naming ``finetune.model``.

Example::

    >>> import tempfile
    >>> resolve_parent(tempfile.mkdtemp(), "no/such/folder")
    Traceback (most recent call last):
    ...
    llmlake.stage.StageError: finetune.model: no/such/folder is not a model folder or a checkpoint (no model.safetensors)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmlake.stage import StageError
from llmlake.tokenizer import TOKENIZER_FILE, file_hash

# What training.checkpoint names them (not imported: it imports torch).
WEIGHTS, CONFIG, STATE, LINEAGE = ("model.safetensors", "config.json", "state.pt",
                                   "lineage.json")
TOKENIZER_FILES = (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class Parent:
    folder: Path
    kind: str                    # model | checkpoint
    config: dict[str, Any]       # its ModelConfig, as config.json holds it
    tokenizer: Path              # the folder whose tokenizer.json reads its ids
    tok_hash: str
    lineage: dict[str, Any]      # its lineage.json ({} when none is known)

    def identity(self) -> dict[str, Any]:
        """What the child's lineage names: path, weights sha256, run and git revision."""
        return {"path": str(self.folder), "kind": self.kind,
                "weights_sha256": file_hash(self.folder / WEIGHTS),
                "run": self.lineage.get("run") or self._run_of_checkpoint(),
                "git": self.lineage.get("git")}

    def _run_of_checkpoint(self) -> str | None:
        return self.folder.resolve().parent.name if self.kind == "checkpoint" else None


def _chosen(artifacts: str | Path, chosen: str) -> Path:
    from training.checkpoint import model_or_champion

    try:
        return model_or_champion(artifacts, chosen)
    except ValueError as exc:
        raise StageError(f"finetune.model: {exc}") from exc


def resolve_parent(artifacts: str | Path, chosen: str = "") -> Parent:
    """The starting model, checked: weights and config there, a tokenizer that fits."""
    folder = _chosen(artifacts, chosen)
    if not (folder / WEIGHTS).exists() or not (folder / CONFIG).exists():
        hint = "" if chosen else "; train one with `llmlake train`"
        raise StageError(f"finetune.model: {folder} is not a model folder or a checkpoint "
                         f"(no {WEIGHTS if not (folder / WEIGHTS).exists() else CONFIG}){hint}")
    config = json.loads((folder / CONFIG).read_text())
    kind = "checkpoint" if (folder / STATE).exists() else "model"
    lineage = _lineage(folder, kind, Path(artifacts))
    tok_dir = folder if (folder / TOKENIZER_FILE).exists() else Path(artifacts) / "tokenizer"
    if not (tok_dir / TOKENIZER_FILE).exists():
        raise StageError(f"finetune.model: {folder} holds no {TOKENIZER_FILE} and neither "
                         f"does {tok_dir}: no tokenizer to read its ids with")
    tok_hash = file_hash(tok_dir / TOKENIZER_FILE)
    _check_tokenizer(folder, tok_dir, tok_hash, config, lineage)
    return Parent(folder, kind, config, tok_dir, tok_hash, lineage)


def _lineage(folder: Path, kind: str, artifacts: Path) -> dict[str, Any]:
    if kind == "model":
        path = folder / LINEAGE
        return json.loads(path.read_text()) if path.exists() else {}
    # A checkpoint has no lineage of its own; the model its run exported has.
    model = artifacts / "model" / LINEAGE
    lineage = json.loads(model.read_text()) if model.exists() else {}
    return lineage if lineage.get("run") == folder.resolve().parent.name else {}


def _check_tokenizer(folder: Path, tok_dir: Path, tok_hash: str, config: dict[str, Any],
                     lineage: dict[str, Any]) -> None:
    from llmlake.tokenizer import load

    size = load(tok_dir / TOKENIZER_FILE).get_vocab_size()
    if size != config.get("vocab_size"):
        raise StageError(f"finetune.model: {folder} has {config.get('vocab_size')} token ids, "
                         f"the tokenizer in {tok_dir} {size}: not the tokenizer it was "
                         "trained with")
    recorded = lineage.get("tables", {}).get("gold/sequences", {}).get("tokenizer")
    if recorded and recorded != tok_hash:
        raise StageError(f"finetune.model: {folder} was trained on ids of another tokenizer "
                         f"than {tok_dir / TOKENIZER_FILE}")


def tokenizer_copy(parent: Parent, dest: Path) -> Path:
    """The parent's tokenizer files alone in ``dest`` (what ``save_model`` copies whole)."""
    import shutil

    dest.mkdir(parents=True, exist_ok=True)
    for name in TOKENIZER_FILES:
        if (parent.tokenizer / name).exists():
            shutil.copyfile(parent.tokenizer / name, dest / name)
    return dest
