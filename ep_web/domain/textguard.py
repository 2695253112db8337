"""Guards on every text a partner types (SPEC §4, §5, §8).

1. The NIR guard: nothing shaped like a French social-security number (NIR) may
   be typed into the portal — not in names, free text, messages or tickets. The
   NIR may only appear inside an attached document.
2. The health-data warning: free texts are scanned for health terms; a hit is
   shown highlighted and the author rephrases or confirms the text holds no
   health data.
"""
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from markupsafe import Markup, escape

from ep_web.domain.errors import DomainError

# ---------------------------------------------------------------- NIR

# Between groups: nothing, spaces (incl. the non-breaking ones French keyboards
# insert), one dot or one dash.
_S = r"(?:[ \u00a0\u202f]{1,3}|[.\-])?"
# SPEC §4: sex 1-8 (7/8: provisional NNP numbers); year; month 01-12, 20-42 or
# 50-99; département 2 digits or 2A/2B + commune 3 digits, or an overseas
# 3-digit département + 2-digit commune; order 3 digits; optional 2-digit key
# (valid or not: a mistyped NIR is still a NIR).
_NIR = re.compile(
    rf"""
    (?<![0-9A-Za-z])
    (?P<sex>[1-8]) {_S}
    (?P<year>[0-9]{{2}}) {_S}
    (?P<month>0[1-9]|1[0-2]|2[0-9]|3[0-9]|4[0-2]|[5-9][0-9]) {_S}
    (?:
        (?P<dep>[0-9]{{2}}|2[ABab]) {_S} (?P<commune>[0-9]{{3}})
      | (?P<dep3>9[78][0-9]) {_S} (?P<commune2>[0-9]{{2}})
    ) {_S}
    (?P<order>[0-9]{{3}})
    (?: {_S} (?P<key>[0-9]{{2}}) )?
    (?![0-9A-Za-z])
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class NirMatch:
    start: int
    end: int
    masked: str
    key_valid: bool | None  # None when written without key


def nir_key(body: str) -> int:
    """Key = 97 − (number mod 97) over the 13 characters, Corsica's 2A/2B
    counted as 19/18."""
    dep = body[5:7].upper()
    if dep in ("2A", "2B"):
        body = body[:5] + ("19" if dep == "2A" else "18") + body[7:]
    return 97 - (int(body) % 97)


def find_nirs(text: str) -> list[NirMatch]:
    """Every NIR-shaped sequence in the text (with or without key, any separators)."""
    found = []
    for m in _NIR.finditer(text or ""):
        dep = m.group("dep") or m.group("dep3")
        commune = m.group("commune") or m.group("commune2")
        body = f"{m.group('sex')}{m.group('year')}{m.group('month')}{dep}{commune}{m.group('order')}"
        key = m.group("key")
        key_valid = None if key is None else nir_key(body) == int(key)
        masked = f"{m.group('sex')} {m.group('year')} •• •• ••• •••" + (" ••" if key else "")
        found.append(NirMatch(m.start(), m.end(), masked, key_valid))
    return found


def nir_message(match: NirMatch) -> str:
    return (
        f"Ce texte contient un numéro de sécurité sociale (NIR) : {match.masked}. "
        "Pour protéger la personne, le NIR ne doit jamais être saisi dans le portail : retirez-le. "
        "S'il est indispensable, il peut figurer uniquement dans un document joint."
    )


def check_no_nir(text: str | None, field: str) -> None:
    """SPEC §4: refuse a partner-typed text holding anything shaped like a NIR."""
    matches = find_nirs(text or "")
    if matches:
        raise DomainError(nir_message(matches[0]), field)


def check_texts(texts: dict[str, str | None]) -> None:
    """The NIR guard over several fields; the first offending field is reported."""
    for field, text in texts.items():
        check_no_nir(text, field)


# ---------------------------------------------------------------- health terms

_TERMS_FILE = Path(__file__).resolve().parent.parent / "data" / "health_terms.txt"


def _fold(text: str) -> str:
    """Lower case without accents, same length as the input (so spans map back)."""
    out = []
    for ch in text:
        base = unicodedata.normalize("NFD", ch)[0].lower()
        out.append(base if len(base) == 1 else ch.lower())
    return "".join(out)


@lru_cache(maxsize=1)
def _health_pattern() -> re.Pattern:
    terms = []
    for line in _TERMS_FILE.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            terms.append(_fold(line))
    # Longest first so "cancer du sein" wins over "cancer"; plurals s/x; elided
    # articles ("l'asthme") are fine since ' is not a word character.
    alternatives = "|".join(re.escape(t).replace(r"\ ", r"[\s\-]+") for t in sorted(set(terms), key=len, reverse=True))
    return re.compile(rf"(?<![\w])(?:{alternatives})(?:s|x|es)?(?![\w])")


@dataclass(frozen=True)
class HealthMatch:
    start: int
    end: int
    term: str


def find_health_terms(text: str | None) -> list[HealthMatch]:
    """Health terms (pathologies, treatments, care) found in a free text."""
    text = text or ""
    folded = _fold(text)
    return [HealthMatch(m.start(), m.end(), text[m.start():m.end()]) for m in _health_pattern().finditer(folded)]


def highlight(text: str | None, matches: list[HealthMatch]) -> Markup:
    """The text, escaped, with each health term wrapped in <mark>."""
    text = text or ""
    out, last = [], 0
    for m in matches:
        out.append(escape(text[last:m.start]))
        out.append(Markup("<mark>{}</mark>").format(text[m.start:m.end]))
        last = m.end
    out.append(escape(text[last:]))
    return Markup("").join(out)


HEALTH_CONFIRM_FIELD = "health_confirmed"


def check_health(texts: dict[str, str | None], confirmed: bool) -> None:
    """SPEC §4 [5]: free texts must hold no health data. A hit blocks until the
    author rephrases or confirms that the text holds no health data."""
    if confirmed:
        return
    terms = []
    for text in texts.values():
        terms += [m.term for m in find_health_terms(text)]
    if terms:
        listed = ", ".join(f"« {t} »" for t in dict.fromkeys(terms))
        raise DomainError(
            f"Ce texte semble contenir des données de santé ({listed}). Les informations médicales n'ont pas leur "
            "place ici : reformulez, ou cochez la case pour confirmer que le texte n'en contient pas.",
            HEALTH_CONFIRM_FIELD,
        )


def check_partner_text(texts: dict[str, str | None], *, free_texts: dict[str, str | None] | None = None,
                       health_confirmed: bool = False) -> None:
    """Both guards at once: the NIR guard on every field, the health warning on
    the free texts (messages, comments, descriptions)."""
    check_texts(texts)
    if free_texts:
        check_texts(free_texts)
        check_health(free_texts, health_confirmed)
