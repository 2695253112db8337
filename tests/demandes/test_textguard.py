"""The health warning (SPEC §4 [5]). The NIR guard's own tests are in
tests/textguard/; ``nirs`` and ``spellings`` stay here for the demande tests."""
import pytest
from hypothesis import strategies as st

from ep_web.domain.errors import DomainError
from ep_web.domain.textguard import check_health, find_health_terms, highlight
from tests.textguard import grammars


def nirs():
    """(fields, key) of a NIR from the grammar (the key may be wrong)."""
    def pair(n: grammars.Nir):
        return n.fields, n.key or f"{grammars.nir_key(n.body):02d}"

    return st.randoms(use_true_random=False).map(grammars.nir).map(pair)


def spellings(fields, key):
    """Eight ways of writing one NIR, with and without its key."""
    return grammars.fixed_spellings(grammars.Nir(list(fields), key, None))


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
