"""The NIR guard (SPEC §4), both ways: every way people type a NIR is caught,
and the numbers they type every day pass. NIRs and look-alikes come from their
grammars (tests/textguard/grammars.py): hypothesis explores them, seeded
corpora pin thousands of cases each way."""
import random
import re
import sys
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ep_web.domain.errors import DomainError
from ep_web.domain.textguard import check_no_nir, check_texts, find_nirs, nir_key
from tests.textguard import grammars

EXAMPLES = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What may touch a NIR in a text without being part of it: nothing glued but
# separators, so a digit there makes the exact span ambiguous ("... 36 48 h").
_DIGIT_NEAR = re.compile(r"[\s.\-/_\u2010-\u2015\u2212]*\d")


def _nir(sex="1", year="85", month="05", dep="78", commune="006", order="084", key=True):
    """A generated number of the grammar; key True = its valid key."""
    fields = [sex, year, month, dep, commune, order]
    return fields, (f"{nir_key(''.join(fields).upper()):02d}" if key is True else key)


def _assert_caught(r: random.Random, prose: random.Random):
    nir = grammars.nir(r)
    spelled = grammars.spell(r, nir)
    text, at = grammars.embed(prose, spelled)
    found = find_nirs(text)
    assert any(m.start < at + len(spelled) and m.end > at for m in found), repr(text)
    core = spelled.strip("".join(set("".join(grammars.SEPARATOR_PIECES))))
    start = at + spelled.index(core)
    if not _DIGIT_NEAR.match(text[start + len(core):]) and not _DIGIT_NEAR.match(text[:start][::-1]):
        # Nothing numeric next to it: the match is exactly the number, key included.
        assert [(m.start, m.end, m.key_valid) for m in found] == [(start, start + len(core), nir.key_valid)], repr(text)
    with pytest.raises(DomainError) as exc:
        check_no_nir(text, "message")
    assert exc.value.field == "message"
    assert "document joint" in exc.value.message
    assert nir.body[3:] not in exc.value.message  # masked, not echoed


# Hypothesis draws the number and its spelling (and shrinks them); the
# surrounding prose comes from a seed it draws too.
@EXAMPLES
@given(st.randoms(use_true_random=False), st.integers(0, 2 ** 32))
def test_every_spelling_of_a_nir_is_refused(r, seed):
    _assert_caught(r, random.Random(seed))


def test_a_seeded_corpus_of_nir_spellings_is_refused():
    r = random.Random(2026)
    for _ in range(5000):
        _assert_caught(r, r)


@EXAMPLES
@given(st.randoms(use_true_random=False), st.integers(0, 2 ** 32))
def test_look_alikes_pass(r, seed):
    kind, text = grammars.look_alike(r)
    assert not find_nirs(text), (kind, text)
    message = grammars.look_alike_message(r, random.Random(seed))
    assert not find_nirs(message), message
    check_no_nir(message, "message")


def test_a_seeded_corpus_of_look_alikes_passes():
    r = random.Random(2026)
    for _ in range(5000):
        kind, text = grammars.look_alike(r)
        assert not find_nirs(text), (kind, text)
        message = grammars.look_alike_message(r)
        assert not find_nirs(message), message


# ---------------------------------------------------------------- the spellings a held-out tester used

@pytest.mark.parametrize("spelling", [
    "1 . 85 . 05 . 78 . 006 . 084 . {key}",  # space, dot, space
    "1 85.05-78/006 084_{key}",  # a different separator in each gap
    "1\u00a0-\u00a085\u00a0-\u00a005 78 006 084 {key}",  # non-breaking space next to a dash
    "1850578006084 {key}", "1850578006084 - {key}", "1850578006084{key}", "1850578006084",  # key glued, apart, none
    "1 85 05\n78 006 084 {key}", "1 85 05\r\n78 006\n084",  # line breaks
    "1\t85\t05\t78\t006\t084\t{key}", "1    85  05   78 006 084 {key}",  # tabs, several spaces
    "1\u202f85\u202f05\u200978\u2007006\u3000084 {key}",  # narrow, thin, figure, ideographic spaces
    "1 \u2013 85 \u2014 05 \u2011 78 \u2212 006 \u2010 084 {key}",  # en/em dash, non-breaking hyphen, minus
    "1/85/05/78/006/084/{key}", "- 1 85 05 78 006 084 {key} -", ". 1.85.05.78.006.084.{key} .",  # slashes, around
    "185 057 800 608 4{key}", "1850 5780 0608 4{key}", "1 85 05 78 00 60 84 {key}",  # blocks of 3, 4, pairs
    "1 85 05 78 006 084 {key}".replace(" ", "\u200b"),  # invisible separators
    "NIR185057800608 4{key}", "n°1850578006084", "(1 85 05 78 006 084)", "« 1 85 05 78 006 084 »",
])
def test_spellings_found_by_a_tester_are_refused(spelling):
    fields, key = _nir()
    text = "Mme D., " + spelling.format(key=key) + ", à rappeler."
    found = find_nirs(text)
    assert len(found) == 1, text
    assert found[0].key_valid is ((True if "{key}" in spelling else None)), text
    with pytest.raises(DomainError):
        check_no_nir(text, "message")


@pytest.mark.parametrize("sex", "78")
@pytest.mark.parametrize("month", ["00", "13", "19", "43", "49"])
def test_provisional_numbers_have_a_free_month(sex, month):
    fields, key = _nir(sex=sex, month=month)
    assert find_nirs(" ".join(fields))
    assert find_nirs("".join(fields) + key)
    # The same "month" on a definitive number is not a NIR.
    normal, _ = _nir(sex="1", month=month)
    assert not find_nirs(" ".join(normal))


@pytest.mark.parametrize("dep", ["2A", "2B", "2a", "2b"])
def test_corsica_in_either_case_and_its_key(dep):
    fields, key = _nir(dep=dep)
    assert key == f"{nir_key(''.join(_nir(dep='19' if dep.upper() == '2A' else '18')[0])):02d}"
    glued_after_corsica = "".join(fields[:4]) + " " + "".join(fields[4:]) + key
    for text in (" ".join(fields + [key]), "".join(fields) + key, glued_after_corsica):
        found = find_nirs(text)
        assert len(found) == 1 and found[0].key_valid is True, text
    assert find_nirs(" ".join(fields + ["00"]))[0].key_valid is False  # a mistyped key is still a NIR


def test_overseas_and_foreign_born():
    for dep, commune in (("971", "05"), ("976", "11"), ("988", "01"), ("99", "352")):
        fields, key = _nir(dep=dep, commune=commune)
        assert find_nirs(" ".join(fields + [key]))[0].key_valid is True


def test_a_valid_key_wins_over_a_number_glued_before():
    # "à 14h30. 1 85 ..." also reads "30 1 85 ..."; the number with a valid key is reported.
    fields, key = _nir()
    text = f"Rendez-vous à 14h30. {' '.join(fields)} {key}"
    [match] = find_nirs(text)
    assert (match.start, match.key_valid) == (text.index("1 85"), True)


def test_separators_cover_every_unicode_space_and_dash():
    from ep_web.domain.textguard import _SEPARATORS

    one = re.compile(f"[{_SEPARATORS}]")
    for code in range(sys.maxunicode + 1):
        ch = chr(code)
        if unicodedata.category(ch) in ("Zs", "Zl", "Zp", "Pd") or ch.isspace():
            assert one.fullmatch(ch), f"U+{code:04X} {unicodedata.name(ch, '')}"


def test_other_decimal_digits_read_as_digits():
    fields, key = _nir()
    fullwidth = "".join(chr(0xFF10 + int(c)) if c.isdigit() else c for c in " ".join(fields + [key]))
    assert find_nirs(fullwidth)[0].key_valid is True


def test_check_texts_names_the_first_offending_field():
    fields, key = _nir()
    with pytest.raises(DomainError) as exc:
        check_texts({"nom": "Martin", "message": "voir " + "-".join(fields)})
    assert exc.value.field == "message"
    assert "1 85 •• •• ••• •••" in exc.value.message and "".join(fields[2:]) not in exc.value.message


# ---------------------------------------------------------------- look-alikes, by name

@pytest.mark.parametrize("text", [
    "06 12 34 56 78", "06.12.34.56.78", "0612345678", "+33 6 12 34 56 78", "+33612345678", "0033 6 12 34 56 78",
    "+33 (0)6 12 34 56 78", "Tél. 06 12 34 56 78 06 98 76 54 32 07 11 22 33 44", "0033612345678 0033698765432",
    "0033 6 12 34 56 78 0033 6 98 76 54 32", "+33 6 12 34 56 78 06 12 34 56 78",
    "06 12 34 56 78 / 07 98 76 54 32 / +33 6 11 22 33 44", "06 12 34 56 78, 07 98 76 54 32",
    "+33 6 12 34 56 78 / 0033 7 98 76 54 32 / 01-64-43-05-68", "74000 - 06 12 34 56 78", "06 12 34 56 78 - 74000",
    "12/03/1985", "1985-03-12", "du 01/02/2024 au 15/03/2024", "01/02/2024 - 15/03/2024 - 3 rendez-vous",
    "6/1977 - 18-11-1964", "74000 Annecy", "SIRET 123 456 789 00012", "12345678900012", "SIREN 123 456 789",
    "SIRET 732 829 320 00074 2 salariés", "IBAN FR76 3000 6000 0112 3456 7890 189", "FR7630006000011234567890189",
    "IBAN BE68 5390 0754 7034 IBAN FR76 3000 6000 0112 3456 7890 189", "1 234,56 €", "12 345 678 €",
    "860\u202f049\u202f795 euros", "allocataire 1234567", "MDPH 74-2019-001234", "numéro fiscal 0123456789012",
    "01 23 456 789 012", "EAN 0123456789012", "9 780201 379624", "9780201379624", "2026-000123",
    "EP-2026-000123", "T-2026-00012", "réf. 2030/356757\n118 rue des Lilas", "2019 2020 2021 2022",
])
def test_everyday_numbers_pass(text):
    assert not find_nirs(text), text
    check_no_nir(f"Bonjour, {text}. Merci.", "message")


def test_a_thirteen_digit_number_shaped_like_a_nir_is_refused_whatever_it_is():
    # The trade-off documented in textguard.py: a fiscal number starting with 0
    # passes (no NIR starts with 0), one starting with 1 to 3 that has the NIR's
    # shape cannot be told from a NIR without key, and is refused.
    assert not find_nirs("numéro fiscal 0185057800608")
    assert find_nirs("numéro fiscal 1185057800608")
    assert find_nirs("numéro fiscal 2185057800608")
    assert not find_nirs("numéro fiscal 1184357800608")  # month 43: not a NIR's shape
