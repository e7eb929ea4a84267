"""The whole cleaning pipeline (etl.clean.document, llmlake.config_clean)."""

from __future__ import annotations

import dataclasses
import typing

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etl.clean.document import DROP_REASONS, SIGNAL_NAMES, CleanResult, clean_document
from etl.clean.filters.fineweb import fineweb_signals
from etl.clean.pii import PII_TYPES
from llmlake.config_clean import CleanConfig

SENTENCES = [
    "The garden was quiet in the early morning, and the dew was still on the grass.",
    "We walked to the old oak tree and sat down with our coffee to watch the birds.",
    "A robin landed near the bench and looked at us with great curiosity for a while.",
    "Later that day the wind picked up, so we moved the chairs back into the shed.",
    "In the evening we cooked soup with the last tomatoes and onions from the beds.",
    "Next spring we want to plant beans, peas and a few rows of sweet summer carrots.",
]


def page(*paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<html><head><script>track()</script></head><body><nav><a href='/'>Home</a></nav>"
        f"<article>{body}</article><footer>Copyright 2024</footer></body></html>"
    )


def clean(
    raw: str,
    ctype: str = "text/html",
    url: str | None = "https://example.org/a",
    cfg: CleanConfig | None = None,
) -> CleanResult:
    return clean_document(raw, ctype, url, cfg)


def test_good_page_is_kept_with_every_signal() -> None:
    res = clean(page(*SENTENCES))
    assert res.kept and res.drop_reason is None
    assert (res.lang, res.lang_score > 0.65) == ("en", True)
    assert res.text.split("\n") == SENTENCES  # C4 joins kept lines with single newlines
    assert set(res.signals) == set(SIGNAL_NAMES)
    assert all(isinstance(v, int | float) for v in res.signals.values())
    assert res.pii == dict.fromkeys(PII_TYPES, 0)


def test_c4_line_removal_shows_in_the_text() -> None:
    res = clean(page(*SENTENCES, "Share this", "Please enable JavaScript to see the map."))
    assert res.kept
    assert "Share this" not in res.text and "JavaScript" not in res.text
    assert res.signals["c4_lines_no_punct"] == 1 and res.signals["c4_lines_javascript"] == 1


def test_fineweb_measures_the_c4_cleaned_text() -> None:
    paragraphs = ["[1] " + SENTENCES[0], *SENTENCES[1:], "Share this", "Cited here.[2]"]
    res = clean("\n\n".join(paragraphs), "text/plain")
    assert res.kept and res.text.startswith(SENTENCES[0])
    fineweb = fineweb_signals(res.text, CleanConfig().fineweb)
    assert {k: res.signals[k] for k in fineweb} == fineweb


def test_pii_is_redacted_on_kept_documents_only() -> None:
    kept = clean(page(*SENTENCES, "Mail me at jo@example.com or call 555-123-4567 any time."))
    assert kept.kept
    assert "<EMAIL>" in kept.text and "<PHONE>" in kept.text
    assert kept.pii["email"] == 1 and kept.pii["phone"] == 1
    dropped = clean(page("Mail me at jo@example.com today."))
    assert not dropped.kept and "jo@example.com" in dropped.text
    assert dropped.pii == dict.fromkeys(PII_TYPES, 0)


@pytest.mark.parametrize(
    ("raw", "ctype", "url", "reason"),
    [
        ("", "text/html", None, "empty_text"),
        ("<html><script>x()</script></html>", "text/html", None, "empty_text"),
        ("%PDF", "application/pdf", None, "empty_text"),
        (
            " ".join(
                ["Das Wetter war heute Morgen herrlich und wir sind am Fluss entlang spaziert."] * 5
            ),
            "text/plain",
            None,
            "lang_not_allowed",
        ),
        ("asdf qwer zxcv", "text/plain", None, "lang_low_score"),
        (" ".join(SENTENCES), "text/plain", "http://hot-xxx-cams.example/", "url_blocked_domain"),
        (" ".join(SENTENCES), "text/plain", "https://a.example/porn/1", "url_blocked_word"),
        ("The garden is quiet and the birds sing.", "text/plain", None, "gopher_short_doc"),
        ("\n\n".join([SENTENCES[0]] * 8), "text/plain", None, "gopher_dup_para_frac"),
        (
            "\n".join([*SENTENCES, "Lorem ipsum dolor sit amet, consectetur adipiscing elit."]),
            "text/plain",
            None,
            "c4_lorem_ipsum",
        ),
        ("\n".join(SENTENCES[:4]), "text/plain", None, "c4_too_few_sentences"),
    ],
)
def test_first_failing_rule_is_the_reason(
    raw: str, ctype: str, url: str | None, reason: str
) -> None:
    res = clean(raw, ctype, url)
    assert res.drop_reason == reason
    assert reason in DROP_REASONS


def test_stages_after_the_drop_add_no_signals() -> None:
    res = clean("The garden is quiet and the birds sing.", "text/plain", None)
    assert "gopher_n_words" in res.signals
    assert "gopher_dup_line_frac" not in res.signals and "c4_lines" not in res.signals
    assert set(res.signals) <= set(SIGNAL_NAMES)


def test_languages_and_threshold_come_from_config() -> None:
    german = " ".join(
        ["Das Wetter war heute Morgen herrlich und wir sind am Fluss entlang spaziert."] * 5
    )
    assert clean(german, "text/plain", cfg=CleanConfig(languages=["de"])).lang == "de"
    res = clean(german, "text/plain", cfg=CleanConfig(languages=[]))
    assert res.drop_reason != "lang_not_allowed"
    strict = CleanConfig(min_lang_score=1.0)
    assert clean(page(*SENTENCES), cfg=strict).drop_reason == "lang_low_score"


def test_disabled_filters_are_skipped() -> None:
    cfg = CleanConfig(
        gopher_quality=dataclasses.replace(CleanConfig().gopher_quality, enabled=False),
        gopher_repetition=dataclasses.replace(CleanConfig().gopher_repetition, enabled=False),
        c4=dataclasses.replace(CleanConfig().c4, enabled=False),
        fineweb=dataclasses.replace(CleanConfig().fineweb, enabled=False),
    )
    res = clean("The garden is quiet and the birds sing all day long.", "text/plain", cfg=cfg)
    assert res.kept
    assert not any(k.startswith(("gopher_", "c4_", "fineweb_")) for k in res.signals)


def test_top_level_knobs_override_nested_configs() -> None:
    cfg = CleanConfig(c4_min_sentences=3, bad_words_path="b.txt", url_blocklist_path="u.txt")
    assert (cfg.c4.min_sentences, cfg.c4.bad_words_path, cfg.url.blocklist_path) == (
        3,
        "b.txt",
        "u.txt",
    )
    assert clean("\n".join(SENTENCES[:4]), "text/plain", cfg=CleanConfig(c4_min_sentences=3)).kept
    with pytest.raises(ValueError):
        CleanConfig(min_lang_score=1.5)


_ALLOWED = {str, int, float, bool, list[str]}


def _check_types(cls: type) -> None:
    for f in dataclasses.fields(cls):
        hint = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(hint):
            assert hint.__dataclass_params__.frozen, hint
            _check_types(hint)
        else:
            assert hint in _ALLOWED, (cls.__name__, f.name, hint)


def test_config_maps_onto_yaml_types() -> None:
    assert CleanConfig.__dataclass_params__.frozen
    _check_types(CleanConfig)


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=400),
    st.sampled_from(["text/html", "text/plain", None, "image/png"]),
    st.sampled_from([None, "", "https://a.example/x", "::not a url::"]),
)
def test_never_raises_and_reason_is_known(raw: str, ctype: str | None, url: str | None) -> None:
    res = clean_document(raw, ctype, url, None)
    assert res.drop_reason is None or res.drop_reason in DROP_REASONS
    assert set(res.signals) <= set(SIGNAL_NAMES)


def test_drop_reasons_are_snake_case() -> None:
    assert all(r.replace("_", "").isalnum() and r == r.lower() for r in DROP_REASONS)
    assert len(SIGNAL_NAMES) == len(set(SIGNAL_NAMES))
