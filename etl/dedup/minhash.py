"""MinHash signatures and LSH band hashes for near-duplicate detection (pure numpy).

This module owns the per-document half of near-duplicate detection; the pairing and
clustering of documents happen in Spark (:mod:`etl.dedup.components`). It provides:

* :func:`normalize_for_dedup` - the text form that dedup compares: NFKC, lower case,
  punctuation/symbols replaced by spaces, invisible format characters removed, whitespace
  collapsed (exact dedup hashes the same form);
* :func:`shingles` - the set of word 5-gram shingles of that form, each hashed to 64 bits
  (the n-gram's words' xxh3 hashes combined), as a sorted ``uint64`` array;
* :class:`MinHasher` - ``bands * rows`` universal hash functions ``(a*x + b) mod (2**61-1)``
  evaluated exactly in numpy, the per-document signature (the minimum of each function
  over the shingles), and the per-band hashes that LSH groups documents by;
* :func:`exact_jaccard` for verifying candidate pairs, and :func:`batch`, the shape an
  Arrow batch UDF wants (band hashes as an ``(n, bands)`` array, shingle sets on request).

Everything is deterministic across processes and machines: xxh3 runs with seed 0 (nothing
uses Python's salted ``hash``), the hash parameters come from
``numpy.random.default_rng(seed)``, and band bytes are little-endian.

Example::

    >>> from etl.dedup.minhash import MinHasher, batch, shingles
    >>> hasher = MinHasher(bands=14, rows=8, seed=1)
    >>> text = " ".join(f"word{i}" for i in range(300))
    >>> a = hasher.signature(shingles(text))
    >>> b = hasher.signature(shingles(text.replace("word150", "other")))
    >>> 0.9 < hasher.jaccard_estimate(a, b) <= 1.0
    True
    >>> bool((hasher.band_hashes(a) == hasher.band_hashes(b)).any())
    True
    >>> batch([text, ""], hasher)["band_hashes"].shape
    (2, 14)
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import xxhash

# Band hashes stored in the lake are only comparable within one version: bump it whenever
# shingles, signatures or band hashes change, and the dedup stage rebuilds gold.
VERSION = 2
MERSENNE_PRIME = (1 << 61) - 1
# Signature value of a document without shingles: above every real value (< p).
EMPTY_VALUE = np.uint64(np.iinfo(np.uint64).max)

_U64 = np.uint64
_P = _U64(MERSENNE_PRIME)
_LOW31 = _U64((1 << 31) - 1)
# Rows x permutations per kernel call (1 MB per operand): measured fastest for 112
# permutations; smaller chunks pay numpy's per-call cost, larger ones spill out of cache.
_CHUNK_ELEMENTS = 1 << 17


# ASCII punctuation, symbols and controls as spaces, as a bytes table: bytes.translate is a
# plain table lookup, several times faster than str.translate once a text has any
# non-ASCII character. Bytes >= 0x80 (parts of UTF-8 sequences) map to themselves.
_ASCII_STRIP = bytes(
    c if c >= 0x80 or chr(c).isalnum() or chr(c).isspace() else ord(" ") for c in range(256)
)
# Runs of non-ASCII characters that are neither word characters nor spaces: punctuation and
# symbols, but also combining marks, which belong to their words (Devanagari vowel signs).
_NON_ASCII_NON_WORD = re.compile(r"[^\w\s\x00-\x7f]+")


@functools.lru_cache(maxsize=8192)
def _replacement(char: str) -> str:
    category = unicodedata.category(char)
    if category == "Cf":  # invisible format characters (soft hyphen, ZWSP) sit inside words
        return ""
    if category[0] in "PS" or category == "Cc":
        return " "
    return char


def _replace(match: re.Match[str]) -> str:
    return "".join(map(_replacement, match.group()))


def _words(text: str) -> list[str]:
    if not text.isascii():  # NFKC is the identity on ASCII, and costs a scan to find out
        text = unicodedata.normalize("NFKC", text)
    raw = text.lower().encode("utf-8", "surrogatepass").translate(_ASCII_STRIP)
    text = raw.decode("utf-8", "surrogatepass")
    if not text.isascii():
        text = _NON_ASCII_NON_WORD.sub(_replace, text)
    return text.split()


def normalize_for_dedup(text: str) -> str:
    """NFKC, lower case, punctuation and symbols as spaces, whitespace collapsed.

    >>> normalize_for_dedup("  Hello,\\tWORLD!! ﬁne\\u00ad-tuned ")
    'hello world fine tuned'
    """
    return " ".join(_words(text))


def shingles(text: str, ngram: int = 5) -> np.ndarray:
    """Sorted, distinct 64-bit hashes of the word ``ngram``-grams of the normalized text.

    A text of fewer than ``ngram`` words gives one shingle, the xxh3-64 of all of it (so a
    short document still matches its exact copies); an empty text gives none.

    >>> shingles("One two three four five six").size, shingles("Hi!").size, shingles("").size
    (2, 1, 0)
    """
    return shingles_of_words(_words(text), ngram)


# An n-gram's hash: its words' xxh3-64 hashes folded as a polynomial in _GRAM_BASE (mod
# 2**64), then mixed (the splitmix64 finalizer) so that no linear structure reaches the
# MinHash functions. Hashing each word once and combining in numpy is several times faster
# than joining and hashing every n-gram string.
_GRAM_BASE = _U64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = _U64(0xBF58476D1CE4E5B9), _U64(0x94D049BB133111EB)


def shingles_of_words(words: list[str], ngram: int = 5) -> np.ndarray:
    """:func:`shingles` of an already normalized word list."""
    if ngram < 1:
        raise ValueError(f"ngram must be >= 1, got {ngram}")
    if len(words) <= ngram:
        return np.array([xxhash.xxh3_64_intdigest(" ".join(words))] if words else [], _U64)
    w = np.fromiter(map(xxhash.xxh3_64_intdigest, words), dtype=_U64, count=len(words))
    n = len(words) - ngram + 1
    g = w[:n].copy()
    for j in range(1, ngram):
        g *= _GRAM_BASE
        g += w[j:j + n]
    g ^= g >> _U64(30)
    g *= _MIX1
    g ^= g >> _U64(27)
    g *= _MIX2
    g ^= g >> _U64(31)
    return np.unique(g)


def exact_jaccard(shingles_a: np.ndarray, shingles_b: np.ndarray) -> float:
    """|A ∩ B| / |A ∪ B| of two shingle sets; two empty sets count as identical (1.0)."""
    a, b = np.unique(shingles_a), np.unique(shingles_b)
    if a.size + b.size == 0:
        return 1.0
    common = np.intersect1d(a, b, assume_unique=True).size
    return common / (a.size + b.size - common)


def _to_field(x: np.ndarray) -> np.ndarray:
    """Any uint64 reduced to its canonical residue mod p."""
    x = (x & _P) + (x >> _U64(61))  # 2**61 = 1 (mod p); result <= p + 7
    # For x < p the subtraction wraps above p + 7, so the minimum is x itself.
    return np.minimum(x, x - _P)


class _Kernel:
    """Scratch buffers and tiled parameters for the exact ``(a*x + b) mod p`` evaluation.

    Values are split at bit 31: ``x = xh*2**31 + xl`` and ``a = ah*2**31 + al`` with
    ``xh, ah < 2**30`` and ``xl, al < 2**31``, so every partial product fits in 64 bits:
    ``a*x = ah*xh*2**62 + (ah*xl + al*xh)*2**31 + al*xl`` and, mod p, ``2**62 = 2`` and
    ``m*2**31 = (m >> 30) + (m mod 2**30)*2**31``. The sum of the five terms stays below
    ``5*2**61 + 2**32 < 2**64``; one fold and one conditional subtraction finish it. The
    parameters are tiled rather than broadcast because numpy runs a flat loop over
    contiguous operands about twice as fast as a broadcast 2-D loop.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        self.perms = a.size
        self.rows = max(1, _CHUNK_ELEMENTS // self.perms)
        ah, al = a >> _U64(31), a & _LOW31
        tiles = (np.tile(v, self.rows) for v in (ah * _U64(2), ah, al, b))
        self.ah2, self.ah, self.al, self.b = tiles
        self.t, self.m, self.w = (np.empty(self.rows * self.perms, _U64) for _ in range(3))

    def hash_rows(self, x: np.ndarray) -> np.ndarray:
        """``(len(x), perms)`` array of every hash function on every value (<= rows values)."""
        k = x.size * self.perms
        x = _to_field(x)
        xh, xl = np.repeat(x >> _U64(31), self.perms), np.repeat(x & _LOW31, self.perms)
        t, m, w = self.t[:k], self.m[:k], self.w[:k]
        np.multiply(self.ah2[:k], xh, out=t)
        np.multiply(self.ah[:k], xl, out=m)
        np.multiply(self.al[:k], xh, out=w)
        m += w
        np.right_shift(m, _U64(30), out=w)
        t += w
        m <<= _U64(31)  # the low 30 bits of m, shifted to bits 31..60 once masked
        m &= _P
        t += m
        np.multiply(self.al[:k], xl, out=w)
        t += w
        t += self.b[:k]
        np.right_shift(t, _U64(61), out=w)
        t &= _P
        t += w
        np.subtract(t, _P, out=w)
        np.minimum(t, w, out=t)
        return t.reshape(x.size, self.perms)


class MinHasher:
    """``bands * rows`` MinHash functions ``h(x) = (a*x + b) mod (2**61 - 1)`` and LSH banding.

    ``a`` is drawn from ``[1, p)`` and ``b`` from ``[0, p)`` by ``default_rng(seed)``, so the
    same ``(bands, rows, seed)`` gives the same signatures in every process. A signature is
    the minimum of each function over a document's shingles (:data:`EMPTY_VALUE` for a
    document without any); two documents share a band, and so become a candidate pair,
    with probability ``1 - (1 - J**rows)**bands`` for Jaccard similarity ``J``.
    Not thread-safe: the evaluation reuses scratch buffers (one hasher per thread).
    """

    def __init__(self, bands: int = 14, rows: int = 8, seed: int = 1) -> None:
        if bands < 1 or rows < 1:
            raise ValueError(f"bands and rows must be >= 1, got {bands} and {rows}")
        self.bands, self.rows, self.seed = int(bands), int(rows), int(seed)
        rng = np.random.default_rng(self.seed)
        self.a = rng.integers(1, MERSENNE_PRIME, size=self.num_perm, dtype=_U64)
        self.b = rng.integers(0, MERSENNE_PRIME, size=self.num_perm, dtype=_U64)
        self._kernel: _Kernel | None = None

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def threshold(self) -> float:
        """The Jaccard similarity where the candidate probability S-curve is steepest."""
        return (1.0 / self.bands) ** (1.0 / self.rows)

    def collision_probability(self, jaccard: float) -> float:
        """Probability that two documents with this Jaccard similarity share a band."""
        return 1.0 - (1.0 - jaccard**self.rows) ** self.bands

    def __getstate__(self) -> dict[str, int]:
        # Ship three ints to Spark workers, not megabytes of tiled parameters.
        return {"bands": self.bands, "rows": self.rows, "seed": self.seed}

    def __setstate__(self, state: dict[str, int]) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        return f"MinHasher(bands={self.bands}, rows={self.rows}, seed={self.seed})"

    @property
    def _k(self) -> _Kernel:
        if self._kernel is None:
            self._kernel = _Kernel(self.a, self.b)
        return self._kernel

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        """``(num_perm,)`` uint64: the minimum of each hash function over the shingles."""
        x = np.asarray(shingles, dtype=_U64).ravel()
        sig = np.full(self.num_perm, EMPTY_VALUE, dtype=_U64)
        step = self._k.rows
        for start in range(0, x.size, step):
            np.minimum(sig, self._k.hash_rows(x[start:start + step]).min(axis=0), out=sig)
        return sig

    def signatures(self, shingle_sets: Sequence[np.ndarray]) -> np.ndarray:
        """``(n, num_perm)`` uint64 signatures; small documents share one kernel call."""
        out = np.full((len(shingle_sets), self.num_perm), EMPTY_VALUE, dtype=_U64)
        group: list[int] = []
        size = 0
        for i, s in enumerate(shingle_sets):
            n = len(s)
            if n > self._k.rows:
                out[i] = self.signature(s)
                continue
            if n == 0:
                continue
            if size + n > self._k.rows:
                self._fill_group(out, shingle_sets, group)
                group, size = [], 0
            group.append(i)
            size += n
        self._fill_group(out, shingle_sets, group)
        return out

    def _fill_group(self, out: np.ndarray, sets: Sequence[np.ndarray], group: list[int]) -> None:
        if not group:
            return
        parts = [np.asarray(sets[i], dtype=_U64).ravel() for i in group]
        starts = np.cumsum([0] + [p.size for p in parts[:-1]])
        out[group] = np.minimum.reduceat(self._k.hash_rows(np.concatenate(parts)), starts, axis=0)

    def band_hashes(self, sig: np.ndarray) -> np.ndarray:
        """xxh3-64 of each band's values, seeded with the band index: ``(bands,)``, or
        ``(n, bands)`` for an ``(n, num_perm)`` array of signatures."""
        sig = np.asarray(sig)
        if sig.shape[-1:] != (self.num_perm,):
            raise ValueError(f"expected {self.num_perm} values per signature, got {sig.shape}")
        data = np.ascontiguousarray(sig, dtype="<u8").tobytes()
        width, bands = self.rows * 8, self.bands
        count = len(data) // width
        # The seed keeps equal values in different bands from giving equal band hashes.
        hashes = (xxhash.xxh3_64_intdigest(data[i * width:(i + 1) * width], seed=i % bands)
                  for i in range(count))
        return np.fromiter(hashes, dtype=_U64, count=count).reshape((*sig.shape[:-1], bands))

    def jaccard_estimate(self, sig_a: np.ndarray, sig_b: np.ndarray) -> float:
        """The fraction of hash functions on which the two signatures agree."""
        a, b = np.asarray(sig_a), np.asarray(sig_b)
        if a.shape != (self.num_perm,) or b.shape != a.shape:
            raise ValueError(f"expected two signatures of {self.num_perm} values, "
                             f"got {a.shape} and {b.shape}")
        return float(np.count_nonzero(a == b)) / self.num_perm


def batch(texts: Sequence[str | None], hasher: MinHasher, ngram: int = 5, *,
          with_shingles: bool = True, with_signatures: bool = False) -> dict:
    """Everything the LSH stage needs for a batch of texts (``None`` counts as empty).

    Returns ``band_hashes`` (``(n, bands)`` uint64; Spark wants them viewed as int64),
    ``num_shingles`` (``(n,)`` int32; documents with none share every band hash, so leave
    them out of banding), ``text_hashes`` (xxh3-128 hex of each normalized text: the exact
    dedup key), ``shingles`` (a list of uint64 arrays, for exact-Jaccard checks of
    candidate pairs) and, if asked, ``signatures``: the low 32 bits of each value, ``(n,
    num_perm)`` uint32 - half the storage, and still enough for
    :meth:`MinHasher.jaccard_estimate` (a false agreement has probability ``2**-32``).
    """
    words = [_words(t or "") for t in texts]
    sets = [shingles_of_words(w, ngram) for w in words]
    sigs = hasher.signatures(sets)
    out: dict = {
        "band_hashes": hasher.band_hashes(sigs),
        "num_shingles": np.array([s.size for s in sets], dtype=np.int32),
        # The exact-dedup key: xxh3-128 of the normalized text (see normalize_for_dedup).
        "text_hashes": [xxhash.xxh3_128_hexdigest(" ".join(w)) for w in words],
    }
    if with_shingles:
        out["shingles"] = sets
    if with_signatures:
        out["signatures"] = (sigs & _U64(0xFFFFFFFF)).astype(np.uint32)
    return out
