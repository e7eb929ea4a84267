"""MinHash and LSH banding (etl.dedup.minhash): normalization, shingles, exact arithmetic, agreement
with datasketch, the LSH S-curve, determinism and throughput. No Spark."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import xxhash
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.dedup.minhash import (
    EMPTY_VALUE,
    MERSENNE_PRIME,
    MinHasher,
    _Kernel,
    batch,
    exact_jaccard,
    normalize_for_dedup,
    shingles,
)

P = MERSENNE_PRIME
ROOT = Path(__file__).resolve().parents[3]
HASHER = MinHasher()  # 14 bands x 8 rows, seed 1: the defaults the stage uses
HINDI = "\u0939\u093f\u0928\u094d\u0926\u0940"


def _reference_normalize(text: str) -> str:
    """Character by character, the rules normalize_for_dedup documents."""
    out = []
    for char in unicodedata.normalize("NFKC", text).lower():
        category = unicodedata.category(char)
        if category == "Cf":
            continue
        out.append(" " if category[0] in "PS" or category == "Cc" else char)
    return " ".join("".join(out).split())


def _words(n: int, seed: int, prefix: str = "w") -> list[str]:
    """n distinct words, so no n-gram repeats and n words give n - 4 distinct 5-grams."""
    order = np.random.default_rng(seed).permutation(10 * n)[:n]
    return [f"{prefix}{i}" for i in order]


def _pair(jaccard: float, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two random shingle sets whose union has ``size`` elements and the given Jaccard."""
    values = np.unique(rng.integers(0, 2**64, size=size + 16, dtype=np.uint64))[:size]
    values = rng.permutation(values)
    common = round(jaccard * size)
    rest = values[common:]
    half = rest.size // 2
    return (np.concatenate([values[:common], rest[:half]]),
            np.concatenate([values[:common], rest[half:]]))


@pytest.mark.parametrize(("raw", "expected"), [
    ("Hello,   WORLD!\n\tBye.", "hello world bye"),
    ("snake_case and kebab-case", "snake case and kebab case"),
    ("\uff28\uff45\uff4c\uff4c\uff4f \ufb01sh \u2460", "hello fish 1"),  # NFKC
    ("soft\u00adhyphen zero\u200bwidth", "softhyphen zerowidth"),  # Cf removed
    ("\u201cquoted\u201d \u2014 \u00a9 2024 \U0001f600 $5", "quoted 2024 5"),  # P and S out
    ("caf\u0065\u0301 Stra\u00dfe \u0130", "caf\u00e9 stra\u00dfe i\u0307"),
    # combining vowel signs and virama stay in their word; the danda (Po) goes
    (HINDI + "\u0964 \u0905", HINDI + " \u0905"),
    ("", ""), ("  \n\t ", ""), ("!!! ...", ""),
])
def test_normalize_cases(raw: str, expected: str) -> None:
    assert normalize_for_dedup(raw) == expected


@settings(max_examples=1500, deadline=None)
@given(st.text())
def test_normalize_matches_reference_and_is_idempotent(text: str) -> None:
    # The ASCII byte table and the non-ASCII pattern must add up to the documented rules.
    once = normalize_for_dedup(text)
    assert once == _reference_normalize(text)
    assert normalize_for_dedup(once) == once


def test_shingle_counts_and_short_documents() -> None:
    words = _words(300, seed=0)
    assert shingles(" ".join(words)).size == 296
    assert shingles(" ".join(words), ngram=3).size == 298
    assert shingles(" ".join(words[:3] * 50)).size == 3  # "a b c a b", "b c a b c", "c a b c a"
    short = shingles("Just three words!")
    assert short.tolist() == [xxhash.xxh3_64_intdigest("just three words")]
    assert shingles("five words exactly right here").size == 1
    empty = shingles(" ,.; ")
    assert empty.size == 0 and empty.dtype == np.uint64
    s = shingles(" ".join(words))
    assert s.dtype == np.uint64 and np.all(np.diff(s.astype(object)) > 0)  # sorted, distinct
    with pytest.raises(ValueError, match="ngram"):
        shingles("a b", ngram=0)


def test_shingles_fold_case_punctuation_and_whitespace() -> None:
    words = _words(40, seed=1)
    plain = " ".join(words)
    noisy = "  ".join(w.upper() + ("," if i % 3 else ".\n") for i, w in enumerate(words))
    assert np.array_equal(shingles(plain), shingles(noisy))
    assert not np.array_equal(shingles(plain), shingles(" ".join(words[::-1])))


def test_kernel_is_exact_on_adversarial_values() -> None:
    a = np.array([1, 2, P - 1, P - 2, 2**31 - 1, 2**31, 2**60, 12345], dtype=np.uint64)
    b = np.array([0, P - 1, P - 1, 0, 1, P // 2, P - 1, 7], dtype=np.uint64)
    edges = [0, 1, 2**31 - 1, 2**31, 2**32, P - 1, P, P + 1, 2**61, 2**62, 2**63, 2**64 - 1]
    x = np.concatenate([np.array(edges, dtype=np.uint64),
                        np.random.default_rng(0).integers(0, 2**64, 500, dtype=np.uint64)])
    got = _Kernel(a, b).hash_rows(x)
    want = [[(int(ai) * (int(xi) % P) + int(bi)) % P for ai, bi in zip(a, b, strict=True)]
            for xi in x]
    assert got.tolist() == want


def test_signature_is_the_minimum_over_shingles() -> None:
    x = shingles(" ".join(_words(60, seed=2)))
    want = [min((int(a) * (int(v) % P) + int(b)) % P for v in x)
            for a, b in zip(HASHER.a, HASHER.b, strict=True)]
    assert HASHER.signature(x).tolist() == want
    assert HASHER.signature(x[:0]).tolist() == [int(EMPTY_VALUE)] * HASHER.num_perm


def test_signatures_match_one_by_one_for_mixed_sizes() -> None:
    rng = np.random.default_rng(3)
    sizes = [0, 1, 5, 300, 0, 1200, 40, 3000, 2, 700, 0]  # around and above a kernel chunk
    sets = [rng.integers(0, 2**64, n, dtype=np.uint64) for n in sizes]
    many = HASHER.signatures(sets)
    assert many.shape == (len(sets), 112) and many.dtype == np.uint64
    for row, s in zip(many, sets, strict=True):
        assert np.array_equal(row, HASHER.signature(s))
    assert HASHER.signatures([]).shape == (0, 112)


_SCRIPT = ("import sys; from etl.dedup.minhash import MinHasher, shingles; "
           "h = MinHasher(seed=int(sys.argv[1])); s = h.signature(shingles(sys.argv[2])); "
           "print(','.join(map(str, h.band_hashes(s))))")


def test_deterministic_across_processes() -> None:
    text = " ".join(_words(120, seed=4))

    def bands_in_subprocess(seed: int) -> list[int]:
        # A different str hash seed, so nothing may depend on Python's hash().
        env = {**os.environ, "PYTHONHASHSEED": "12345"}
        out = subprocess.run([sys.executable, "-c", _SCRIPT, str(seed), text], check=True,
                             capture_output=True, text=True, env=env, cwd=ROOT)
        return [int(v) for v in out.stdout.strip().split(",")]

    here = HASHER.band_hashes(HASHER.signature(shingles(text))).tolist()
    assert bands_in_subprocess(1) == here
    other = bands_in_subprocess(2)
    assert len(set(other) & set(here)) == 0


def test_golden_values_stay_put() -> None:
    # Band hashes are stored in the lake: a change here silently splits old data from new.
    text = "The quick brown fox jumps over the lazy dog, twice: the quick brown fox jumps again."
    sig = HASHER.signature(shingles(text))
    # Changing them on purpose means bumping etl.dedup.minhash.VERSION (dedup then rebuilds gold).
    assert sig[:2].tolist() == [134147684067862493, 217840948923618113]
    assert HASHER.band_hashes(sig)[:3].tolist() == [
        10742775888121399744, 17662499385561298994, 8749867989418787333]


def test_agrees_with_datasketch() -> None:
    rng = np.random.default_rng(5)
    ours, theirs = [], []
    for level in np.linspace(0.1, 0.95, 18):
        for rep in range(6):
            a, b = _pair(float(level), 300, rng)
            truth = exact_jaccard(a, b)
            hasher = MinHasher(seed=rep + 10)
            ours.append(hasher.jaccard_estimate(hasher.signature(a), hasher.signature(b)) - truth)
            ma, mb = (MinHash(num_perm=112, seed=rep + 10, hashfunc=int, scheme="affine64")
                      for _ in range(2))
            ma.update_batch(a.tolist())
            mb.update_batch(b.tolist())
            theirs.append(ma.jaccard(mb) - truth)
    ours_abs, theirs_abs = np.abs(ours), np.abs(theirs)
    # Standard error at 112 permutations is at most 0.047 (J = 0.5).
    assert ours_abs.max() <= 0.16 and np.mean(ours_abs <= 0.1) >= 0.9
    assert ours_abs.mean() <= 0.04 and abs(np.mean(ours)) <= 0.01
    assert ours_abs.mean() <= 1.3 * theirs_abs.mean() + 0.005
    print(f"\nmean |error|: ours {ours_abs.mean():.4f}, datasketch {theirs_abs.mean():.4f}; "
          f"max: ours {ours_abs.max():.3f}, datasketch {theirs_abs.max():.3f}")


@pytest.mark.parametrize("jaccard", [0.95, 0.9, 0.8, 0.72, 0.6, 0.5, 0.3])
def test_lsh_s_curve(jaccard: float) -> None:
    rng = np.random.default_rng(int(jaccard * 100))
    pairs = [_pair(jaccard, 300, rng) for _ in range(400)]
    sigs = HASHER.signatures([s for pair in pairs for s in pair])
    bands = HASHER.band_hashes(sigs).reshape(len(pairs), 2, HASHER.bands)
    shared = float(np.mean((bands[:, 0] == bands[:, 1]).any(axis=1)))
    theory = HASHER.collision_probability(jaccard)
    assert abs(shared - theory) <= 4 * (theory * (1 - theory) / len(pairs)) ** 0.5 + 0.005
    if jaccard >= 0.9:
        assert shared > 0.99
    if jaccard <= 0.3:
        assert shared < 0.01


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32), st.integers(0, 299), st.text(min_size=1, max_size=12))
def test_one_word_changed_shares_a_band(seed: int, position: int, word: str) -> None:
    words = _words(300, seed)
    changed = words.copy()
    changed[position] = "x" + normalize_for_dedup(word).replace(" ", "")
    sigs = HASHER.signatures([shingles(" ".join(words)), shingles(" ".join(changed))])
    assert HASHER.jaccard_estimate(*sigs) >= 0.85
    assert (HASHER.band_hashes(sigs[0]) == HASHER.band_hashes(sigs[1])).any()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.text(max_size=400))
def test_signature_properties(text: str, other: str) -> None:
    sig = HASHER.signature(shingles(text))
    other_sig = HASHER.signature(shingles(other))
    # Again after another document: nothing may leak through the reused scratch buffers.
    assert np.array_equal(sig, HASHER.signature(shingles(text)))
    assert np.array_equal(HASHER.band_hashes(sig), HASHER.band_hashes(sig.copy()))
    estimate = HASHER.jaccard_estimate(sig, other_sig)
    assert 0.0 <= estimate <= 1.0
    assert estimate == 1.0 or normalize_for_dedup(text) != normalize_for_dedup(other)


_ASCII_WORDS = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1), max_size=60)


@settings(max_examples=200, deadline=None)
@given(_ASCII_WORDS, st.lists(st.sampled_from([" ", "  ", "\n", ", ", ". ", " - ", "!\t", "_"])))
def test_case_punctuation_and_spacing_do_not_matter(words: list[str], seps: list[str]) -> None:
    plain = " ".join(words)
    noisy = "".join(w.upper() + (seps[i % len(seps)] if seps else " ") for i, w in enumerate(words))
    a, b = HASHER.signatures([shingles(plain), shingles(noisy)])
    assert np.array_equal(a, b)
    assert np.array_equal(HASHER.band_hashes(a), HASHER.band_hashes(b))


@given(st.sets(st.integers(0, 50)), st.sets(st.integers(0, 50)))
def test_exact_jaccard(a: set[int], b: set[int]) -> None:
    want = len(a & b) / len(a | b) if a | b else 1.0
    got = exact_jaccard(np.array(sorted(a), dtype=np.uint64), np.array(list(b), dtype=np.uint64))
    assert got == pytest.approx(want)


def test_band_hashes_mix_in_the_band_index() -> None:
    constant = np.full(HASHER.num_perm, 42, dtype=np.uint64)
    assert len(set(HASHER.band_hashes(constant).tolist())) == HASHER.bands
    sigs = HASHER.signatures([shingles("a b c d e f"), shingles("g h i j k l")])
    both = HASHER.band_hashes(sigs)
    assert both.shape == (2, 14) and both.dtype == np.uint64
    assert np.array_equal(both[1], HASHER.band_hashes(sigs[1]))
    with pytest.raises(ValueError, match="112"):
        HASHER.band_hashes(constant[:100])
    with pytest.raises(ValueError, match="112"):
        HASHER.jaccard_estimate(constant, constant[:100])


def test_batch_shapes_and_contents() -> None:
    texts = [" ".join(_words(200, seed=6)), None, "tiny doc", ""]
    out = batch(texts, HASHER, with_signatures=True)
    assert out["band_hashes"].shape == (4, 14) and out["band_hashes"].dtype == np.uint64
    assert out["num_shingles"].tolist() == [196, 0, 1, 0]
    assert [s.tolist() for s in out["shingles"]] == [shingles(t or "").tolist() for t in texts]
    full = HASHER.signatures(out["shingles"])
    assert out["signatures"].dtype == np.uint32
    assert np.array_equal(out["signatures"], full.astype(np.uint32))  # the low 32 bits
    assert np.array_equal(out["band_hashes"], HASHER.band_hashes(full))
    assert out["text_hashes"] == [xxhash.xxh3_128_hexdigest(normalize_for_dedup(t or ""))
                                  for t in texts]
    assert set(batch(texts, HASHER, with_shingles=False)) == {"band_hashes", "num_shingles",
                                                              "text_hashes"}


def test_hasher_parameters_and_pickling() -> None:
    assert HASHER.num_perm == 112 and HASHER.threshold == pytest.approx(0.719, abs=1e-3)
    assert HASHER.collision_probability(0.9) > 0.999 and HASHER.collision_probability(0.3) < 1e-3
    data = pickle.dumps(HASHER)
    assert len(data) < 500  # three ints travel to Spark workers, not the tiled parameters
    clone = pickle.loads(data)
    x = shingles("some words to hash for the pickled hasher")
    assert np.array_equal(clone.signature(x), HASHER.signature(x)) and repr(clone) == repr(HASHER)
    with pytest.raises(ValueError, match="bands"):
        MinHasher(bands=0)


def test_throughput_on_2kb_english_documents() -> None:
    from wordfreq import top_n_list

    vocab = top_n_list("en", 3000)
    rng = np.random.default_rng(7)
    docs = []
    for _ in range(300):
        words = [str(w) for w in rng.choice(vocab, 290)]
        docs.append(" ".join(w + ("." if i % 12 == 11 else "") for i, w in enumerate(words)))
    batch(docs[:10], HASHER)  # warm the kernel buffers
    best = float("inf")
    for _ in range(3):  # best of three: shared CI machines are noisy
        start = time.perf_counter()
        batch(docs, HASHER)
        best = min(best, time.perf_counter() - start)
    rate = len(docs) / best
    print(f"\n{rate:.0f} docs/s ({np.mean([len(d) for d in docs]):.0f} bytes each, one core)")
    assert rate > 300  # about 3,000 measured; a loose floor for busy CI machines


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "dé", "e"]), min_size=6, max_size=60),
       st.integers(1, 6))
def test_shingles_count_distinct_ngrams(words: list[str], n: int) -> None:
    # Word hashes are combined per position, so order matters and repeats collapse.
    grams = {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}
    assert shingles(" ".join(words), ngram=n).size == len(grams)


def test_dedup_verify_udf_scores_every_pair_exactly() -> None:
    """The dedup stage's Arrow verifier: one score per pair, shared centres included."""
    import pyarrow as pa

    from etl.dedup.stage import _verify_udf
    from llmlake.config import DedupConfig

    words = _words(120, seed=8)
    texts = {"a": " ".join(words), "b": " ".join([*words[:60], "other", *words[61:]]),
             "c": " ".join(_words(120, seed=9)), "d": None, "e": ""}
    pairs = [("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("d", "e"), ("a", "a")]
    rb = pa.RecordBatch.from_pydict({
        "src": [s for s, _ in pairs], "dst": [d for _, d in pairs],
        "text_a": [texts[s] for s, _ in pairs], "text_b": [texts[d] for _, d in pairs]})
    out = list(_verify_udf(DedupConfig())(iter([rb, rb.slice(0, 0)])))
    assert [o.num_rows for o in out] == [len(pairs), 0]
    assert out[0].column("src").to_pylist() == [s for s, _ in pairs]
    assert out[0].column("dst").to_pylist() == [d for _, d in pairs]
    want = [exact_jaccard(shingles(texts[s] or ""), shingles(texts[d] or "")) for s, d in pairs]
    assert out[0].column("jaccard").to_pylist() == want
    assert 0.9 < want[0] < 1.0 and want[1] < 0.1 and want[4] == want[5] == 1.0
