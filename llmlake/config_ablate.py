"""Typed schema of the ``ablate`` section: which training-data variants ``llmlake ablate``
trains and scores, and how much each gets.

A variant is named after what it keeps of the pipeline: ``raw`` (every extracted bronze
document), ``filtered`` (silver's kept rows), ``curated`` (gold), or ``no_<step>``: the
curated pipeline with that one step turned off (``no_gopher``, ``no_c4``, ``no_dedup``, ...).
:data:`VARIANTS` lists every name; what each holds is :mod:`training.ablate.variants`.

Every variant trains for the same ``tokens`` with the same model (the ``model`` section,
``train.context``) and seed, so only the data differs; ``seeds`` > 1 repeats each with
seeds ``seed``, ``seed + 1``, ... and shows the spread.

Example::

    >>> AblateConfig().variants[:3]
    ['raw', 'filtered', 'curated']
    >>> AblateConfig(variants=["raw", "no_spam"])
    Traceback (most recent call last):
    ...
    ValueError: variants: unknown variant 'no_spam'; known: raw, filtered, curated, no_lang, no_url, no_gopher, no_gopher_quality, no_gopher_repetition, no_c4, no_fineweb, no_pii, no_near_dedup, no_dedup
    >>> AblateConfig(variants=["raw"])
    Traceback (most recent call last):
    ...
    ValueError: variants: must include curated, the reference every row is compared with
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmlake.bounds import Bounded, bounded, seed_field

# Steps of the curated pipeline that a variant can turn off, in pipeline order.
STEPS = ("lang", "url", "gopher", "gopher_quality", "gopher_repetition", "c4", "fineweb",
         "pii", "near_dedup", "dedup")
VARIANTS = ("raw", "filtered", "curated", *(f"no_{s}" for s in STEPS))
REFERENCE = "curated"
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class AblateConfig(Bounded):
    # The three stages of the funnel, and each filter family and dedup turned off.
    variants: list[str] = field(default_factory=lambda: [
        "raw", "filtered", "curated", "no_gopher", "no_c4", "no_fineweb", "no_dedup"])
    # Training tokens per variant and seed, the same for all: a variant with fewer tokens
    # repeats its data (the report says how many epochs). 32,768 = 16 steps of 8 x 256,
    # seconds per run on a laptop: the demo's size, which shows the machinery but not a
    # difference; an answer needs about a real training run's tokens (README).
    tokens: int = bounded(32768, min=1)
    seeds: int = bounded(2, min=1)           # runs per variant, seeds seed, seed + 1, ...
    seed: int = seed_field(0)
    batch_size: int = bounded(8, min=1)      # sequences per step
    lr: float = bounded(0.003, above=0)      # peak; warmup is a tenth of the steps
    # Held-out test documents scored for bits per byte (a seeded sample; 0 = all).
    eval_docs: int = bounded(0, min=0)
    task_examples: int = bounded(50, min=1)  # built-in next-sentence task, from the test split
    bootstrap: int = bounded(1000, min=0)    # resamples for the paired intervals (0 = none)
    device: str = "auto"                     # auto = cuda when available

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in self.variants:
            if name not in VARIANTS:
                raise ValueError(f"variants: unknown variant {name!r}; known: "
                                 f"{', '.join(VARIANTS)}")
        if REFERENCE not in self.variants:
            raise ValueError(f"variants: must include {REFERENCE}, the reference every row "
                             "is compared with")
        if len(set(self.variants)) != len(self.variants):
            raise ValueError("variants: a variant is listed twice")
        if self.device not in DEVICES:
            raise ValueError(f"device: must be one of {', '.join(DEVICES)}, "
                             f"got {self.device!r}")
