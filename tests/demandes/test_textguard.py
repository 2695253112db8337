"""The NIR guard and the health warning (SPEC §4), property-based."""
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ep_web.domain.errors import DomainError
from ep_web.domain.textguard import (
    check_health,
    check_no_nir,
    find_health_terms,
    find_nirs,
    highlight,
    nir_key,
)

# ---------------------------------------------------------------- generators

months = st.one_of(st.integers(1, 12), st.integers(20, 42), st.integers(50, 99)).map(lambda m: f"{m:02d}")
metro_deps = st.one_of(st.integers(1, 95).filter(lambda d: d != 20).map(lambda d: f"{d:02d}"),
                       st.sampled_from(["2A", "2B", "2a", "2b", "99"]))


@st.composite
def nirs(draw):
    """(groups, key) of a NIR: metropolitan/Corsican or overseas, NNP (7/8) included."""
    sex = str(draw(st.integers(1, 8)))
    year = f"{draw(st.integers(0, 99)):02d}"
    month = draw(months)
    if draw(st.booleans()):
        dep, commune = draw(metro_deps), f"{draw(st.integers(1, 999)):03d}"
    else:
        dep, commune = str(draw(st.integers(971, 989))), f"{draw(st.integers(1, 99)):02d}"
    order = f"{draw(st.integers(1, 999)):03d}"
    groups = [sex, year, month, dep, commune, order]
    key = f"{nir_key(''.join(groups)):02d}"
    if draw(st.booleans()):  # a mistyped key is still a NIR
        key = f"{(int(key) + draw(st.integers(1, 96))) % 100:02d}"
    return groups, key


def spellings(groups, key):
    """At least six ways of writing one NIR."""
    with_key = groups + [key]
    return [
        "".join(groups),
        "".join(with_key),
        " ".join(with_key),
        ".".join(with_key),
        "-".join(groups),
        " ".join(groups),
        "\u00a0".join(with_key),  # non-breaking spaces, as French keyboards type them
        groups[0] + " " + "".join(groups[1:3]) + "." + "".join(groups[3:5]) + "-" + groups[5] + " " + key,
    ]


filler = st.text(alphabet=string.ascii_letters + "éèàç ,;:!?'()", max_size=30)


@settings(max_examples=300, deadline=None)
@given(nirs(), filler, filler)
def test_every_spelling_of_a_nir_is_refused(nir, before, after):
    groups, key = nir
    for spelling in spellings(groups, key):
        text = f"{before} {spelling} {after}"
        assert find_nirs(text), repr(text)
        with pytest.raises(DomainError) as exc:
            check_no_nir(text, "message")
        assert exc.value.field == "message"
        assert "document joint" in exc.value.message
        assert "".join(groups[3:]) not in exc.value.message  # masked, not echoed


def test_valid_key_is_recognised_and_corsica_uses_19_and_18():
    body = "1850375123456"
    assert find_nirs(body + f"{nir_key(body):02d}")[0].key_valid is True
    assert nir_key("18503" + "2A" + "123456") == nir_key("18503" + "19" + "123456")
    assert nir_key("18503" + "2B" + "123456") == nir_key("18503" + "18" + "123456")
    assert find_nirs("1 85 03 2B 123 456 " + f"{nir_key('185032B123456'):02d}")[0].key_valid is True


# ---------------------------------------------------------------- look-alikes that must pass

def _luhn_complete(digits: str) -> str:
    for last in "0123456789":
        candidate = digits + last
        total = 0
        for i, ch in enumerate(reversed(candidate)):
            d = int(ch) * (2 if i % 2 else 1)
            total += d - 9 if d > 9 else d
        if total % 10 == 0:
            return candidate
    raise AssertionError


def _iban_fr(bban: str) -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + "FR00")
    check = 98 - int(numeric) % 97
    return f"FR{check:02d}{bban}"


phones = st.integers(1, 9).flatmap(
    lambda first: st.lists(st.integers(0, 99), min_size=4, max_size=4).map(
        lambda rest: [f"0{first}"] + [f"{r:02d}" for r in rest]))


@settings(max_examples=300, deadline=None)
@given(
    phones,
    st.dates(),
    st.integers(1000, 98999),
    st.text(alphabet="0123456789", min_size=13, max_size=13),
    st.text(alphabet="0123456789", min_size=23, max_size=23),
    st.integers(0, 10**9),
)
def test_look_alikes_pass(phone, day, postcode, siret_seed, bban, cents):
    siret = _luhn_complete(siret_seed)
    siren = _luhn_complete(siret_seed[:8])
    iban = _iban_fr(bban)
    amount = f"{cents // 100:,}".replace(",", " ") + f",{cents % 100:02d} €"
    corpus = [
        " ".join(phone), ".".join(phone), "".join(phone), "-".join(phone),
        "+33 " + phone[0][1] + " " + " ".join(phone[1:]), "+33" + "".join(phone)[1:],
        day.strftime("%d/%m/%Y"), day.isoformat(), day.strftime("%d %m %Y"), day.strftime("%d.%m.%Y"),
        f"{postcode:05d}", f"{postcode:05d} Annecy", "20000 Ajaccio, 2A",
        siret, f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}", siren, f"{siren[:3]} {siren[3:6]} {siren[6:]}",
        iban, " ".join(iban[i:i + 4] for i in range(0, len(iban), 4)),
        amount, f"{cents / 100:.2f} EUR",
        f"Rendez-vous le {day:%d/%m/%Y} à 14h30, tél {' '.join(phone)}, dossier {postcode}",
    ]
    for text in corpus:
        assert not find_nirs(text), text
        check_no_nir(text, "message")


# ---------------------------------------------------------------- health terms

def test_health_terms_found_with_accents_case_and_plurals():
    text = "Mme X a un DIABETE, de l'asthme et deux tumeurs ; suivie en Psychiatrie."
    terms = [m.term for m in find_health_terms(text)]
    assert terms == ["DIABETE", "asthme", "tumeurs", "Psychiatrie"]
    html = highlight(text, find_health_terms(text))
    assert "<mark>DIABETE</mark>" in html and "&#39;" in html  # the rest is escaped


def test_health_terms_do_not_fire_on_ordinary_words():
    text = "Personne sans domicile, a perdu sa carte Vitale, demande une attestation de droits."
    assert find_health_terms(text) == []
    assert find_health_terms("Il a fait une demande de CSS.") == []


def test_health_check_blocks_until_confirmed():
    with pytest.raises(DomainError) as exc:
        check_health({"message": "Suivi pour dépression."}, confirmed=False)
    assert exc.value.field == "health_confirmed" and "« dépression »" in exc.value.message
    check_health({"message": "Suivi pour dépression."}, confirmed=True)
    check_health({"message": "Besoin d'une attestation."}, confirmed=False)
