"""One document from raw payload to clean, redacted text: the whole pure cleaning pipeline.

This module owns :func:`clean_document` and its result, :class:`CleanResult`. The stages run
in this order and the first failing rule is the document's ``drop_reason``:

1. extraction (:mod:`etl.clean.extract`) and normalization (:mod:`etl.clean.normalize`);
   nothing left -> ``empty_text``;
2. language ID (:mod:`etl.clean.langid`): ``lang_not_allowed`` when the language is not in
   ``cfg.languages`` (an empty list allows all), ``lang_low_score`` below
   ``cfg.min_lang_score``;
3. URL blocklist (:mod:`etl.clean.filters.url`);
4. Gopher quality, then Gopher repetition (:mod:`etl.clean.filters.gopher`);
5. C4 (:mod:`etl.clean.filters.c4`): its line removal rewrites the text, then its document rules;
6. FineWeb (:mod:`etl.clean.filters.fineweb`) on the C4-cleaned text;
7. PII redaction (:mod:`etl.clean.pii`), on kept documents only.

Every stage that ran adds its measured quantities to ``signals`` (names in
:data:`SIGNAL_NAMES`; a stage after the dropping one adds nothing), so a table of results
can hold each signal as a column and thresholds can be re-tuned without re-running.
``text`` of a dropped document is its text at the point of the drop, *not* PII-redacted.

Example::

    >>> from etl.clean.document import clean_document, DROP_REASONS
    >>> body = "".join(f"<p>{s}</p>" for s in [
    ...     "The garden was quiet in the early morning, and the dew was still on the grass.",
    ...     "We walked to the old oak tree and sat down with our coffee to watch the birds.",
    ...     "A robin landed near the bench and looked at us with great curiosity for a while.",
    ...     "Later that day the wind picked up, so we moved the chairs back into the shed.",
    ...     "Write to me at jo@example.com if you want to visit the garden with us next year.",
    ... ])
    >>> r = clean_document(f"<html><body><article>{body}</article></body></html>",
    ...                    "text/html", "https://example.org/garden", None)
    >>> r.drop_reason, r.lang, r.pii
    (None, 'en', {'email': 1, 'ip': 0, 'phone': 0, 'card': 0, 'iban': 0, 'ssn': 0})
    >>> r.text.splitlines()[-1]
    'Write to me at <EMAIL> if you want to visit the garden with us next year.'
    >>> clean_document("short", "text/plain", None, None).drop_reason in DROP_REASONS
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from etl.clean.extract import extract
from etl.clean.filters.c4 import C4_REASONS, c4_clean_stats, c4_reason
from etl.clean.filters.fineweb import FINEWEB_REASONS, fineweb_reason, fineweb_signals
from etl.clean.filters.gopher import (
    DUP_NGRAM_SIZES,
    GOPHER_QUALITY_REASONS,
    GOPHER_REPETITION_REASONS,
    TOP_NGRAM_SIZES,
    gopher_quality_reason,
    gopher_quality_signals,
    gopher_repetition_reason,
    gopher_repetition_signals,
)
from etl.clean.filters.url import URL_REASONS, url_reason, url_signals
from etl.clean.langid import detect_language
from etl.clean.normalize import normalize
from etl.clean.pii import PII_TYPES, redact_pii
from etl.clean.stats import TextStats
from llmlake.config_clean import CleanConfig

DEFAULT_CONFIG = CleanConfig()

DROP_REASONS: frozenset[str] = frozenset(
    (
        "empty_text",
        "lang_not_allowed",
        "lang_low_score",
        *URL_REASONS,
        *GOPHER_QUALITY_REASONS,
        *GOPHER_REPETITION_REASONS,
        *C4_REASONS,
        *FINEWEB_REASONS,
    )
)

SIGNAL_NAMES: tuple[str, ...] = (
    *("raw_chars", "text_chars", "lang_score", "url_blocked_domain", "url_blocked_word"),
    *("gopher_n_words", "gopher_mean_word_len", "gopher_hash_ratio", "gopher_ellipsis_ratio"),
    *("gopher_bullet_lines_frac", "gopher_ellipsis_lines_frac", "gopher_alpha_words_frac"),
    *("gopher_stop_words", "gopher_dup_para_frac", "gopher_dup_para_char_frac"),
    *("gopher_dup_line_frac", "gopher_dup_line_char_frac"),
    *(f"gopher_top_{n}gram_char_frac" for n in TOP_NGRAM_SIZES),
    *(f"gopher_dup_{n}gram_char_frac" for n in DUP_NGRAM_SIZES),
    *("c4_lines", "c4_lines_kept", "c4_lines_long_word", "c4_lines_no_punct"),
    *("c4_lines_few_words", "c4_lines_javascript", "c4_lines_policy", "c4_lorem_ipsum"),
    *("c4_curly_bracket", "c4_sentences", "c4_bad_words", "c4_chars"),
    *("fineweb_lines", "fineweb_line_punct_frac", "fineweb_short_line_frac"),
    *("fineweb_dup_line_char_frac", "fineweb_newline_ratio"),
)


@dataclass
class CleanResult:
    text: str
    lang: str = ""
    lang_score: float = 0.0
    signals: dict[str, float] = field(default_factory=dict)
    drop_reason: str | None = None
    pii: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PII_TYPES, 0))

    @property
    def kept(self) -> bool:
        return self.drop_reason is None


def _lang_reason(lang: str, score: float, cfg: CleanConfig) -> str | None:
    if cfg.languages and lang not in cfg.languages:
        return "lang_not_allowed"
    if score < cfg.min_lang_score:
        return "lang_low_score"
    return None


def _quality_stages(res: CleanResult, url: str | None, cfg: CleanConfig) -> str | None:
    """URL, Gopher, C4 and FineWeb stages; updates ``res`` and returns the drop reason."""
    sig = res.signals
    if cfg.url.enabled:
        url_sig = url_signals(url, cfg.url)
        sig.update(url_sig)
        if reason := url_reason(url_sig):
            return reason
    stats = TextStats(res.text)
    if cfg.gopher_quality.enabled:
        gq = gopher_quality_signals(stats, cfg.gopher_quality)
        sig.update(gq)
        if reason := gopher_quality_reason(gq, cfg.gopher_quality):
            return reason
    if cfg.gopher_repetition.enabled:
        gr = gopher_repetition_signals(stats, cfg.gopher_repetition)
        sig.update(gr)
        if reason := gopher_repetition_reason(gr, cfg.gopher_repetition):
            return reason
    if cfg.c4.enabled:
        stats, c4 = c4_clean_stats(stats, cfg.c4, res.lang)
        res.text = stats.text
        c4["c4_chars"] = stats.n_chars
        sig.update(c4)
        if reason := c4_reason(c4, cfg.c4):
            return reason
    if cfg.fineweb.enabled:
        fw = fineweb_signals(stats, cfg.fineweb)
        sig.update(fw)
        return fineweb_reason(fw, cfg.fineweb)
    return None if res.text else "empty_text"


def clean_document(
    raw: str | None, content_type: str | None, url: str | None, cfg: CleanConfig | None
) -> CleanResult:
    """Clean one raw document (``cfg=None`` uses the defaults); never raises on bad text."""
    cfg = cfg or DEFAULT_CONFIG
    raw = raw or ""
    res = CleanResult(text=normalize(extract(raw, content_type)))
    res.signals.update(raw_chars=len(raw), text_chars=len(res.text))
    if not res.text:
        res.drop_reason = "empty_text"
        return res
    res.lang, res.lang_score = detect_language(res.text, cfg.lang_max_chars)
    res.signals["lang_score"] = res.lang_score
    res.drop_reason = _lang_reason(res.lang, res.lang_score, cfg) or _quality_stages(res, url, cfg)
    if res.drop_reason is None and cfg.pii.enabled:
        res.text, res.pii = redact_pii(res.text, cfg.pii)
    return res
