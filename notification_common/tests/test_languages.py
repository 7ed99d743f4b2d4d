"""Language tags are normalised and fall back pt-BR -> pt -> the template's default."""

import pytest

from notification_common.languages import InvalidLanguage, fallback_chain, normalize_language


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("pt-br", "pt-BR"),
        ("PT_br", "pt-BR"),
        (" pt-BR ", "pt-BR"),
        ("zh-hant-tw", "zh-Hant-TW"),
        ("es-419", "es-419"),
    ],
)
def test_language_tags_are_normalised(raw, normalized):
    assert normalize_language(raw) == normalized


@pytest.mark.parametrize("raw", ["", "e", "english-language-x", "pt-", "p1", "en--us", "en us", "x" * 40])
def test_malformed_language_tags_are_refused(raw):
    with pytest.raises(InvalidLanguage):
        normalize_language(raw)


def test_fallback_goes_from_region_to_base_to_default():
    assert fallback_chain("pt-BR", "en") == ["pt-BR", "pt", "en"]


def test_fallback_does_not_repeat_the_default():
    assert fallback_chain("en-GB", "en") == ["en-GB", "en"]
