"""Typed schema of the ``clean`` section of ``params.yaml``.

:class:`CleanConfig` nests one config per filter of :mod:`etl.clean` (each with the
published thresholds as defaults and an ``enabled`` switch) and holds the pipeline-level
knobs. It lives here, beside the other sections, because ``llmlake`` owns params loading;
the filters import their configs from this module.

The top-level ``c4_min_sentences``, ``bad_words_path`` and ``url_blocklist_path`` are the
knobs to set: they are copied into the nested ``c4`` and ``url`` configs, and setting a
nested copy to something else is an error rather than silently ignored.

Every numeric field declares its valid range next to its default (:mod:`llmlake.bounds`).

Example::

    >>> cfg = CleanConfig(languages=["en", "de"], c4_min_sentences=3)
    >>> cfg.c4.min_sentences, cfg.gopher_quality.min_words, cfg.fineweb.max_newline_ratio
    (3, 50, 0.3)
    >>> FineWebConfig(max_short_line_frac=1.5)
    Traceback (most recent call last):
    ...
    ValueError: max_short_line_frac: must be at most 1, got 1.5
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from llmlake.bounds import Bounded, bounded, fraction

GOPHER_STOP_WORDS = ["the", "be", "to", "of", "and", "that", "have", "with"]
# Language ID reads at most this many characters (whole documents on typical pages).
DEFAULT_LANG_MAX_CHARS = 10_000
@dataclass(frozen=True)
class URLFilterConfig(Bounded):
    enabled: bool = True
    blocklist_path: str = ""  # "" = the packaged illustrative list
    extra_domains: list[str] = field(default_factory=list)
    extra_words: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class GopherQualityConfig(Bounded):
    enabled: bool = True
    min_words: int = bounded(50, min=0)
    max_words: int = bounded(100_000, min=0)
    min_mean_word_len: float = bounded(3.0, min=0)
    max_mean_word_len: float = bounded(10.0, min=0)
    # Hashes or ellipses per word: a page of "#tag" lines can exceed 1, so no upper bound.
    max_symbol_word_ratio: float = bounded(0.1, min=0)
    max_bullet_lines_frac: float = bounded(0.9, min=0, max=1)
    max_ellipsis_lines_frac: float = bounded(0.3, min=0, max=1)
    min_alpha_words_frac: float = bounded(0.8, min=0, max=1)
    min_stop_words: int = bounded(2, min=0)
    stop_words: list[str] = field(default_factory=lambda: list(GOPHER_STOP_WORDS))

    def __post_init__(self) -> None:
        super().__post_init__()
        # A minimum above its maximum drops every document, which no one means to ask for.
        for low, high in (("min_words", "max_words"), ("min_mean_word_len", "max_mean_word_len")):
            if getattr(self, low) > getattr(self, high):
                raise ValueError(f"{low}: must be at most {high} ({getattr(self, high)}), "
                                 f"got {getattr(self, low)}")


@dataclass(frozen=True)
class GopherRepetitionConfig(Bounded):
    enabled: bool = True
    max_dup_para_frac: float = fraction(0.3)
    max_dup_para_char_frac: float = fraction(0.2)
    max_dup_line_frac: float = fraction(0.3)
    max_dup_line_char_frac: float = fraction(0.2)
    max_top_2gram_char_frac: float = fraction(0.20)
    max_top_3gram_char_frac: float = fraction(0.18)
    max_top_4gram_char_frac: float = fraction(0.16)
    max_dup_5gram_char_frac: float = fraction(0.15)
    max_dup_6gram_char_frac: float = fraction(0.14)
    max_dup_7gram_char_frac: float = fraction(0.13)
    max_dup_8gram_char_frac: float = fraction(0.12)
    max_dup_9gram_char_frac: float = fraction(0.11)
    max_dup_10gram_char_frac: float = fraction(0.10)


@dataclass(frozen=True)
class C4Config(Bounded):
    enabled: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    min_words_per_line: int = bounded(3, min=0)
    # -1 turns the long-word rule off (etl/clean/filters/c4.py skips negative limits).
    max_word_length: int = bounded(1000, min=-1)
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    min_sentences: int = bounded(5, min=0)
    filter_bad_words: bool = True
    bad_words_path: str = ""  # "" = the packaged English list
    bad_words_languages: list[str] = field(default_factory=lambda: ["en"])


@dataclass(frozen=True)
class FineWebConfig(Bounded):
    enabled: bool = True
    min_line_punct_frac: float = fraction(0.12)
    line_punct_exclude_zero: bool = False
    short_line_length: int = bounded(30, min=0)
    max_short_line_frac: float = fraction(0.67)
    max_dup_line_char_frac: float = fraction(0.01)
    # Newlines per word: a column of one-character lines exceeds 1, so no upper bound.
    max_newline_ratio: float = bounded(0.3, min=0)


@dataclass(frozen=True)
class PIIConfig(Bounded):
    enabled: bool = True
    emails: bool = True
    ips: bool = True
    phones: bool = True
    cards: bool = True
    ibans: bool = True
    ssns: bool = True


@dataclass(frozen=True)
class CleanConfig(Bounded):
    languages: list[str] = field(default_factory=lambda: ["en"])  # [] keeps every language
    min_lang_score: float = bounded(0.65, min=0, max=1)
    lang_max_chars: int = bounded(DEFAULT_LANG_MAX_CHARS, min=1)
    c4_min_sentences: int = bounded(5, min=0)
    bad_words_path: str = ""  # "" = the packaged English list (etl/clean/filters/data/)
    url_blocklist_path: str = ""  # "" = the packaged illustrative list (etl/clean/filters/data/)
    url: URLFilterConfig = field(default_factory=URLFilterConfig)
    gopher_quality: GopherQualityConfig = field(default_factory=GopherQualityConfig)
    gopher_repetition: GopherRepetitionConfig = field(default_factory=GopherRepetitionConfig)
    c4: C4Config = field(default_factory=C4Config)
    fineweb: FineWebConfig = field(default_factory=FineWebConfig)
    pii: PIIConfig = field(default_factory=PIIConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        # The top-level knobs win over the nested copies (see the module docstring); a nested
        # copy changed by hand would otherwise be overwritten without a word.
        for section, name, top in _MIRRORED:
            nested = getattr(getattr(self, section), name)
            if nested not in (getattr(_DEFAULTS[section], name), getattr(self, top)):
                raise ValueError(f"{section}.{name}: set {top} instead (it is copied there)")
        c4 = replace(
            self.c4, min_sentences=self.c4_min_sentences, bad_words_path=self.bad_words_path
        )
        url = replace(self.url, blocklist_path=self.url_blocklist_path)
        object.__setattr__(self, "c4", c4)
        object.__setattr__(self, "url", url)


_MIRRORED = (("c4", "min_sentences", "c4_min_sentences"), ("c4", "bad_words_path", "bad_words_path"),
             ("url", "blocklist_path", "url_blocklist_path"))
_DEFAULTS = {"c4": C4Config(), "url": URLFilterConfig()}
