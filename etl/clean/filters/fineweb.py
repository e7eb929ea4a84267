"""FineWeb's extra quality rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3).

This module owns the FineWeb filter, applied after C4 line cleaning. Its quantities follow
datatrove's ``FineWebQualityFilter``:

* lines are the ``\\n``-separated lines that are not blank (not stripped);
* ``fineweb_line_punct_frac``: lines ending in a sentence terminal (``.``, ``!``, ``?`` and
  their CJK, Devanagari, Arabic ... forms; a closing quote does *not* count) over lines;
  drop when below 0.12;
* ``fineweb_short_line_frac``: lines of at most 30 characters over lines; drop above 0.67;
* ``fineweb_dup_line_char_frac``: characters in lines equal to an earlier line, over the
  text's characters without newlines; drop above 0.01;
* ``fineweb_newline_ratio``: newline characters over word tokens (a list-like page has many
  lines per word); drop above 0.3.

Example::

    >>> from etl.clean.filters.fineweb import fineweb_filter
    >>> fineweb_filter("Menu\\nHome\\nNews\\nSports\\nContact us\\nWe went to the lake today.")
    'fineweb_short_line_ratio'
"""

from __future__ import annotations

from etl.clean.stats import TextStats, as_stats, duplicate_counts, ratio
from llmlake.config_clean import FineWebConfig

Signals = dict[str, float]

# Sentence terminals of the scripts web text mostly uses (Unicode Sentence_Terminal).
SENTENCE_TERMINALS = tuple(".!?。！？．｡։؟۔܀܁܂।॥၊။።፧፨᙮᠃᠉‼‽⁇⁈⁉⸮꓿꘎꘏꛳꛷︒﹒﹖﹗")


def fineweb_signals(text: str | TextStats, cfg: FineWebConfig) -> Signals:
    """Every FineWeb quantity of one text (all 0 for a text without lines)."""
    st = as_stats(text)
    lines = st.nonblank_lines
    n_punct = sum(1 for line in lines if line.endswith(SENTENCE_TERMINALS))
    n_short = sum(1 for line in lines if len(line) <= cfg.short_line_length)
    n_newlines = st.text.count("\n")
    dup_chars = duplicate_counts(lines)[1]
    return {
        "fineweb_lines": len(lines),
        "fineweb_line_punct_frac": ratio(n_punct, len(lines)),
        "fineweb_short_line_frac": ratio(n_short, len(lines)),
        "fineweb_dup_line_char_frac": ratio(dup_chars, st.n_chars - n_newlines),
        "fineweb_newline_ratio": ratio(n_newlines, len(st.words)),
    }


def fineweb_reason(sig: Signals, cfg: FineWebConfig) -> str | None:
    """The first FineWeb rule ``sig`` breaks, or ``None``."""
    if not sig["fineweb_lines"]:
        return "empty_text"
    punct = sig["fineweb_line_punct_frac"]
    if punct < cfg.min_line_punct_frac and not (punct == 0 and cfg.line_punct_exclude_zero):
        return "fineweb_line_punct_ratio"
    if sig["fineweb_short_line_frac"] > cfg.max_short_line_frac:
        return "fineweb_short_line_ratio"
    if sig["fineweb_dup_line_char_frac"] > cfg.max_dup_line_char_frac:
        return "fineweb_char_dup_ratio"
    if sig["fineweb_newline_ratio"] > cfg.max_newline_ratio:
        return "fineweb_newline_ratio"
    return None


def fineweb_filter(text: str | TextStats, cfg: FineWebConfig | None = None) -> str | None:
    cfg = cfg or FineWebConfig()
    return fineweb_reason(fineweb_signals(text, cfg), cfg)


FINEWEB_REASONS = (
    "fineweb_line_punct_ratio",
    "fineweb_short_line_ratio",
    "fineweb_char_dup_ratio",
    "fineweb_newline_ratio",
)
