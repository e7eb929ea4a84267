"""The ablation's reports: ``reports/ablate.json``, ``reports/ablate.html`` and the plot table.

:func:`ablate_metrics` gathers one row per variant, in the order ``ablate.variants`` lists
them: its documents, bytes and tokens (estimated from the share a run tokenized when the
budget did not need them all), how many times the budget repeated it (``epochs``), the
figures over seeds, and its difference to ``curated`` with the verdict
(:mod:`training.ablate.signals`). The page shows the same rows and a chart of each
variant's difference to ``curated`` with its interval.

Example::

    >>> verdict_text("worse"), verdict_text("same_data")
    ('worse than curated, beyond the noise', 'the same documents as curated')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from llmlake.config import Params
from llmlake.config_ablate import REFERENCE
from llmlake.stage import Shell
from training.ablate.build import Variant
from training.ablate.runs import steps_for
from training.ablate.signals import ablate_reason, compare_signals, variant_signals

# verdict -> (the table's word, the sentence behind it)
VERDICTS = {
    "reference": ("reference", "the reference"),
    "same_data": (f"= {REFERENCE}", f"the same documents as {REFERENCE}"),
    "worse": ("worse", f"worse than {REFERENCE}, beyond the noise"),
    "better": ("better", f"better than {REFERENCE}, beyond the noise"),
    "within_noise": ("within noise", "a difference smaller than the noise"),
    "one_seed": ("one seed", "one seed: the training noise is unknown (set ablate.seeds >= 2)"),
}


def verdict_text(verdict: str) -> str:
    return VERDICTS[verdict][1]


def ablate_metrics(params: Params, variants: Mapping[str, Variant],
                   runs: Mapping[str, Sequence[dict[str, Any]]], same_as: Mapping[str, str],
                   setup: Mapping[str, Any]) -> dict[str, Any]:
    cfg, held, context = params.ablate, setup["held"], params.train.context
    labels = np.array([ex.label for ex in held.examples], dtype=np.int64)
    steps = steps_for(cfg.tokens, cfg.batch_size, context)
    rows: dict[str, dict[str, Any]] = {}
    for name, v in variants.items():
        twin = same_as.get(name)
        if twin in rows:  # the same runs: the same figures, measured once
            rows[name] = {**rows[twin], "same_as": twin, "notes": v.notes,
                          "held_out_copies": v.held_out_copies}
            continue
        row = _size(v, runs[name])
        row.update(same_as=twin, held_out_copies=v.held_out_copies, notes=v.notes,
                   **variant_signals(runs[name], held.nbytes, labels, cfg.bootstrap, cfg.seed))
        if name == REFERENCE or twin == REFERENCE:
            row["vs_reference"] = None
            row["verdict"] = "reference" if name == REFERENCE else "same_data"
        else:
            row["vs_reference"] = compare_signals(runs[name], runs[REFERENCE], held.nbytes,
                                                  cfg.bootstrap, cfg.seed)
            row["verdict"] = ablate_reason(row["vs_reference"])
        rows[name] = row
    return {
        "reference": REFERENCE, "headline": "bits_per_byte",
        "tokens": steps * cfg.batch_size * context, "steps": steps,
        "seeds": [cfg.seed + i for i in range(cfg.seeds)],
        "model": {"arch": setup["model"].arch, "params": runs[REFERENCE][0]["params"],
                  "context": setup["model"].context, "n_layer": setup["model"].n_layer,
                  "n_embd": setup["model"].n_embd},
        "held_out": {"split": "test", "documents": len(held.nbytes),
                     "bytes": int(held.nbytes.sum()), "task_examples": len(held.examples)},
        "task": "next_sentence",
        "order": list(rows),  # the JSON's keys are sorted; this is ablate.variants' order
        "variants": rows,
    }


def _size(v: Variant, runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Documents and bytes of the variant, and its tokens (estimated from the documents a
    run tokenized when it needed only part of them)."""
    run = runs[0]
    share = run["documents_used"] / max(1, len(v.docs))
    return {"documents": len(v.docs),
            "bytes": sum(len(t.encode("utf-8", "replace")) for t in v.docs.values()),
            "tokens_available": round(run["tokens_sampled"] / share) if share else 0,
            "tokens_estimated": share < 1, "epochs": run["epochs"],
            "train_loss": _mean(r["train_loss"] for r in runs),
            "val_loss": _mean(r["val_loss"] for r in runs)}


def _mean(values: Any) -> float | None:
    known = [float(v) for v in values if v is not None]
    return round(sum(known) / len(known), 5) if known else None


def write_reports(sh: Shell, params: Params, variants: Mapping[str, Variant],
                  runs: Mapping[str, Sequence[dict[str, Any]]], same_as: Mapping[str, str],
                  setup: Mapping[str, Any]) -> dict[str, Any]:
    from llmlake.html import render, write_html

    metrics = ablate_metrics(params, variants, runs, same_as, setup)
    metrics["model"]["preset"] = params.model.preset
    sh.plot("bits_per_byte", [{"variant": n, "bits_per_byte": r["bits_per_byte"]}
                              for n, r in metrics["variants"].items()])
    page = render("training.ablate", "ablate.html.j2", m=metrics, gaps=_gaps(metrics),
                  verdicts=VERDICTS)
    write_html(sh.lake.report("ablate.html"), page)
    for name, row in metrics["variants"].items():
        sh.log.info("ablate: %-16s %s bits/byte, %s", name, row["bits_per_byte"],
                    verdict_text(row["verdict"]))
    return metrics


def _gaps(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Each variant's difference to the reference with its interval, placed on a scale
    centred on zero (x in 0..1) so the template draws a diverging chart."""
    rows = [(n, r["vs_reference"]) for n, r in metrics["variants"].items() if r["vs_reference"]]
    ends = [abs(x) for _, v in rows for x in (v["bits_per_byte"], *v["ci"]) if x is not None]
    span = max(ends, default=0) or 1.0

    def at(x: float | None) -> float | None:
        return None if x is None else round(0.5 + 0.5 * x / span, 4)

    return {"span": span, "rows": [
        {"label": n, "x": at(v["bits_per_byte"]), "lo": at(v["ci"][0]), "hi": at(v["ci"][1]),
         "text": f"{v['bits_per_byte']:+.4f}", "verdict": metrics["variants"][n]["verdict"]}
        for n, v in rows]}
