"""The synonym table EDA's replacement and insertion draw from: word -> synonyms.

Nothing is downloaded: the table comes from the corpus itself or from the user.

* ``embedding``: nearest neighbours in the model's token-embedding space. Byte-level BPE
  marks a word's leading space (``Ġcat``), so the tokens that are ``Ġ`` plus lowercase
  letters are whole words; each word of the edited texts that is one gets the
  ``neighbours`` words whose embedding rows are nearest by cosine, above
  ``min_similarity``, among those seen whole in the input (such a token may also begin a
  longer word: ``Ġblasphe``).
* ``cooccurrence``: the same search over PPMI context vectors of the input texts (counts of
  the words within two places, positive pointwise mutual information with the context
  distribution smoothed by 0.75, Levy et al. 2015). Words used alike come out near, which
  finds antonyms as readily as synonyms: the price of mining meaning from counts.
* ``file``: TSV ``word<TAB>syn1,syn2`` (``#`` starts a comment) or JSON
  ``{"word": ["syn1", ...]}``.

Mined tables leave out a short list of function words (:data:`STOP_WORDS`), as EDA does:
swapping "the" for "a" teaches nothing. Keys are lowercase; no word is its own synonym.

Example::

    >>> texts = ["the cat sat on the mat", "the dog sat on the mat",
    ...          "a cat ran to the park", "a dog ran to the park"] * 3
    >>> cooccurrence_synonyms(texts, neighbours=1, min_similarity=0.5)["cat"]
    ['dog']
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from llmlake.stage import StageError

Table = dict[str, list[str]]

_STOP = (
    "a an the and or but if of to in on at by for with from as into onto about above below "
    "over under after before between through during until while because so than then "
    "there here up down out off again once is are was were be been being am it its this "
    "that these those he she they we you i me my mine our ours your yours his her hers "
    "their theirs them him us itself not no nor only own same too very just also all any "
    "both each few more most other some such what which who whom whose how when where why "
    "do does did doing has have had having will would can could should may might must "
    "shall")
STOP_WORDS = frozenset(_STOP.split())
WORD_PREFIX = "\u0120"  # byte-level BPE's mark of a leading space
_WORDS = re.compile(r"[a-z]+")
WINDOW = 2          # context: the words within two places either side
MIN_COUNT = 2       # a word seen once has no context to compare
MAX_VOCAB = 4000    # the most frequent words: a dense PPMI matrix stays under 64 MB
SMOOTHING = 0.75    # context-distribution smoothing (Levy et al. 2015)
BLOCK = 512         # key rows compared at once


def words_of(texts: Iterable[str]) -> list[list[str]]:
    """Each text's lowercase words of letters only."""
    return [_WORDS.findall(t.lower()) for t in texts]


def nearest(keys: list[str], key_vecs: np.ndarray, cands: list[str], cand_vecs: np.ndarray,
            neighbours: int, min_similarity: float) -> Table:
    """For each key, up to ``neighbours`` candidates (not itself) by cosine, best first,
    above ``min_similarity``; keys with none are left out."""
    def unit(m: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(m, axis=1, keepdims=True)
        return m / np.where(norms > 0, norms, 1)

    key_vecs, cand_vecs = unit(key_vecs.astype(np.float32)), unit(cand_vecs.astype(np.float32))
    cand_index = {w: j for j, w in enumerate(cands)}
    table: Table = {}
    for start in range(0, len(keys), BLOCK):
        sims = key_vecs[start:start + BLOCK] @ cand_vecs.T  # (block, candidates)
        for r, key in enumerate(keys[start:start + BLOCK]):
            row = sims[r]
            if key in cand_index:
                row[cand_index[key]] = -np.inf
            order = np.argsort(-row, kind="stable")[:neighbours]
            found = [cands[j] for j in order if row[j] >= min_similarity]
            if found:
                table[key] = found
    return table


def embedding_words(vocab: dict[str, int]) -> dict[str, int]:
    """The tokens that are whole lowercase words (``Ġcat``): word -> token id."""
    words = {}
    for token, token_id in vocab.items():
        word = token[1:]
        if (token.startswith(WORD_PREFIX) and len(word) > 1 and word.isascii()
                and word.isalpha() and word.islower() and word not in STOP_WORDS):
            words[word] = token_id
    return dict(sorted(words.items()))


def embedding_synonyms(weights: Any, vocab: dict[str, int], texts: Iterable[str],
                       neighbours: int, min_similarity: float,
                       corpus: Iterable[str] | None = None) -> Table:
    """Synonyms of the words of ``texts`` from the embedding rows ``weights`` (vocab x dim,
    a tensor or array) of the tokenizer's ``vocab`` (token -> id), chosen among the words
    seen whole in ``corpus`` (default: ``texts``)."""
    words = embedding_words(vocab)
    texts = list(texts)
    keys = sorted({w for doc in words_of(texts) for w in doc} & words.keys())
    # A Ġ token may also begin a longer word (Ġblasphe): offer only words seen whole.
    cands = sorted({w for doc in words_of(texts if corpus is None else corpus) for w in doc}
                   & words.keys())
    if not keys or not cands:
        return {}
    matrix = np.asarray(weights.detach().cpu().float() if hasattr(weights, "detach")
                        else weights)
    return nearest(keys, matrix[[words[k] for k in keys]], cands,
                   matrix[[words[c] for c in cands]], neighbours, min_similarity)


def ppmi(docs: list[list[str]], vocab: list[str]) -> np.ndarray:
    """PPMI of each vocab word (rows) with each vocab word within :data:`WINDOW` places."""
    index = {w: i for i, w in enumerate(vocab)}
    n = len(vocab)
    pairs = []
    for doc in docs:
        ids = np.array([index.get(w, -1) for w in doc], dtype=np.int64)
        for off in range(1, WINDOW + 1):
            a, b = ids[:-off], ids[off:]
            both = (a >= 0) & (b >= 0)
            pairs += [a[both] * n + b[both], b[both] * n + a[both]]
    flat = np.concatenate(pairs) if pairs else np.zeros(0, dtype=np.int64)
    counts = np.bincount(flat, minlength=n * n).reshape(n, n).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return np.zeros((n, n), dtype=np.float32)
    p_word = counts.sum(axis=1) / total
    smoothed = counts.sum(axis=0) ** SMOOTHING
    p_context = smoothed / smoothed.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(counts / total / np.outer(p_word, p_context))
    return np.where(counts > 0, np.maximum(pmi, 0), 0).astype(np.float32)


def cooccurrence_synonyms(texts: Iterable[str], neighbours: int,
                          min_similarity: float) -> Table:
    """Synonyms by cosine over PPMI context vectors of ``texts`` (see the module doc)."""
    docs = words_of(texts)
    counts = Counter(w for doc in docs for w in doc)
    vocab = [w for w, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
             if c >= MIN_COUNT][:MAX_VOCAB]
    if not vocab:
        return {}
    vectors = ppmi(docs, vocab)
    content = [i for i, w in enumerate(vocab) if w not in STOP_WORDS and len(w) > 1]
    words = [vocab[i] for i in content]
    return nearest(words, vectors[content], words, vectors[content], neighbours,
                   min_similarity)


def read_synonyms(path: str) -> Table:
    """The table in a TSV or JSON file; a :class:`StageError` naming
    ``augment.synonyms_file`` when it cannot be one."""
    key = "augment.synonyms_file"
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StageError(f"{key}: cannot read {path}: {exc}") from exc
    if file.suffix == ".json" or text.lstrip().startswith("{"):
        raw = _json_table(text, f"{key}: {path}")
    else:
        raw = _tsv_table(text, f"{key}: {path}")
    table: Table = {}
    for word, synonyms in raw.items():  # "Cat" and "cat" are one key
        word = word.strip().lower()
        merged = table.get(word, []) + [s for s in synonyms if s and s.lower() != word]
        if word and merged:
            table[word] = list(dict.fromkeys(merged))
    if not table:
        raise StageError(f"{key}: {path} holds no synonyms")
    return table


def _json_table(text: str, where: str) -> dict[str, list[str]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise StageError(f"{where}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict) or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in data.values()):
        raise StageError(f"{where}: JSON must be an object of word -> list of synonyms")
    return {k: [s.strip() for s in v] for k, v in data.items()}


def _tsv_table(text: str, where: str) -> dict[str, list[str]]:
    raw: dict[str, list[str]] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        word, tab, rest = line.partition("\t")
        synonyms = [s.strip() for s in rest.split(",") if s.strip()]
        if not tab or not word.strip() or not synonyms:
            raise StageError(f"{where}: line {n}: expected word<TAB>synonym,synonym")
        raw.setdefault(word, []).extend(synonyms)
    return raw


def table_signals(table: Table, source: str) -> dict[str, Any]:
    """What the report says of a table: its source, words and synonym pairs."""
    return {"source": source, "words": len(table),
            "pairs": sum(len(v) for v in table.values())}
