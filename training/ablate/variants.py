"""What each ablation variant holds: the rule from a variant's name to lake rows (pure).

Every variant is a set of documents drawn from the lake at the versions the data stages
recorded, never a copy of it:

* ``raw``: every silver row with text, kept or dropped (every document extraction got out
  of bronze; dropped rows hold their text at the point of the drop);
* ``filtered``: silver's kept rows, before dedup (gold and every removed duplicate);
* ``curated``: gold, the reference;
* ``no_<step>`` for a filter step (``lang``, ``url``, ``gopher``, ``gopher_quality``,
  ``gopher_repetition``, ``c4``, ``fineweb``, ``pii``): the clean stage rerun with that step
  off on the rows whose verdict or text it can change (:func:`needs_reclean`), the others as
  silver has them; then deduplicated as curated is (:mod:`training.ablate.neardup`);
* ``no_near_dedup``: gold and the copies near-dedup removed (exact copies stay out);
* ``no_dedup``: silver's kept rows, as ``filtered``.

Whatever the variant, no document of the held-out splits (gold's ``val`` and ``test``) nor
a duplicate of one is trained on (:func:`held_out_ids`), so every variant is scored on text
none of them saw.

Example::

    >>> needs_reclean("gopher_short_doc", "gopher"), needs_reclean(None, "gopher")
    (True, False)
    >>> needs_reclean(None, "c4"), needs_reclean("fineweb_line_punct_ratio", "c4")
    (True, True)
    >>> step_off(CleanConfig(), "lang").languages
    []
    >>> step_off(CleanConfig(), "gopher").gopher_repetition.enabled
    False
    >>> dups = [Duplicate("d2", "d1", "near"), Duplicate("d3", "d9", "exact")]
    >>> sorted(held_out_ids([GoldDoc("d1", "test", "t"), GoldDoc("d9", "train", "u")], dups))
    ['d1', 'd2']
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from etl.clean.filters.c4 import C4_REASONS
from etl.clean.filters.fineweb import FINEWEB_REASONS
from etl.clean.filters.gopher import GOPHER_QUALITY_REASONS, GOPHER_REPETITION_REASONS
from etl.clean.filters.url import URL_REASONS
from llmlake.config_ablate import REFERENCE, STEPS, VARIANTS
from llmlake.config_clean import CleanConfig

HELD_OUT = ("val", "test")
LANG_REASONS = ("lang_not_allowed", "lang_low_score")
# The drop reasons of each filter step, in the order the clean stage runs them.
REASONS: dict[str, tuple[str, ...]] = {
    "lang": LANG_REASONS,
    "url": tuple(URL_REASONS),
    "gopher_quality": tuple(GOPHER_QUALITY_REASONS),
    "gopher_repetition": tuple(GOPHER_REPETITION_REASONS),
    "c4": tuple(C4_REASONS),
    "fineweb": tuple(FINEWEB_REASONS),
    "pii": (),
}
ORDER = ("lang", "url", "gopher_quality", "gopher_repetition", "c4", "fineweb", "pii")
# Steps that rewrite the text they pass on (C4 removes lines, PII redacts): with one off,
# every document that reached it can change, so each is cleaned again.
REWRITES = frozenset({"c4", "pii"})
# A step name that stands for several (Gopher's quality and repetition filters).
GROUPS = {"gopher": ("gopher_quality", "gopher_repetition")}
FILTER_STEPS = (*ORDER, *GROUPS)
DEDUP_STEPS = ("near_dedup", "dedup")
assert set(FILTER_STEPS) | set(DEDUP_STEPS) == set(STEPS)
assert {"raw", "filtered", REFERENCE} | {f"no_{s}" for s in STEPS} == set(VARIANTS)


@dataclass(frozen=True)
class GoldDoc:
    doc_id: str
    split: str
    text: str


@dataclass(frozen=True)
class Duplicate:
    doc_id: str
    cluster_id: str   # the survivor's doc_id
    match: str        # exact | near


def steps_of(step: str) -> tuple[str, ...]:
    return GROUPS.get(step, (step,))


def needs_reclean(drop_reason: str | None, step: str) -> bool:
    """Whether turning ``step`` off can change this silver row's verdict or text.

    A row dropped by the step may now pass (or fail a later step). When the step rewrites
    text, a kept row and a row dropped by a later step saw the rewritten text, so they are
    cleaned again too. Rows dropped before the step never reached it.
    """
    steps = steps_of(step)
    if drop_reason is not None and any(drop_reason in REASONS[s] for s in steps):
        return True
    if not any(s in REWRITES for s in steps):
        return False
    first = min(ORDER.index(s) for s in steps if s in REWRITES)
    later = {r for s in ORDER[first + 1:] for r in REASONS[s]}
    return drop_reason is None or drop_reason in later


def step_off(cfg: CleanConfig, step: str) -> CleanConfig:
    """``cfg`` with ``step`` turned off (``lang``: every language, any score)."""
    for s in steps_of(step):
        if s == "lang":
            cfg = replace(cfg, languages=[], min_lang_score=0.0)
        else:
            section = getattr(cfg, s)
            cfg = replace(cfg, **{s: replace(section, enabled=False)})
    return cfg


def held_out_ids(gold: Iterable[GoldDoc], duplicates: Iterable[Duplicate]) -> set[str]:
    """Held-out gold documents (val and test splits) and every removed copy of one."""
    held = {d.doc_id for d in gold if d.split in HELD_OUT}
    return held | {d.doc_id for d in duplicates if d.cluster_id in held}


def kind_of(name: str) -> tuple[str, str | None]:
    """``("raw", None)``, ``("filter", "gopher")``, ``("dedup", "near_dedup")`` ..."""
    if not name.startswith("no_"):
        return name, None
    step = name[3:]
    return ("filter" if step in FILTER_STEPS else "dedup"), step
