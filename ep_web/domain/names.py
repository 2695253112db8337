"""Persons' names, as typed in every form that asks for one (SPEC §8: bad input
gets a clear French message next to the field)."""
import unicodedata

from ep_web.domain.errors import DomainError

# Hyphens and apostrophes as keyboards and word processors type them.
_PUNCTUATION = set("-\u2010\u2011'\u2019\u02bc")
NAME_RULE = "Seuls les lettres (accentuées ou non), les espaces, les tirets et les apostrophes sont acceptés."


def is_person_name(value: str) -> bool:
    """Letters of any script (accents included, precomposed or not), spaces,
    hyphens and apostrophes, with at least one letter."""
    has_letter = False
    for ch in unicodedata.normalize("NFC", value):
        category = unicodedata.category(ch)
        if category.startswith("L"):
            has_letter = True
        elif not (category.startswith("M") or ch == " " or ch in _PUNCTUATION):
            return False
    return has_letter


def check_person_name(value: str | None, field: str) -> str:
    """SPEC §3-§4: a nom or prénom of a person (account holder, insured person,
    référent, DPO) holds letters, spaces, hyphens and apostrophes only; returns
    it stripped, spaces collapsed. Empty stays empty: the caller decides whether
    it is required."""
    text = " ".join((value or "").split())
    if text and not is_person_name(text):
        raise DomainError(NAME_RULE, field)
    return text
