"""Checkpoints and model folders: what a stopped run needs to go on, and what a model is.

A **checkpoint** folder holds everything that makes a resumed run continue exactly where
the stopped one was: ``model.safetensors`` (weights), ``state.pt`` (optimizer and
scheduler state, the step, the data position, every worker's RNG states) and
``log.csv`` (the log rows so far, so the curve of a resumed run has no gap or repeat).
Ray Train stores them (``ray.train.report``); this module only writes and reads folders.

A **model folder** (``artifacts/model/``) is what evaluation, serving and retraining read:
``model.safetensors``, ``config.json`` (:class:`training.model.ModelConfig`), the tokenizer
files and ``lineage.json``. Tied embeddings share one tensor, which ``safetensors`` stores
once (``save_model``/``load_model`` handle the sharing).

This module imports torch, numpy and safetensors only.

Example::

    >>> import tempfile, torch
    >>> from training.model import LanguageModel, ModelConfig
    >>> cfg = ModelConfig.from_preset("tiny", n_layer=1, vocab_size=64, context=8)
    >>> model = LanguageModel(cfg)
    >>> folder = save_model(tempfile.mkdtemp(), model, lineage={"demo": True})
    >>> again, _ = load_model(folder)
    >>> idx = torch.zeros(1, 4, dtype=torch.long)
    >>> bool((again(idx)[0] == model(idx)[0]).all())
    True
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model as st_load_model
from safetensors.torch import save_model as st_save_model

from llmlake.lake import building_dir, write_csv
from training.model import LanguageModel, ModelConfig

WEIGHTS = "model.safetensors"
STATE = "state.pt"
LOG = "log.csv"
CONFIG = "config.json"
LINEAGE = "lineage.json"


@dataclass
class TrainState:
    """Where a run is: the optimizer step done, the sequences consumed, the log so far."""

    step: int = 0
    position: int = 0
    tokens: int = 0
    train_seconds: float = 0.0
    log: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": _np_state(),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


def _np_state() -> tuple:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return (kind, keys.tolist(), pos, has_gauss, gauss)  # plain data: loads weights_only


def save_checkpoint(folder: str | Path, model: LanguageModel, optimizer: torch.optim.Optimizer,
                    scheduler: Any, state: TrainState, rngs: list[dict[str, Any]]) -> Path:
    """Write a checkpoint folder; ``rngs`` holds each worker's RNG states, by rank."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    st_save_model(model, str(folder / WEIGHTS))
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "step": state.step, "position": state.position, "tokens": state.tokens,
                "train_seconds": state.train_seconds, "extra": state.extra, "rng": rngs},
               folder / STATE)
    write_csv(folder / LOG, state.log)
    (folder / CONFIG).write_text(json.dumps(model.config.to_dict(), indent=2))
    return folder


def load_checkpoint(folder: str | Path, model: LanguageModel,
                    optimizer: torch.optim.Optimizer | None = None, scheduler: Any = None,
                    rank: int = 0) -> TrainState:
    """Restore weights (and optimizer, scheduler and this rank's RNG states when given)."""
    folder = Path(folder)
    saved = ModelConfig.from_dict(json.loads((folder / CONFIG).read_text()))
    if saved != model.config:
        raise ValueError(f"{folder}: checkpoint of another model ({saved} != {model.config})")
    st_load_model(model, str(folder / WEIGHTS), device=str(_device_of(model)))
    data = torch.load(folder / STATE, map_location="cpu", weights_only=True)
    if optimizer is not None:
        optimizer.load_state_dict(data["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(data["scheduler"])
    rngs = data["rng"]
    if rngs:
        set_rng_state(rngs[rank] if rank < len(rngs) else rngs[0])
    return TrainState(step=data["step"], position=data["position"], tokens=data["tokens"],
                      train_seconds=data["train_seconds"], log=read_log(folder / LOG),
                      extra=data.get("extra", {}))


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _number(text: str) -> Any:
    if text == "":
        return ""
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def save_model(folder: str | Path, model: LanguageModel, tokenizer: str | Path | None = None,
               lineage: dict[str, Any] | None = None) -> Path:
    """Write a model folder, replacing an old one only once the new one is complete."""
    with building_dir(Path(folder)) as tmp:
        st_save_model(model, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(model.config.to_dict(), indent=2) + "\n")
        if tokenizer is not None:
            for src in Path(tokenizer).iterdir():
                if src.is_file():
                    shutil.copy2(src, tmp / src.name)
        (tmp / LINEAGE).write_text(json.dumps(lineage or {}, indent=2, sort_keys=True) + "\n")
    return Path(folder)


def load_model(folder: str | Path, device: str | torch.device = "cpu"
               ) -> tuple[LanguageModel, dict[str, Any]]:
    """A model folder's model (eval mode) and its lineage."""
    folder = Path(folder)
    if not (folder / WEIGHTS).exists():
        raise FileNotFoundError(f"{folder}: no {WEIGHTS} (not a model folder)")
    config = ModelConfig.from_dict(json.loads((folder / CONFIG).read_text()))
    model = LanguageModel(config).to(device)
    st_load_model(model, str(folder / WEIGHTS), device=str(device))
    lineage_file = folder / LINEAGE
    lineage = json.loads(lineage_file.read_text()) if lineage_file.exists() else {}
    return model.eval(), lineage


CHAMPION = "champion.json"


def read_champion(artifacts: str | Path) -> dict[str, Any] | None:
    """The champion pointer (``<artifacts>/champion.json``, written by ``llmlake promote``):
    the promoted model's folder, lineage and metrics; None before the first promotion
    (no file, or one whose ``model`` is null). Serving and retraining start here."""
    path = Path(artifacts) / CHAMPION
    if not path.exists():
        return None
    try:
        pointer = json.loads(path.read_text())
        folder = pointer["model"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a champion pointer (a JSON object with a "
                         f"\"model\" folder): {exc}") from exc
    if folder is None:
        return None
    if not isinstance(folder, str) or not folder:
        raise ValueError(f"{path}: \"model\" must name a folder, got {folder!r}")
    return pointer


def model_or_champion(artifacts: str | Path, chosen: str = "") -> Path:
    """The model a command starts from: ``chosen`` when set, else the champion's folder,
    else ``<artifacts>/model`` (before the first promotion). A broken champion pointer
    raises ValueError."""
    if chosen:
        return Path(chosen)
    champion = read_champion(artifacts)
    return Path(champion["model"]) if champion else Path(artifacts) / "model"

