"""The ``finetune`` stage: a trained model, trained further, to ``artifacts/finetuned/``.

``llmlake finetune`` starts from ``finetune.model`` (the champion by default; a model folder
or a train run's checkpoint: :mod:`training.finetune.parent`) and keeps its tokenizer:

* ``--mode continue``: continued pretraining on another ``gold/sequences`` table (or a
  lake root holding one) tokenized with that tokenizer (:mod:`training.finetune.corpus`);
* ``--mode sft --data FILE``: supervised fine-tuning on prompt/response or chat JSONL,
  laid out by ``finetune.template`` (:mod:`training.finetune.template`: serving must send
  prompts in the same layout), the loss on the answers only (:mod:`training.finetune.sft`).

The data is checked and written as arrays before Ray starts (:mod:`training.finetune.prepare`;
too many malformed lines stop the run there). Training is the train stage's: the same Ray
Train worker and loop, checkpoints and resume, with the ``finetune`` section's schedule
(lr, warmup, steps, decay, batch, eval, seed, workers) over every other ``train`` knob, the
model's own context, and the parent's weights as the start. The stage writes

* ``finetune.out`` (``""``: ``artifacts/finetuned/``): a model folder whose
  ``lineage.json`` names its parent (path, weights sha256, run) and its data (the file's
  sha256, or the table and version), and carries the parent's data lineage so
  ``llmlake evaluate --set evaluate.model=artifacts/finetuned`` reads it as any model;
* ``reports/finetune/log.csv``: the loss curves;
* ``reports/finetune.json``: steps, tokens, examples, bad lines (the first ten with their
  reasons), truncations, the share of tokens that are targets, the losses, wall time and,
  for sft, ``val_exact_match``: the share of val examples (up to 100) whose greedy answer
  is exactly theirs (:mod:`training.finetune.decode`).

Example::

    >>> from llmlake.config import Params, load_params
    >>> cfg = loop_config(Params(), context=64)
    >>> cfg.lr == Params().finetune.lr, cfg.context, cfg.warm_start, cfg.grad_clip
    (True, 64, '', 1.0)
    >>> report = run(load_params("params.yaml", ["finetune.data=data/augmented/sft.jsonl"]))  # doctest: +SKIP
    >>> report["val_loss"] < report["first_val_loss"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from llmlake.config import Params
from llmlake.lake import write_csv
from llmlake.stage import Shell, stage_shell

# What evaluation and the model card read from a model's lineage: carried to the child.
CARRIED = ("upstream", "data", "tables")


def loop_config(params: Params, context: int) -> Any:
    """``train`` with the ``finetune`` schedule over it and the parent's context."""
    f = params.finetune
    return dataclasses.replace(
        params.train, lr=f.lr, min_lr_ratio=f.min_lr_ratio, warmup_steps=f.warmup_steps,
        max_steps=f.max_steps, weight_decay=f.weight_decay, batch_size=f.batch_size,
        eval_every=f.eval_every, seed=f.seed, num_workers=f.num_workers, context=context,
        warm_start="")


def run(params: Params) -> dict[str, Any]:
    from training.finetune.parent import resolve_parent
    from training.finetune.prepare import describe, prepare_continue, prepare_sft
    from training.train.fit import ray_session, run_name, storage_root
    from training.train.stage import fail_plan, fit_or_fail

    cfg = params.finetune
    with stage_shell("finetune", params) as sh:
        parent = resolve_parent(params.lake.artifacts, cfg.model)
        context = parent.config["context"]
        with sh.step("data"):
            if cfg.mode == "sft":
                prepared = prepare_sft(cfg, parent, context + 1, params.lake.artifacts)
            else:
                prepared = prepare_continue(cfg, parent, context + 1, params.lake.artifacts,
                                            params.lake.reports)
                sh.inputs["gold/sequences"] = {"path": prepared.data["table"],
                                               "version": prepared.data["version"]}
        (sh.log.warning if prepared.stats["dropped"] else sh.log.info)(
            "finetune: %s", describe(prepared))
        loop_cfg = loop_config(params, context)
        identity = parent.identity()
        name = run_name(loop_cfg, parent.config, {**prepared.data, "parent": {
            "path": identity["path"], "weights_sha256": identity["weights_sha256"]}})
        storage = storage_root(loop_cfg, params.lake.artifacts)
        sh.log.info("finetune: %s from %s, %d workers, run %s", cfg.mode, parent.folder,
                    loop_cfg.num_workers, name)
        with sh.step("train"), ray_session(params.ray):
            config = worker_config(loop_cfg, parent, prepared, fail_plan(storage, name))
            result = fit_or_fail(sh, config, loop_cfg, name, storage)
        out = Path(cfg.out) if cfg.out else sh.lake.artifact("finetuned")
        with sh.step("export"):
            lineage = _lineage(params, parent, identity, prepared, loop_cfg, name)
            state, model = _export(sh, result, parent, out, lineage)
        metrics = _metrics(cfg.mode, state, prepared, sh.steps.seconds["train"])
        if cfg.mode == "sft":
            with sh.step("exact match"):
                match = _exact_match(params, model, prepared, parent)
            metrics["val_exact_match"] = match["share"]
            metrics["val_exact_match_examples"] = match["examples"]
        return sh.finish(metrics, lineage={"artifact": str(out), "run": name,
                                           "parent": identity, "data": prepared.data})


def worker_config(loop_cfg: Any, parent: Any, prepared: Any,
                  fail_at: dict[str, Any] | None = None) -> dict[str, Any]:
    """What :func:`training.train.worker.train_worker` reads: the prepared arrays as its
    data, the parent folder as its warm start (its ``model.safetensors`` and config)."""
    from llmlake.tokenizer import PAD, load

    return {"train": dataclasses.asdict(loop_cfg), "model": parent.config, "data": "arrays",
            "arrays": str(prepared.folder.resolve()), "counts": prepared.counts,
            "seq_len": parent.config["context"] + 1,
            "pad_id": load(parent.tokenizer).token_to_id(PAD),
            "threads": loop_cfg.cpus_per_worker, "warm_start": str(parent.folder.resolve()),
            "fail_at": fail_at}


def _lineage(params: Params, parent: Any, identity: dict[str, Any], prepared: Any,
             loop_cfg: Any, name: str) -> dict[str, Any]:
    from training.train.stage import git_revision

    carried = {k: parent.lineage[k] for k in CARRIED if k in parent.lineage}
    cfg = dataclasses.asdict(params.finetune)
    return {**carried, "run": name, "model": parent.config, "parent": identity,
            "git": git_revision(),
            "params": {"model": parent.lineage.get("params", {}).get("model"),
                       "train": dataclasses.asdict(loop_cfg), "finetune": cfg},
            "finetune": {"mode": params.finetune.mode, "parent": identity,
                         "data": prepared.data, "template": params.finetune.template
                         if params.finetune.mode == "sft" else None, "params": cfg}}


def _export(sh: Shell, result: Any, parent: Any, out: Path, lineage: dict[str, Any]
            ) -> tuple[Any, Any]:
    from training.checkpoint import save_model
    from training.finetune.parent import tokenizer_copy
    from training.train.stage import final_model

    state, model = final_model(sh, result, parent.config)
    lineage = {**lineage, "step": state.step, "tokens": state.tokens,
               "nodes": state.extra.get("nodes")}
    # save_model copies a folder whole: hand it the tokenizer files alone.
    with tempfile.TemporaryDirectory(prefix="llmlake-tokenizer-") as tmp:
        save_model(out, model, tokenizer_copy(parent, Path(tmp)), lineage)
    write_csv(sh.lake.report("finetune/log.csv"), state.log)
    return state, model


def _exact_match(params: Params, model: Any, prepared: Any, parent: Any) -> dict[str, Any]:
    import torch

    from llmlake.tokenizer import EOS, load
    from training.finetune.decode import exact_match

    device = "cuda" if params.train.use_gpu and torch.cuda.is_available() else "cpu"
    eos_id = load(parent.tokenizer).token_to_id(EOS)
    return exact_match(model.to(device), prepared.val_examples, eos_id, device)


def _metrics(mode: str, state: Any, prepared: Any, wall: float) -> dict[str, Any]:
    from training.train.stage import loss_summary

    return {"mode": mode, **loss_summary(state), **prepared.stats,
            "wall_seconds": round(wall, 1)}
