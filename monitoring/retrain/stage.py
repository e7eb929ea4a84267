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
    """Copy the drifted batch in, ``dvc add`` it; its facts for the history. Logged
    prompts are read back at the table version and window the monitor judged."""
    from monitoring.monitor.batch import BatchError, read_requests

    current, batches = drift["current"], Path(sh.params.retrain.batches)
    try:
        if current["kind"] == "requests":
            window = current.get("window", {})
            batch = read_requests(sh.table("ops/requests"), window.get("since", ""),
                                  window.get("until", ""), current.get("table_version"))
            rows = [{"request_id": i, "prompt": t, "ts": ts} for i, t, ts in
                    zip(batch.ids, batch.texts, batch.times, strict=True)]
            folder, copied = requests_batch(rows, batches)
        else:
            folder, copied = files_batch(current["source"], batches)
    except (BatchError, OSError) as exc:
        raise StageError(f"retrain: the drifted batch cannot be read back: {exc}") from exc
    sh.log.info("retrain: batch %s %s", folder, "copied" if copied else "already there")
    dvc("add", str(folder))
    return {"id": folder.name, "path": str(folder), "source": current["source"],
            "kind": current["kind"], "documents": current.get("read")}


def new_event(trigger: str, drift: dict[str, Any] | None, old: dict[str, Any] | None,
              sh: Shell) -> dict[str, Any]:
    """The history line's facts known before anything changes."""
    drift = drift or {}
    return {
        "started_at": utc_now(), "trigger": trigger, "drift_run": drift.get("run"),
        "drift": {k: drift.get(k) for k in (
            "drift_detected", "kinds", "reasons", "drifted", "drift_share")} | {
            "perplexity_ratio": (drift.get("perplexity") or {}).get("ratio"),
            "embedding_score": (drift.get("embedding") or {}).get("score")},
        "old": {"champion": old and old.get("run"), "model": old and old.get("model"),
                **(summarize_model(old and old.get("metrics")) or {})},
        "versions_before": versions(sh)}


def prepare(sh: Shell, drift: dict[str, Any] | None, history: list[dict[str, Any]],
            event: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Register the batch, export the feedback, point params.yaml at both and the
    champion; a failure is recorded in the history, then raised."""
    from monitoring.feedback.stage import export_feedback

    try:
        with sh.step("register"):  # a drifted batch not yet acted on (--force may repeat)
            fresh = drift and drift.get("drift_detected") and not handled(drift, history)
            event["batch"] = register(sh, drift) if fresh else None
        with sh.step("feedback"):
            fb = export_feedback(sh.params)
            event["feedback"] = {"files": fb.get("files"), "skipped": fb.get("skipped")}
        batch = event["batch"]
        if update_params(PARAMS_FILE, batch and batch["path"], old and old["model"]):
            sh.log.info("retrain: %s updated (new source %s, warm start from %s)",
                        PARAMS_FILE, batch and batch["path"], old and old["model"])
    except StageError as exc:
        append_history(sh.lake.report(HISTORY), event | {
            "status": "failed", "error": str(exc), "ended_at": utc_now()})
        raise


def run(params: Params) -> dict[str, Any]:
    from training.checkpoint import read_champion

    with stage_shell("retrain", params) as sh:
        drift = read_json(sh.lake.report("drift.json"))
        history = read_history(sh.lake.report(HISTORY))
        trigger = retrain_reason(drift, history, params.retrain.force)
        if trigger in SKIP:
            sh.log.info("retrain: %s", explain(trigger, drift))
            return {"decision": trigger}
        if not PARAMS_FILE.exists():
            raise StageError(f"retrain: no {PARAMS_FILE} here: run it in the project's folder")
        try:
            old = read_champion(params.lake.artifacts)
        except ValueError as exc:
            raise StageError(f"retrain: {exc}") from exc
        event = new_event(trigger, drift, old, sh)
        prepare(sh, drift, history, event, old)
        return _repro_and_record(sh, event, sh.lake.report(HISTORY))


def _repro_and_record(sh: Shell, event: dict[str, Any], history_path: Path) -> dict[str, Any]:
    try:
        with sh.step("repro"):
            dvc("repro", *sh.params.retrain.targets, stream=True)
    except StageError as exc:
        from training.checkpoint import read_champion

        append_history(history_path, event | {"status": "failed", "error": str(exc),
                                              "ended_at": utc_now()})
        now = read_champion(sh.params.lake.artifacts)
        state = ("The champion and the Bento are as they were"
                 if (now and now.get("run")) == event["old"]["champion"] else
                 f"The champion is now {now and now.get('run')}, its Bento may not be built")
        raise StageError(f"retrain: {exc}. {state}; fix the cause and run `llmlake retrain` "
                         "again: dvc repro continues where it stopped") from exc
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
