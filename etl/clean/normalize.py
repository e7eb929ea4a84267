"""Text normalization: repair encoding damage and make whitespace canonical.

This module owns :func:`normalize`, the step every extracted text goes through before
language ID and the quality filters. The result, in order of the steps:

1. ANSI terminal escapes removed; every line separator (``\\r\\n``, ``\\r``, form feed,
   vertical tab, ``\\x85``, U+2028/2029) becomes ``\\n``.
2. Control characters other than ``\\n`` and ``\\t`` removed, and invisible format
   characters that carry no meaning in running text (zero-width space, soft hyphen, BOM,
   bidi embeddings), and lone surrogates. Zero-width (non-)joiners stay: emoji and some
   scripts need them.
3. Mojibake repaired with ftfy (``fix_text``; HTML entities are left alone because the
   extractor already decoded them), only when the text contains a character pair that
   UTF-8 read as cp1252/latin-1/cp1251 produces, or a C1 control: ftfy's own detector
   costs about a millisecond per page, and clean text never needs it.
4. Latin ligatures and full-width forms folded (``ﬁ`` -> ``fi``, ``Ａ`` -> ``A``); curly
   quotes straightened, as ftfy does (C4's terminal punctuation rule knows only ``"`` and
   ``'``).
5. Whitespace: runs of spaces, tabs and other horizontal spaces become one space; lines
   are stripped; three or more newlines become two, so paragraphs are separated by exactly
   one blank line (what the Gopher paragraph rules split on) and lines inside a paragraph
   by a single newline; the text is stripped.
6. Unicode NFC.

The function is idempotent: ``normalize(normalize(t)) == normalize(t)``.

Example::

    >>> from etl.clean.normalize import normalize
    >>> raw = "  The caf\\u00c3\\u00a9\\u2019s  menu\\r\\n\\r\\n\\r\\n\\tﬁsh "
    >>> normalize(raw + "\\u201cdish\\u201d\\x00  ")
    'The café\\'s menu\\n\\nfish "dish"'
"""

from __future__ import annotations

import re
import unicodedata

import ftfy

_FTFY_CONFIG = ftfy.TextFixerConfig(
    unescape_html=False,
    fix_line_breaks=False,
    uncurl_quotes=True,
    normalization="NFC",
    explain=False,
)

_TERMINAL_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_LINE_BREAK = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
# Invisible format characters, and lone surrogates (left by lenient decoding; not text).
_INVISIBLE = (
    "\xad\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb\ud800-\udfff"
)
# C1 controls (U+0080-U+009F) stay until ftfy has had the chance to read them as cp1252.
_DROP_EXCEPT_C1 = re.compile(f"[\x00-\x08\x0e-\x1b\x1f\x7f{_INVISIBLE}]+")
_DROP = re.compile(f"[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f{_INVISIBLE}]+")
# A UTF-8 lead byte read as cp1252/latin-1 (Â..ô) followed by a continuation byte read the
# same way, a UTF-8 Cyrillic lead byte read as cp1251 (Р, С) followed by a continuation
# byte, or a raw C1 control: the only places ftfy can find something to fix.
_CP1252_PUNCT = "\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122"
_CP1252_HIGH = "\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc" + _CP1252_PUNCT
_CP1251_HIGH = "\u0401-\u040f\u0451-\u045f\u0490\u0491\u2116"
_MOJIBAKE_HINT = re.compile(
    f"[\xc2-\xf4][\x80-\xbf{_CP1252_HIGH}]"
    f"|[\u0420\u0421][\xa0-\xbf{_CP1251_HIGH}{_CP1252_PUNCT}]"
    "|[\x80-\x9f]"
)
_COMPAT_FORMS = re.compile("[\ufb00-\ufb06\uff01-\uffee]")
_SINGLE_QUOTES = re.compile("[\u2018-\u201b]")
_DOUBLE_QUOTES = re.compile("[\u201c-\u201f]")
# Runs of horizontal space other than a lone " ": matching every single space would
# rebuild the string at each one.
_HSPACE = "[ \t\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]"
_HORIZONTAL_SPACE = re.compile(
    f" {_HSPACE}+|[^\\S \n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]{_HSPACE}*"
)
_SPACE_AT_LINE_EDGE = re.compile(" \n ?|\n ")
_BLANK_LINES = re.compile(r"\n{3,}")
_MAX_PASSES = 4


def _compat_char(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group())


def _has_invisible(text: str) -> bool:
    """Whether ``text`` has a control, format or separator character other than \\n, \\t, " "."""
    # Two C-speed scans instead of two regex passes: almost no page has any.
    return not text.replace("\n", "").replace("\t", "").isprintable()


def _normalize_once(text: str) -> str:
    if "\x1b" in text:
        text = _TERMINAL_ESCAPE.sub("", text)
    if _has_invisible(text):
        text = _DROP_EXCEPT_C1.sub("", _LINE_BREAK.sub("\n", text))
    if not text.isascii():
        if _MOJIBAKE_HINT.search(text):
            text = ftfy.fix_text(text, _FTFY_CONFIG)
            # ftfy may decode bytes into line separators or controls: clean those again.
            text = _DROP.sub("", _LINE_BREAK.sub("\n", text))
        text = _COMPAT_FORMS.sub(_compat_char, text)
        text = _DOUBLE_QUOTES.sub('"', _SINGLE_QUOTES.sub("'", text))
    text = _HORIZONTAL_SPACE.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", _SPACE_AT_LINE_EDGE.sub("\n", text)).strip()
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    return text


def normalize(text: str) -> str:
    """Return the repaired, whitespace-canonical NFC form of ``text`` (idempotent)."""
    out = _normalize_once(text)
    # ftfy judges mojibake by neighbouring characters, and steps after it (folding, quote
    # straightening) can create a new suspicious pair; repeat until nothing changes so
    # that normalizing twice is a no-op. Clean text never enters the loop.
    for _ in range(_MAX_PASSES):
        if out.isascii() or not _MOJIBAKE_HINT.search(out):
            break
        again = _normalize_once(out)
        if again == out:
            break
        out = again
    return out
