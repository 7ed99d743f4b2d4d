"""Language tags (BCP 47, the common subset) and the fallback chain ``pt-BR -> pt -> default``.

One normaliser for the whole platform: the gateway hashes the normalised tag into a request's
idempotency fingerprint, the template service stores and matches versions under it, and the
consumers cache active versions by it, so one language has one spelling everywhere.
"""

import re

MAX_LANGUAGE_LENGTH = 35
_TAG_RE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


class InvalidLanguage(ValueError):
    pass


def normalize_language(raw: str) -> str:
    """``PT_br`` -> ``pt-BR``, ``zh-hant-tw`` -> ``zh-Hant-TW``; raise InvalidLanguage otherwise.

    Case is normalised the way BCP 47 writes it (language lower, script title, region upper)
    so that one language is stored, cached and matched under one spelling.
    """
    tag = (raw if isinstance(raw, str) else "").strip().replace("_", "-")
    if len(tag) > MAX_LANGUAGE_LENGTH or not _TAG_RE.match(tag):
        raise InvalidLanguage(f"{raw!r} is not a language tag like 'en', 'pt' or 'pt-BR'.")
    primary, *subtags = tag.split("-")
    normalized = [primary.lower()]
    for subtag in subtags:
        if len(subtag) == 4 and subtag.isalpha():
            normalized.append(subtag.title())
        elif (len(subtag) == 2 and subtag.isalpha()) or (len(subtag) == 3 and subtag.isdigit()):
            normalized.append(subtag.upper())
        else:
            normalized.append(subtag.lower())
    return "-".join(normalized)


def fallback_chain(requested: str, default: str) -> list[str]:
    """Languages to try in order: the tag, each shorter prefix of it, then the default."""
    chain = []
    subtags = requested.split("-")
    for end in range(len(subtags), 0, -1):
        chain.append("-".join(subtags[:end]))
    if default not in chain:
        chain.append(default)
    return chain
