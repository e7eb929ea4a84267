"""Typed schema of the ``monitor`` section: what ``llmlake monitor`` compares, how it decides
that the data drifted, and what ``llmlake retrain`` and the feedback export read.

The **reference** is a seeded sample of ``reference_docs`` gold documents at the version the
champion's lineage names: of its held-out splits (``reference: heldout``, val and test) or of
its train split (``reference: train``). Held out is the default because the champion has
seen its train documents: their perplexity and embeddings are what it memorised, so every
new batch would look harder. The reference vocabulary (for the share of unknown words) is
learned from another ``vocab_docs`` train documents, so the reference is measured exactly as
a current batch is. The **current** batch is ``current`` (a folder of raw files, extracted
and cleaned in memory: nothing reaches the lake) or, with ``current: requests``, the prompts
of ``ops/requests`` between ``since`` and ``until``.

A descriptor drifts when Evidently's test for it (K-S for numbers, chi-square for the
language) gives a p-value under ``p_value``; the batch drifts when at least ``drift_share``
of the descriptors do, when the median perplexity grew by more than ``perplexity_ratio``,
when a classifier tells the two batches apart by their embeddings (ROC AUC above ``embedding_threshold``), or when
the share of a raw batch that cleaning drops for one reason moved by ``yield_change`` or more
from the lake's (and significantly so).

Example::

    >>> MonitorConfig(drift_share=1.5)
    Traceback (most recent call last):
    ...
    ValueError: drift_share: must be at most 1, got 1.5
    >>> MonitorConfig(feedback_good=-1, feedback_bad=1)
    Traceback (most recent call last):
    ...
    ValueError: feedback_bad: must be below feedback_good (1 >= -1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from llmlake.bounds import Bounded, bounded, fraction, seed_field
from llmlake.config_eval import DEVICES

REQUESTS = "requests"  # `current: requests` reads the prompts of ops/requests
REFERENCES = ("heldout", "train")


@dataclass(frozen=True)
class MonitorConfig(Bounded):
    current: str = "data/raw/incoming"   # a folder of raw files | "requests" (ops/requests)
    since: str = ""               # requests: ISO date or time, inclusive ("" = no bound)
    until: str = ""               # requests: ISO date or time, exclusive ("" = now)
    reference: str = "heldout"    # gold's val + test (unseen by the champion) | train
    reference_docs: int = bounded(400, min=10)  # gold documents in the reference
    vocab_docs: int = bounded(2000, min=10)     # other train documents: the known words
    max_docs: int = bounded(400, min=1)         # current documents described (seeded sample)
    min_docs: int = bounded(30, min=2)          # fewer is an error: too few to test
    seed: int = seed_field(0)
    p_value: float = bounded(0.01, above=0, max=1)  # per descriptor: a test under it drifted
    drift_share: float = fraction(0.25)          # drifted share of descriptors = data drift
    perplexity_ratio: float = bounded(1.25, above=0)  # current/reference median perplexity
    # ROC AUC of a classifier telling the batches apart by the champion's embeddings
    # (0.5 = indistinguishable); small same-source samples reach about 0.55 by chance.
    embedding_threshold: float = bounded(0.6, min=0.5, max=1)
    yield_change: float = fraction(0.05)  # a drop reason's share moved by this much (and p_value)
    batch_size: int = bounded(16, min=1)
    device: str = "auto"          # auto = cuda when available | cpu | cuda
    workspace: str = ""           # the Evidently workspace; "" = <artifacts>/evidently
    # Ratings (/feedback takes -1 or 1; the table holds int16) >= good become prompt/response
    # pairs for fine-tuning, <= bad the evaluation set of failures.
    feedback_good: int = bounded(1, min=-(2**15), max=2**15 - 1)
    feedback_bad: int = bounded(-1, min=-(2**15), max=2**15 - 1)
    feedback_out: str = "data/feedback"  # where the two JSONL sets are written

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.device not in DEVICES:
            raise ValueError(f"device: must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if not self.current:
            raise ValueError("current: must name a folder of raw files, or requests")
        if self.max_docs < self.min_docs:
            raise ValueError(f"max_docs: must be at least min_docs ({self.max_docs} < "
                             f"{self.min_docs}): a sample under min_docs cannot be judged")
        if self.reference not in REFERENCES:
            raise ValueError(f"reference: must be one of {', '.join(REFERENCES)}, "
                             f"got {self.reference!r}")
        if self.feedback_bad >= self.feedback_good:
            raise ValueError(f"feedback_bad: must be below feedback_good "
                             f"({self.feedback_bad} >= {self.feedback_good})")


@dataclass(frozen=True)
class RetrainConfig(Bounded):
    force: bool = False           # retrain without drift (or on a drift report already acted on)
    batches: str = "data/batches"  # new batches are copied here and tracked with `dvc add`
    # `dvc repro` targets: the suites, and everything up to the Bento; not `monitor`, whose
    # report the retrain acts on.
    targets: list[str] = field(default_factory=lambda: ["validate", "package"])
