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
#
# The guard is a small parser rather than one regular expression, because
# people spell a NIR in more ways than a pattern can list (SPEC §4):
#
#   text       := (chain | anything else)*
#   chain      := group (separators group)*
#   group      := decimal digits, Corsica's 2A/2B (either case) allowed inside
#   separators := any run of white space (every Unicode space, tabs, line
#                 breaks), dots, dashes (every Unicode dash), slashes,
#                 underscores and invisible format characters
#
# Anything else (a letter, a comma, "+", "(", "€", ":") ends a chain. A NIR is
# a window of consecutive *whole* groups of one chain whose characters spell
#
#   sex 1-8 · year 2 · month 2 · département 2 (or 2A/2B) · commune 3 · order 3 [· key 2]
#
# (an overseas 3-digit département with a 2-digit commune has the same digit
# layout). Months are 01-12, 20-42 or 50-99, except for provisional numbers
# (sex 7/8) whose "month" is free. The key may be valid or not: a mistyped NIR
# is still a NIR. Because the window is made of whole groups, any grouping and
# any separator in any gap is caught, while a NIR-shaped run of digits that
# starts or ends in the middle of a group (inside a longer number) is not.
#
# Within a longer chain the window must also not cut through a look-alike that
# people type next to each other on one line, each recognised by its own
# grammar (phone numbers, dates, SIRET/SIREN with their Luhn key, EAN-13 codes,
# fiscal numbers, references, amounts; IBANs are blanked out beforehand):
# "0033 6 12 34 56 78 0033 6 98 76 54 32" holds the NIR-shaped window
# "6 12 34 56 78 0033" across two phone numbers. Most look-alikes may sit
# *inside* the window, since a NIR written in pairs ("1 85 05 78 00 60 84 36")
# contains a phone-shaped run; those a NIR never contains (a date with a
# 4-digit year, a reference, an amount, a number after "+") may not.
#
# Trade-off, decided and tested: a 13-digit number starting with 1 to 8 that
# has the NIR's shape *is* a NIR without its key, so it is refused even when it
# is in fact a fiscal number (SPI, 13 digits starting with 0 to 3) or an EAN-13
# code; those starting with 0 (most fiscal numbers) or 9 pass, since no NIR
# starts with 0 or 9. Likewise three 5-digit numbers in a row ("74000 74100
# 74200") spell a NIR grouped by five and are refused. Refusing asks the author
# to rephrase; letting a NIR through stores it in clear.

_SEPARATORS = (
    r"\s"  # every Unicode space (U+00A0, U+202F, U+2009...), tabs, line breaks
    r"._/\\\-"  # bullets and middle dots stay out: they separate list items
    "\u00ad\u058a\u05be\u1400\u1806\u180e\u2010-\u2015\u2024\u2043\u2044"
    "\u200b-\u200f\u2060-\u2064\u2212\u2215\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u2e5d"
    "\u301c\u3030\u30a0\ufe31\ufe32\ufe58\ufe63\ufeff\uff0d\uff0e\uff0f\U00010ead"
)
# A letter only counts as Corsica's A/B right after a 2 and when no other letter
# follows ("2A", "185052a123456"; not "2Avenue").
_GROUP = r"\d+(?:(?<=2)[ABab](?![^\W\d_])\d*)?"  # starts with \d: the scan skips prose fast
_CHAIN = re.compile(rf"{_GROUP}(?:[{_SEPARATORS}]+{_GROUP})*")
_GROUP_RE = re.compile(_GROUP)
# IBANs hold long digit runs in groups of four. They are found by their own
# grammar (two letters and two check digits at the start of a word, then up to
# 30 letters and digits, in blocks or not) and blanked out before the NIR
# search; the ISO 13616 checksum tells where one ends when a word or another
# number follows on the line.
_IBAN_START = re.compile(r"(?<![0-9A-Za-z])[A-Za-z]{2}[0-9]{2}(?=[ \u00a0\u202f]?[0-9A-Za-z])")
_IBAN_HINT = re.compile(r"[0-9]{2}")  # the first digits of a run: found faster than the letters
_IBAN_SPACES = " \u00a0\u202f"


def _iban_valid(compact: str) -> bool:
    rearranged = (compact[4:] + compact[:4]).upper()
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _blank_ibans(text: str) -> str:
    """The text with every IBAN replaced by "#" (same length, so the offsets
    of what is found later still point into the text)."""
    out, done = [], 0
    for hint in _IBAN_HINT.finditer(text):
        start = hint.start() - 2
        if start < done or not ("A" <= text[start + 1].upper() <= "Z"):  # most digits follow a space
            continue
        m = _IBAN_START.match(text, start)
        if m is None:
            continue
        j, compact, end, shape_end = m.end(), m.group(), None, None
        while j < len(text) and len(compact) < 34:
            if text[j] in _IBAN_SPACES and j + 1 < len(text) and text[j + 1].isascii() and text[j + 1].isalnum():
                j += 1
            k = j
            while k < len(text) and text[k].isascii() and text[k].isalnum():
                k += 1
            block = text[j:k]
            if not block or not any(c.isdigit() for c in block) or len(compact) + len(block) > 34:
                break  # a word ("IBAN FR76 ...") or something else follows
            compact += block
            j = shape_end = k
            if len(compact) >= 15 and _iban_valid(compact):
                end = k
        end = end or shape_end  # a mistyped IBAN is still no NIR
        if end and end - m.start() >= 15:
            out.append(text[done:m.start()] + "#" * (end - m.start()))
            done = end
    return "".join(out) + text[done:] if out else text


_MONTHS = frozenset(f"{m:02d}" for m in (*range(1, 13), *range(20, 43), *range(50, 100)))

# Groupings people use for the look-alikes that share a line with other numbers.
_PHONE_GROUPINGS = {(10,), (2, 2, 2, 2, 2), (4, 2, 2, 2), (1, 3, 3, 3)}
_PHONE_REST_GROUPINGS = {(9,), (1, 2, 2, 2, 2), (1, 4, 4), (3, 3, 3), (1, 8),  # after 33 / 0033
                         (10,), (2, 2, 2, 2, 2)}  # the national 0 kept by mistake
_SIREN_GROUPINGS = {(9,), (3, 3, 3)}
_SIRET_GROUPINGS = {(14,), (3, 3, 3, 5), (9, 5)}
_PHONE = re.compile(r"0[1-9][0-9]{8}")
_PHONE_REST = re.compile(r"0?[1-9][0-9]{8}")


@dataclass(frozen=True)
class NirMatch:
    start: int
    end: int
    masked: str
    key_valid: bool | None  # None when written without key


def nir_key(body: str) -> int:
    """SPEC §4: key = 97 − (number mod 97) over the 13 characters, Corsica's
    2A/2B counted as 19/18."""
    dep = body[5:7].upper()
    if dep in ("2A", "2B"):
        body = body[:5] + ("19" if dep == "2A" else "18") + body[7:]
    return 97 - (int(body) % 97)


def _ascii(group: str) -> str:
    if group.isascii():
        return group.upper()
    # Any decimal digit (Arabic-Indic, full width...) reads as its value.
    return "".join(str(unicodedata.decimal(c)) if c.isdigit() else c.upper() for c in group)


def _nir_shaped(chars: str) -> bool:
    """13 characters laid out as a NIR body, or 15 as a body and its key."""
    sex, dep = chars[0], chars[5:7]
    return (
        sex in "12345678"
        and chars[1:5].isdigit()
        and (sex in "78" or chars[3:5] in _MONTHS)
        and (dep.isdigit() or dep in ("2A", "2B"))
        and chars[7:].isdigit()
    )


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _is_date(parts: list[str], seps: list[str]) -> bool:
    """12/03/1985, 12.03.85, 1985-03-12, 03/1985, written with one separator."""
    if len(parts) == 3:
        if seps[0] != seps[1] or len(seps[0]) != 1:
            return False
        if len(parts[0]) == 4:
            if seps[0] not in ("-", "/", "."):
                return False
            year, month, day = parts
        else:
            day, month, year = parts
        if len(year) == 4 and year[:2] not in ("19", "20") or len(year) not in (2, 4):
            return False
        return len(day) <= 2 and len(month) <= 2 and 1 <= int(day) <= 31 and 1 <= int(month) <= 12
    month, year = parts
    return (seps[0] in ("/", "-", ".") and len(year) == 4 and year[:2] in ("19", "20")
            and len(month) <= 2 and 1 <= int(month) <= 12)


def _ean(digits: str) -> bool:
    return sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(digits)) % 10 == 0


_AMOUNT_AFTER = re.compile(r"[ \u00a0\u202f]*(?:€|eur|,[0-9])", re.IGNORECASE)


def _look_alikes(chars: list[str], lengths: list[int], seps: list[str], plus_led: bool,
                 amount_follows: bool) -> tuple[list, list, list]:
    """The look-alikes found in one chain, as group index ranges: ``weak``
    ones a NIR window must not cut (a NIR may contain them: one written in
    pairs holds a phone-shaped run), ``strong`` ones it must not touch at all
    (a date with a 4-digit year, a reference, an amount, a number after "+"),
    and the ``padded`` ones among the weak: a window made of one of them and
    one more group is refused (the group may come first when the flag says so)."""
    n = len(chars)
    weak, strong, padded = [], [], []
    for a in range(n):
        if not chars[a].isdigit():
            continue
        total = 0
        for b in range(a + 1, min(n, a + 5) + 1):
            if not chars[b - 1].isdigit():
                break
            total += lengths[b - 1]
            if total > 14:
                break
            shape = tuple(lengths[a:b])
            if total == 10 and shape in _PHONE_GROUPINGS and _PHONE.fullmatch("".join(chars[a:b])):
                weak.append((a, b))
                if shape in ((2, 2, 2, 2, 2), (1, 3, 3, 3)):
                    padded.append((a, b, True))  # 74000 - 06 12 34 56 78
            elif total == 13 and (shape in ((13,), (1, 6, 6)) and _ean("".join(chars[a:b]))
                                  or shape in ((13,), (2, 2, 3, 3, 3)) and chars[a][0] == "0"):
                weak.append((a, b))  # EAN-13 codes, fiscal numbers (01 23 456 789 012)
            if b - a in (2, 3) and total <= 8 and _is_date(chars[a:b], seps[a:b - 1]):
                (strong if b - a == 3 and (lengths[b - 1] == 4 or lengths[a] == 4) else weak).append((a, b))
            if (b - a == 2 and lengths[a] == 4 and chars[a][:3] in ("200", "201", "202", "203")
                    and lengths[a + 1] in (5, 6) and seps[a] in ("-", "/")):
                strong.append((a, b))  # references: 2026-000123, T-2026-00012
            if (total == 9 and shape in _SIREN_GROUPINGS) or (total == 14 and shape in _SIRET_GROUPINGS):
                if _luhn("".join(chars[a:b])):
                    weak.append((a, b))
                    if total == 14 and b - a >= 4:
                        padded.append((a, b, False))  # SIRET 123 456 789 00012 2 salariés
        if lengths[a] == 13 and chars[a].startswith("0033"):
            strong.append((a, a + 1))  # 0033612345678
        if chars[a] in ("33", "0033"):  # 0033 6 12 34 56 78, 33 6 12 34 56 78
            rest = 0
            for b in range(a + 1, min(n, a + 6)):
                if not chars[b].isdigit():
                    break
                rest += lengths[b]
                if rest > 10:
                    break
                if tuple(lengths[a + 1:b + 1]) in _PHONE_REST_GROUPINGS and _PHONE_REST.fullmatch(
                        "".join(chars[a + 1:b + 1])):
                    weak.append((a, b + 1))
    if plus_led:  # +33 6 12 34 56 78, +41 22 123 45 67, (0)6 12 34 56 78: up to 12 digits
        fenced = total = 0
        while fenced < n and total + lengths[fenced] <= 12:
            total += lengths[fenced]
            fenced += 1
        strong.append((0, max(fenced, 1)))
    if amount_follows and n >= 2:  # 1 234 567 €, 12 345,67
        a = n - 1
        while a > 0 and lengths[a] == 3 and lengths[a - 1] <= 3 and len(seps[a - 1]) == 1 and seps[a - 1] == seps[-1]:
            a -= 1
        if a < n - 1:
            strong.append((a, n))
    return weak, strong, padded


# A window spans at most 15 groups and a look-alike at most 12 (a number after
# "+"), so only the look-alikes starting that far before it can touch it.
_REACH = 16


def _by_start(spans: list[tuple]) -> dict[int, list[tuple]]:
    index: dict[int, list[tuple]] = {}
    for span in spans:
        index.setdefault(span[0], []).append(span)
    return index


def _refused(spans: tuple[dict, dict, dict], i: int, j: int) -> bool:
    """A window is refused when it cuts a weak look-alike, touches a strong
    one, or is a phone or SIRET number plus one group ("74000 - 06 12 34 56 78",
    "SIRET 123 456 789 00012 2 salariés")."""
    weak, strong, padded = spans
    for a in range(max(0, i - _REACH), j):
        if any(b > i and not (i <= a and b <= j) for _, b in weak.get(a, ())):
            return True
        if any(b > i for _, b in strong.get(a, ())):
            return True
        if any((a == i and b == j - 1) or (first and a == i + 1 and b == j) for _, b, first in padded.get(a, ())):
            return True
    return False


def _chain_nirs(text: str, chain: re.Match, found: list) -> None:
    base = chain.start()
    chars = [_ascii(g) for g in _GROUP_RE.findall(chain.group())]
    lengths = [len(c) for c in chars]
    if sum(lengths) < 13:  # a phone number, a date...: the common case, kept cheap
        return
    n = len(chars)
    shaped = []
    for i in range(n):
        if chars[i][0] not in "12345678":
            continue
        ends, total = {}, 0
        for j in range(i, n):
            total += lengths[j]
            if total in (13, 15):
                ends[total] = j + 1
            if total >= 15:
                break
        for size in (15, 13):
            j = ends.get(size)
            if j is not None:
                stream = "".join(chars[i:j])
                if _nir_shaped(stream):
                    shaped.append((i, j, stream))
    if not shaped:
        return
    groups = [(base + g.start(), base + g.end()) for g in _GROUP_RE.finditer(chain.group())]
    seps = [text[groups[k][1]:groups[k + 1][0]] for k in range(n - 1)]
    plus_led = base > 0 and (text[base - 1] in "+\uff0b" or text[max(0, base - 4):base].rstrip().endswith("(0)"))
    amount_follows = bool(_AMOUNT_AFTER.match(text, chain.end()))
    spans = tuple(_by_start(s) for s in _look_alikes(chars, lengths, seps, plus_led, amount_follows))
    candidates, taken = [], set()
    for i, j, stream in shaped:  # per start, with its key when it has one (15 before 13)
        if i not in taken and not _refused(spans, i, j):
            taken.add(i)
            candidates.append((i, j, stream, None if len(stream) == 13 else nir_key(stream[:13]) == int(stream[13:])))
    # Overlapping candidates ("à 14h30. 1 85 ..." also reads "30 1 85 ..."):
    # a valid key is the strongest evidence, then the leftmost wins.
    chosen, taken_groups = [], bytearray(n)
    for cand in sorted(candidates, key=lambda c: (c[3] is not True, c[0])):
        if not any(taken_groups[cand[0]:cand[1]]):
            taken_groups[cand[0]:cand[1]] = b"\x01" * (cand[1] - cand[0])
            chosen.append(cand)
    for i, j, stream, key_valid in sorted(chosen):
        body = stream[:13]
        masked = f"{body[0]} {body[1:3]} •• •• ••• •••" + (" ••" if len(stream) == 15 else "")
        found.append(NirMatch(groups[i][0], groups[j - 1][1], masked, key_valid))


def find_nirs(text: str | None) -> list[NirMatch]:
    """SPEC §4: every NIR-shaped sequence in a text, with or without its key
    (valid or not), whatever the separators and the grouping."""
    text = text or ""
    if len(text) < 13:
        return []
    found = _scan(text)
    if found:
        # Rare: only then look for IBANs, whose digit runs read as NIRs.
        blanked = _blank_ibans(text)
        if blanked is not text:
            found = _scan(blanked)
    return found


def _scan(text: str) -> list[NirMatch]:
    found: list[NirMatch] = []
    for chain in _CHAIN.finditer(text):
        if chain.end() - chain.start() >= 13:
            _chain_nirs(text, chain, found)
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
