"""EDA's four word edits (Wei & Zou 2019): synonym replacement, random insertion, random
swap and random deletion, each making ``n = max(1, round(alpha * words))`` edits.

A word is a run of non-space characters; the spaces and line breaks between words are kept
where they are, so a prompt's layout survives its edits. A word is looked up in the synonym
table by its letters, lowercased (``"Cats,"`` -> ``cats``); a replacement keeps the word's
punctuation and capitalisation. Deletion never removes a text's last word. Every edit draws
from the ``random.Random`` it is given, so a seed fixes it.

Example::

    >>> import random
    >>> table = {"quick": ["fast"], "dog": ["hound"]}
    >>> edit("The quick fox saw the Dog.", "synonym", 0.3, table, random.Random(0))
    'The fast fox saw the Hound.'
    >>> edit("one two three four", "delete", 0.25, table, random.Random(1))
    'one three four'
    >>> sorted(edit("a b c d", "swap", 0.25, table, random.Random(1)).split())
    ['a', 'b', 'c', 'd']
"""

from __future__ import annotations

import random
import re

EDA_METHODS = ("synonym", "insert", "swap", "delete")
_WORD = re.compile(r"\S+")
# Leading punctuation, the letters looked up, trailing punctuation: "(Cats)," -> "(", "Cats", "),".
_PARTS = re.compile(r"^([^\w]*)([A-Za-z]+)([^\w]*)$")

Table = dict[str, list[str]]


def split(text: str) -> tuple[list[str], list[str]]:
    """Words and the gaps around them: ``text == gaps[0] + words[0] + gaps[1] + ... +
    words[-1] + gaps[-1]`` (``len(gaps) == len(words) + 1``; the outer gaps may be empty)."""
    return _WORD.findall(text), _WORD.split(text)


def join(words: list[str], gaps: list[str]) -> str:
    return gaps[0] + "".join(w + g for w, g in zip(words, gaps[1:], strict=True))


def edits(n_words: int, alpha: float) -> int:
    """EDA's count of edits for a text of ``n_words`` words."""
    return max(1, round(alpha * n_words))


def key_of(word: str) -> str | None:
    """The table key of a word (its letters, lowercased), None for a word of other
    characters (numbers, contractions, symbols)."""
    m = _PARTS.match(word)
    return m.group(2).lower() if m else None


def _with_case(like: str, word: str) -> str:
    if like.isupper() and len(like) > 1:
        return word.upper()
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def replace_synonyms(words: list[str], n: int, table: Table, rng: random.Random) -> list[str]:
    """Up to ``n`` words that have synonyms, each replaced by one of them."""
    out = list(words)
    candidates = [i for i, w in enumerate(words) if table.get(key_of(w) or "")]
    rng.shuffle(candidates)
    for i in candidates[:n]:
        pre, core, post = _PARTS.match(words[i]).groups()
        out[i] = pre + _with_case(core, rng.choice(table[core.lower()])) + post
    return out


def insert_synonyms(words: list[str], gaps: list[str], n: int, table: Table,
                    rng: random.Random) -> tuple[list[str], list[str]]:
    """``n`` times: a synonym of a random word that has one, put at a random place."""
    words, gaps = list(words), list(gaps)
    keys = [k for w in words if table.get(k := key_of(w) or "")]
    for _ in range(n if keys else 0):
        synonym = rng.choice(table[rng.choice(keys)])
        at = rng.randint(0, len(words))
        words.insert(at, synonym)
        gaps.insert(at + 1 if at < len(words) - 1 else at, " ")
    return words, gaps


def swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    """``n`` swaps of two words at random places (the same words, reordered)."""
    words = list(words)
    for _ in range(n if len(words) > 1 else 0):
        i, j = rng.sample(range(len(words)), 2)
        words[i], words[j] = words[j], words[i]
    return words


def delete(words: list[str], gaps: list[str], n: int,
           rng: random.Random) -> tuple[list[str], list[str]]:
    """``n`` words removed at random, with a gap each, never the last word left."""
    words, gaps = list(words), list(gaps)
    for i in sorted(rng.sample(range(len(words)), min(n, len(words) - 1)), reverse=True):
        del gaps[i + 1 if i < len(words) - 1 else i]
        del words[i]
    return words, gaps


def edit(text: str, method: str, alpha: float, table: Table, rng: random.Random) -> str:
    """``text`` after one EDA ``method``; unchanged when it has nothing to edit."""
    words, gaps = split(text)
    if not words:
        return text
    n = edits(len(words), alpha)
    if method == "synonym":
        words = replace_synonyms(words, n, table, rng)
    elif method == "insert":
        words, gaps = insert_synonyms(words, gaps, n, table, rng)
    elif method == "swap":
        words = swap(words, n, rng)
    elif method == "delete":
        words, gaps = delete(words, gaps, n, rng)
    else:
        raise ValueError(f"augment.methods: {method} is no EDA edit ({', '.join(EDA_METHODS)})")
    return join(words, gaps)
