"""The ``train`` stage: ``gold/sequences`` (or its shards) to ``artifacts/model/``.

Before any work it resolves the model (``model`` params over a preset, vocabulary from the
tokenizer, context from ``train.context``) and pins the data: the ``gold/sequences``
version the tokenize stage recorded in ``reports/lineage/tokenize.json``, which the shards'
headers must name too (shards exported from another version, or with another tokenizer,
are refused). Then Ray Train runs the loop (:mod:`training.train.fit`), and the stage
writes what the run made:

* ``artifacts/model/``: ``model.safetensors``, ``config.json``, the tokenizer files and
  ``lineage.json`` (table version, shard headers, params, git revision, parent model, and
  every table version upstream with what each data stage did: :mod:`llmlake.lineage`);
* ``reports/train/log.csv``: the loss curves (``dvc plots show``);
* ``reports/train.json``: final train and val loss, tokens seen, wall time, tokens/s.

Run it as ``llmlake train``; ``--set train.num_workers=4 --set train.use_gpu=true`` or
``--set ray.address=head:6379`` scale it out.

Example::

    >>> report = run(load_params("params.yaml"))          # doctest: +SKIP
    >>> report["val_loss"] < report["first_val_loss"]      # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from llmlake.config import Params
from llmlake.lake import write_csv
from llmlake.lineage import LineageError, data_summary, upstream
from llmlake.shards import ShardHeader, read_header
from llmlake.stage import MissingInput, Shell, StageError, stage_shell
from llmlake.tokenizer import TOKENIZER_FILE, file_hash

FAIL_ENV = "LLMLAKE_FAIL_AT"  # "<rank>:<step>": that worker raises once after that step
SPLITS = ("train", "val")


def resolve_model(params: Params, vocab_size: int) -> Any:
    """The model config from params; a bad value raises StageError naming its key."""
    from training.model import ModelConfig

    m, context = params.model, params.train.context
    if m.context is not None and m.context > context:
        raise StageError(f"model.context: {m.context} is longer than the sequences "
                         f"(train.context {context})")
    overrides = {"context": context, **m.overrides(), "vocab_size": vocab_size}
    try:
        return ModelConfig.from_preset(m.preset, **overrides)
    except ValueError as exc:
        raise StageError(str(exc)) from exc


def pinned_version(sh: Shell) -> int:
    """The ``gold/sequences`` version the tokenize stage wrote."""
    path = sh.lake.lineage("tokenize")
    if not path.exists():
        raise MissingInput(f"{sh.spec.command}: {path} does not exist; make it with "
                           "`llmlake etl tokenize`")
    table = json.loads(path.read_text())["tables"]["gold/sequences"]
    sh.inputs["gold/sequences"] = {"path": table["path"], "version": table["version"]}
    return table["version"]


def check_shards(sh: Shell, version: int, tok_hash: str, context: int,
                 required: bool) -> dict[str, ShardHeader]:
    """The shard headers, refused if they disagree with the table or the tokenizer."""
    folder = sh.lake.artifact("shards")
    if not all((folder / f"{s}.json").exists() for s in SPLITS):
        if required:
            sh.require_artifact("shards", "train.json")
        return {}
    headers = {s: read_header(folder, s) for s in SPLITS}
    fix = "; make them again with `llmlake etl export-shards`"
    for split, h in headers.items():
        if h.delta_version != version:
            raise StageError(f"{sh.spec.command}: the {split} shard was exported from gold/sequences "
                             f"version {h.delta_version}, tokenize wrote version {version}{fix}")
        if h.tokenizer_sha256 != tok_hash:
            raise StageError(f"{sh.spec.command}: the {split} shard was made with another "
                             f"tokenizer{fix}")
        if h.seq_len != context + 1:
            raise StageError(f"train.context: {context}, but the sequences hold {h.seq_len} "
                             "tokens; run `llmlake etl tokenize` for the new context")
        if h.sequences == 0:
            raise StageError(f"{sh.spec.command}: the {split} split has no sequences")
    return headers


def delta_counts(path: str, version: int) -> dict[str, int]:
    import pyarrow.dataset as pads

    from llmlake.storage import open_table

    dataset = open_table(path, version=version).to_pyarrow_dataset()
    return {s: dataset.count_rows(filter=pads.field("split") == s) for s in SPLITS}


def git_revision() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    try:
        return {"revision": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}


def parent_model(params: Params, model_cfg: Any, tok_hash: str) -> dict[str, Any] | None:
    """The warm-start model's identity, checked to have this run's shape and tokenizer."""
    if not params.train.warm_start:
        return None
    from training.checkpoint import CONFIG, LINEAGE, WEIGHTS

    folder = Path(params.train.warm_start)
    config_file = folder / CONFIG
    if not config_file.exists():
        raise StageError(f"train.warm_start: {folder} is not a model folder (no {CONFIG})")
    saved = json.loads(config_file.read_text())
    if saved != model_cfg.to_dict():
        raise StageError(f"train.warm_start: {folder} holds another architecture than "
                         "the model params describe")
    parent_tok = folder / TOKENIZER_FILE
    if parent_tok.exists() and file_hash(parent_tok) != tok_hash:
        raise StageError(f"train.warm_start: {folder} reads other token ids than "
                         "artifacts/tokenizer; keep its tokenizer with tokenizer.reuse")
    lineage_file = folder / LINEAGE
    lineage = json.loads(lineage_file.read_text()) if lineage_file.exists() else {}
    return {"path": str(folder), "weights_sha256": file_hash(folder / WEIGHTS),
            "run": lineage.get("run"), "git": lineage.get("git")}


def run(params: Params) -> dict[str, Any]:
    from training.train.fit import delta_datasets, ray_session, run_name, storage_root

    with stage_shell("train", params) as sh:
        tok_dir = sh.require_artifact("tokenizer", TOKENIZER_FILE)
        tok_hash = file_hash(tok_dir / TOKENIZER_FILE)
        cfg, (vocab, pad_id) = params.train, _vocab(tok_dir)
        model_cfg = resolve_model(params, vocab)
        parent = parent_model(params, model_cfg, tok_hash)
        version = pinned_version(sh)
        headers = check_shards(sh, version, tok_hash, cfg.context, cfg.data == "shards")
        source = sh.table("gold/sequences")
        counts = ({s: h.sequences for s, h in headers.items()} if cfg.data == "shards"
                  else delta_counts(source, version))
        data_id = {"table": source, "version": version, "tokenizer": tok_hash}
        name = run_name(cfg, model_cfg.to_dict(), {**data_id, "parent": parent})
        storage = storage_root(cfg, params.lake.artifacts)
        worker_config = {
            "train": asdict(cfg), "model": model_cfg.to_dict(), "data": cfg.data,
            "shards": str(sh.lake.artifact("shards").resolve()), "counts": counts,
            "seq_len": cfg.context + 1, "pad_id": pad_id, "threads": cfg.cpus_per_worker,
            "warm_start": str(Path(cfg.warm_start).resolve()) if cfg.warm_start else "",
            "fail_at": fail_plan(storage, name)}
        sh.log.info("train: %s (%s, %d layers, %d wide), %d workers, run %s",
                    params.model.preset, model_cfg.arch, model_cfg.n_layer, model_cfg.n_embd,
                    cfg.num_workers, name)
        with sh.step("train"), ray_session(params.ray):
            # Absolute: Ray Data's read tasks do not run in this working directory.
            readable = source if "://" in source else str(Path(source).resolve())
            datasets = delta_datasets(readable, version) if cfg.data == "delta" else None
            result = fit_or_fail(sh, worker_config, cfg, name, storage, datasets)
        with sh.step("export"):
            lineage = {"run": name, "tables": {"gold/sequences": data_id},
                       "upstream": _upstream(sh), "data": data_summary(sh.lake),
                       "shards": {s: asdict(h) for s, h in headers.items()},
                       "params": {"model": asdict(params.model), "train": asdict(cfg)},
                       "model": model_cfg.to_dict(), "git": git_revision(), "parent": parent}
            state, num_params = _export(sh, result, tok_dir, lineage)
        wall = sh.steps.seconds["train"]  # the shell timed the step: Ray start to the end
        return sh.finish(_metrics(state, num_params, wall), lineage={
            "artifact": "artifacts/model", "run": name, "parent": parent})


def _upstream(sh: Shell) -> dict[str, Any]:
    """Every table version the sequences came from (bronze to gold), for the model card
    and evaluation; a broken chain is logged and recorded, not fatal: the model is still
    the sequences' model."""
    try:
        return upstream(sh.lake, "tokenize")
    except LineageError as exc:
        sh.log.warning("train: lineage beyond gold/sequences is incomplete: %s", exc)
        return {"error": str(exc)}


def _vocab(tok_dir: Path) -> tuple[int, int]:
    """Vocabulary size and padding id (padding targets are left out of the loss)."""
    from llmlake.tokenizer import PAD, load

    tok = load(tok_dir / TOKENIZER_FILE)
    return tok.get_vocab_size(), tok.token_to_id(PAD)


def fail_plan(storage: str, name: str) -> dict[str, Any] | None:
    spec = os.environ.get(FAIL_ENV, "")
    if not spec:
        return None
    rank, _, step = spec.partition(":")
    return {"rank": int(rank), "step": int(step), "marker": f"{storage}/{name}/failed-{spec}"}


def fit_or_fail(sh: Shell, worker_config: dict[str, Any], cfg: Any, name: str,
                storage: str, datasets: Any = None) -> Any:
    """Ray Train's run of the loop; a failure past its restarts is one StageError line
    naming the command (train and finetune both train this way)."""
    from training.train.fit import fit

    try:
        return fit(worker_config, cfg, name, storage, datasets)
    except Exception as exc:  # Ray's TrainingFailedError wraps the worker's traceback
        raise StageError(f"{sh.spec.command}: training failed after {cfg.max_failures} "
                         f"restarts: {str(exc).strip().splitlines()[-1]}") from exc


def final_model(sh: Shell, result: Any, model_config: dict[str, Any]) -> tuple[Any, Any]:
    """The run's last checkpoint as a model, and its state (step, tokens, log)."""
    from training.checkpoint import load_checkpoint
    from training.model import LanguageModel, ModelConfig

    if result.checkpoint is None:
        raise StageError(f"{sh.spec.command}: the run ended without a checkpoint")
    model = LanguageModel(ModelConfig.from_dict(model_config))
    with result.checkpoint.as_directory() as folder:
        state = load_checkpoint(folder, model)
    return state, model


def _export(sh: Shell, result: Any, tok_dir: Path, lineage: dict[str, Any]) -> tuple[Any, int]:
    from training.checkpoint import save_model

    state, model = final_model(sh, result, lineage["model"])
    lineage = {**lineage, "step": state.step, "tokens": state.tokens,
               "nodes": state.extra.get("nodes")}
    save_model(sh.lake.artifact("model"), model, tok_dir, lineage)
    write_csv(sh.lake.report("train/log.csv"), state.log)
    return state, model.num_params()


def loss_summary(state: Any) -> dict[str, Any]:
    """Steps, tokens, the first and last validation loss and the last train loss of a run."""
    vals = [r for r in state.log if r.get("val_loss") != ""]
    trains = [r for r in state.log if r.get("train_loss") != ""]
    return {"steps": state.step, "tokens": state.tokens,
            "first_val_loss": vals[0]["val_loss"], "val_loss": vals[-1]["val_loss"],
            "train_loss": trains[-1]["train_loss"] if trains else None,
            "restarts": state.extra.get("restarts", [])}


def _metrics(state: Any, num_params: int, wall: float) -> dict[str, Any]:
    return {**loss_summary(state), "params": num_params, "wall_seconds": round(wall, 1),
            "tokens_per_s": round(state.tokens / state.train_seconds, 1)
            if state.train_seconds else None}
