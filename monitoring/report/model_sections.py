"""The model half of the page: evaluation and bias, the promotion decision, the data
ablation, drift and retraining, and the links to every other HTML report.

Like :mod:`monitoring.report.data_sections`, each builder is a pure function of
:func:`monitoring.report.inputs.read_reports`'s result returning a section. The ablation
report comes from another stage that may still change shape, so every key of it is
optional: a figure that is not there is shown as a dash.

Example::

    >>> reports = {"json": {"ablate": {"variants": {"raw": {"bits_per_byte": 2.3,
    ...            "verdict": "worse"}, "curated": {"verdict": "reference"}}}},
    ...            "logs": {}, "problems": {}, "history": None, "pages": ["ablate.html"]}
    >>> s = ablation(reports)
    >>> [(v["name"], v["bits_per_byte"], v["verdict"]) for v in s["body"]["variants"]]
    [('raw', '2.3', 'worse'), ('curated', '–', 'reference')]
    >>> s["body"]["page"]
    'ablate.html'
    >>> evaluation(reports)["missing"][0]
    'No evaluation yet: run `llmlake evaluate` (after `llmlake train`, or `dvc repro`)'
"""

from __future__ import annotations

from typing import Any

from llmlake.html import dig
from monitoring.report.common import (
    DASH,
    facts,
    fmt,
    interval,
    mapping,
    need,
    num,
    section,
    texts,
)

NO_EVAL = "No evaluation yet: run `llmlake evaluate` (after `llmlake train`, or `dvc repro`)"
VERDICTS = ("reference", "same_data", "better", "worse", "within_noise", "one_seed")


# --- evaluation and bias ------------------------------------------------------------------

def _splits(data: dict[str, Any]) -> list[dict[str, str]]:
    return [{"split": name, **{k: fmt(num(dig(data, name, k))) for k in (
        "bits_per_byte", "perplexity", "loss", "accuracy", "documents", "tokens")}}
            for name in ("val", "test") if isinstance(data.get(name), dict)]


def _tasks(data: dict[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    rows, bars = [], []
    for name, t in mapping(data.get("tasks")).items():
        if not isinstance(t, dict):
            continue
        ci = t.get("accuracy_ci")
        rows.append({"task": str(name), "split": str(t.get("split") or DASH),
                     "examples": fmt(num(t.get("examples"))),
                     "accuracy": fmt(num(t.get("accuracy"))), "accuracy_ci": interval(ci),
                     "chance": fmt(num(t.get("chance"))),
                     "macro_f1": fmt(num(t.get("macro_f1"))),
                     "macro_f1_ci": interval(t.get("macro_f1_ci"))})
        if num(t.get("accuracy")) is not None:
            pair = ci if interval(ci) != DASH else (None, None)
            bars.append({"label": str(name), "value": max(float(t["accuracy"]), 0.0),
                         "lo": pair[0], "hi": pair[1], "text": fmt(num(t["accuracy"]))})
    return rows, bars


def _bias(reports: dict[str, Any], evaluated: dict[str, Any] | None
          ) -> tuple[dict[str, Any] | None, str | None]:
    """Per-category gaps from bias.json, else the summary evaluation kept of them."""
    data, problem = need(reports, "bias")
    page = "bias.html" if "bias.html" in reports["pages"] else None
    if data is not None:
        cats = {k: v for k, v in mapping(data.get("categories")).items() if isinstance(v, dict)}
        rows = [{"category": str(k), "gap": num(v.get("mean_gap")),
                 "favoured": str(v.get("favoured") or DASH), "pairs": fmt(num(v.get("pairs"))),
                 "worst": fmt(num(v.get("worst_gap")))} for k, v in cats.items()]
        unit = str(data.get("unit") or "")
        max_gap = num(data.get("max_mean_gap"))
    elif isinstance(dig(evaluated, "bias", "categories"), dict):
        rows = [{"category": str(k), "gap": num(v), "favoured": DASH, "pairs": DASH,
                 "worst": DASH} for k, v in evaluated["bias"]["categories"].items()]
        unit, max_gap = "", num(dig(evaluated, "bias", "max_mean_gap"))
    else:
        return None, problem
    bars = [{"label": r["category"], "value": max(r["gap"], 0.0), "text": fmt(r["gap"])}
            for r in rows if r["gap"] is not None]
    for r in rows:
        r["gap"] = fmt(r["gap"])
    return {"rows": rows, "bars": bars, "unit": unit, "max_gap": fmt(max_gap),
            "page": page}, problem


def evaluation(reports: dict[str, Any]) -> dict[str, Any]:
    """Bits per byte and perplexity per split, the tasks with their intervals, and bias."""
    data, problem = need(reports, "eval", NO_EVAL)
    missing = [problem] if problem else []
    bias, bias_problem = _bias(reports, data)
    if bias_problem and data is not None:
        missing.append(bias_problem)
    if data is None and bias is None:
        return section("evaluation", "Evaluation and bias", None, missing)
    data = data or {}
    model = mapping(data.get("model"))
    tasks, task_bars = _tasks(data)
    body = {"model": facts(("run", model.get("run")), ("architecture", model.get("arch")),
                           ("parameters", num(model.get("params")))),
            "splits": _splits(data), "tasks": tasks, "task_bars": task_bars, "bias": bias}
    return section("evaluation", "Evaluation and bias", body, missing)


# --- promotion ----------------------------------------------------------------------------

def promotion(reports: dict[str, Any]) -> dict[str, Any]:
    """What the gate decided about the candidate, and why."""
    data, problem = need(reports, "promotion", "No promotion decision yet: run "
                         "`llmlake promote` (after `llmlake evaluate`, or `dvc repro`)")
    if data is None:
        return section("promotion", "Promotion", None, [problem])
    signals = mapping(data.get("signals"))
    body = {
        "decision": str(data.get("decision") or DASH),
        "promoted": data.get("promoted") is True,
        "reasons": texts(data.get("reasons")),
        "facts": facts(("candidate", dig(data, "candidate", "run")),
                       ("champion now", dig(data, "champion", "run")),
                       ("compared on", signals.get("metric")),
                       ("candidate value", num(signals.get("candidate_val"))),
                       ("champion value", num(signals.get("champion_val"))),
                       ("ratio", num(signals.get("ratio"))),
                       ("tolerance", num(signals.get("tolerance"))),
                       ("bias bound", num(signals.get("max_bias_gap"))))}
    return section("promotion", "Promotion", body, [])


# --- ablation -----------------------------------------------------------------------------

def _variant(name: str, v: Any) -> dict[str, Any]:
    v = mapping(v)
    vs = mapping(v.get("vs_reference"))
    verdict = v.get("verdict") if v.get("verdict") in VERDICTS else None
    std = num(v.get("bits_per_byte_std"))
    return {"name": str(name), "documents": fmt(num(v.get("documents"))),
            "tokens": fmt(num(v.get("tokens_available"))), "epochs": fmt(num(v.get("epochs"))),
            "same_as": str(v["same_as"]) if v.get("same_as") else "",
            "bits_per_byte": fmt(num(v.get("bits_per_byte"))),
            "std": fmt(std) if std is not None else "",
            "perplexity": fmt(num(v.get("perplexity"))),
            "task_accuracy": fmt(num(v.get("task_accuracy"))),
            "task_ci": interval(v.get("task_ci")),
            "delta": fmt(num(vs.get("bits_per_byte"))), "delta_ci": interval(vs.get("ci")),
            "verdict": verdict or str(v.get("verdict") or DASH),
            "tone": verdict or "unknown"}


def _ablation_bars(variants: dict[str, Any]) -> list[dict[str, Any]]:
    bars = []
    for name, v in variants.items():
        bpb = num(dig(v, "bits_per_byte"))
        if bpb is None:
            continue
        std = num(dig(v, "bits_per_byte_std"))
        bars.append({"label": str(name), "value": max(bpb, 0.0), "text": fmt(bpb),
                     "lo": max(bpb - std, 0.0) if std else None,
                     "hi": bpb + std if std else None})
    return bars


def _in_order(variants: dict[str, Any], order: Any) -> dict[str, Any]:
    """The variants in ``ablate.variants``' order (the JSON's keys are sorted), any the
    order does not name after them."""
    names = [n for n in order if n in variants] if isinstance(order, list) else []
    return {**{n: variants[n] for n in names}, **variants}


def ablation(reports: dict[str, Any]) -> dict[str, Any]:
    """The same model trained on each data variant: what each curation step buys."""
    data, problem = need(reports, "ablate", "No ablation yet: run `llmlake ablate`")
    page = "ablate.html" if "ablate.html" in reports["pages"] else None
    if data is None:
        return section("ablation", "Data ablation", None, [problem])
    variants = _in_order(mapping(data.get("variants")), data.get("order"))
    seeds = data.get("seeds")
    body = {
        "facts": facts(("reference variant", data.get("reference")),
                       ("headline metric", data.get("headline")),
                       ("training tokens per variant", num(data.get("tokens"))),
                       ("steps", num(data.get("steps"))),
                       ("seeds", ", ".join(map(str, seeds)) if isinstance(seeds, list) else None),
                       ("model", " ".join(str(dig(data, "model", k)) for k in ("preset", "arch")
                                          if dig(data, "model", k)) or None),
                       ("parameters", num(dig(data, "model", "params"))),
                       ("context", num(dig(data, "model", "context"))),
                       ("held-out split", dig(data, "held_out", "split")),
                       ("held-out documents", num(dig(data, "held_out", "documents"))),
                       ("held-out bytes", num(dig(data, "held_out", "bytes"))),
                       ("task", data.get("task"))),
        "variants": [_variant(k, v) for k, v in variants.items()],
        "bars": _ablation_bars(variants), "page": page}
    missing = [] if variants else ["reports/ablate.json lists no variants: rerun `llmlake ablate`"]
    return section("ablation", "Data ablation", body, missing)


# --- drift and retraining -----------------------------------------------------------------

def _drift_pages(pages: list[str]) -> list[dict[str, Any]]:
    """One row per drift check folder, newest first, with the pages it has."""
    runs: dict[str, dict[str, Any]] = {}
    for page in pages:
        parts = page.split("/")
        if len(parts) == 3 and parts[0] == "drift":
            runs.setdefault(parts[1], {"run": parts[1], "page": None, "evidently": None})
            runs[parts[1]]["page" if parts[2] == "index.html" else "evidently"] = page
    return sorted(runs.values(), key=lambda r: r["run"], reverse=True)


def _history(events: list[dict[str, Any]] | None) -> list[dict[str, str]]:
    return [{"started": str(e.get("started_at") or DASH), "trigger": str(e.get("trigger") or DASH),
             "drift_run": str(e.get("drift_run") or DASH), "status": str(e.get("status") or DASH),
             "decision": str(e.get("decision") or DASH),
             "champion": str(e.get("champion_after") or DASH),
             "error": str(e.get("error") or "")} for e in events or []]


def drift(reports: dict[str, Any]) -> dict[str, Any]:
    """The latest drift verdict, every drift check's pages, and the retrain history."""
    data, problem = need(reports, "drift", "No drift check yet: run `llmlake monitor` "
                         "(with monitor.current naming a new batch)")
    missing = [problem] if problem else []
    history = reports["history"]
    if history is None:
        missing.append(reports["problems"].get("retrain_history")
                       or "No retrain yet: `llmlake retrain` records each one in "
                          "reports/retrain_history.jsonl")
    checks = _drift_pages(reports["pages"])
    if data is None and not history and not checks:
        return section("drift", "Drift and retraining", None, missing)
    data = data or {}
    verdict = None
    if isinstance(data.get("drift_detected"), bool):
        verdict = "drift" if data["drift_detected"] else "no drift"
    body = {"verdict": verdict, "reasons": texts(data.get("reasons")),
            "facts": facts(("check", data.get("run")),
                           ("kinds", ", ".join(texts(data.get("kinds"))) or None),
                           ("drifted descriptors", ", ".join(texts(data.get("drifted"))) or None),
                           ("drift share", num(data.get("drift_share"))),
                           ("current batch", dig(data, "current", "source")),
                           ("current documents", num(dig(data, "current", "documents"))),
                           ("perplexity ratio", num(dig(data, "perplexity", "ratio"))),
                           ("embedding score", num(dig(data, "embedding", "score")))),
            "checks": checks, "history": _history(history)}
    return section("drift", "Drift and retraining", body, missing)


# --- links --------------------------------------------------------------------------------

PAGES = {
    "dedup.html": ("Duplicate clusters: the kept copy beside a removed one", "llmlake etl dedup"),
    "bias.html": ("Bias probes: gaps per category and the worst sentence sets", "llmlake evaluate"),
    "ablate.html": ("Data ablation: each training-data variant scored", "llmlake ablate"),
}


def links(reports: dict[str, Any]) -> dict[str, Any]:
    """Every other HTML report in the folder, the expected ones named when absent."""
    pages = reports["pages"]
    rows, missing = [], []
    for page, (what, command) in PAGES.items():
        if page in pages:
            rows.append({"href": page, "what": what})
        else:
            missing.append(f"reports/{page} is missing: run `{command}`")
    for page in pages:
        if page in PAGES:
            continue
        what = ("Great Expectations data docs (need network access for their styles)"
                if page.startswith("gx/") else
                "Drift check page" if page.endswith("/index.html") else
                "Evidently drift report" if page.startswith("drift/") else "Report")
        rows.append({"href": page, "what": what})
    body = {"rows": rows} if rows else None
    return section("links", "Other reports", body, missing)

