"""The ``promote`` stage: the candidate becomes the champion only if the gate says so.

It reads the candidate (``artifacts/model``) and what ``llmlake evaluate`` measured of
it (``reports/eval.json``, with the bias gaps: refused if it describes other weights),
and the champion pointer ``artifacts/champion.json`` (absent before the first promotion).
When the champion was evaluated on other documents (another gold version or
tokenizer) it is re-scored on the candidate's validation documents first, so the two
numbers the gate compares are about the same text (:mod:`.gate`).

On promotion the candidate is copied to ``artifacts/models/<run>-<weights hash>/`` (so a
later training run, which replaces ``artifacts/model``, cannot change the champion) and the
pointer is rewritten: model path, lineage, metrics. A refused candidate leaves both alone.
Either way ``reports/promotion.json`` records the decision, every figure and each reason.
Serving and retraining read the pointer (:func:`training.checkpoint.read_champion`).

The copy is written before the pointer, so a kill at any point leaves either the old
champion or the new one, and a rerun finishes the job.

Example::

    >>> report = run(load_params("params.yaml"))          # doctest: +SKIP
    >>> report["decision"] in ("promoted_first", "promoted", "refused_worse")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from llmlake.config import Params
from llmlake.lake import building_dir, utc_now, write_json
from llmlake.stage import Shell, StageError, stage_shell
from llmlake.tokenizer import file_hash
from training.checkpoint import CHAMPION, read_champion
from training.promote.gate import PROMOTED, promotion_reason, promotion_signals

MODELS = "models"


def _candidate(sh: Shell) -> tuple[Path, dict[str, Any]]:
    """The candidate folder and its evaluation (with the bias gaps), checked to be its own."""
    folder = sh.require_artifact("model", "model.safetensors")
    path = sh.lake.report("eval.json")
    if not path.exists():
        raise StageError(f"llmlake promote: {path} does not exist; make it with "
                         "`llmlake evaluate`")
    evaluation = json.loads(path.read_text())
    weights = file_hash(folder / "model.safetensors")
    if evaluation.get("model", {}).get("weights_sha256") != weights:
        raise StageError("llmlake promote: reports/eval.json describes other weights than "
                         f"{folder}; run `llmlake evaluate` first")
    return folder, evaluation


def _compared(sh: Shell, evaluation: dict[str, Any], champion: dict[str, Any] | None
              ) -> tuple[str, dict[str, Any] | None, bool]:
    """The metric to compare, the champion's value of it on the candidate's documents, and
    whether the champion had to be re-scored to get it."""
    if champion is None:
        return "perplexity", None, False
    theirs = champion["metrics"]
    same_tok = (theirs["model"].get("tokenizer_sha256")
                == evaluation["model"].get("tokenizer_sha256"))
    metric = "perplexity" if same_tok else "bits_per_byte"
    rescored = theirs.get("data") != evaluation.get("data")
    val = (_rescore(sh, Path(champion["model"]), evaluation["data"])
           if rescored else theirs["val"])
    return metric, {"val": val[metric], "weights": theirs["model"]["weights_sha256"]}, rescored


def _rescore(sh: Shell, folder: Path, tables: dict[str, Any]) -> dict[str, Any]:
    """The champion's val-split metrics on the candidate's gold documents."""
    from llmlake.tokenizer import EOS, load
    from training.checkpoint import load_model
    from training.evaluate.corpus import evaluate_documents, read_documents
    from training.evaluate.stage import device_of

    cfg = sh.params.evaluate
    if not (folder / "model.safetensors").exists():
        raise StageError(f"llmlake promote: the champion's model {folder} is missing; "
                         "restore it (`dvc pull`) or remove artifacts/champion.json")
    device = device_of(cfg.device)
    model, _ = load_model(folder, device)
    tok = load(folder)
    gold = tables["gold/documents"]
    docs = read_documents(gold["path"], gold["version"], None, None, ["val"], cfg.max_docs,
                          cfg.seed)
    sh.log.info("promote: re-scoring the champion on %d val documents", len(docs))
    return evaluate_documents(model, tok, docs, tok.token_to_id(EOS), cfg.batch_size,
                              cfg.stride, device, desc="re-score champion")["val"]


def _install(sh: Shell, folder: Path, evaluation: dict[str, Any],
             decision: str) -> dict[str, Any]:
    """Copy the candidate beside earlier champions, then point the champion at it."""
    model = evaluation["model"]
    name = f"{model.get('run') or 'model'}-{model['weights_sha256'][:12]}"
    dest = sh.lake.artifact(MODELS) / name
    if not (dest / "model.safetensors").exists() or \
            file_hash(dest / "model.safetensors") != model["weights_sha256"]:
        with building_dir(dest) as tmp:
            shutil.copytree(folder, tmp, dirs_exist_ok=True)
    lineage_file = dest / "lineage.json"
    pointer = {
        "model": str(dest), "run": model.get("run"), "weights_sha256": model["weights_sha256"],
        "promoted_at": utc_now(), "decision": decision,
        "lineage": json.loads(lineage_file.read_text()) if lineage_file.exists() else {},
        "metrics": {k: evaluation[k] for k in ("model", "data", "val", "test", "tasks", "bias")
                    if k in evaluation},
    }
    write_json(sh.lake.artifact(CHAMPION), pointer)
    return pointer


def run(params: Params) -> dict[str, Any]:
    cfg = params.promote
    with stage_shell("promote", params) as sh:
        folder, evaluation = _candidate(sh)
        try:
            champion = read_champion(params.lake.artifacts)
        except ValueError as exc:
            raise StageError(f"llmlake promote: {exc}") from exc
        with sh.step("compare"):
            metric, theirs, rescored = _compared(sh, evaluation, champion)
        ours = {"val": evaluation["val"][metric], "bias": evaluation["bias"]["categories"],
                "weights": evaluation["model"]["weights_sha256"]}
        signals = promotion_signals(ours, theirs, metric, cfg.tolerance, cfg.max_bias_gap)
        signals["champion_rescored"] = rescored
        decision, reasons = promotion_reason(signals)
        for line in reasons:
            sh.log.info("promote: %s", line)
        if decision in PROMOTED:
            with sh.step("install"):
                pointer = _install(sh, folder, evaluation, decision)
            sh.log.info("promote: %s -> %s (%s)", folder, pointer["model"], decision)
        else:
            sh.log.info("promote: %s; the champion stays %s", decision,
                        champion["model"] if champion else "unset")
            if champion is None:  # DVC's out, and a clear "none yet" for its readers
                write_json(sh.lake.artifact(CHAMPION), {"model": None, "decision": decision,
                                                        "refused_at": utc_now()})
        sh.lake.artifact(MODELS).mkdir(parents=True, exist_ok=True)
        now = read_champion(params.lake.artifacts)
        return sh.finish({
            "decision": decision, "promoted": decision in PROMOTED, "reasons": reasons,
            "signals": signals, "candidate": evaluation["model"],
            "champion": {"model": now["model"], "run": now["run"],
                         "weights_sha256": now["weights_sha256"]} if now else None})
