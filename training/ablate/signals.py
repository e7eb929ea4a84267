"""Every figure of the ablation, and the verdict of each variant against ``curated``.

Bits per byte on the held-out test split is the headline: a variant whose data made its
tokens cheaper to predict cannot look better for it, since the loss is divided by the
text's bytes, not its tokens. :func:`variant_signals` measures one variant over its seeds;
:func:`compare_signals` measures its difference to the reference twice over:

* across seeds: the mean of the per-seed differences (both trained with the same seed) and
  its standard error, which is the training noise, judged with Student's t (a 95% interval
  over seeds: 12.7 standard errors with two seeds, 4.3 with three);
* across documents: a paired bootstrap over the test documents (each resample scores both
  variants on the same documents), which is the sampling noise of the test split.

:func:`ablate_reason` names the verdict: ``worse`` or ``better`` only when the difference
is beyond both noises, else ``within_noise``; ``one_seed`` when a single seed leaves the
training noise unknown (on small runs it is often the larger one, so the document
interval alone would call noise a difference); the report adds ``reference`` for curated itself
and ``same_data`` for a variant whose documents equal curated's.

Example::

    >>> ablate_reason({"bits_per_byte": 0.05, "ci": [0.02, 0.08], "seed_se": 0.01, "t": 4.303})
    'worse'
    >>> ablate_reason({"bits_per_byte": 0.05, "ci": [-0.01, 0.1], "seed_se": 0.01, "t": 4.303})
    'within_noise'
    >>> ablate_reason({"bits_per_byte": -0.05, "ci": [-0.08, -0.02], "seed_se": 0.04, "t": 4.303})
    'within_noise'
    >>> ablate_reason({"bits_per_byte": -0.05, "ci": [-0.08, -0.02], "seed_se": 0.01, "t": 4.303})
    'better'
    >>> ablate_reason({"bits_per_byte": -0.05, "ci": [-0.08, -0.02], "seed_se": None, "t": None})
    'one_seed'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

LN2 = math.log(2)
# Student's t, two-sided 95%, by degrees of freedom (seeds - 1): with few seeds the
# standard error is itself a guess, and 2 x SE would call a third of pure noise a difference.
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
         2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086)


def t_975(df: int) -> float:
    return T_975[df - 1] if df <= len(T_975) else 1.96 + 2.4 / df


def run_figures(run: Mapping[str, Any], nbytes: np.ndarray, labels: np.ndarray
                ) -> dict[str, float | None]:
    """Bits per byte, perplexity and task accuracy of one run."""
    scored = run["doc_tokens"] > 0
    nll, tokens = float(run["doc_nll"].sum()), float(run["doc_tokens"].sum())
    pred = run["task_pred"]
    return {
        "bits_per_byte": nll / (LN2 * float(nbytes[scored].sum())) if scored.any() else None,
        "perplexity": math.exp(nll / tokens) if tokens else None,
        "task_accuracy": float((pred == labels).mean()) if len(labels) else None,
    }


def variant_signals(runs: Sequence[Mapping[str, Any]], nbytes: np.ndarray,
                    labels: np.ndarray, resamples: int, seed: int) -> dict[str, Any]:
    """Means over seeds, the spread of the headline, and the task interval (examples
    resampled, every seed's pick of an example kept together)."""
    figures = [run_figures(r, nbytes, labels) for r in runs]
    bpb = [f["bits_per_byte"] for f in figures]
    out = {key: _mean([f[key] for f in figures])
           for key in ("bits_per_byte", "perplexity", "task_accuracy")}
    out["bits_per_byte_runs"] = [_round(x) for x in bpb]
    out["bits_per_byte_std"] = _round(float(np.std(bpb, ddof=1))) if len(bpb) > 1 else None
    hits = np.stack([r["task_pred"] == labels for r in runs]).mean(axis=0) \
        if len(labels) else np.zeros(0)
    out["task_ci"] = _interval(lambda idx: float(hits[idx].mean()), len(hits), resamples, seed)
    return out


def compare_signals(runs: Sequence[Mapping[str, Any]], ref: Sequence[Mapping[str, Any]],
                    nbytes: np.ndarray, resamples: int, seed: int) -> dict[str, Any]:
    """The variant's bits per byte minus the reference's: per seed, its standard error
    across seeds, and the paired document bootstrap interval of the mean."""
    scored = ref[0]["doc_tokens"] > 0  # the same tokenizer: the same documents scored
    nll = np.stack([r["doc_nll"][scored] for r in runs])         # (seeds, docs)
    ref_nll = np.stack([r["doc_nll"][scored] for r in ref])
    nbytes = nbytes[scored]
    per_seed = (nll.sum(axis=1) - ref_nll.sum(axis=1)) / (LN2 * nbytes.sum())
    gap = (nll - ref_nll).mean(axis=0)                    # per document, mean over seeds

    def diff(idx: np.ndarray) -> float:
        return float(gap[idx].sum() / (LN2 * nbytes[idx].sum()))

    n = len(per_seed)
    se = float(np.std(per_seed, ddof=1) / math.sqrt(n)) if n > 1 else None
    return {"bits_per_byte": _round(float(per_seed.mean())),
            "per_seed": [_round(float(x)) for x in per_seed],
            "seed_se": _round(se), "t": t_975(n - 1) if n > 1 else None,
            "ci": _interval(diff, len(gap), resamples, seed)}


def ablate_reason(signals: Mapping[str, Any]) -> str:
    """``better`` / ``worse`` beyond the noise, else ``within_noise`` (or ``one_seed``).
    Without a document interval (``ablate.bootstrap: 0``) the seed noise alone decides."""
    diff, (low, high), se = signals["bits_per_byte"], signals["ci"], signals["seed_se"]
    if diff is None:
        return "within_noise"
    if se is None:
        return "one_seed"
    beyond_seeds = abs(diff) > signals.get("t", 2.0) * se
    beyond_docs = low is None or low > 0 or high < 0
    if beyond_seeds and beyond_docs and diff != 0:
        return "worse" if diff > 0 else "better"
    return "within_noise"


def _interval(stat: Any, n: int, resamples: int, seed: int) -> list[float | None]:
    if not resamples or not n:
        return [None, None]
    rng = np.random.default_rng(seed)
    values = [stat(rng.integers(0, n, n)) for _ in range(resamples)]
    return [_round(float(x)) for x in np.percentile(values, [2.5, 97.5])]


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return _round(float(np.mean(known))) if known else None


def _round(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(x, 5)
