"""Word tokenizer and sentence counter shaped after spaCy's blank English pipeline.

This module owns :func:`split_words` and :func:`count_sentences`. datatrove's Gopher, C4
and FineWeb filters count words, n-grams and sentences with spaCy's English tokenizer and
rule-based sentencizer; one regular expression reproduces that tokenizer's rules closely
enough for the filters to agree, at a fraction of its cost:

* whitespace separates chunks; within a chunk, *prefix* punctuation (opening brackets,
  quotes, ``$``, ``#`` ...) splits off the front and *suffix* punctuation (closing
  brackets, quotes, ``,`` ``:`` ``!`` ``?``, ``'s``, and ``.`` after a lowercase letter,
  a digit or two capitals) off the back, one token each;
* inside a chunk only *infixes* split: ``-`` and ``/`` ``:`` ``=`` between a letter or
  digit and a letter (``well-known``), ``,`` between letters, ``-`` ``+`` between digits,
  ``.`` between a lowercase letter and a capital, ellipses; everything else stays in one
  token (``COVID-19``, ``3.2.1``, ``1,299.00``, ``10:30``, ``cargo::build``, ``--help``);
* special cases: ``don't`` -> ``do`` ``n't``; ``Mr.``, ``U.S.``, ``e.g.``, ``A.`` keep their
  period; URLs and e-mail addresses stay whole.
* chunks longer than 300 characters (blobs, rows of symbols) are split into runs of letters
  and digits and single symbols, so that the cost stays linear in the text's length.

A sentence ends at a ``.``, ``!`` or ``?`` token (or another script's terminal mark) that a
non-punctuation token follows, as in spaCy's sentencizer; ``...``, ``Mr.`` and ``U.S.`` end
none.

Example::

    >>> from etl.clean.words import count_sentences, split_words
    >>> split_words("Don't panic: it's 3.2.1 -- Mr. Smith's plan!")
    ['Do', "n't", 'panic', ':', 'it', "'s", '3.2.1', '--', 'Mr.', 'Smith', "'s", 'plan', '!']
    >>> split_words("A well-known (COVID-19) cargo::build, U.S.-made.")
    ['A', 'well', '-', 'known', '(', 'COVID-19', ')', 'cargo::build', ',', 'U.S.-made', '.']
    >>> count_sentences(split_words("Mr. Smith left. He came back! Really... yes."))
    3
"""

from __future__ import annotations

import re
import unicodedata

# Abbreviations spaCy's English tokenizer keeps whole with their period, so the period
# neither becomes a token of its own nor ends a sentence there.
_ABBREVIATIONS = (
    *("Mr", "Mrs", "Ms", "Dr", "Prof", "St", "Jr", "vs", "Inc", "Ltd", "Co", "Corp"),
    *("Gen", "Gov", "Sen", "Rep", "Rev", "Mt"),
    *("Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Sept", "Oct", "Nov", "Dec"),
    *("Ala", "Ariz", "Calif", "Colo", "Conn", "Fla", "Ga", "Ill", "Ind", "Kan", "Ky", "La"),
    *("Md", "Mass", "Mich", "Minn", "Miss", "Mo", "Neb", "Nev", "Okla", "Ore", "Pa", "Tenn"),
    *("Va", "Wash", "Wis"),
)

_LOWER = "a-zß-öø-ÿ"
_UPPER = "A-ZÀ-ÖØ-Þ"
# Symbols (arrows, box drawing, shapes, dingbats, emoji) that spaCy splits off anywhere.
_ICONS = "©®°\u2190-\u21ff\u2300-\u23ff\u2500-\u25ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff"
_QUOTES = "'\"`‘’‚‛“”„‟«»"
# Characters that split off the front / the back of a chunk.
_PREFIX_CHARS = re.escape("!#$%&()*,:;<=>?[]_{}…—–·€£¥§¿¡") + _QUOTES + _ICONS
_SUFFIX_CHARS = re.escape("!#&()*,:;<>?[]_{}…—–·") + _QUOTES + _ICONS
_PUNCT = re.escape("!#&()*,:;<>?[]_{}…—–·%²+-") + _QUOTES

# Units split off a number ("10km" -> "10" "km").
_UNITS = "|".join(
    (
        *("km", "cm", "mm", "nm", "µm", "m", "mi", "ft", "yd", "in", "ha", "kg", "mg", "µg"),
        *("g", "lb", "oz", "t", "ml", "l", "mph", "kmh", "km/h", "m/s", "hPa", "Pa", "mbar"),
        *("kb", "KB", "mb", "MB", "gb", "GB", "tb", "TB", "K", "M", "G", "T"),
    )
)

# One suffix unit, and "the rest of the chunk is suffixes only". Patterns below apply to
# one whitespace-free chunk, so the chunk's end is the string's end.
_SUFFIX = (
    r"['’](?:[sSmMdD]|re|ve|ll|RE|VE|LL)|\.\.+|…"
    rf"|(?<=[{_LOWER}0-9{_PUNCT}])\.|(?<=[{_UPPER}][{_UPPER}])\."
    rf"|(?<=[0-9])(?:[$%+€£¥]|{_UNITS})|[{_SUFFIX_CHARS}]"
)
_SUFFIX_ZONE = rf"(?:{_SUFFIX})*\Z"
_INFIX = (
    r"\.\.+|…"
    r"|(?<=[^\W\d_]),(?=[^\W\d_])"
    r"|(?<=[^\W_])(?:-{1,3}|[–—~])(?=[^\W\d_])"
    r"|(?<=[^\W_])[/:<>=](?=[^\W\d_])"
    r"|(?<=[0-9])[-+*^](?=[0-9-])"
    rf"|(?<=[{_LOWER}0-9])\.(?=[{_UPPER}])"
    rf"|[{_ICONS}]"
)
_AT_CORE_START = rf"(?<![^{_PREFIX_CHARS}])"

_CHUNK_TOKEN = re.compile(
    # URL / e-mail address: whole, trailing punctuation apart.
    r"(?:https?://|www\.)[^<>\"'()\[\]{}]*[^<>\"'()\[\]{}.,;:!?]"
    r"|[\w.+-]+@\w[\w-]*(?:\.[\w-]+)*\.[^\W\d_]{2,}"
    # Abbreviations that keep their period: "Mr.", "U.S.", "e.g.", "a.".
    rf"|{_AT_CORE_START}(?:(?:{'|'.join(_ABBREVIATIONS)})\.|(?:[^\W\d_]\.){{2,}}"
    rf"|[{_LOWER}]\.|and/or)"
    rf"(?={_SUFFIX_ZONE})"
    # Prefix punctuation at the start of the chunk ("+" only when no number follows).
    rf"|(?<![^{_PREFIX_CHARS}.])(?:\.\.+|[{_PREFIX_CHARS}]|\+(?!\d))"
    # "do" + "n't".
    rf"|[^\W_]+?(?=n['’]t(?:{_SUFFIX})*\Z)|n['’]t(?=(?:{_SUFFIX})*\Z)"
    # A number before a unit ("10" of "10km").
    rf"|[0-9]+(?=(?:{_UNITS})(?:{_SUFFIX})*\Z)"
    # Suffix punctuation at the end of the chunk, then infix punctuation inside it.
    rf"|(?:{_SUFFIX})(?={_SUFFIX_ZONE})"
    rf"|{_INFIX}"
    # The core: letters and digits, and any other character that neither starts the
    # suffix zone nor is an infix.
    rf"|(?:[^\W_]+|(?!{_SUFFIX_ZONE}|{_INFIX})(?:\W|_))+"
)
# Chunks longer than this (base64 blobs, rows of punctuation) are split with a simple linear
# pattern: the full one backtracks quadratically on long runs of suffix characters.
_MAX_CHUNK = 300
_LINEAR_TOKEN = re.compile(r"(?:https?://|www\.)\S+|[^\W_]+|[^\w\s]|_")
# Chunks ending in one of these after a plain word split into the word and the mark.
_PLAIN_SUFFIX = frozenset(",;:!?)]}\"'")
_KEEP_PERIOD = frozenset(_ABBREVIATIONS)
# Plain words spaCy splits in two.
_SPLIT_WORDS = {"cannot": ("can", "not"), "Cannot": ("Can", "not"), "CANNOT": ("CAN", "NOT")}

# Tokens after which spaCy's sentencizer starts a new sentence (at the next word).
_TERMINAL_TOKENS = frozenset(".!?。！？।؟۔．｡‼⁇⁈⁉‽")


def _period_splits(word: str) -> bool:
    """Whether the "." after a plain ``word`` is a token of its own (see module doc)."""
    last = word[-1]
    if last.isupper():
        return len(word) > 1 and word[-2].isupper()
    if len(word) == 1 and last.islower():
        return False  # "a." is an abbreviation
    return word not in _KEEP_PERIOD


def split_words(text: str) -> list[str]:
    """Split ``text`` into word and punctuation tokens (no whitespace tokens).

    Most chunks are a plain word, or a plain word and one mark; only the rest go through
    the full regular expression, which costs several times more per character.
    """
    out: list[str] = []
    append = out.append
    for chunk in text.split():
        if chunk.isalnum():
            if chunk[0].isdigit() and not chunk.isdigit():
                out.extend(_CHUNK_TOKEN.findall(chunk))  # "10km" splits, "2nd" does not
            elif chunk in _SPLIT_WORDS:
                out.extend(_SPLIT_WORDS[chunk])
            else:
                append(chunk)
            continue
        word, last = chunk[:-1], chunk[-1]
        if (
            word.isalnum()
            and (word.isdigit() or not word[0].isdigit())
            and (last in _PLAIN_SUFFIX or (last == "." and _period_splits(word)))
        ):
            append(word)
            append(last)
        elif len(chunk) <= _MAX_CHUNK:
            out.extend(_CHUNK_TOKEN.findall(chunk))
        else:
            out.extend(_LINEAR_TOKEN.findall(chunk))
    return out


def _is_punct(token: str) -> bool:
    return all(unicodedata.category(c)[0] == "P" for c in token)


def count_sentences(tokens: list[str]) -> int:
    """Count sentences in a token list the way spaCy's rule-based sentencizer does.

    A new sentence starts at the first non-punctuation token after a terminal token.
    """
    if not tokens:
        return 0
    n, after_terminal = 1, False
    for tok in tokens:
        if tok in _TERMINAL_TOKENS:
            after_terminal = True
        elif after_terminal and (tok[0].isalnum() or not _is_punct(tok)):
            n += 1
            after_terminal = False
    return n
