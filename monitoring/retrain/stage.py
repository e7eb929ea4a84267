"""``llmlake retrain``: act on ``reports/drift.json``.

When the last drift check found drift (or with ``--force``), ``run(params)``:

1. copies the drifted batch under ``retrain.batches/<id>`` (raw files as they were; logged
   prompts as JSONL), tracks it with ``dvc add`` and appends it to ``ingest.sources``;
2. exports the rated requests (:mod:`monitoring.feedback`) for the next fine-tuning;
3. sets ``train.warm_start`` and ``tokenizer.reuse`` to the champion's folder in
   ``params.yaml`` (the new model keeps the champion's token ids and starts from its weights);
4. runs ``dvc repro`` of ``retrain.targets``: ingest merges only the new documents, dedup matches
   them against gold, then tokenize, train, evaluate, the promotion gate and the Bento;
5. appends the event to ``reports/retrain_history.jsonl`` and writes ``reports/retrain.json``.

The champion pointer changes only in the ``promote`` stage and the Bento only in
``package``, so a retrain that fails or is killed before them leaves both as they were;
every step above is idempotent, so running ``llmlake retrain`` again continues where
``dvc repro`` stopped. Without drift, or on a report already acted on, it does nothing and
says so. Commit ``params.yaml``, ``dvc.lock`` and the batch's ``.dvc`` file afterwards:
``dvc metrics diff`` then compares the retrain with the run before.

Example::

    >>> summarize_model({"val": {"perplexity": 101.0, "bits_per_byte": 1.24}, "x": 1})
    {'val_perplexity': 101.0, 'val_bits_per_byte': 1.24}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from llmlake.config import Params
from llmlake.lake import utc_now
from llmlake.stage import Shell, StageError, stage_shell
from monitoring.retrain.batches import dvc, files_batch, requests_batch, update_params
from monitoring.retrain.history import (
    HISTORY,
    SKIP,
    append_history,
    explain,
    handled,
    read_history,
    retrain_reason,
)

PARAMS_FILE = Path("params.yaml")
TABLES = ("bronze/documents", "silver/documents", "gold/documents", "gold/sequences")


def summarize_model(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    val = (metrics or {}).get("val")
    if not val:
        return None
    return {"val_perplexity": val.get("perplexity"), "val_bits_per_byte": val.get("bits_per_byte")}


def versions(sh: Shell) -> dict[str, int | None]:
    return {t: sh.version(t) for t in TABLES}


def read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def register(sh: Shell, drift: dict[str, Any]) -> dict[str, Any]:
    """Copy the drifted batch in, ``dvc add`` it; its facts for the history."""
    from monitoring.monitor.batch import read_requests

    current, batches = drift["current"], Path(sh.params.retrain.batches)
    if current["kind"] == "requests":
        window = current.get("window", {})
        batch = read_requests(sh.table("ops/requests"), window.get("since", ""),
                              window.get("until", ""))
        rows = [{"request_id": i, "prompt": t, "ts": None}
                for i, t in zip(batch.ids, batch.texts, strict=True)]
        folder, copied = requests_batch(rows, batches)
    else:
        folder, copied = files_batch(current["source"], batches)
    sh.log.info("retrain: batch %s %s", folder, "copied" if copied else "already there")
    dvc("add", str(folder))
    return {"id": folder.name, "path": str(folder), "source": current["source"],
            "kind": current["kind"], "documents": current.get("read")}


def run(params: Params) -> dict[str, Any]:
    cfg = params.retrain
    with stage_shell("retrain", params) as sh:
        drift = read_json(sh.lake.report("drift.json"))
        history_path = sh.lake.report(HISTORY)
        history = read_history(history_path)
        trigger = retrain_reason(drift, history, cfg.force)
        if trigger in SKIP:
            sh.log.info("retrain: %s", explain(trigger, drift))
            return {"decision": trigger}
        if not PARAMS_FILE.exists():
            raise StageError(f"retrain: no {PARAMS_FILE} here: run it in the project's folder")
        from training.checkpoint import read_champion

        old = read_champion(params.lake.artifacts)
        event: dict[str, Any] = {
            "started_at": utc_now(), "trigger": trigger, "drift_run": (drift or {}).get("run"),
            "drift": {k: (drift or {}).get(k) for k in (
                "drift_detected", "kinds", "reasons", "drifted", "drift_share")} | {
                "perplexity_ratio": ((drift or {}).get("perplexity") or {}).get("ratio"),
                "embedding_score": ((drift or {}).get("embedding") or {}).get("score")},
            "old": {"champion": old and old.get("run"), "model": old and old.get("model"),
                    **(summarize_model(old and old.get("metrics")) or {})},
            "versions_before": versions(sh)}
        with sh.step("register"):  # a drifted batch not yet acted on (--force may repeat)
            fresh = drift and drift.get("drift_detected") and not handled(drift, history)
            batch = register(sh, drift) if fresh else None
            event["batch"] = batch
        with sh.step("feedback"):
            from monitoring.feedback.stage import export_feedback

            fb = export_feedback(params)
            event["feedback"] = {"files": fb.get("files"), "skipped": fb.get("skipped")}
        if old and update_params(PARAMS_FILE, batch["path"] if batch else "", old["model"]):
            sh.log.info("retrain: %s now warm-starts from %s", PARAMS_FILE, old["model"])
        return _repro_and_record(sh, event, history_path)


def _repro_and_record(sh: Shell, event: dict[str, Any], history_path: Path) -> dict[str, Any]:
    try:
        with sh.step("repro"):
            dvc("repro", *sh.params.retrain.targets, stream=True)
    except StageError as exc:
        append_history(history_path, event | {"status": "failed", "error": str(exc),
                                              "ended_at": utc_now()})
        raise StageError(f"retrain: {exc}. The champion and the Bento are as they were; fix "
                         "the cause and run `llmlake retrain` again: dvc repro continues "
                         "where it stopped") from exc
    from training.checkpoint import read_champion

    promotion = read_json(sh.lake.report("promotion.json")) or {}
    new = read_champion(sh.params.lake.artifacts)
    bento = read_json(sh.lake.report("bento.json")) or {}
    event |= {
        "status": "done", "ended_at": utc_now(),
        "decision": promotion.get("decision"), "promoted": promotion.get("promoted"),
        "reasons": promotion.get("reasons"),
        "new": {"candidate": (promotion.get("candidate") or {}).get("run"),
                **(summarize_model(read_json(sh.lake.report("eval.json"))) or {})},
        "champion_after": new and new.get("run"),
        "bento": bento.get("bento") if promotion.get("promoted") else None,
        "versions_after": versions(sh)}
    append_history(history_path, event)
    sh.log.info("retrain: %s (%s)", event["decision"], "; ".join(event["reasons"] or [])[:300])
    return sh.finish(event)
